"""The outcome of the last ``archive verify`` of an installation, kept for the audit page.

A verify hands out hashes only, so it is not in the access log; an auditor still wants to see
when the archive was last checked and what was found. Every verify (``commgate archive
verify``, the daemon's scheduled one) goes through ``integrity.verify_installation``, which
writes the outcome here: a small JSON file in the home folder, replaced atomically (written
to a temporary file, fsynced, renamed), so a reader never sees half a record.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from gateway.core.clock import utcnow
from gateway.core.text import iso

RECORD_NAME = "last-verify.json"
log = logging.getLogger("commgate")


def remember_verify(home: Path, report: dict[str, Any], *, since: int) -> None:
    """Keep what a verify found (its time, whether it was intact, the entries and the first
    problem) as the installation's last verify. A home this process may not write (an auditor
    verifying as another user) costs the record, never the verify: a warning is logged."""
    try:
        _write(home, report, since)
    except OSError as exc:
        log.warning("the outcome of this verify is not kept in %s: %s", home / RECORD_NAME,
                    exc.strerror or exc)


def _write(home: Path, report: dict[str, Any], since: int) -> None:
    record = {"at": iso(utcnow()), "ok": bool(report["ok"]), "since": since,
              "entries": report["entries"], "blobs": report["blobs"],
              "head_seq": report["head_seq"], "checkpoints": report["checkpoints"],
              "problem": report["problem"]}
    fd, tmp = tempfile.mkstemp(prefix=".last-verify.", dir=home)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, home / RECORD_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def last_verify(home: Path) -> dict[str, Any] | None:
    """The last verify's record, or None when the installation was never verified (or the
    record cannot be read, which the audit page shows as never)."""
    try:
        data = json.loads((home / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None

"""Standard exports for other mail tools: one mbox file, or a folder of ``.eml`` files.

Both take the same selection as the evidence package (gateway.evidence.select), both are
recorded in the access log before any message bytes are read, and both write beside the
destination and move the result into place only when complete (never over an existing file).

* mbox is written as **mboxrd**: a ``From `` separator line per message; a body line that
  starts with ``From `` after any number of ``>`` gets one more ``>`` (reversible, unlike
  mboxo); a message that does not end with a newline gets one, and a blank line follows each
  message. Nothing else is changed: line ends (CRLF as archived) and bytes stay as they are.
* the folder holds ``<seq>-<sha256>.eml`` (byte-exact; never a name taken from the mail) and a
  ``SHA256SUMS`` that ``sha256sum -c`` checks.

Messages whose content was removed under retention cannot be exported; they are reported with
their tombstone instead.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.evidence.bundle import EvidenceError
from gateway.evidence.select import Selection, resolve
from gateway.evidence.verify import SUMS
from gateway.workflows.access_log import export_failure_recorded, record_access

if TYPE_CHECKING:
    from gateway.core.context import Context

_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)
_SAFE_SENDER = re.compile(r"[!-~]{1,254}")  # printable, no blanks: one token on the From line


@dataclass(frozen=True)
class _Item:
    seq: int
    sha256: str
    sender: str
    received: datetime | None
    purged: bool
    tombstone_seq: int | None


@dataclass
class ExportReport:
    path: Path
    format: str
    messages: int = 0
    bytes: int = 0
    purged: list[dict[str, Any]] = field(default_factory=list)
    export_seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "messages": self.messages,
                "bytes": self.bytes, "purged": self.purged, "export_seq": self.export_seq}


def mboxrd_quote(raw: bytes) -> bytes:
    """Quote ``>*From `` at line starts by one more ``>`` (mboxrd)."""
    return _FROM_LINE.sub(rb">\1", raw)


def from_line(sender: str, received: datetime | None) -> bytes:
    """``From sender asctime``; the sender comes from mail, so only a blank-free printable
    address is used, else ``MAILER-DAEMON``."""
    token = sender if _SAFE_SENDER.fullmatch(sender or "") else "MAILER-DAEMON"
    when = received.strftime("%a %b %d %H:%M:%S %Y") if received else \
        "Thu Jan 01 00:00:00 1970"
    return f"From {token} {when}\n".encode("ascii")


def export_mbox(app: Context, selection: Selection, out_path: Path | str, actor: str
                ) -> ExportReport:
    out_path = Path(out_path)
    _refuse_existing(out_path)
    report = ExportReport(out_path, "mbox")
    items = _start(app, selection, out_path, actor, report)
    with export_failure_recorded(app, actor, report.export_seq, out_path.name):
        _write_mbox(app, items, out_path, report)
    return report


def _write_mbox(app: Context, items: list[_Item], out_path: Path, report: ExportReport
                ) -> None:
    fd, name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.",
                                suffix=".partial")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as stream:
            for item, raw in _contents(app, items, report):
                stream.write(from_line(item.sender, item.received))
                stream.write(mboxrd_quote(raw))
                stream.write(b"\n\n" if not raw.endswith(b"\n") else b"\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.link(tmp, out_path)
    except FileExistsError as exc:
        raise EvidenceError(f"{out_path} appeared while exporting; not overwritten") from exc
    except OSError as exc:
        raise EvidenceError(f"cannot write {out_path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def export_eml(app: Context, selection: Selection, folder: Path | str, actor: str
               ) -> ExportReport:
    folder = Path(folder)
    _refuse_existing(folder)
    report = ExportReport(folder, "eml")
    items = _start(app, selection, folder, actor, report)
    with export_failure_recorded(app, actor, report.export_seq, folder.name):
        _write_eml(app, items, folder, report)
    return report


def _write_eml(app: Context, items: list[_Item], folder: Path, report: ExportReport) -> None:
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.",
                                suffix=".partial"))
    try:
        sums = []
        for item, raw in _contents(app, items, report):
            name = f"{item.seq:09d}-{item.sha256}.eml"
            (tmp / name).write_bytes(raw)
            sums.append(f"{item.sha256}  {name}\n")
        (tmp / SUMS).write_text("".join(sums), encoding="utf-8")
        os.rename(tmp, folder)  # fails rather than replace a non-empty folder made meanwhile
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise EvidenceError(f"cannot write {folder}: {exc.strerror or exc}") from exc


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise EvidenceError(f"{path} already exists; refusing to overwrite it")
    if not path.parent.is_dir():
        raise EvidenceError(f"no such folder: {path.parent}")


def _start(app: Context, selection: Selection, out_path: Path, actor: str,
           report: ExportReport) -> list[_Item]:
    """Resolve the selection, then record the export: before any message bytes are read."""
    with app.db.session() as session:
        selected = resolve(session, selection)
        items = [_Item(m.first_seq, m.sha256, m.from_addr, selected.received.get(m.id),
                       m.purged_at is not None, selected.tombstones.get(m.sha256))
                 for m in selected.messages]
    entry = record_access(app, actor, "export", {
        "format": report.format, "selection": selection.to_dict(), "output": out_path.name,
        "messages": len(items)})
    report.export_seq = entry.seq
    return items


def _contents(app: Context, items: list[_Item], report: ExportReport
              ) -> Iterator[tuple[_Item, bytes]]:
    for item in items:
        if item.purged:
            report.purged.append({"seq": item.seq, "sha256": item.sha256,
                                  "tombstone_seq": item.tombstone_seq})
            continue
        raw = app.archive.read(item.sha256)
        if hashlib.sha256(raw).hexdigest() != item.sha256:
            raise EvidenceError(f"the archived bytes of seq {item.seq} do not match their "
                                "sha256: run 'commgate archive verify'")
        report.messages += 1
        report.bytes += len(raw)
        yield item, raw

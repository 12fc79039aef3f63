"""How log records reach stderr: ``log_format`` = text, json or journal, at ``log_level``.

- ``text``: ``TIME LEVEL logger: message``, for a terminal or a plain log file.
- ``json``: one JSON object per line (``time``, ``level``, ``logger``, ``message``, ``pid``,
  the worker's name in worker processes, ``exception`` with the traceback, and every
  ``extra=`` field a call passed), for a log shipper.
- ``journal``: when stderr is the journal's stream (systemd sets ``JOURNAL_STREAM`` to its
  ``device:inode``), each line prefixed with its syslog priority (``<3>`` error ... ``<7>``
  debug), which journald reads from a unit's stderr (``SyslogLevelPrefix=``, on by default),
  so ``journalctl -p warning`` works; no time stamp, the journal adds its own. A multi-line
  record (a traceback) carries the prefix on every line: journald takes each line alone.
  Run by hand (stderr a terminal or a file) the same configuration writes ``text``.

Every format passes through :func:`redact`: a password in a URL (a database or relay URL in
a driver's error) is replaced by ``***`` before the line is written. No new C dependency:
the prefixes are what python-systemd's JournalHandler would save us, and the journal reads
them from the stream systemd gives the unit (``JOURNAL_STREAM``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import IO, Any

FORMATS = ("text", "json", "journal")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# syslog(3) priorities of Python's levels, as sd-daemon(3) prefixes them.
JOURNAL_PRIORITIES = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4,
                      logging.INFO: 6, logging.DEBUG: 7}
# scheme://user:password@host -> scheme://user:***@host (never a secret in a log line).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s/]+@", re.I)
# What every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


def redact(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@`` URL replaced by ***."""
    return _URL_PASSWORD.sub(r"\g<head>:***@", text)


class TextFormatter(logging.Formatter):
    """The classic line, passwords in URLs redacted; ``prefix`` names a worker process."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__(TEXT_FORMAT.replace("%(name)s", f"{prefix}%(name)s"))

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside are escaped by JSON)."""

    def __init__(self, worker: str = "") -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": record.process,
        }
        if self.worker:
            line["worker"] = self.worker
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = (redact(value) if isinstance(value, str)
                             else value if _is_json(value) else redact(str(value)))
        return json.dumps(line, ensure_ascii=False, default=str)


class JournalFormatter(logging.Formatter):
    """``<priority>logger: message`` on every line of the record."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__(f"{prefix}%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = JOURNAL_PRIORITIES.get(record.levelno, _nearest_priority(record.levelno))
        text = redact(super().format(record))
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines() or [""])


def formatter(log_format: str, worker: str = "", *, journal: bool = False) -> logging.Formatter:
    """The formatter of ``log_format`` (one of :data:`FORMATS`); ``worker`` names the worker
    process whose lines these are (empty in the daemon and the commands); ``journal``: the
    stream is the journal's (``journal`` writes ``text`` elsewhere)."""
    prefix = f"worker {worker} " if worker else ""
    if log_format == "json":
        return JsonFormatter(worker)
    if log_format == "journal" and journal:
        return JournalFormatter(prefix)
    if log_format in ("text", "journal"):
        return TextFormatter(prefix)
    raise ValueError(f"log_format must be one of {', '.join(FORMATS)}, not {log_format!r}")


def configure(level: str | int, log_format: str = "text", *, worker: str = "") -> None:
    """Log at ``level`` in ``log_format``: the root logger's stream handler (one on stderr is
    added when the root has no handler, as ``logging.basicConfig`` does) gets the format.
    Handlers others installed (a test's capture) keep theirs."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        if type(handler) is logging.StreamHandler:
            handler.setFormatter(formatter(log_format, worker, journal=is_journal(handler.stream)))
    root.setLevel(level)


def is_journal(stream: IO[str]) -> bool:
    """Whether ``stream`` is the journal's (systemd sets ``JOURNAL_STREAM`` to its
    ``device:inode``): then the journal, not a terminal, reads what the daemon writes."""
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        stat = os.fstat(stream.fileno())
        return (stat.st_dev, stat.st_ino) == (int(device), int(inode))
    except (OSError, ValueError, AttributeError):
        return False


def _nearest_priority(levelno: int) -> int:
    """A custom level's priority: that of the nearest standard level at or below it."""
    below = [level for level in JOURNAL_PRIORITIES if level <= levelno]
    return JOURNAL_PRIORITIES[max(below)] if below else 7


def _is_json(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)

"""Which controlled alias a message was sent to, when the transport does not say."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Sequence

_ADDRESSED_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "to", "cc")
_HEADER_BYTES = 256 * 1024
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.MULTILINE)


def alias_from_headers(raw: bytes, aliases: Sequence[str], default: str) -> str:
    """The first configured alias named in the addressing headers, else ``default``.

    Reads only the (bounded) header block with one regular expression: running the full MIME
    parser here would cost as much as parsing the message a second time.
    """
    if not aliases:
        return default
    head = raw[:_HEADER_BYTES]
    end = _HEADER_END.search(head)
    if end:
        head = head[:end.start()]
    values: dict[str, list[str]] = {}
    for match in _FIELD.finditer(head):
        name = match.group(1).decode("ascii", "replace").lower()
        if name in _ADDRESSED_HEADERS:
            text = match.group(2).decode("utf-8", "replace")
            values.setdefault(name, []).append(re.sub(r"\r?\n[ \t]", " ", text))
    wanted = {a.lower() for a in aliases}
    for name in _ADDRESSED_HEADERS:
        try:
            pairs = email.utils.getaddresses(values.get(name, []))
        except Exception:  # e.g. RecursionError on thousands of encoded words
            continue
        for _, addr in pairs:
            if addr.lower() in wanted:
                return addr.lower()
    return default

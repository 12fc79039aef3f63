"""Which controlled alias a message was sent to, when the transport does not say."""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from email.parser import BytesHeaderParser

_ADDRESSED_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc")
_HEADER_PARSER = BytesHeaderParser()
_HEADER_BYTES = 256 * 1024


def alias_from_headers(raw: bytes, aliases: Sequence[str], default: str) -> str:
    """The first configured alias named in the addressing headers, else ``default``.

    Only the header block is parsed (bounded), so a 50 MB message costs nothing here.
    """
    if not aliases:
        return default
    wanted = {a.lower() for a in aliases}
    try:
        headers = _HEADER_PARSER.parsebytes(raw[:_HEADER_BYTES])
        for name in _ADDRESSED_HEADERS:
            values = [str(v) for v in headers.get_all(name, [])]
            for _, addr in email.utils.getaddresses(values):
                if addr.lower() in wanted:
                    return addr.lower()
    except Exception:  # broken headers: the default alias still files the message
        return default
    return default

"""Turn archived raw bytes into a ParsedMessage, never raising.

Parsing uses the stdlib ``email`` package in its tolerant compat32 mode and decodes headers,
charsets and addresses itself, field by field, so one broken header or an unknown charset
(``x-unknown``, ``iso-gb2312``) becomes a recorded defect instead of an exception. It is about
five times faster here than mail-parser (3,950 vs 790 messages/s on the dev corpus), which is
used as a second opinion when this walk finds no text in a message that has a body.
"""

from __future__ import annotations

import codecs
import email
import email.header
import email.message
import email.parser
import email.utils
import functools
import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.policy import compat32
from html.parser import HTMLParser
from typing import Any, TypeVar

from gateway.processing import mime_boundary

log = logging.getLogger(__name__)
mime_boundary.install()  # the stdlib parser, without a regex compile per boundary
T = TypeVar("T")
_MISSING: Any = object()
B = TypeVar("B", bound="_Body")

MAX_TEXT_CHARS = 1_000_000
MAX_HEADERS = 500
MAX_HEADER_CHARS = 4_000
MAX_ID_CHARS = 990
MAX_MIME_DEPTH = 64
_SURROGATE = re.compile("[\udc80-\udcff]")
_FOLDING = re.compile(r"\s*[\r\n]+\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ANGLE_ID = re.compile(r"<([^<>\s]{1,990})>")
_CHARSET_ALIASES = {
    "iso-gb2312": "gbk",
    "gb2312": "gbk",
    "x-gbk": "gbk",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "windows-874": "cp874",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "x-mac-roman": "mac_roman",
    "ansi_x3.4-1968": "ascii",
}
_UNLABELLED = {"", "x-unknown", "unknown", "unknown-8bit", "x-user-defined", "default", "us-ascii"}
# A header line: a field name and its colon, or a folded continuation. White space before the
# colon is RFC 5322 section 4.5 obsolete syntax (obs-optional), which receivers must accept.
_FIELD_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+)([ \t]*):|[ \t]")
_OBSOLETE_FIELD = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[ \t]+:", re.MULTILINE)
_UNKNOWN_LOCAL_OFFSET = re.compile(r"\s-0000(?:\s|\(|$)")
_HEADER_FIELDS_THAT_MAKE_A_MAIL = ("from", "to", "subject", "date", "message-id", "received")
# An address field of one plain address, bare or after a name of plain words or in quotes:
# email.utils.getaddresses reads it as (name, address) with nothing else to do, which the
# match gives at a fraction of the cost (tests/gateway/test_parsing.py holds them to the same
# answers). Words are what the stdlib reads as phrase atoms (anything but its specials and
# white space); the address takes only RFC 5322 atext and plain domain labels.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDR = rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_WORD = r'[^()<>@,:;"\[\]\\ \t\r\n]+'
_ONE_ADDRESS = re.compile(
    rf'(?:({_WORD}(?: {_WORD})*)|"([^"\\\r\n]*)")?[ \t]*<({_PLAIN_ADDR})>|({_PLAIN_ADDR})')


@dataclass(frozen=True)
class Address:
    name: str
    addr: str


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ParsedMessage:
    """What the pipeline needs from a message; ``defects`` says what was wrong with it."""

    sha256: str
    size: int
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    date: datetime | None
    headers: tuple[tuple[str, str], ...]
    content_type: str
    report_type: str
    text: str
    attachments: tuple[Attachment, ...]
    part_types: tuple[str, ...]
    defects: tuple[str, ...] = field(default=())

    @property
    def looks_like_mail(self) -> bool:
        names = {name.lower() for name, _ in self.headers}
        return any(name in names for name in _HEADER_FIELDS_THAT_MAKE_A_MAIL)

    def header(self, name: str) -> str:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), "")

    @property
    def from_addr(self) -> str:
        return self.sender.addr if self.sender else ""

    @property
    def from_name(self) -> str:
        return self.sender.name if self.sender else ""


def decode_bytes(data: bytes, charset: str | None, defects: list[str], where: str) -> str:
    """Decode with the declared charset, falling back (utf-8, then windows-1252) when it is
    unknown or wrong; each fallback is recorded as a defect."""
    label = (charset or "").strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(label, label)
    if name and name not in _UNLABELLED:
        try:
            codecs.lookup(name)
        except LookupError:
            defects.append(f"unknown charset {label!r} in {where}")
        else:
            try:
                return data.decode(name)
            except (UnicodeDecodeError, UnicodeError):
                defects.append(f"bytes not valid {label} in {where}")
                return _decode_mislabelled(data, name)
            except Exception as exc:  # exotic codecs (utf-7, iso-2022) may raise anything
                defects.append(f"charset {label!r} failed in {where}: {exc}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if label in ("", "us-ascii"):
            defects.append(f"8-bit bytes without a charset in {where}")
        return data.decode("cp1252", errors="replace")


def _decode_mislabelled(data: bytes, declared: str) -> str:
    """Bytes that are not what their label says: UTF-8 is the commonest truth, then Windows-1252
    (which also reads ISO-8859-1 text)."""
    for candidate in ("utf-8", "cp1252"):
        if candidate != declared:
            try:
                return data.decode(candidate)
            except UnicodeDecodeError:
                continue
    return data.decode(declared, errors="replace")


def decode_header_value(value: object, defects: list[str], name: str) -> str:
    """RFC 2047 encoded-words and raw 8-bit header bytes, tolerantly, to one line of text."""
    if isinstance(value, email.header.Header):
        # compat32 wraps raw 8-bit header bytes in a Header of charset unknown-8bit; they go
        # back to the surrogate-escaped text that the branch below reads.
        text = "".join(chunk.decode("ascii", "surrogateescape") if isinstance(chunk, bytes)
                       else chunk for chunk, _ in email.header.decode_header(value))
    else:
        text = str(value)
        if text.isprintable() and "=?" not in text:
            # Most values: no surrogates, line breaks or control characters (none of them is
            # printable), no encoded-words, so nothing below would change them.
            return text[:MAX_HEADER_CHARS].strip()
    if _SURROGATE.search(text):
        # compat32 keeps raw 8-bit header bytes as surrogates.
        text = _raw_8bit_header(text.encode("ascii", "surrogateescape"), defects, name)
    if "=?" in text:
        try:
            text = _decode_chunks(email.header.decode_header(text), defects, name)
        except Exception as exc:  # malformed encoded-words
            defects.append(f"undecodable encoded-word in {name}: {exc}")
    text = _FOLDING.sub(" ", text) if "\n" in text or "\r" in text else text
    return _CONTROL.sub("", text)[:MAX_HEADER_CHARS].strip()


def _raw_8bit_header(raw: bytes, defects: list[str], name: str) -> str:
    """UTF-8 in a header value is valid internationalised mail (RFC 6532 section 3.2, SMTPUTF8);
    only other 8-bit bytes are a defect, read as Windows-1252 like an unlabelled body."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        defects.append(f"raw 8-bit bytes in header {name} that are not UTF-8")
        return raw.decode("cp1252", errors="replace")


def _decode_chunks(chunks: list[tuple[bytes | str, str | None]], defects: list[str],
                   name: str) -> str:
    return "".join(
        decode_bytes(chunk, charset, defects, f"header {name}") if isinstance(chunk, bytes)
        else chunk
        for chunk, charset in chunks
    )


@dataclass(frozen=True)
class MessageBody:
    """What a person reads of a message (the web application's case page): the parsed
    message, its HTML parts as decoded text (unsanitised: the reader's to clean) and the
    decoded bytes of each attachment, in the order of ``parsed.attachments``."""

    parsed: ParsedMessage
    html: tuple[str, ...]
    payloads: tuple[bytes, ...]


def parse_message(raw: bytes) -> ParsedMessage:
    """Never raises: whatever goes wrong is recorded in ``defects``."""
    return _parse(raw, _Body)[0]


def read_body(raw: bytes) -> MessageBody:
    """:func:`parse_message` keeping the HTML parts and attachment bytes; never raises."""
    parsed, body = _parse(raw, _KeepingBody)
    return MessageBody(parsed, tuple(body.html), tuple(body.payloads))


def _parse(raw: bytes, body_type: type[B]) -> tuple[ParsedMessage, B]:
    defects: list[str] = []
    sha = hashlib.sha256(raw).hexdigest()
    msg, parts, nested_too_deep = _parse_structure(raw, defects)
    fields = _Fields(msg, defects)
    headers, lookup = fields.headers, fields.first
    message_id = _first_id(lookup.get("message-id", ""))
    if "message-id" not in lookup:
        defects.append("missing Message-ID")
    elif message_id is None:
        defects.append("unparseable Message-ID")
    senders = _addresses(fields.raw_address("from", first=True), defects)
    if not senders:
        defects.append("missing or unparseable From")
    body = body_type(defects)
    body.walk(parts)
    text = body.text()
    if not text and _has_body(raw) and not nested_too_deep:  # mail-parser would recurse too
        text = _mailparser_text(raw, defects)
    return ParsedMessage(
        sha256=sha,
        size=len(raw),
        message_id=message_id,
        in_reply_to=tuple(_all_ids(lookup.get("in-reply-to", ""))),
        references=tuple(_all_ids(" ".join(fields.references))),
        sender=senders[0] if senders else None,
        to=tuple(_addresses(fields.raw_address("to"), defects)),
        cc=tuple(_addresses(fields.raw_address("cc"), defects)),
        subject=lookup.get("subject", ""),
        date=_date(lookup.get("date"), defects),
        headers=tuple(headers),
        content_type=_safe(msg.get_content_type, "text/plain"),
        report_type=_report_type(msg),
        text=text[:MAX_TEXT_CHARS],
        attachments=tuple(body.attachments),
        part_types=tuple(body.part_types),
        defects=tuple(dict.fromkeys(defects + _parser_defects(parts))),
    ), body


class _DepthLimitedMessage(email.message.Message):
    """A compat32 message that keeps the parser from descending below ``MAX_MIME_DEPTH`` levels.

    The stdlib parser nests one generator per MIME level, so about 1,000 levels end in a
    RecursionError that loses the whole message, headers included (and each line costs a step
    per level). While it is being parsed, a multipart or message/* part at the limit calls
    itself opaque, so everything inside it stays one raw payload.

    It also remembers what it has read of its own headers: the parser and ``parse_message``
    ask a part for its content type about seven times and for its parameters three times,
    and each answer was a scan of every header field. Every method that changes the header
    fields or the default type forgets what was read, so the answers stay the stdlib's.
    """

    depth = 0
    parsing = True
    kept_raw = False
    _first: dict[str, Any] | None = None
    _declared: str | None = None  # the content type as the stdlib reads it
    _params: dict[str, Sequence[tuple[str, Any]]] | None = None  # field -> its parameters

    def attach(self, payload: email.message.Message) -> None:  # type: ignore[override]
        if isinstance(payload, _DepthLimitedMessage):
            payload.depth = self.depth + 1
        super().attach(payload)

    def get_content_type(self) -> str:
        declared = self._declared
        if declared is None:
            declared = self._declared = super().get_content_type()
        if (self.parsing and self.depth >= MAX_MIME_DEPTH
                and declared.startswith(("multipart/", "message/"))):
            self.kept_raw = True
            return "application/octet-stream"
        return declared

    def get(self, name: str, failobj: Any = None) -> Any:
        return (self._first or self._fields()).get(name.lower(), failobj)

    def __contains__(self, name: str) -> bool:
        return name.lower() in (self._first or self._fields())

    def get_param(self, param: str, failobj: Any = None, header: str = "content-type",
                  unquote: bool = True) -> Any:
        """The stdlib's answer, looked up by name among the field's parameters as they were
        first read and unquoted (:func:`_unquoted_params`), where the stdlib scanned a copy
        of them with two ``lower`` calls a parameter and unquoted the value it found, ~6
        times a message (file name, charset, boundary, report type)."""
        value = self.get(header, _MISSING)
        if not unquote or not isinstance(value, str):  # missing, or a Header: the stdlib's
            return super().get_param(param, failobj, header, unquote)
        return _unquoted_params(value).get(param.lower(), failobj)

    def _fields(self) -> dict[str, Any]:
        """Each field name, lower case, with its first value as ``get`` returns it."""
        first = self._first
        if first is None:
            first = {}
            for key, value in self.raw_items():
                lower = key.lower()
                if lower not in first:
                    first[lower] = _fetch(self, key, value)
            self._first = first
        return first

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        params = self._params
        if params is None:
            params = self._params = {}
        key = header.lower()
        found: Sequence[tuple[str, Any]] | None = params.get(key)
        if found is None:
            value = self.get(header, _MISSING)
            if isinstance(value, str):
                found = _field_params(value)
            else:  # missing, or a Header (raw 8-bit bytes): the stdlib's reading, not shared
                found = super()._get_params_preserve(_MISSING, header)  # type: ignore[misc]
                if found is _MISSING:
                    return failobj
            params[key] = found
        return list(found)  # get_params hands the list out: a copy keeps ours intact

    def _forget(self) -> None:
        self._first = self._declared = self._params = None

    def set_raw(self, name: str, value: Any) -> None:
        # The stdlib's set_raw is this append; the parser calls it for every header field
        # of every part, so the two calls of forgetting and then delegating are spared.
        self._first = self._declared = self._params = None
        self._headers.append((name, value))  # type: ignore[attr-defined]

    def __setitem__(self, name: str, val: Any) -> None:
        self._forget()
        super().__setitem__(name, val)

    def __delitem__(self, name: str) -> None:
        self._forget()
        super().__delitem__(name)

    def replace_header(self, _name: str, _value: Any) -> None:
        self._forget()
        super().replace_header(_name, _value)

    def add_header(self, _name: str, _value: Any, **_params: Any) -> None:
        self._forget()
        super().add_header(_name, _value, **_params)

    def set_boundary(self, boundary: str) -> None:
        self._forget()
        super().set_boundary(boundary)

    def set_default_type(self, ctype: str) -> None:
        self._forget()
        super().set_default_type(ctype)


class _OneField:
    """A message of one field, for the stdlib's parameter reader (which only calls ``get``)."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def get(self, _name: str, _failobj: Any = None) -> str:
        return self.value


@functools.lru_cache(maxsize=1024)
def _field_params(value: str) -> tuple[tuple[str, Any], ...]:
    """The parameters of a Content-Type or Content-Disposition value, as the stdlib reads them.

    Shared by every message: most values recur from mail to mail (``text/plain;
    charset="utf-8"``), and reading one (``_parseparam``, ``decode_params``) cost about 4 us,
    twice a leaf part (its file name, then its charset). Values holding a boundary do not
    recur; the bound keeps them from piling up. The answer is a tuple of tuples of strings
    (a tuple for an RFC 2231 value), which nobody can change.
    """
    reader = email.message.Message._get_params_preserve  # type: ignore[attr-defined]
    return tuple(reader(_OneField(value), _MISSING, "content-type"))


@functools.lru_cache(maxsize=1024)
def _unquoted_params(value: str) -> dict[str, Any]:
    """What ``get_param(name)`` answers for each parameter of a Content-Type or
    Content-Disposition ``value``: the first parameter of that name (any case), unquoted as
    the stdlib unquotes it. Shared like :func:`_field_params`; the values are strings or
    tuples, which nobody can change, and the dict itself is never handed out."""
    unquote = email.message._unquotevalue  # type: ignore[attr-defined]
    found: dict[str, Any] = {}
    for name, param in _field_params(value):
        found.setdefault(name.lower(), unquote(param))
    return found


def _parse_structure(
    raw: bytes, defects: list[str]
) -> tuple[email.message.Message, list[email.message.Message], bool]:
    """The parsed message, its parts (itself first, as ``walk`` gives them), and whether its
    nesting went past ``MAX_MIME_DEPTH``."""
    try:
        msg = mime_boundary.parse_bytes(_accept_obsolete_field_names(raw), _DepthLimitedMessage)
    except Exception as exc:  # pragma: no cover - the depth limit leaves little that raises
        defects.append(f"message could not be parsed: {exc}")
        headers_only = email.parser.BytesHeaderParser()
        broken = _safe(lambda: headers_only.parsebytes(raw), email.message.Message())
        return broken, _safe(lambda: list(broken.walk()), [broken]), False
    too_deep = False
    parts = list(msg.walk())
    for part in parts:
        if isinstance(part, _DepthLimitedMessage):
            part.parsing = False
            too_deep = too_deep or part.kept_raw
    if too_deep:
        defects.append(f"MIME nesting deeper than {MAX_MIME_DEPTH} levels; inner parts kept "
                       "as raw bytes")
    return msg, parts, too_deep


def _accept_obsolete_field_names(raw: bytes) -> bytes:
    """The message with white space between a header field name and its colon removed.

    ``From  : x`` is obsolete syntax that receivers must accept (RFC 5322 section 4.5); the
    stdlib parser takes it for an mbox ``From `` line and ends the header block at
    ``Subject :``, so the message would lose its fields. Only the message's own header block
    is rewritten, and only for parsing: the archived bytes stay as they came.
    """
    stop = _header_end(raw)
    # An obsolete field name has a space or tab right before its colon: most headers have
    # none, and finding that out is cheaper than the regex, which tries every position.
    if raw.find(b" :", 0, stop) < 0 and raw.find(b"\t:", 0, stop) < 0:
        return raw
    if not _OBSOLETE_FIELD.search(raw, 0, stop):
        return raw
    lines: list[bytes] = []
    start = 0
    while start < len(raw):
        stop = raw.find(b"\n", start)
        stop = len(raw) if stop < 0 else stop + 1
        line = raw[start:stop]
        match = _FIELD_LINE.match(line)
        if match is None and not (start == 0 and line.startswith(b"From ")):
            break  # the blank line before the body, or the body itself
        if match is not None and match.group(2):
            line = match.group(1) + line[match.end() - 1:]
        lines.append(line)
        start = stop
    return b"".join(lines) + raw[start:]


def _header_end(raw: bytes) -> int:
    """Where ``\\r?\\n\\r?\\n`` first matches, or the length of ``raw``;
    found with ``bytes.find``, since the regex's optional first byte makes ``re`` try every
    position.

    The blank line of the message's own line ending is looked for first and the other one
    only before it: looked for first, the other one (``\\n\\n`` in a CRLF message) is
    usually absent and its search read the whole message, 4-8 us a message.
    """
    first_break = raw.find(b"\n")
    crlf = first_break > 0 and raw[first_break - 1] == 13  # 13: \r
    likely, other = (b"\n\r\n", b"\n\n") if crlf else (b"\n\n", b"\n\r\n")
    at = raw.find(likely)
    # The other pattern cannot start at ``at`` (their second bytes differ), and a match that
    # starts before ``at`` ends by ``at + 2``: this search finds any earlier one.
    earlier = raw.find(other, 0, len(raw) if at < 0 else at + 2)
    if earlier >= 0 and (at < 0 or earlier < at):
        at = earlier
    if at < 0:
        return len(raw)
    return at - 1 if at > 0 and raw[at - 1] == 13 else at  # 13: a \r before the \n


def _safe(call: Callable[[], T], default: T) -> T:
    """Header and structure accessors of a broken message may raise anything; fall back."""
    try:
        return call()
    except Exception:
        return default


def _report_type(msg: email.message.Message) -> str:
    value = _safe(lambda: msg.get_param("report-type"), None)
    if isinstance(value, tuple):  # an RFC 2231 encoded parameter
        value = email.utils.collapse_rfc2231_value(value)
    return str(value or "").lower()


class _Fields:
    """The header fields of a message, read in one pass over them: each decoded (the first
    ``MAX_HEADERS``), the first decoded value of each name, every References value, and the
    raw From, To and Cc values (encoded-words still encoded, 8-bit bytes kept as surrogates,
    not sanitised into Header objects), which the address parser needs.

    ``parse_message`` read them in five passes (the decoded fields, a lookup of them, the
    References among them, and the raw fields once for each address field).
    """

    _ADDRESS_FIELDS = ("from", "to", "cc")

    def __init__(self, msg: email.message.Message, defects: list[str]) -> None:
        self.headers: list[tuple[str, str]] = []
        self.first: dict[str, str] = {}
        self.references: list[str] = []
        self.raw: dict[str, list[str]] = {}
        raw_items: list[tuple[str, Any]] = _safe(lambda: list(msg.raw_items()), [])
        for key, value in raw_items[:MAX_HEADERS]:
            lower = str(key).lower()
            if lower in self._ADDRESS_FIELDS:
                self.raw.setdefault(lower, []).append(str(value))
        fetched = _safe(lambda: [(key, _fetch(msg, key, value)) for key, value in raw_items],
                        None)
        if fetched is None:
            return
        if len(fetched) > MAX_HEADERS:
            defects.append(f"{len(fetched)} header fields; only the first {MAX_HEADERS} are "
                           "read")
        for key, value in fetched[:MAX_HEADERS]:
            name = str(key)
            text = decode_header_value(value, defects, name)
            self.headers.append((name, text))
            lower = name.lower()
            if lower not in self.first:
                self.first[lower] = text
            if lower == "references":
                self.references.append(text)

    def raw_address(self, name: str, first: bool = False) -> str:
        """An address field as it stands in the message: the first one, or all joined."""
        values = self.raw.get(name)
        if not values:
            return ""
        return values[0] if first else ", ".join(values)


def _fetch(msg: email.message.Message, name: str, value: Any) -> Any:
    """A field's value as ``msg.items()`` and ``msg.get`` give it: the policy's
    ``header_fetch_parse``, which in compat32 wraps only a value holding surrogates (raw
    8-bit bytes) in a Header; an ASCII string has none, and is returned without the three
    Python calls of asking."""
    if type(value) is str and value.isascii() and msg.policy is compat32:
        return value
    return msg.policy.header_fetch_parse(name, value)


def _first_id(value: str) -> str | None:
    ids = _all_ids(value)
    if ids:
        return ids[0]
    token = value.strip().strip("<>").strip()
    return token[:MAX_ID_CHARS] if token and " " not in token else None


def _all_ids(value: str) -> list[str]:
    return list(dict.fromkeys(_ANGLE_ID.findall(value)))


def _addresses(value: str, defects: list[str]) -> list[Address]:
    """Split the *raw* field into addresses first, then decode each display name: decoding
    first would let an encoded-word in a name (``=?utf-8?q?x=0D=0ABcc=3A_victim@...?=``) add
    addresses of the sender's choosing."""
    if not value:
        return []
    pairs = _read_addresses(value)
    found = []
    for name, addr in pairs:
        addr = addr.strip().lower()
        if "@" in addr and len(addr) <= 320 and " " not in addr and addr.isascii():
            found.append(Address(decode_header_value(name, defects, "address name"), addr))
        elif "@" in addr and not addr.isascii():
            decoded = decode_header_value(addr, defects, "address").lower()
            if " " not in decoded and len(decoded) <= 320:
                found.append(Address(decode_header_value(name, defects, "address name"),
                                     decoded))
    return found


def _read_addresses(value: str) -> list[tuple[str, str]]:
    """``email.utils.getaddresses([value])``, read off a match where the field is one plain
    address (most are), and [] where the stdlib raises."""
    plain = _ONE_ADDRESS.fullmatch(value)
    if plain is not None:
        name, quoted, routed, bare = plain.groups()
        return [("", bare)] if bare else [(name or quoted or "", routed)]
    try:
        return email.utils.getaddresses([value])
    except Exception:
        return []


_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# The Date as RFC 5322 section 3.3 writes it, with a four-digit year and a numeric zone,
# perhaps followed by a comment (``+0000 (UTC)``): the stdlib reads its first five words.
_USUAL_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([1-9][0-9]{3}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})(?: \([^()]*\))?")


def _date(value: str | None, defects: list[str]) -> datetime | None:
    """The Date in UTC; a Date in the usual form (most are) is read off one match, with
    what :func:`_any_date` would answer (tests/gateway/test_parsing.py holds the two to the
    same answers and defects): the stdlib read it word by word in Python and the answer
    went through two more datetimes, ~45,000 instructions a message."""
    if not value:
        defects.append("missing Date")
        return None
    found = _USUAL_DATE.fullmatch(value)
    if found is None:
        return _any_date(value, defects)
    day, month, year, hour, minute, second, sign, zone_h, zone_m = found.groups()
    offset = int(zone_h) * 3600 + int(zone_m) * 60
    try:
        if offset >= 86_400:  # beyond what a datetime.timezone takes, as the stdlib finds
            raise ValueError(offset)
        when = datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute),
                        int(second), tzinfo=UTC)
    except ValueError:
        defects.append(f"unparseable Date {value[:80]!r}")
        return None
    try:  # -0000: UTC, the sender's local offset unknown (RFC 5322 section 3.3)
        return when - timedelta(seconds=offset) if sign == "+" else when + timedelta(
            seconds=offset)
    except OverflowError:
        defects.append(f"Date out of range {value[:80]!r}")
        return None


def _any_date(value: str, defects: list[str]) -> datetime | None:
    """A Date in any form the stdlib reads, in UTC."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(f"unparseable Date {value[:80]!r}")
        return None
    if parsed.tzinfo is None:
        # The stdlib returns "-0000" as a naive time too, but RFC 5322 section 3.3 makes it a
        # valid zone: the time is UTC and the sender's local offset is unknown.
        if not _UNKNOWN_LOCAL_OFFSET.search(value):
            defects.append("Date without a time zone; read as UTC")
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        defects.append(f"Date out of range {value[:80]!r}")
        return None


def _parser_defects(parts: list[email.message.Message]) -> list[str]:
    found = []
    for part in parts:
        for defect in getattr(part, "defects", []) or []:
            found.append(type(defect).__name__)
    return found


def _has_body(raw: bytes) -> bool:
    for separator in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(separator)
        if at >= 0:
            return bool(raw[at + len(separator):].strip())
    return False


def _mailparser_text(raw: bytes, defects: list[str]) -> str:
    try:
        import mailparser

        parsed = mailparser.parse_from_bytes(raw)
        text = "\n".join(parsed.text_plain) or html_to_text("\n".join(parsed.text_html))
    except Exception as exc:
        defects.append(f"no readable text part ({type(exc).__name__})")
        return ""
    if text:
        defects.append("text recovered by mail-parser from a malformed structure")
    return text


def safe_filename(name: str) -> str:
    """An attachment name is only a label: no folders, no control characters, bounded."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    if not name.isprintable():  # printable: no character of a C (Other) category to drop
        name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip(" .")
    return name[:200] or "attachment"


class _Body:
    """Collects the readable text and the attachments of a message in one walk."""

    def __init__(self, defects: list[str]) -> None:
        self.defects = defects
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[Attachment] = []
        self.part_types: list[str] = []

    def walk(self, parts: list[email.message.Message]) -> None:
        for number, part in enumerate(parts):
            try:
                self._part(part, number)
            except Exception as exc:
                self.defects.append(f"part {number} unreadable: {type(exc).__name__}: {exc}")

    def _part(self, part: email.message.Message, number: int) -> None:
        ctype = part.get_content_type()
        self.part_types.append(ctype)
        if part.is_multipart():
            return
        filename = part.get_filename()
        disposition = (part.get_content_disposition() or "").lower()
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):  # decode=True gives bytes for a leaf part, or None
            payload = b""
        where = f"part {number} ({ctype})"
        if filename or disposition == "attachment" or not ctype.startswith("text/"):
            # A message/* part here is one kept raw below MAX_MIME_DEPTH (the parser gives the
            # others a list payload): it is listed as an attachment like any opaque part.
            if ctype == "text/rfc822-headers":
                self.plain.append(decode_bytes(payload, part.get_content_charset(), self.defects,
                                               where))
                return
            if filename is not None or payload:
                label = decode_header_value(filename or "", self.defects, "filename")
                self.attachments.append(Attachment(
                    filename=safe_filename(label), content_type=ctype, size=len(payload),
                    sha256=hashlib.sha256(payload).hexdigest()))
                self.keep(payload)
            return
        text = decode_bytes(payload, part.get_content_charset(), self.defects, where)
        if ctype == "text/html":
            self.html.append(text)
        elif ctype in ("text/plain", "text/enriched", "text/calendar") or ctype.startswith(
                "text/"):
            self.plain.append(text)

    def keep(self, payload: bytes) -> None:
        """An attachment's bytes: dropped here (filing needs only their hash)."""

    def text(self) -> str:
        if self.plain:
            return "\n\n".join(self.plain)
        return html_to_text("\n".join(self.html)) if self.html else ""


class _KeepingBody(_Body):
    """A walk that also keeps each attachment's bytes (for a person to download)."""

    def __init__(self, defects: list[str]) -> None:
        super().__init__(defects)
        self.payloads: list[bytes] = []

    def keep(self, payload: bytes) -> None:
        self.payloads.append(payload)


class _TextExtractor(HTMLParser):
    _BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
              "blockquote", "pre", "hr"}
    _SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """Readable text of an HTML body, for classification and snippets (not for display)."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:
        return re.sub(r"<[^>]*>", " ", html)
    text = "".join(extractor.out)
    text = re.sub(r"[ \t\xa0]+", " ", text)
    return re.sub(r"\n\s*\n\s*", "\n\n", text).strip()

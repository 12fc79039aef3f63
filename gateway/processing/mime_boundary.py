"""MIME boundary lines found without compiling a regex per message.

The stdlib ``email.feedparser`` compiles one regex per multipart part from its boundary
(``(?P<sep>--BOUNDARY)(?P<end>--)?(?P<ws>[ \\t]*)(?P<linesep>\\r\\n|\\r|\\n)?$``). Every mail
has a boundary of its own, so ``re``'s cache never helps and the compile, done by ``re``'s
parser in Python, was a fifth of the parse time of a typical multipart mail (profiled over
2,000 generated messages, ``bench/classify_speed.py``). :func:`install` gives the feedparser
a stand-in for ``re`` whose ``compile`` answers exactly that pattern with a matcher that
tests the literal boundary with ``str.startswith`` and the fixed rest of the line with one
regex compiled once. Any other pattern, or a boundary pattern in another form (a later
Python), goes to ``re.compile`` unchanged, so the parser's behaviour is the same either way.

The parser also asks every boundary of the enclosing parts about every line of a part
(RFC 2046 section 5.1.2), three Python calls a line, and a mail with a base64 attachment has
hundreds of lines. :func:`parse_bytes` gives it a line buffer (:class:`BoundaryLines`) that
hands out a line not starting with ``--`` at once while only boundaries are asked, since no
boundary line can match it; it feeds the message in one piece rather than in 8 KB chunks.

And it looks for the line break at the end of each part's payload with
``(\\r\\n|\\r|\\n)\\Z``, which ``re`` tries at every line break of the payload (35 us a
message on the speed corpus): :func:`install` gives it :class:`LineEndAtEnd`, which asks
``str.endswith``.

Half the mail is one part: :func:`single_part` builds such a message without the feedparser
when its header block is one the feedparser reads without a defect or special case, and
:func:`parse_bytes` gives every other message to the feedparser.
"""

from __future__ import annotations

import email.feedparser
import email.message
import io
import re
from collections.abc import Callable, Iterator
from email.policy import compat32
from typing import Any

_HEAD = "(?P<sep>"
_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_REST = re.compile(_TAIL[1:])  # what follows the boundary itself, as the stdlib writes it
_ESCAPED = re.compile(r"\\(.)", re.S)


class BoundaryMatch:
    """The parts of a match that ``email.feedparser`` reads: ``group(0)``, ``"sep"``,
    ``"end"``, ``"ws"`` and ``"linesep"``."""

    __slots__ = ("_line", "_rest", "_sep_end")

    def __init__(self, line: str, sep_end: int, rest: re.Match[str]) -> None:
        self._line, self._sep_end, self._rest = line, sep_end, rest

    def group(self, name: int | str = 0) -> str | None:
        if name == 0:
            return self._line[: self._rest.end()]
        if name in ("sep", 1):
            return self._line[: self._sep_end]
        return self._rest.group(name)


class BoundaryPattern:
    """Stands for the compiled boundary regex: ``match(line)`` at the start of ``line``."""

    __slots__ = ("separator",)

    def __init__(self, separator: str) -> None:
        self.separator = separator

    def match(self, line: str) -> BoundaryMatch | None:
        if not line.startswith(self.separator):
            return None
        rest = _REST.match(line, len(self.separator))
        return None if rest is None else BoundaryMatch(line, len(self.separator), rest)


def compile_pattern(pattern: Any, flags: int = 0) -> Any:
    """``re.compile``, except for the feedparser's boundary pattern (see the module doc)."""
    if (flags == 0 and isinstance(pattern, str) and pattern.startswith(_HEAD)
            and pattern.endswith(_TAIL)):
        escaped = pattern[len(_HEAD) : -len(_TAIL)]
        separator = _ESCAPED.sub(r"\1", escaped)
        if re.escape(separator) == escaped:  # exactly a literal, written by re.escape
            return BoundaryPattern(separator)
    return re.compile(pattern, flags)


class _ReForFeedparser:
    """``re`` for ``email.feedparser``: its own ``compile``, everything else from ``re``."""

    compile = staticmethod(compile_pattern)

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)


class LineEnd:
    """What the feedparser reads of a match of its line-end pattern: ``group(0)``."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def group(self, _index: int = 0) -> str:
        return self._text  # group 1 is the whole match too


_CRLF, _LF, _CR = LineEnd("\r\n"), LineEnd("\n"), LineEnd("\r")
_EOL_PATTERN = r"(\r\n|\r|\n)\Z"


class LineEndAtEnd:
    """Stands for the feedparser's ``NLCRE_eol``: the line break that ends ``text``."""

    pattern = _EOL_PATTERN

    def search(self, text: str) -> LineEnd | None:
        if text.endswith("\n"):
            return _CRLF if text.endswith("\r\n") else _LF
        return _CR if text.endswith("\r") else None


def install() -> None:
    """Let ``email.feedparser`` use :func:`compile_pattern` and :class:`LineEndAtEnd`
    (idempotent, process-wide)."""
    if not isinstance(getattr(email.feedparser, "re", None), _ReForFeedparser):
        setattr(email.feedparser, "re", _ReForFeedparser())  # noqa: B010  (a module attribute)
    eol = getattr(email.feedparser, "NLCRE_eol", None)
    if isinstance(eol, re.Pattern) and eol.pattern == _EOL_PATTERN and eol.flags == re.UNICODE:
        setattr(email.feedparser, "NLCRE_eol", LineEndAtEnd())  # noqa: B010


# The feedparser's line buffer: not public, so only used where this Python has it as known.
_BufferedSubFile: Any = vars(email.feedparser).get("BufferedSubFile", object)


# Line breaks of str.splitlines that StringIO(newline="") does not break lines at (it breaks
# at LF, CRLF and CR, as splitlines does too).
_SPLITLINES_ONLY = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
# The shortcut of ``push`` reads the stdlib's partial line as the StringIO it is in the Python
# versions it was checked on; where the buffer keeps it otherwise, the stdlib's push runs.
_PARTIAL_IS_STRINGIO = isinstance(getattr(_BufferedSubFile(), "_partial", None), io.StringIO)


class BoundaryLines(_BufferedSubFile):  # type: ignore[misc]
    """The feedparser's line buffer, with a shortcut while every false-EOF predicate on its
    stack is the ``match`` of a :class:`BoundaryPattern`: each of those needs a line that
    starts with ``--``, so any other line is returned without asking them. That test reads
    the first character, which rules out almost every line, before the second:
    ``str.startswith`` parsed its arguments anew for each line, a fifth of the buffer's
    instructions a line."""

    def __init__(self) -> None:
        super().__init__()
        self._boundaries_only = True  # the stack is empty

    def push(self, data: str) -> None:
        """The stdlib's ``push``, with the lines cut by ``str.splitlines`` where that cuts
        them as the stdlib's ``StringIO(newline="")`` does: nothing is held back from an
        earlier push and ``data`` holds none of the line breaks only ``splitlines`` knows.
        The StringIO copied the message into a UCS-4 buffer and built each line back out of
        it, a tenth of the instructions of parsing a multipart mail."""
        if (not _PARTIAL_IS_STRINGIO or self._partial.tell()
                or any(brk in data for brk in _SPLITLINES_ONLY)):
            super().push(data)
            return
        parts = data.splitlines(True)
        if parts and not parts[-1].endswith("\n"):
            self._partial.write(parts.pop())  # a partial line, as the stdlib keeps it
        self.pushlines(parts)

    def push_eof_matcher(self, pred: Callable[[str], object]) -> None:
        super().push_eof_matcher(pred)
        self._boundaries_only = self._boundaries_only and isinstance(
            getattr(pred, "__self__", None), BoundaryPattern
        )

    def pop_eof_matcher(self) -> Callable[[str], object]:
        pred: Callable[[str], object] = super().pop_eof_matcher()
        self._boundaries_only = all(
            isinstance(getattr(p, "__self__", None), BoundaryPattern) for p in self._eofstack
        )
        return pred

    def readline(self) -> Any:
        lines = self._lines
        if self._boundaries_only and lines:
            line = lines[0]
            if line and (line[0] != "-" or line[1:2] != "-"):  # not "--"
                return lines.popleft()
        return super().readline()

    def __iter__(self) -> Iterator[Any]:
        # The parser's ``for line in self._input`` loops: a generator resumes for each line
        # where ``__next__`` was a Python call (a new frame) per line.
        return self._iterate()

    def _iterate(self) -> Iterator[Any]:
        """What calling ``__next__`` until StopIteration returns, as a generator."""
        lines = self._lines
        while True:
            if self._boundaries_only and lines:
                line = lines[0]
                if line and (line[0] != "-" or line[1:2] != "-"):  # not "--"
                    yield lines.popleft()
                    continue
            line = super().readline()
            if line == "":
                return
            yield line

    def __next__(self) -> Any:
        lines = self._lines
        if self._boundaries_only and lines:
            # Not "": the parser puts back the "" of the end of the input, which ends a loop.
            line = lines[0]
            if line and (line[0] != "-" or line[1:2] != "-"):  # not "--"
                return lines.popleft()
        line = super().readline()
        if line == "":
            raise StopIteration
        return line


def parse_bytes(
    raw: bytes, factory: Callable[..., email.message.Message]
) -> email.message.Message:
    """What ``email.message_from_bytes(raw, _class=factory)`` gives (compat32), parsed with a
    :class:`BoundaryLines` buffer where this Python's parser has the buffer it replaces, or
    by :func:`single_part` where the message is one part with a clean header block."""
    # As BytesParser does: 8-bit bytes become surrogates, which compat32 keeps.
    text = raw.decode("ascii", errors="surrogateescape")
    single = single_part(text, factory)
    if single is not None:
        return single
    parser = email.feedparser.FeedParser(factory)
    buffer = getattr(parser, "_input", None)
    if type(buffer) is _BufferedSubFile and all(
        hasattr(buffer, name) for name in ("_lines", "_eofstack", "_closed")
    ):
        parser._input = BoundaryLines()  # type: ignore[attr-defined]
    parser.feed(text)
    return parser.close()


# A line as the feedparser's buffer cuts them (``StringIO(newline="")``): up to and with
# CRLF, LF or a lone CR.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)")
_HEADER_LINE: re.Pattern[str] = vars(email.feedparser).get(
    "headerRE", re.compile(r"^(From |[\041-\071\073-\176]*:|[\t ])"))


def single_part(
    text: str, factory: Callable[..., email.message.Message]
) -> email.message.Message | None:
    """The message the feedparser makes of ``text`` when it is one leaf part (not multipart
    or message/*) whose header block is clean, else None (the feedparser's turn).

    Clean is what the feedparser reads without a defect or a special case: every line a
    field or a continuation of one (its own ``headerRE``), none the mbox ``From `` line or a
    field without a name, ended by a blank line. Such a message is its header fields, set as
    its ``_parse_headers`` sets them, and the rest of the text as its payload. Half the mail
    is one part; the feedparser handed each of its ~60 body lines through a Python call.
    """
    # A multipart or message/* type anywhere in the header block rules this out at the cost
    # of a lower(); the check after the fields still decides.
    end = text.find("\n\r\n")
    end = text.find("\n\n") if end < 0 else end
    head = text[: end if end >= 0 else len(text)].lower()
    if "multipart/" in head or "message/" in head:
        return None
    header_line = _HEADER_LINE.match
    source = compat32.header_source_parse
    msg = factory(policy=compat32)
    field: list[str] = []
    pos = 0
    while True:
        found = _LINE.match(text, pos)
        if found is None:
            return None  # no blank line before the end
        line = found.group()
        pos = found.end()
        if line in ("\r\n", "\n", "\r"):
            break
        if not header_line(line) or line.startswith("From ") or line[0] == ":":
            return None
        if line[0] in " \t":
            if not field:
                return None  # a continuation first: a defect
            field.append(line)
            continue
        if field:
            msg.set_raw(*source(field))
        field = [line]
    if field:
        msg.set_raw(*source(field))
    if msg.get_content_maintype() in ("multipart", "message"):
        return None
    msg.set_payload(text[pos:])
    return msg

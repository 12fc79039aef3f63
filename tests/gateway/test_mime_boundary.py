"""The feedparser's boundary matcher without a regex per boundary answers as the regex does."""

from __future__ import annotations

import email
import email.feedparser
import itertools
import re
from typing import Any

import pytest

from gateway.processing import mime_boundary
from gateway.processing.parsing import parse_message

BOUNDARIES = ["===============7320396268364370220==", "----=_Part_12_34.5678", "a b(c)+?*",
              "_=_next=_part_", "x"]
LINE_ENDS = ["", "\n", "\r\n", "\r", "--", "--\n", "--\r\n", "  \t\n", "--  \r\n", "x\n", " x\n",
             "-\n", "\n\n"]


def _stdlib(separator: str) -> re.Pattern[str]:
    """The pattern exactly as email.feedparser builds it."""
    return re.compile("(?P<sep>" + re.escape(separator) +
                      r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_boundary_lines_match_as_the_stdlib_regex_does(boundary: str) -> None:
    separator = "--" + boundary
    fast = mime_boundary.compile_pattern(_stdlib(separator).pattern)
    assert isinstance(fast, mime_boundary.BoundaryPattern)
    lines = [separator + end for end in LINE_ENDS] + ["-" + separator + "\n", "text\n", ""]
    for line in lines:
        want, got = _stdlib(separator).match(line), fast.match(line)
        assert (got is None) == (want is None), line
        if want is not None and got is not None:
            for name in (0, "sep", "end", "ws", "linesep"):
                assert got.group(name) == want.group(name), (line, name)


def test_other_patterns_are_compiled_by_re() -> None:
    assert isinstance(mime_boundary.compile_pattern(r"(\r\n|\r|\n)\Z"), re.Pattern)
    assert isinstance(mime_boundary.compile_pattern("(?P<sep>a|b" + r")(?P<end>--)?(?P<ws>[ \t]*)"
                                                    r"(?P<linesep>\r\n|\r|\n)?$"), re.Pattern)


def test_parsing_is_unchanged_by_the_fast_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = (b"From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b(1)+."\r\n\r\npreamble\r\n'
           b"--b(1)+.\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
           b"--inner\r\nContent-Type: text/plain\r\n\r\nhello --b(1)+. world\r\n"
           b"--inner  \r\nContent-Type: text/html\r\n\r\n<p>hello</p>\r\n--inner--\r\n"
           b"--b(1)+.\r\nContent-Type: text/csv; name=a.csv\r\n\r\nx;y\r\n--b(1)+.--\r\nepilogue")
    fast = parse_message(raw)
    assert isinstance(email.feedparser.re, type(mime_boundary._ReForFeedparser()))
    monkeypatch.setattr(email.feedparser, "re", re)
    assert parse_message(raw) == fast
    assert fast.text.startswith("hello --b(1)+. world")
    assert [a.filename for a in fast.attachments] == ["a.csv"]


UNCLOSED = (b'From: a@example.com\r\nContent-Type: multipart/alternative; boundary="--x.1"\r\n\r\n'
            b"preamble\r\n----x.1\r\nContent-Type: text/plain\r\n\r\n-- \r\nsig\r\n"
            b"----x.1\r\n")  # the last separator opens a part that never comes (zammad mail034)
NESTED = (b"Content-Type: multipart/mixed; boundary=out\n\n--out\n"
          b"Content-Type: multipart/related; boundary=in\n\n--in\n\nbody\n--out\n"
          b"Content-Type: message/delivery-status\n\nReporting-MTA: x\n\nStatus: 5.0.0\n"
          b"--out\n--out\nContent-Type: text/plain\n\n--in--\n-\n--out--\nepilogue\n")


def _parts(msg: email.message.Message) -> list[tuple[object, ...]]:
    """Everything the parser decided about each part."""
    return [(p.get_unixfrom(), p.items(), p.get_content_type(), p.get_payload() if not
             p.is_multipart() else None, p.preamble, p.epilogue,
             [type(d).__name__ for d in p.defects]) for p in msg.walk()]


def _stdlib_parse(raw: bytes) -> email.message.Message:
    """message_from_bytes with the stdlib's own line-end regex."""
    fast_eol = email.feedparser.NLCRE_eol
    email.feedparser.NLCRE_eol = re.compile(r"(\r\n|\r|\n)\Z")  # type: ignore[attr-defined]
    try:
        return email.message_from_bytes(raw)
    finally:
        email.feedparser.NLCRE_eol = fast_eol  # type: ignore[attr-defined]


BODIES = (b"From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\npre\n-\nx: y\n"
        b"--b\nbody first\nSubject: no header\n\n--b\nText: a header\nlater\n--b\n\n"
        b"--b\nfirst line\n--not the boundary\nmore\n--b--\nepi\nlogue\n")
DIGEST = (b"Content-Type: multipart/digest; boundary=d\n\n--d\nnot a header\n\nbody\n"
          b"--d\n\nno headers at all\n--d--\n")
REPORT = (b"Content-Type: multipart/report; boundary=r\n\n--r\n"
          b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n"
          b"Final-Recipient: a@b\nnot a field\nstill in the block\n\nlast block\nx\n"
          b"--r--\n")


@pytest.mark.parametrize("raw", [UNCLOSED, NESTED, UNCLOSED.replace(b"\r\n", b"\r"), BODIES,
                                 DIGEST, REPORT, NESTED[: len(NESTED) // 2], b"", b"\n",
                                 b"Subject: x", b"garbage first\nSubject: x\n\nbody\n",
                                 b"From nobody\nSubject: x\n\nFrom the body\n"])
def test_the_line_buffer_parses_as_the_stdlib_does(raw: bytes) -> None:
    """Structure, payloads and defects of every part, against ``email.message_from_bytes``."""
    assert _parts(mime_boundary.parse_bytes(raw, email.message.Message)) == _parts(
        _stdlib_parse(raw))


@pytest.mark.corpora
def test_the_corpora_parse_as_the_stdlib_parses_them() -> None:
    """Every file of the shared corpora, also with bare CR and with LF line ends."""
    from tests.support.corpora import CORPORA

    files = [p for p in sorted(CORPORA.rglob("*")) if p.is_file()]
    assert len(files) > 1_500
    for path in files:
        raw = path.read_bytes()
        for variant in (raw, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r")):
            got = mime_boundary.parse_bytes(variant, email.message.Message)
            assert _parts(got) == _parts(_stdlib_parse(variant)), path


def test_the_line_end_at_the_end_is_found_as_the_stdlib_regex_finds_it() -> None:
    stdlib = re.compile(r"(\r\n|\r|\n)\Z")
    fast = mime_boundary.LineEndAtEnd()
    assert email.feedparser.NLCRE_eol.__class__ is mime_boundary.LineEndAtEnd  # installed
    texts = ["".join(chars) for n in range(5) for chars in itertools.product("a\r\n", repeat=n)]
    for text in [*texts, "x" * 10_000 + "\r\n", "\n\r", "\r\r\n"]:
        want, got = stdlib.search(text), fast.search(text)
        assert (got is None) == (want is None), repr(text)
        if want is not None and got is not None:
            assert got.group(0) == want.group(0) and got.group(1) == want.group(1), repr(text)


ONE_PART = [
    b"From: a@example.com\r\nSubject: folded\r\n  on two lines\r\n\tand three\r\n\r\nbody\r\n",
    b"Subject: no line end after the body\n\nbody",
    b"Subject: empty body\r\n\r\n",
    b"Subject: lone CR\r\rbody\rmore\r",
    b"Subject: caf\xc3\xa9 \xe9\r\nContent-Type: text/plain; charset=latin-1\r\n\r\n\xe9t\xe9\r\n",
    b"Content-Type: TEXT/PLAIN\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n",
    b"Content-Type: multipart\r\n\r\nnot a valid type: read as text/plain\r\n",
    b"Subject: a body line that looks like a field\r\n\r\nFrom: b@example.com\r\n\r\n--x\r\n",
    b"Subject: the blank line is a lone CR\r\nTo: a@example.com\r\rbody\r\n",
]
NOT_ONE_PART = [
    b" continuation first\r\nSubject: x\r\n\r\nbody\r\n",
    b": no field name\r\nSubject: x\r\n\r\nbody\r\n",
    b"From nobody Mon Dec  7 01:00:00 2026\nSubject: x\n\nbody\n",
    b"Subject: x\r\nFrom someone\r\n\r\nbody\r\n",
    b"Subject: no blank line\r\nTo: a@example.com\r\n",
    b"Subject: x\r\nnot a field\r\n\r\nbody\r\n",
    b"Subject: x\r\nContent-Type: Message/RFC822\r\n\r\nSubject: inner\r\n\r\nin\r\n",
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n',
    b"Content-Type: message/delivery-status\n\nReporting-MTA: x\n\nStatus: 5.0.0\n",
    # A one-part message, left to the feedparser by the cheap look for a nested type.
    b"X-Note: multipart/mixed in another field\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n",
]


@pytest.mark.parametrize("raw", ONE_PART + NOT_ONE_PART)
def test_a_single_part_parses_as_the_stdlib_parses_it(raw: bytes) -> None:
    """The shortcut for one-part messages gives the stdlib's structure, payload and defects,
    and leaves every other message (a defect, an mbox line, a multipart) to the feedparser."""
    text = raw.decode("ascii", "surrogateescape")
    single = mime_boundary.single_part(text, email.message.Message)
    assert (single is not None) == (raw in ONE_PART)
    assert _parts(mime_boundary.parse_bytes(raw, email.message.Message)) == _parts(
        _stdlib_parse(raw))
    if single is not None:
        assert _parts(single) == _parts(_stdlib_parse(raw))


def _buffered(buffer: Any, pushes: list[str]) -> list[str]:
    """The lines a line buffer hands out after ``pushes`` and its close."""
    for data in pushes:
        buffer.push(data)
    buffer.close()
    return list(iter(buffer.readline, ""))


@pytest.mark.parametrize("pushes", [
    ["a\r\nb\nc\rd"], ["a\r", "\nb\n"], ["a", "b\n", "c"], [""], ["", "x\n"], ["\r\r\n\n\r"],
    ["tail\r"], ["v\x0btab\x0cfeed\x1cfs\n"], ["\x85\u2028\u2029\n\udce9\r\n"],
    ["one\n", "\x0btwo\r\n", "three"], ["no break at all"],
])
def test_the_line_buffer_cuts_lines_as_the_stdlib_buffer_does(pushes: list[str]) -> None:
    """Lines cut by ``str.splitlines`` only where they are the stdlib StringIO's lines: LF,
    CRLF and a lone CR, a partial line kept for the next push or the close."""
    stdlib = vars(email.feedparser)["BufferedSubFile"]()
    assert _buffered(mime_boundary.BoundaryLines(), pushes) == _buffered(stdlib, pushes)

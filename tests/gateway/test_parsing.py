"""One test per real-world defect, each with its fixture file: parsing never raises and records
what was wrong."""

from __future__ import annotations

import hashlib
import os
import random
from datetime import UTC, datetime

import pytest

from gateway.processing.parsing import ParsedMessage, html_to_text, parse_message, safe_filename
from tests.support.corpora import FIXTURES
from tests.support.mail import make_message


def parse_fixture(name: str) -> ParsedMessage:
    return parse_message((FIXTURES / "mail" / name).read_bytes())


def test_well_formed_message_is_read_completely():
    raw = make_message(subject="Quote", sender="Anna Buyer <Anna@Customer.example>",
                       message_id="<abc@customer.example>", in_reply_to="<p@x.example>",
                       references="<r1@x.example> <p@x.example>")
    parsed = parse_message(raw)
    assert parsed.sha256 == hashlib.sha256(raw).hexdigest()
    assert parsed.message_id == "abc@customer.example"
    assert parsed.in_reply_to == ("p@x.example",)
    assert parsed.references == ("r1@x.example", "p@x.example")
    assert (parsed.from_addr, parsed.from_name) == ("anna@customer.example", "Anna Buyer")
    assert parsed.date is not None and parsed.date.utcoffset().total_seconds() == 0
    assert "quote for 20 pieces" in parsed.text
    assert parsed.defects == ()


def test_unknown_charset_x_unknown():
    parsed = parse_fixture("unknown-charset-x-unknown.eml")
    assert "Grüße" in parsed.text  # the bytes are UTF-8; the fallback finds that
    assert parsed.message_id == "x-unknown-1@lang-hydraulik.example"


def test_charset_iso_gb2312():
    parsed = parse_fixture("charset-iso-gb2312.eml")
    assert "请报价" in parsed.text
    assert parsed.from_name == "张三"


def test_group_address_unlisted_recipients():
    parsed = parse_fixture("group-address-unlisted-recipients.eml")
    assert parsed.to == ()
    assert parsed.from_addr == "mailer-daemon@mx.northpoint.example"


def test_missing_message_id_and_date():
    parsed = parse_fixture("missing-message-id-and-date.eml")
    assert parsed.message_id is None and parsed.date is None
    assert "missing Message-ID" in parsed.defects
    assert "missing Date" in parsed.defects
    assert parsed.looks_like_mail


def test_raw_8bit_utf8_subject():
    parsed = parse_fixture("raw-8bit-utf8-subject.eml")
    assert parsed.subject == "Anfrage Größe DN50 \u2013 Flansch"
    assert parsed.from_name == "Jörg Weiß"
    assert not any("raw 8-bit" in d for d in parsed.defects)  # RFC 6532: UTF-8 is valid


def test_smtputf8_internationalised_address():
    parsed = parse_fixture("smtputf8-internationalised-address.eml")
    assert (parsed.from_name, parsed.from_addr) == ("Jörg Weiß", "jörg@weiß-technik.example")
    assert parsed.subject == "Größe DN50 \u2013 Angebot"
    assert parsed.message_id == "eai-1@weiß-technik.example"
    assert parsed.defects == ()


def test_raw_8bit_latin1_subject():
    parsed = parse_fixture("raw-8bit-latin1-subject.eml")
    assert parsed.subject == "Válvulas de presión"  # read as Windows-1252
    assert "raw 8-bit bytes in header Subject that are not UTF-8" in parsed.defects


def test_date_minus_0000():
    parsed = parse_fixture("date-minus-0000.eml")
    assert parsed.date == datetime(2026, 11, 25, 14, 5, tzinfo=UTC)
    assert parsed.defects == ()
    zoneless = parse_message(make_message(date="Wed, 25 Nov 2026 14:05:00"))
    assert zoneless.date == parsed.date
    assert "Date without a time zone; read as UTC" in zoneless.defects


def test_obsolete_whitespace_before_colon():
    parsed = parse_fixture("obsolete-whitespace-before-colon.eml")
    assert [name for name, _ in parsed.headers] == ["From", "To", "Subject", "Date", "Message-ID"]
    assert (parsed.from_name, parsed.from_addr) == ("Old Mailer",
                                                    "old.mailer@legacy-industrie.example")
    assert [a.addr for a in parsed.to] == ["sales@northpoint.example"]
    assert parsed.subject == "Spare part 4711"
    assert parsed.message_id == "obs-1@legacy-industrie.example"
    assert parsed.date == datetime(2026, 11, 23, 8, 15, tzinfo=UTC)
    assert parsed.text == "Please quote spare part 4711, 12 pieces.\r\n"
    assert parsed.defects == ()


def test_obsolete_field_names_are_only_rewritten_in_the_header():
    raw = b"From\t: a@b.example\r\nSubject: ok\r\n\r\nPrice : 5 EUR\r\n"
    parsed = parse_message(raw)
    assert (parsed.from_addr, parsed.subject) == ("a@b.example", "ok")
    assert parsed.text == "Price : 5 EUR\r\n"
    assert parsed.sha256 == hashlib.sha256(raw).hexdigest()  # of the bytes as they came


def deep_mime_message(levels: int) -> bytes:
    """A message whose multipart/mixed parts nest ``levels`` deep, with a text part at the top
    and one at the bottom. Built here: a 60 KB fixture of boundaries would show nothing more."""
    head = make_message(subject="Deeply nested", sender="Deep Sender <deep@customer.example>",
                        message_id="<deep-1@customer.example>").split(b"\r\n\r\n")[0]
    head = head.replace(b"Content-Type: text/plain; charset=utf-8\r\n", b"")
    opening = [b"Content-Type: multipart/mixed; boundary=\"level-%d\"\r\n\r\n--level-%d\r\n"
               % (n, n) for n in range(levels)]
    opening.insert(1, b"Content-Type: text/plain\r\n\r\nTop text.\r\n--level-0\r\n")
    closing = [b"--level-%d--\r\n" % n for n in reversed(range(levels))]
    return (head + b"\r\n" + b"".join(opening)
            + b"Content-Type: text/plain\r\n\r\nInnermost text.\r\n" + b"".join(closing))


def test_mime_nested_1000_deep():
    parsed = parse_message(deep_mime_message(1000))
    assert (parsed.from_addr, parsed.subject) == ("deep@customer.example", "Deeply nested")
    assert parsed.message_id == "deep-1@customer.example" and parsed.looks_like_mail
    assert parsed.text == "Top text."
    assert parsed.defects == ("MIME nesting deeper than 64 levels; inner parts kept as raw bytes",)
    (kept,) = parsed.attachments
    assert kept.content_type == "multipart/mixed" and kept.size > 50_000
    assert len(parsed.part_types) == 1 + 65  # the top text part and levels 0 to 64


def test_mime_nested_to_the_limit_is_read_whole():
    parsed = parse_message(deep_mime_message(64))
    assert parsed.text == "Top text.\n\nInnermost text."
    assert parsed.defects == () and parsed.attachments == ()


def test_message_rfc822_nested_1000_deep():
    raw = (make_message(subject="Forwarded forward", extra_headers="X-Forwarded: yes")
           .replace(b"text/plain; charset=utf-8", b"message/rfc822").split(b"\r\n\r\n")[0]
           + b"\r\n\r\n" + b"Subject: fwd\r\nContent-Type: message/rfc822\r\n\r\n" * 1000
           + b"Subject: original\r\n\r\nOriginal text.\r\n")
    parsed = parse_message(raw)
    assert parsed.subject == "Forwarded forward"
    assert any("MIME nesting deeper than 64" in d for d in parsed.defects)
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"]


def test_broken_encoded_word():
    parsed = parse_fixture("broken-encoded-word.eml")
    assert parsed.from_addr == "broken@example.org"
    assert parsed.subject  # kept as readable text, not lost
    assert "Body text." in parsed.text


def test_missing_final_boundary():
    parsed = parse_fixture("missing-final-boundary.eml")
    assert "Please quote the attached part." in parsed.text
    assert [a.filename for a in parsed.attachments] == ["part.pdf"]
    assert any("Boundary" in d or "boundary" in d for d in parsed.defects)


def test_attachment_filename_path_traversal():
    parsed = parse_fixture("attachment-filename-path-traversal.eml")
    (attachment,) = parsed.attachments
    assert "/" not in attachment.filename and ".." not in attachment.filename
    assert "\x07" not in attachment.filename
    assert attachment.filename == "evil"
    assert attachment.sha256 == hashlib.sha256(b"hello").hexdigest()


def test_html_only_with_script():
    parsed = parse_fixture("html-only-with-script.eml")
    assert "we would like to order 5 pumps & 2 valves." in parsed.text
    assert "alert" not in parsed.text and "color:red" not in parsed.text


def test_latin1_labelled_utf8():
    parsed = parse_fixture("latin1-labelled-utf8.eml")
    assert "válvulas, señor" in parsed.text
    assert any("not valid utf-8" in d for d in parsed.defects)


@pytest.mark.parametrize("seed", range(20))
def test_binary_garbage_never_raises(seed):
    raw = random.Random(seed).randbytes(4096)
    parsed = parse_message(raw)
    assert parsed.size == 4096
    assert parsed.sha256 == hashlib.sha256(raw).hexdigest()


def test_empty_input_is_not_mail():
    parsed = parse_message(b"")
    assert not parsed.looks_like_mail


def test_huge_header_count_is_bounded():
    raw = b"".join(b"X-Spam-%d: y\r\n" % n for n in range(5000)) + b"From: a@b.example\r\n\r\nx"
    parsed = parse_message(raw)
    assert len(parsed.headers) == 500
    assert any("header fields" in d for d in parsed.defects)


def test_large_attachment_is_hashed_not_kept():
    payload = os.urandom(3 * 1024 * 1024)
    import base64

    body = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    raw = (b"From: a@b.example\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n"
           b"\r\nsee file\r\n--q\r\nContent-Type: application/zip\r\nContent-Disposition: "
           b"attachment; filename=big.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + body + b"--q--\r\n")
    parsed = parse_message(raw)
    (attachment,) = parsed.attachments
    assert attachment.size == len(payload)
    assert attachment.sha256 == hashlib.sha256(payload).hexdigest()


def test_safe_filename_strips_folders_and_controls():
    assert safe_filename("C:\\Users\\x\\..\\report.pdf") == "report.pdf"
    assert safe_filename("..") == "attachment"
    assert len(safe_filename("a" * 1000)) == 200


def test_html_to_text_keeps_block_structure():
    assert html_to_text("<p>one</p><p>two&nbsp;three</p>") == "one\n\ntwo three"


@pytest.mark.parametrize("field", ["From", "To"])
def test_an_encoded_word_in_a_display_name_cannot_add_an_address(field):
    hostile = "=?utf-8?q?Anna=0D=0ABcc=3A_victim=40x.example=2C_=3Cmallory=40x.example=3E?="
    raw = make_message(**{"sender" if field == "From" else "to":
                          f"{hostile} <anna@customer.example>"})
    parsed = parse_message(raw)
    addresses = [parsed.sender] if field == "From" else list(parsed.to)
    assert [a.addr for a in addresses] == ["anna@customer.example"]
    assert "victim@x.example" in addresses[0].name  # kept as text, never as an address


def test_encoded_display_names_are_still_decoded():
    parsed = parse_message(make_message(sender="=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@x.de>"))
    assert (parsed.sender.name, parsed.sender.addr) == ("Jürgen Müller", "jm@x.de")


def test_deep_mime_and_obsolete_syntax_are_filed_by_ingest(cli, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "deep.eml").write_bytes(deep_mime_message(1000))
    (folder / "obsolete.eml").write_bytes(
        (FIXTURES / "mail" / "obsolete-whitespace-before-colon.eml").read_bytes())
    summary = cli("ingest", str(folder), "--json").json()
    assert (summary["seen"], summary["filed"], summary["quarantined"]) == (2, 2, [])
    cases = {case["subject"]: case for case in cli("cases", "list", "--json").json()}
    assert set(cases) == {"Deeply nested", "Spare part 4711"}
    senders = {subject: [m["from"] for m in cli("cases", "show", case["ref"], "--json")
                         .json()["messages"]] for subject, case in cases.items()}
    assert senders == {"Deeply nested": ["deep@customer.example"],
                       "Spare part 4711": ["old.mailer@legacy-industrie.example"]}


ADDRESS_FIELDS = [
    "a@b.example", "Anna Buyer <Anna@Customer.example>", '"Buyer, Anna" <anna@c.example>',
    "<anna@c.example>", "J. Smith<j@s.example>", '"" <e@x.example>', " <lead@x.example>",
    "=?utf-8?q?J=C3=BCrgen?= <j@x.example>", "Anna  Buyer <a@b.example>", "a@b.example ",
    "a..b@c.example", ".a@b.example", "a@b..example", "a@[1.2.3.4]", '"a b"@c.example',
    "Anna <a@b.example> (work)", "Anna\t<a@b.example>", "Anna <a@b.example>, b@c.example",
    'Anna "B" <a@b.example>', '"A \\" B" <a@b.example>', "Gr\udcfc\udcdfe <g@x.example>",
    "undisclosed-recipients:;", "a@b.example\r\n", "Anna\r\n <a@b.example>", "@b.example",
]


def _fuzzed_address_fields(count: int) -> list[str]:
    """Name and address shapes near the plain ones, with the characters that matter to the
    stdlib's address parser."""
    rng = random.Random(12)
    name_pieces = ["a", "Bo", "x.y", ".", "@", "<", ">", '"', " ", "  ", "\t", "\\", ",", ";",
                   ":", "(", ")", "[", "]", "-", "=?", "?=", "ü", "\udce4", "\r\n ", "'", "é"]
    addr_pieces = ["a", "b1", ".", "..", "@", "-", "+", "_", "é", " ", "[", "]", '"', "(", ")"]

    def name() -> str:
        return "".join(rng.choice(name_pieces) for _ in range(rng.randint(0, 6)))

    def addr() -> str:
        if rng.random() < 0.5:
            return rng.choice(["a", "a.b", "a+b"]) + "@" + rng.choice(["b.example", "b", "b-c.d"])
        return "".join(rng.choice(addr_pieces) for _ in range(rng.randint(1, 8)))

    shapes = [lambda: addr(), lambda: f"{name()} <{addr()}>", lambda: f"{name()}<{addr()}>",
              lambda: f'"{name()}" <{addr()}>', lambda: f"{name()} {addr()}"]
    return [rng.choice(shapes)() for _ in range(count)]


def test_plain_address_fields_are_read_as_getaddresses_reads_them():
    """The shortcut for a field of one plain address gives what the stdlib parser gives."""
    from email.utils import getaddresses

    from gateway.processing.parsing import _ONE_ADDRESS, _read_addresses

    fields = ADDRESS_FIELDS + _fuzzed_address_fields(20_000)
    fields += [f"{name} <{addr}>" for name in ("Anna", "A. B", '"B, A"', "") for addr in
               ("a@b.example", "a.b+c@d-e.example", "a@b")]
    plain = [value for value in fields if _ONE_ADDRESS.fullmatch(value)]
    for value in plain:
        assert _read_addresses(value) == getaddresses([value]), value
    assert 2_000 < len(plain) < len(fields) / 2  # both ways are exercised


def test_the_end_of_the_header_is_where_the_regex_finds_it():
    import itertools
    import re

    from gateway.processing.parsing import _header_end

    regex = re.compile(rb"\r?\n\r?\n")
    for n in range(7):
        for chars in itertools.product([b"\r", b"\n", b"a"], repeat=n):
            raw = b"".join(chars)
            found = regex.search(raw)
            assert _header_end(raw) == (found.start() if found else len(raw)), raw


def test_parameters_shared_between_messages_are_read_as_the_stdlib_reads_them() -> None:
    """Content-Type parameters are read once per distinct value for every message: a list
    one message hands out and its caller changes must not change another message's."""
    import email

    from gateway.processing import mime_boundary
    from gateway.processing.parsing import _DepthLimitedMessage

    raw = (b"Subject: x\r\nContent-Type: text/plain; charset=\"iso-8859-1\"; "
           b"name*=utf-8''caf%C3%A9.txt; format=flowed\r\n\r\nbody\r\n")
    first, second = (mime_boundary.parse_bytes(raw, _DepthLimitedMessage) for _ in range(2))
    stdlib = email.message_from_bytes(raw)
    got = first.get_params()
    assert got == stdlib.get_params()
    got.clear()
    assert second.get_params() == stdlib.get_params()
    assert second.get_filename() == stdlib.get_filename() == "café.txt"
    assert second.get_content_charset() == stdlib.get_content_charset() == "iso-8859-1"


@pytest.mark.parametrize("header", [
    b"Content-Type: multipart/mixed; BOUNDARY=\"b1\"; boundary=b2; Report-Type=\"delivery-status\"",
    b"Content-Type: text/plain; name*=utf-8''caf%C3%A9.txt; name=\"plain.txt\"; charset=",
    b"Content-Type: text/plain; name*0=\"a\"; name*1=\"b c\"; x=\"\\\"q\\\"\"",
    b"Content-Disposition: attachment; FileName=\"<r.pdf>\"; filename=other.pdf",
    b"Content-Type: text/plain; charset=\"\xe9t\xe9\"",
])
def test_get_param_answers_as_the_stdlib(header: bytes) -> None:
    """A part's parameters are looked up in a table shared between messages: each name, in
    any case, with unquote on and off, must give what the stdlib gives."""
    import email

    from gateway.processing import mime_boundary
    from gateway.processing.parsing import _DepthLimitedMessage

    raw = b"Subject: x\r\n" + header + b"\r\n\r\nbody\r\n"
    ours = mime_boundary.parse_bytes(raw, _DepthLimitedMessage)
    stdlib = email.message_from_bytes(raw)
    for field in ("content-type", "Content-Disposition", "x-missing"):
        for name in ("boundary", "Boundary", "report-type", "name", "charset", "x",
                     "filename", "missing"):
            for unquote in (True, False):
                assert (ours.get_param(name, "-", field, unquote)
                        == stdlib.get_param(name, "-", field, unquote)), (field, name, unquote)
    assert ours.get_filename() == stdlib.get_filename()
    assert ours.get_boundary() == stdlib.get_boundary()
    assert ours.get_content_charset() == stdlib.get_content_charset()


def test_dates_in_the_usual_form_are_read_as_the_stdlib_reads_them() -> None:
    """A Date in the usual form is read off one match: every variant of it, in range or
    not, must give what the stdlib's reading gives, the same time in UTC and the same
    defects (out of range, unparseable)."""
    from gateway.processing.parsing import _USUAL_DATE, _any_date, _date

    rng = random.Random(17)
    usual = 0
    for _ in range(30_000):
        value = (f"{rng.choice(['Mon, ', 'Fri, ', '', 'Fri,', 'fri, ', 'Xyz, '])}"
                 f"{rng.choice([1, 9, 11, 28, 29, 30, 31, 0, 32, 39]):0{rng.choice((1, 2))}d} "
                 f"{rng.choice(['Jan', 'Feb', 'Jun', 'Dec', 'jan', 'Sept'])} "
                 f"{rng.choice((1970, 2024, 2025, 9999, 1000, 99, 1))} "
                 f"{rng.choice((0, 9, 23, 24)):02d}:{rng.choice((0, 59, 60)):02d}:"
                 f"{rng.choice((0, 59, 60, 61)):02d} "
                 f"{rng.choice('+-')}{rng.choice((0, 1, 5, 12, 14, 23, 24, 99)):02d}"
                 f"{rng.choice((0, 30, 45, 59, 60, 99)):02d}"
                 f"{rng.choice(('', ' (UTC)', ' (Central European)', ' (x', ' UTC', '  '))}")
        usual += _USUAL_DATE.fullmatch(value) is not None
        ours: list[str] = []
        stdlib: list[str] = []
        got, expected = _date(value, ours), _any_date(value, stdlib)
        assert (got, got and got.tzinfo, ours) == (expected, expected and expected.tzinfo,
                                                   stdlib), value
    assert usual > 3_000

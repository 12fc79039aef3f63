"""Build the blind held-out corpus (tests/fixtures/heldout) from source.jsonl.

    python bench/heldout_build.py [fixture_dir]

Reads <fixture_dir>/source.jsonl (one message per line: file, language,
category, scope_change, identifiers, alias, style, sender, subject, notes,
body) and writes <fixture_dir>/mail/NNN.eml plus <fixture_dir>/labels.jsonl.
Output is deterministic (dates, Message-IDs and MIME boundaries are derived
from the file number), so re-running reproduces the corpus byte for byte.

Styles: plain, mobile, fwd (text/plain, 7bit/8bit), qp (quoted-printable),
b64 (base64), latin1 (ISO-8859-1, quoted-printable, ISO-8859-1 encoded-word
subject), html (multipart/alternative), news (multipart/alternative + list
headers), autoreply (Auto-Submitted), csv (multipart/mixed with a text/csv
attachment; the part after a line "--CSV--" in the body), bounce
(multipart/report; the part after "--ORIG--" is the returned header block).
"""
import datetime as dt
import email.utils
import hashlib
import html
import json
import pathlib
import re
import sys
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

DOMAIN = "brightwell-lab.example"
POLICY = policy.SMTP.clone(max_line_length=78)
START = dt.datetime(2025, 3, 3, 8, 12, tzinfo=dt.UTC)
REPLY_RE = re.compile(r"^(re|aw|r|sv|fw|fwd|wg)\s*:", re.I)


Record = dict[str, Any]  # one line of source.jsonl


def _h(n: int, s: str, k: int = 8) -> str:
    return hashlib.sha1(f"{n}:{s}".encode()).hexdigest()[:k].upper()


def _addr(sender: str) -> str:
    return email.utils.parseaddr(sender)[1]


def _html(body: str) -> str:
    paras = body.strip().split("\n\n")
    out = []
    for p in paras:
        out.append("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>")
    return ("<html><head><meta charset=\"utf-8\"></head>"
            "<body style=\"font-family:Calibri,Arial,sans-serif;font-size:11pt\">\n"
            + "\n".join(out) + "\n</body></html>\n")


def _common_headers(msg: EmailMessage, rec: Record, n: int, date: dt.datetime) -> None:
    sender_addr = _addr(rec["sender"])
    sdom = sender_addr.split("@")[1]
    to = f"{rec['alias']}@{DOMAIN}"
    msg["Return-Path"] = f"<{sender_addr}>" if rec["style"] != "bounce" else "<>"
    msg["Received"] = (f"from mail.{sdom} (mail.{sdom} [198.51.100.{n % 250 + 2}]) by mx1.{DOMAIN} "
                       f"(Postfix) with ESMTPS id {_h(n, 'rcv', 10)} for <{to}>; "
                       f"{email.utils.format_datetime(date + dt.timedelta(seconds=41))}")
    msg["From"] = rec["sender"]
    msg["To"] = to
    msg["Subject"] = rec["subject"]
    msg["Date"] = email.utils.format_datetime(date)
    msg["Message-ID"] = f"<{_h(n, 'mid', 16)}.{n:03d}@{sdom}>"
    if REPLY_RE.match(rec["subject"]):
        prev = f"<{_h(n, 'prev', 16)}@{DOMAIN}>"
        msg["In-Reply-To"] = prev
        msg["References"] = prev
    if rec["language"] != "en":
        msg["Content-Language"] = rec["language"]


def build_simple(rec: Record, n: int, date: dt.datetime) -> bytes:
    st = rec["style"]
    body = rec["body"]
    msg = EmailMessage(policy=POLICY)
    _common_headers(msg, rec, n, date)
    if st == "autoreply":
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    if st in ("html", "news"):
        if st == "news":
            domain = _addr(rec["sender"]).split("@")[1]
            msg["List-Unsubscribe"] = f"<mailto:unsubscribe-{_h(n, 'lu')}@{domain}>"
            msg["Precedence"] = "bulk"
        msg.set_content(body, charset="utf-8", cte="quoted-printable" if n % 2 else "8bit")
        msg.add_alternative(_html(body), subtype="html", charset="utf-8", cte="quoted-printable")
    elif st == "csv":
        text, csv = body.split("--CSV--\n", 1)
        msg.set_content(text.rstrip("\n") + "\n", charset="utf-8")
        msg.add_attachment(csv.encode("utf-8"), maintype="text", subtype="csv",
                           filename=f"order_{n:03d}.csv")
    elif st == "latin1":
        msg.set_content(body, charset="iso-8859-1", cte="quoted-printable")
    elif st == "qp":
        msg.set_content(body, charset="utf-8", cte="quoted-printable")
    elif st == "b64":
        msg.set_content(body, charset="utf-8", cte="base64")
    else:
        cte = "7bit" if body.isascii() else "8bit"
        msg.set_content(body, charset="utf-8", cte=cte)
    boundary_fix(msg, n)
    data = msg.as_bytes(policy=POLICY)
    if st == "latin1" and not rec["subject"].isascii():
        # email.policy re-encodes encoded-words as UTF-8; put the ISO-8859-1 one back
        enc = Header(rec["subject"], "iso-8859-1", maxlinelen=76,
                     header_name="Subject").encode(linesep="\r\n")
        data = re.sub(rb"^Subject:.*?\r\n(?![ \t])", ("Subject: " + enc + "\r\n").encode("ascii"),
                      data, count=1, flags=re.M | re.S)
    return data


def boundary_fix(msg: EmailMessage, n: int) -> None:
    if msg.is_multipart():
        msg.set_boundary(f"----=_Part_{n:03d}_{_h(n, 'b', 12)}")


def build_bounce(rec: Record, n: int, date: dt.datetime) -> bytes:
    text, orig = rec["body"].split("--ORIG--\n", 1)
    bnd = f"----=_Report_{n:03d}_{_h(n, 'b', 12)}"
    found = re.search(r"<([^>]+)>", text)
    assert found is not None, f"{rec['file']}: no <recipient> in the bounce text"
    rcpt = found.group(1)
    hdr = EmailMessage(policy=POLICY)
    _common_headers(hdr, rec, n, date)
    head = hdr.as_string(policy=POLICY.clone(linesep="\n")).split("\n\n", 1)[0]
    raw = (head + "\n"
           "Auto-Submitted: auto-replied\n"
           "MIME-Version: 1.0\n"
           f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"{bnd}\"\n"
           "\n"
           "This is a MIME-encapsulated message.\n\n"
           f"--{bnd}\n"
           "Content-Description: Notification\n"
           "Content-Type: text/plain; charset=us-ascii\n\n"
           f"{text.rstrip()}\n\n"
           f"--{bnd}\n"
           "Content-Description: Delivery report\n"
           "Content-Type: message/delivery-status\n\n"
           f"Reporting-MTA: dns; mx1.{DOMAIN}\n"
           f"Arrival-Date: {email.utils.format_datetime(date - dt.timedelta(minutes=3))}\n\n"
           f"Final-Recipient: rfc822; {rcpt}\n"
           "Action: failed\n"
           "Status: 5.1.1\n"
           f"Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: "
           "User unknown\n\n"
           f"--{bnd}\n"
           "Content-Description: Undelivered Message Headers\n"
           "Content-Type: text/rfc822-headers\n\n"
           f"{orig.rstrip()}\n"
           f"Message-ID: <{_h(n, 'orig', 16)}@{DOMAIN}>\n\n"
           f"--{bnd}--\n")
    return raw.replace("\n", "\r\n").encode("ascii")


def main(argv: list[str]) -> None:
    root = pathlib.Path(argv[1] if len(argv) > 1 else "tests/fixtures/heldout")
    lines = (root / "source.jsonl").read_text(encoding="utf-8").splitlines()
    recs = [json.loads(line) for line in lines if line.strip()]
    maildir = root / "mail"
    maildir.mkdir(parents=True, exist_ok=True)
    labels = []
    for n, rec in enumerate(recs, 1):
        assert rec["file"] == f"{n:03d}.eml", rec["file"]
        date = START + dt.timedelta(hours=7 * n, minutes=(n * 37) % 60, seconds=(n * 13) % 60)
        build = build_bounce if rec["style"] == "bounce" else build_simple
        data = build(rec, n, date)
        # every line CRLF, no bare LF
        data = re.sub(rb"(?<!\r)\n", b"\r\n", data)
        (maildir / rec["file"]).write_bytes(data)
        # sanity: parses back
        BytesParser(policy=policy.default).parsebytes(data)
        labels.append({
            "file": rec["file"], "category": rec["category"], "scope_change": rec["scope_change"],
            "identifiers": rec["identifiers"], "language": rec["language"], "notes": rec["notes"],
            "alias": f"{rec['alias']}@{DOMAIN}", "style": rec["style"],
        })
    with open(root / "labels.jsonl", "w", encoding="utf-8") as fh:
        for label in labels:
            fh.write(json.dumps(label, ensure_ascii=False) + "\n")
    print(f"wrote {len(labels)} messages to {maildir}")


if __name__ == "__main__":
    main(sys.argv)

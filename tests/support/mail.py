"""Customer mail for tests: a small valid RFC 5322 message, and a folder of them to ingest."""

from __future__ import annotations

import uuid
from pathlib import Path

# The aliases of the test installation (the ``home`` fixture initialises it with these).
ALIASES = ["sales@northpoint.example", "support@northpoint.example", "returns@northpoint.example"]


def make_message(
    subject: str = "Question about part 1234",
    body: str = "Hello, could you send us a quote for 20 pieces?\n\nRegards\nAnna",
    sender: str = "Anna Buyer <anna@customer.example>",
    to: str = "sales@northpoint.example",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    date: str = "Mon, 23 Nov 2026 09:15:00 +0100",
    extra_headers: str = "",
) -> bytes:
    """A small, valid RFC 5322 message with CRLF line ends."""
    message_id = message_id or f"<{uuid.uuid4().hex}@customer.example>"
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {date}",
             f"Message-ID: {message_id}"]
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {references}")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
              "Content-Transfer-Encoding: 8bit"]
    if extra_headers:
        lines += extra_headers.strip("\r\n").splitlines()
    head = "\r\n".join(lines)
    return (head + "\r\n\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n"
            ).encode("utf-8")


def write_messages(folder: Path, messages: list[bytes]) -> list[Path]:
    """``messages`` as numbered .eml files in ``folder`` (created), in order: what ``ingest``
    reads."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, raw in enumerate(messages, start=1):
        path = folder / f"{number:05d}.eml"
        path.write_bytes(raw)
        paths.append(path)
    return paths


def ledger_kinds(home: Path) -> dict[str, int]:
    """How many entries of each kind the home's ledger holds (receipt, events, access ...)."""
    import json
    from collections import Counter

    ledger = home / "archive" / "ledger" / "ledger.jsonl"
    return dict(Counter(json.loads(line)["kind"] for line in ledger.read_text().splitlines()))

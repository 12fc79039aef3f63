"""Reduce a message body to the text its sender wrote now.

Quoted history must not decide the category (a customer's "thanks" above our quoted order
confirmation is not an order), so it is cut off here. Forwarded content is kept: when a
customer forwards a colleague's question, that question is the business content.
Only identifiers are taken from the full body; see ``identifiers.py``.
"""

from __future__ import annotations

import re

# The longest new text handed to spaCy; a 1 MB body must not stall the worker.
MAX_NEW_TEXT = 20_000

# Lines that open a quoted reply. Each is anchored at the start of a line.
_REPLY_HEADERS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^On\b.{0,200}\bwrote:\s*$", re.I),
    re.compile(r"^Am\b.{0,200}\bschrieb\b.{0,200}:\s*$", re.I),
    re.compile(r"^Le\b.{0,200}\ba\s+[ée]crit\s*:\s*$", re.I),
    re.compile(r"^El\b.{0,200}\bescribi[óo]\s*:\s*$", re.I),
    re.compile(r"^\S.{0,200}\b(?:wrote|schrieb|a [ée]crit|escribi[óo])\s*:\s*$", re.I),
    re.compile(
        r"^-{2,}\s*(?:Original Message|Urspr[üu]ngliche Nachricht|Message d'origine"
        r"|Mensaje original)\s*-{2,}\s*$",
        re.I,
    ),
)

# Outlook-style header block: "From:" followed within a few lines by "Sent:"/"Date:".
_BLOCK_FROM = re.compile(r"^\*?(?:From|Von|De)\s*:\*?\s", re.I)
_BLOCK_SENT = re.compile(r"^\*?(?:Sent|Date|Gesendet|Datum|Envoy[ée]|Enviado|Fecha)\s*:\*?\s", re.I)

_FORWARD_MARKERS = re.compile(
    r"^\s*(?:-{2,}\s*(?:Forwarded message|Weitergeleitete Nachricht|Message transf[ée]r[ée]"
    r"|Mensaje reenviado)\s*-{2,}|Begin forwarded message:|Anfang der weitergeleiteten"
    r" Nachricht:)",
    re.I,
)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|rv|fw)\s*:", re.I)

_SIGNATURE = re.compile(r"^-- ?$")


def _is_outlook_block(lines: list[str], i: int) -> bool:
    """True when line i starts a "From: … Sent: …" header block of a quoted message."""
    if not _BLOCK_FROM.match(lines[i].strip()):
        return False
    return any(_BLOCK_SENT.match(ln.strip()) for ln in lines[i + 1 : i + 5])


def new_text(body: str, subject: str = "") -> str:
    """Return the newly written part of ``body``: no quoted reply, no signature.

    A forwarded message (forward marker, or a "FW:"/"WG:" subject) keeps its content, because
    the forwarded text is what the sender wants us to act on.
    """
    if not body:
        return ""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    forwarding = bool(_FORWARD_SUBJECT.match(subject or ""))
    kept: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _FORWARD_MARKERS.match(stripped):
            forwarding = True
            kept.append(line)
            continue
        if _SIGNATURE.match(line) and not forwarding:
            break
        if stripped.startswith(">"):
            continue
        if not forwarding:
            if any(p.match(stripped) for p in _REPLY_HEADERS):
                break
            if _is_outlook_block(lines, i):
                break
        kept.append(line)
    out = "\n".join(kept).strip()
    return out[:MAX_NEW_TEXT]

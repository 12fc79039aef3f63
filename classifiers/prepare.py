"""Reduce a message body to the text its sender wrote now.

Quoted history must not decide the category (a customer's "thanks" above our quoted order
confirmation is not an order), so it is cut off here, and so are signatures and legal footers
(a disclaimer's "this e-mail is confidential" is not customer IP). Forwarded content is kept:
when a customer forwards a colleague's question, that question is the business content.
Only identifiers are taken from the full body; see ``identifiers.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from classifiers.regex_starts import first_chars, lookahead
from classifiers.subjects import FORWARD_SUBJECT


@dataclass(frozen=True, slots=True)
class _LineRegex:
    """A regex for the start of a line, tried only on lines whose first character can begin a
    match. Most lines of a mail open no quote, footer or signature, and a set lookup costs less
    than entering a long alternation (under IGNORECASE the engine tries every alternative)."""

    regex: re.Pattern[str]
    starts: frozenset[str]  # the ASCII characters a match can begin with; others are tried

    def match(self, line: str) -> bool:
        c = line[:1]
        return (c in self.starts or c > "\x7f") and self.regex.match(line) is not None


def _line_regex(pattern: str, flags: int = 0, lead: str = "") -> _LineRegex:
    """``lead`` + ``pattern`` behind a test of the first character a ``pattern`` match can
    begin with (``lead`` must match nothing on the lines it is used for, e.g. leading space on
    stripped lines). Which ASCII characters can begin one is asked of ``re`` itself, so its
    case folding ("K" for the Kelvin sign) decides; when ``pattern`` can begin with nearly
    anything, every line is tried."""
    ascii_chars = [chr(i) for i in range(128)]
    chars = first_chars(pattern, flags)
    if chars is None:
        starts = frozenset(ascii_chars)
    else:
        first = re.compile(lookahead(chars), flags)
        starts = frozenset(c for c in ascii_chars if first.match(c))
    return _LineRegex(re.compile(lead + pattern, flags), starts)


# The longest new text handed to spaCy: what a customer writes now fits easily, and a 1 MB
# body (a pasted log, an ERP listing) must not stall the worker.
MAX_NEW_TEXT = 8_000
# Lines scanned for quote markers; beyond that we are deep in history or a listing.
MAX_LINES = 400

# Lines that open a quoted reply. Each is anchored at the start of a (possibly joined) line.
_REPLY_HEADERS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^On\b.{0,200}\bwrote:\s*$", re.I),
    re.compile(r"^Am\b.{0,200}\bschrieb\b.{0,200}:\s*$", re.I),
    re.compile(r"^Le\b.{0,200}\ba\s+[ée]crit\s*:\s*$", re.I),
    re.compile(r"^El\b.{0,200}\bescribi[óo]\s*:\s*$", re.I),
    re.compile(r"^\S.{0,200}\b(?:wrote|schrieb|a [ée]crit|escribi[óo]|ha scritto|scrisse"
               r"|escreveu)\s*:\s*$", re.I),
    re.compile(
        r"^-{2,}\s*(?:Original Message|Urspr[üu]ngliche Nachricht|Originalnachricht"
        r"|Message d'origine|Mensaje original|Messaggio originale|Mensagem original)\s*-{2,}\s*$",
        re.I,
    ),
    re.compile(r"^_{10,}\s*$"),  # Outlook's rule above the quoted header block
    # Dutch "Op 3 mrt. 2025 om 10:15 schreef X:", Swedish and Danish "Den 3 mars 2025 kl. 10:15
    # skrev X:", and their clients' separators.
    re.compile(r"^\S.{0,200}\b(?:schreef|skrev)\s*:\s*$", re.I),
    re.compile(r"^(?:Op|Den)\b.{0,200}\b(?:schreef|skrev)\b.{0,200}:\s*$", re.I),
    re.compile(
        r"^-{2,}\s*(?:Oorspronkelijk bericht|Ursprungligt meddelande|Oprindelig meddelelse)"
        r"\s*-{2,}\s*$",
        re.I,
    ),
)

# The header block of a quoted message (Outlook, Exchange, Gmail, Apple Mail, Thunderbird) in
# the 11 languages: "From:" and, within the next lines, a date ("Sent:", "Date:") or the
# addressee and subject ("To:", "Subject:").
_BLOCK_FROM = _line_regex(r"^\*?(?:From|Von|De|Da|Van|Fr[åa]n|Fra|Od)\s*:\*?\s", re.I)
_BLOCK_SENT = re.compile(
    r"^\*?(?:Sent|Date|Gesendet|Datum|Envoy[ée](?:\s+le)?|Enviado(?:\s+el)?|Fecha|Inviato|Enviada"
    r"|Data|Verzonden|Skickat|Sendt|Wys[łl]ano|Odesl[áa]no)\s*:\*?\s", re.I
)
# Addressee, copy and subject lines. Alone with "From:" they may be a customer's own lines
# ("From: our warehouse" / "To: your site"): they count when the "From:" line holds an address
# or when two of them follow it.
_BLOCK_OTHER = re.compile(
    r"^\*?(?:To|An|[ÀA]|Para|Aan|Do|Till?|Komu|Cc|Kopie|Subject|Betreff|Objet|Asunto|Oggetto"
    r"|Onderwerp|Temat|[ÄA]mne|Emne|P[řr]edm[ěe]t|Assunto)\s*:\*?\s", re.I
)

# Applied to stripped lines only: the leading "\s*" matches nothing there.
_FORWARD_MARKERS = _line_regex(
    r"(?:-{2,}\s*(?:Forwarded message|Weitergeleitete Nachricht|Message transf[ée]r[ée]"
    r"|Mensaje reenviado|Messaggio inoltrato|Mensagem (?:re)?encaminhada)\s*-{2,}"
    r"|Begin forwarded message:|Anfang der weitergeleiteten"
    r" Nachricht:|D[ée]but du message r[ée]exp[ée]di[ée]\s*:|Inicio del mensaje reenviado:"
    r"|Inizio messaggio inoltrato:|In[íi]cio da mensagem (?:re)?encaminhada:)",
    re.I,
    lead=r"^\s*",
)
# Forward markers ("I:" is Italian Outlook's "Inoltra") and reply markers of the 11 languages
# ("Re:", "AW:", "SV:", "Odp:", "R:", "RES:"...): the one list in classifiers/subjects.py.
_FORWARD_SUBJECT = FORWARD_SUBJECT

_SIGNATURE = _line_regex(r"^(?:-- ?|—)$")
# Legal footers and disclaimers: everything from here on is boilerplate.
_FOOTER = _line_regex(
    r"^(?:this (?:e-?mail|message|communication)(?: and any (?:files|attachments)[^.]{0,40})?"
    r" (?:is|are|may (?:be|contain)|contains?) (?:strictly )?(?:confidential|privileged|intended)"
    r"|the information (?:contained )?in this (?:e-?mail|message)"
    r"|(?:disclaimer|confidentiality notice)\s*:"
    r"|diese (?:e-?mail|nachricht)(?: und (?:alle|eventuelle)[^.]{0,30})? (?:enth[äa]lt|ist)"
    r" (?:m[öo]glicherweise )?vertraulich"
    r"|(?:gesch[äa]ftsf[üu]hrer(?:ung)?|sitz der gesellschaft|amtsgericht|registergericht)\s*:?"
    r"|dit (?:e-?mail(?:bericht)?|bericht)[^.]{0,60} (?:is|kan) (?:uitsluitend )?"
    r"(?:vertrouwelijk|bestemd)"
    r"|detta (?:e-?post(?:meddelande)?|meddelande|mejl)[^.]{0,60} (?:är|kan innehålla)"
    r" (?:konfidentiell|sekretess)"
    r"|denne (?:e-?mail|meddelelse|mail)[^.]{0,60} (?:er|kan indeholde) (?:fortrolig|konfidentiel)"
    r"|registered (?:office|in england)|company registration (?:no|number)"
    r"|ce (?:message|courriel|e-?mail)(?: et (?:ses|les) pi[èe]ces jointes)? (?:est|sont)"
    r" (?:strictement )?confidentiel"
    r"|este (?:mensaje|correo)[^.]{0,40} (?:es|son|contiene) (?:informaci[óo]n )?confidencial"
    r"|quest[oa] (?:e-?mail|messaggio|comunicazione)[^.]{0,60} (?:[èe]|sono|contiene|pu[òo]"
    r" contenere) (?:informazioni )?(?:riservat|confidenzial)"
    r"|esta (?:mensagem|comunica[çc][ãa]o|e-?mail)[^.]{0,60} (?:[ée]|s[ãa]o|cont[ée]m|pode"
    r" conter) (?:informa[çc][ãa]o )?(?:confidencial|reservad|privilegiad)"
    r"|please consider the environment before printing)",
    re.I,
)
# A closing formula on a short line of its own; the lines after it are the signature.
_CLOSING = _line_regex(
    r"^(?:(?:with )?(?:kind|best|warm|many thanks and|thanks and) regards|regards|best"
    r"|cheers|sincerely|yours (?:sincerely|faithfully|truly)|thanks(?: again)?|thank you"
    r"|mit freundlichen gr[üu](?:ß|ss)en|freundliche gr[üu](?:ß|ss)e|beste gr[üu](?:ß|ss)e"
    r"|viele gr[üu](?:ß|ss)e|gru(?:ß|ss)|mfg|vg"
    r"|(?:met )?vriendelijke groet(?:en)?|(?:hartelijke )?groet(?:en)?|mvg"
    r"|(?:med )?vänliga hälsningar|(?:bästa )?hälsningar|mvh|vh"
    r"|(?:med )?venlig hilsen|(?:de )?bedste hilsner|(?:venlige )?hilsner|hilsen"
    r"|cordialement|bien cordialement|salutations(?: distingu[ée]es)?|bien [àa] vous"
    r"|saludos(?: cordiales)?|atentamente|un saludo|cordialmente"
    r"|(?:cordiali|distinti|cari) saluti|saluti|un cordiale saluto|grazie(?: mille)?"
    r"|(?:com os )?(?:melhores )?cumprimentos|atenciosamente|obrigad[oa]|um abra[çc]o)[\s,.!]*$",
    re.I,
)
# After a closing, at most this many lines are taken as the signature (name, role, company).
_SIGNATURE_LINES = 12
# A newline after a non-empty line, before a lowercase word: a hard wrap. The pattern starts
# with the newline itself (the lookbehind then checks the character before it), so the regex
# engine jumps from newline to newline instead of trying a lookbehind at every character.
_WRAPPED = re.compile(r"\n(?<=[^\n]\n)(?=[ \t]*[a-zà-ÿß(])")


# Words above an attribution line that still count as a greeting or a pointer to answers
# written under the quote ("Hi Jo, see my answers below.").
_POINTER_WORDS = 12
# A line after a closing-like "thanks." with this many words and a full stop is a sentence.
_PROSE_WORDS = 7
_WORDS = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Prepared:
    """The new text and what preparation recognised about the message."""

    text: str
    forwarded: bool
    quoted: bool


def _is_outlook_block(lines: list[str], i: int) -> bool:
    """True when line i starts the header block of a quoted message: "From:" with a date line
    ("Sent:", "Date:") below it, or with addressee / subject lines (see _BLOCK_OTHER)."""
    if ":" not in lines[i] or not _BLOCK_FROM.match(lines[i].strip()):  # "From:" has a colon
        return False
    others = 0
    for ln in lines[i + 1 : i + 5]:
        s = ln.strip()
        if _BLOCK_SENT.match(s):
            return True
        if _BLOCK_OTHER.match(s):
            others += 1
    return others >= 2 or (others == 1 and "@" in lines[i])


# One pass each instead of a loop over the patterns: this runs on every line of every body.
_ANY_REPLY_HEADER = re.compile("|".join(f"(?:{p.pattern})" for p in _REPLY_HEADERS), re.I)
_WROTE_HEADER = re.compile("|".join(f"(?:{p.pattern})" for p in _REPLY_HEADERS[:5]), re.I)
_WRAPPED_START = _line_regex(r"(?:On|Am|Le|El|Il|Em)\b")


def _reply_header(lines: list[str], i: int) -> bool:
    stripped = lines[i].strip()
    # Every header ends with its colon ("... wrote:") or is a rule of "-" or "_".
    headed = stripped[-1:] == ":" or stripped[:1] in ("-", "_")
    if headed and _ANY_REPLY_HEADER.match(stripped):
        return True
    # Mail clients wrap long "On …, X <x@y> wrote:" lines in two.
    if i + 1 < len(lines) and len(stripped) < 200 and _WRAPPED_START.match(stripped):
        joined = f"{stripped} {lines[i + 1].strip()}"
        return _WROTE_HEADER.match(joined) is not None
    return False


def prepare(body: str, subject: str = "") -> Prepared:
    """Return the newly written part of ``body``: no quoted reply, signature or footer.

    A forwarded message (forward marker, or a "FW:"/"WG:" subject) keeps its content, because
    the forwarded text is what the sender wants us to act on. Hard-wrapped lines are joined
    so that a phrase broken over two lines still matches.
    """
    if not body:
        return Prepared("", bool(_FORWARD_SUBJECT.match(subject or "")), False)
    text = body[: MAX_NEW_TEXT * 4].replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")[:MAX_LINES]
    forwarding = bool(_FORWARD_SUBJECT.match(subject or ""))
    forwarded = forwarding
    quoted = False
    kept: list[str] = []
    skip_until = -1
    for i, line in enumerate(lines):
        if i < skip_until:
            continue
        stripped = line.strip()
        # A forward marker holds a ":" or a "--", a quoted header block's "From:" a colon (see
        # _next_forward): most lines are told apart with an ``in``, not a call.
        colon = ":" in stripped
        if (colon or "--" in stripped) and _FORWARD_MARKERS.match(stripped):
            forwarding = forwarded = True
            kept.append(line)
            continue
        if stripped.startswith(">"):
            quoted = True
            continue
        if not forwarding:
            if _SIGNATURE.match(line) or _FOOTER.match(stripped):
                nxt = _next_forward(lines, i)
                if nxt < 0:
                    break
                skip_until = nxt
                continue
            header = _reply_header(lines, i)  # asked once: it is tried on every line
            if header and _bottom_post(lines, i, kept):
                quoted = True
                continue
            if header or (colon and _is_outlook_block(lines, i)):
                quoted = True
                break
            if kept and _CLOSING.match(stripped) and not _prose_follows(lines, i):
                kept.append(line)
                nxt = _next_forward(lines, i)
                if nxt >= 0:
                    skip_until = nxt
                    continue
                if _signature_follows(lines, i):
                    break
                continue
        kept.append(line)
    out = "\n".join(kept).strip()
    out = _WRAPPED.sub(" ", out)
    return Prepared(out[:MAX_NEW_TEXT], forwarded, quoted)


def _bottom_post(lines: list[str], i: int, kept: list[str]) -> bool:
    """An attribution line ("On ... X wrote:") with at most a greeting or a pointer written
    above it ("Hi Jo, answers inline.") and a ">" quote below: the sender answers under the
    quote or between its lines (mobile, list and inline style), so the unquoted text after
    the attribution is new text, not history (the ">" lines are skipped anyway)."""
    if len(_WORDS.findall(" ".join(kept))) > _POINTER_WORDS:
        return False
    for j in range(i + 1, min(len(lines), i + 3)):
        s = lines[j].strip()
        if s:
            return s.startswith(">")
    return False


def _prose_follows(lines: list[str], i: int) -> bool:
    """After a closing-like line ("thanks."): the next line is a sentence of the message
    (a question, or a long sentence), not a name or a role, so the "thanks" was said in
    passing ("Hi Tom, / thanks. / Can you add 2 more filters?") and the text goes on."""
    for j in range(i + 1, min(len(lines), i + 3)):
        s = lines[j].strip()
        if not s:
            continue
        if s.startswith(">") or _FOOTER.match(s) or _reply_header(lines, j):
            return False
        words = len(_WORDS.findall(s))
        return (s.endswith("?") and words >= 3) or (s[-1] in ".!" and words >= _PROSE_WORDS)
    return False


def _next_forward(lines: list[str], i: int) -> int:
    # Every forward marker holds a ":" or a "--" (which IGNORECASE matches with no other
    # character): the other lines, most of the quoted history, are passed over in C.
    for j in range(i + 1, len(lines)):
        line = lines[j]
        if (":" in line or "--" in line) and _FORWARD_MARKERS.match(line.strip()):
            return j
    return -1


def _signature_follows(lines: list[str], i: int) -> bool:
    """After a closing line: only a short block (name, role, company, contact) remains, or a
    quoted/footer part starts soon. Then the rest is signature."""
    # Counted only as far as the limit: the history below a closing line can be long.
    rest = 0
    for j in range(i + 1, len(lines)):
        if lines[j].strip():
            rest += 1
            if rest > _SIGNATURE_LINES:
                break
    if rest <= _SIGNATURE_LINES:
        return True
    for j in range(i + 1, min(len(lines), i + 1 + _SIGNATURE_LINES + 4)):
        s = lines[j].strip()
        if s.startswith(">") or _FOOTER.match(s) or _reply_header(lines, j):
            return True
        if _is_outlook_block(lines, j) or _SIGNATURE.match(lines[j]):
            return True
    return False


def new_text(body: str, subject: str = "") -> str:
    """The new text only (see :func:`prepare`)."""
    return prepare(body, subject).text

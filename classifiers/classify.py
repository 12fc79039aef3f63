"""Score a message against the rules and decide category, scope change and confidence.

How the decision is made (every step is visible in the returned evidence):

1. **New text.** Quoted history, signatures and legal footers are removed (``prepare.py``);
   the subject, the new text and the attachment names are scored. Identifiers are taken from
   subject and the whole body.
2. **Language.** ``py3langid`` on the subject and the head of the new text (``language.py``),
   reported as detected. Rules are chosen by :func:`rules_language`: the detected language's
   rules plus the English ones, tokenised once with that language's ``spacy.blank`` pipeline.
   A language without rules of its own (``nl`` while only en/de/fr/es have rules) is matched
   with the English rules alone; header and identifier rules are language-neutral anyway.
3. **Content scores.** Each content rule that matches adds its ``weight`` to its category
   once (repetition is not more evidence). A match in the subject counts ``SUBJECT_FACTOR``
   times its weight, because the subject is the sender's own summary; in a reply ("Re:",
   "AW:", "SV:" ...) the subject is inherited, so it counts ``REPLY_SUBJECT_FACTOR`` and a
   scope change named only there counts nothing. Two structural signals
   are added (``_structural``): a quantity/spec/date/address/hold/cancellation change that
   names an existing order adds ``CHANGE_ORDER_WEIGHT`` to order ("clf.change_order"); an RMA
   number in the new text adds ``RMA_WEIGHT`` to property ("clf.rma_reference"). When the
   mail authorises work (a repair or calibration approved, a quote accepted) and the only
   property evidence says where the customer's item is ("the balance is with you"), that item
   is the object of the work order, not a property matter of its own: the custody score is
   taken back ("clf.work_on_item_in_care"). Item lines (a line that starts with a quantity,
   "2x seal kit", "- 10 pcs ...", or ends with one, "... 40 boxes") beside a PO number of
   the new text add ``ORDER_LINES_WEIGHT`` to order ("clf.order_lines"): an order written as
   a list, in any language, unless feedback or property content reaches ``MIN_SCORE`` or a
   quote is requested above the list (complaints and RFQs list their lines too).
4. **Header verdict** (``headers.py``). A ``final`` header rule (bounce, read receipt,
   auto-reply) makes the mail "other". Otherwise header evidence of at least
   ``HEADER_THRESHOLD`` makes it "other" unless the best business score reaches both
   ``OVERRIDE_MIN`` and the header score without its ``noise`` rules (bulk precedence,
   no-reply senders): an ERP purchase order or a web-form RFQ is machine-generated but
   carries a customer's business content, and business content beats header noise however
   loud the noise is, while list headers still count. When all header evidence is noise,
   ``NOISE_OVERRIDE_MIN`` (= ``MIN_SCORE``) is enough: a web form's message decides as it
   would without those headers.
5. **Other content.** When the "other" content score (newsletter, spam, auto-reply wording)
   is at least ``MIN_SCORE`` and not below the best business score, the mail is "other".
6. **Priority.** Business categories with at least ``MIN_SCORE`` and at least
   ``PRIORITY_FRACTION`` of the best business score are candidates; the first candidate in
   the order property > order > feedback > enquiry wins. The fraction keeps a faint property
   hint from outranking a clear order.
7. **Fallback.** No candidate: the best business category if anything matched; else "other"
   if any header rule fired (machine-sent, no business phrase at all); else enquiry if the
   text asks something ("?") or requests a scope change, else "other". ``decided_by`` says
   which step decided ("header", "rule", "weak-rule": a business rule below ``MIN_SCORE``,
   or "fallback": nothing matched); the last two set ``needs_triage``: "other" needs
   positive evidence (a header signal or "other" content), so a person confirms what no rule
   decided (the gateway puts the alias's queue prior in place of a bare "fallback").
8. **Scope change.** Sum of scope rule weights (negative weights for "no changes") must reach
   ``SCOPE_MIN``; never for "other" mail. The evidence names what changes.
9. **Confidence** = strength x separation, where strength = 1 - exp(-s / 4) for the winning
   score s, and separation = 0.5 + 0.5 (s - r) / (s + r) against the best other score r
   (header score counted for "other", without its noise when a business category won).
   Fallback decisions get ``FALLBACK_CONFIDENCE``.
10. **Bounce link.** When a header rule marked ``bounce`` fired, ``bounced_message_id`` is the
    Message-ID quoted in the bounce text (text/rfc822-headers, "copy of the message"), else
    the bounce's In-Reply-To; ``None`` when it cannot be told from the text.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from classifiers.examples import load_rules
from classifiers.headers import evaluate_headers
from classifiers.identifiers import extract_identifiers
from classifiers.language import DEFAULT, detect_language
from classifiers.matching import Hit, match_message
from classifiers.prepare import prepare
from classifiers.rules import SCOPE, RuleSet
from classifiers.subjects import REPLY_SUBJECT
from classifiers.types import CATEGORIES, Classification, Evidence, Identifier, MessageInput

SUBJECT_FACTOR = 1.5
# A reply's subject is the earlier mail's ("Re: Your change request on NPC-1"): it says what
# the conversation is about, not what this mail does, so it counts less, and a change named
# only there is no change of this mail.
REPLY_SUBJECT_FACTOR = 0.75
REPLY_SCOPE_FACTOR = 0.0
MIN_SCORE = 2.5
PRIORITY_FRACTION = 0.6
HEADER_THRESHOLD = 3.0
OVERRIDE_MIN = 5.0
# When every header signal is noise (bulk precedence, a no-reply sender, Auto-Submitted:
# auto-generated), a web form or a portal carries a person's words: business content at
# this level decides, as it would without the headers.
NOISE_OVERRIDE_MIN = 2.5
SCOPE_MIN = 3.0
FALLBACK_CONFIDENCE = 0.3
CHANGE_ORDER_WEIGHT = 3.0
# A scope rule this heavy names the change itself; lighter ones are hints (see _structural).
CHANGE_KIND_MIN = 2.5
RMA_WEIGHT = 1.5
ORDER_CHANGES = frozenset({"quantity", "specification", "date", "address", "cancellation", "hold"})
ORDER_REFERENCE = ".order.po_mention"
# "other" rules of pure thank-you wording: a scope change outweighs them (see _decide).
ACKNOWLEDGEMENT = (".other.acknowledgement", ".other.c3_will_review", ".other.ack_document")
# "other" rules that only say a system wrote the mail ("this is an automatically generated
# message", "do not reply"): what the body says, not what it is, like a no-reply header. A
# procurement system's purchase order opens with it, so it counts for "other" only when no
# business content reaches ``NOISE_OVERRIDE_MIN`` (see _decide).
MACHINE_NOTICE = (".other.no_reply_notice", ".other.machine_notice")

# Order rules (by id suffix, in every language) that authorise work or accept an offer, and
# property rules that only place or mention an item already in the supplier's care. The
# labelling rules make property of return, destruction, deletion, damage, loss, safety and
# whereabouts of such items, and an order of a written authorisation of work (branch
# i12-orders): "quote accepted, the unit is at your workshop, go ahead with the repair" is an
# order. Hand-overs, returns and questions about the items keep their property weight.
WORK_AUTHORISATION = (
    ".order.acceptance", ".order.accept_offer", ".order.work_authorised",
    ".order.c3_service_authorised", ".order.c3_go_ahead", ".order.commission_service",
    ".order.o4_go_ahead", ".order.o4_willing_to_proceed", ".order.o4_carry_out_work",
    ".order.o4_service_imperative", ".order.o4_start_work", ".order.o4_grant_order",
    ".order.o4_quote_approved", ".order.o4_quote_accepted",
)
CUSTODY_ONLY = (".property.custody_at_your_site", ".property.item_mentioned", ".property.item_held")
# An item line: a quantity with "x" or a unit at the start of a line (after a bullet, a
# line number or a position label: "Pos. 1:", "Item 2 -", "Poz. 3", "Rad 1") or a quantity
# with a unit at its end. A quantity inside a sentence ("our PO 4471 (2x valves), any
# news?") is no list: status questions name their lines too. The units are the pieces,
# packs and boxes of the 11 languages (i12-lang: "Stück", "stuks", "pezzi", "pièces", "kpl").
ORDER_LINES_WEIGHT = 2.5
QUOTE_REQUEST = ".enquiry.quote_request"
_UNIT = (r"(?:pcs|pc|pieces?|box(?:es)?|packs?|units?|bottles?|stk|stck|st|stück|stuks|szt|ks"
         r"|uds|unidades|pz|pzas|pezzi|pièces?|pces?|unid|kpl|kom)")
_POSITION = r"(?:pos|position|item|line|poz|pol|rad|linje|regel)\.?[ \t]*\d{1,3}[ \t]*[:.)\-]?"
_ITEM_LINE = re.compile(
    r"(?m)^[ \t]*(?:[-*\u2022\u00b7]|\d{1,3}[.)]|" + _POSITION + r")?[ \t]*\d{1,5}[ \t]?"
    r"(?:[x\u00d7]|" + _UNIT + r")(?!\w)"
    r"|\b\d{1,5}[ \t]?" + _UNIT + r"\.?[ \t]*$",
    re.I,
)
BUSINESS: tuple[str, ...] = tuple(c for c in CATEGORIES if c != "other")
_MAX_SUBJECT = 1_000
_MAX_ATTACHMENTS = 20
_NAME_SEPARATORS = re.compile(r"[_\W]+")


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    """The package's own rules, loaded once per process."""
    return load_rules()


def _attachment_text(names: tuple[str, ...]) -> str:
    """Attachment names as words ("PO_4500871234_rev2.pdf" -> "PO 4500871234 rev2 pdf")."""
    return "\n".join(_NAME_SEPARATORS.sub(" ", n) for n in names[:_MAX_ATTACHMENTS])


def rules_language(language: str, rules: RuleSet) -> str:
    """The language whose content rules score a message detected as ``language``.

    Its own when the rule set has rules for it; otherwise English (``DEFAULT``), the language
    business mail borrows most from ("PO", "RMA", "asap", "invoice"), whose rules are applied
    to every message anyway. The detected language is still what the classification reports.
    """
    return language if language in rules.languages() else DEFAULT


def _hits(subject: str, text: str, attachments: str, lang: str, rules: RuleSet) -> list[Hit]:
    fields = [("subject", subject), ("body", text), ("attachment", attachments)]
    return match_message(fields, rules_language(lang, rules), rules)


def _subject_factor(hit: Hit, reply: bool) -> float:
    if hit.field != "subject":
        return 1.0
    if not reply:
        return SUBJECT_FACTOR
    return REPLY_SCOPE_FACTOR if hit.rule.category == SCOPE else REPLY_SUBJECT_FACTOR


def _weights(hits: list[Hit], reply: bool = False) -> dict[str, tuple[float, Hit]]:
    """Best weighted hit per rule id: a rule counts once, the subject counts more, except
    the inherited subject of a reply (see ``REPLY_SUBJECT_FACTOR``)."""
    best: dict[str, tuple[float, Hit]] = {}
    for hit in hits:
        w = hit.rule.weight * _subject_factor(hit, reply)
        if hit.rule.id not in best or abs(w) > abs(best[hit.rule.id][0]):
            best[hit.rule.id] = (w, hit)
    return best


def _structural(
    weighted: dict[str, tuple[float, Hit]],
    identifiers: tuple[Identifier, ...],
    text: str,
    subject: str,
) -> list[tuple[str, str, float, str]]:
    """Signals from the combination of rules and identifiers (rule id, category, weight, text).

    * A change of quantity, specification, date, address, a hold or a cancellation that names
      an existing order (an order phrase or a PO number in the new text) is a change order.
      Price and obligation changes are left out: they are as often demands of a complaint.
      Only scope rules of weight ``CHANGE_KIND_MIN`` or more say what changes: hints ("by
      express", "20 more") come with complaints too and must not turn one into an order.
      When the mail does not complain (feedback below ``MIN_SCORE``), any change that the
      scope rules flag on a named order is a change order, price and obligation included:
      a contractual price review of a blanket order or a new certificate requirement on an
      open order asks the supplier to change what was ordered (branch i12-lang).
    * An RMA number in the subject or the new text means a unit of the customer's comes or
      came to us: a faint property signal that clearer content outranks.
    """
    out: list[tuple[str, str, float, str]] = []
    kinds = {
        h.rule.change
        for _, h in weighted.values()
        if h.rule.category == SCOPE
        and h.rule.weight >= CHANGE_KIND_MIN
        and h.rule.change in ORDER_CHANGES
    }
    scope = sum(w for w, h in weighted.values() if h.rule.category == SCOPE)
    if not kinds and scope >= SCOPE_MIN and not _complaint(weighted):
        kinds = {h.rule.change for w, h in weighted.values()
                 if h.rule.category == SCOPE and w > 0 and h.rule.change != "reference"}
    new = f"{subject}\n{text}".lower()
    pos = [i.value for i in identifiers if i.kind == "po" and i.value.lower() in new]
    order_ref = pos or any(h.rule.id.endswith(ORDER_REFERENCE) for _, h in weighted.values())
    if kinds and scope >= SCOPE_MIN and order_ref:
        label = f"{', '.join(sorted(kinds))} of " + (pos[0] if pos else "an existing order")
        out.append(("clf.change_order", "order", CHANGE_ORDER_WEIGHT, label))
    elif (pos and not _complains_or_returns(weighted) and (line := _ITEM_LINE.search(text))
          and not _quote_request_heads(weighted, text, line.start())):
        out.append(("clf.order_lines", "order", ORDER_LINES_WEIGHT, line.group(0).strip()))
    rmas = [i.value for i in identifiers if i.kind == "rma" and i.value.lower() in new]
    if rmas:
        out.append(("clf.rma_reference", "property", RMA_WEIGHT, rmas[0]))
    elif custody := _custody_under_work_order(weighted):
        out.append(("clf.work_on_item_in_care", "property", -custody[0], custody[1]))
    return out


def _complaint(weighted: dict[str, tuple[float, Hit]]) -> bool:
    """Whether feedback content reaches ``MIN_SCORE``."""
    return sum(w for w, h in weighted.values()
               if w > 0 and h.rule.category == "feedback") >= MIN_SCORE


def _complains_or_returns(weighted: dict[str, tuple[float, Hit]]) -> bool:
    """Whether feedback or property content reaches ``MIN_SCORE``: a complaint or a return
    lists the lines it is about as an order does, so its item lines are no order form.
    (Asked before the item-line search, which costs more.)"""
    return sum(w for w, h in weighted.values()
               if w > 0 and h.rule.category in ("feedback", "property")) >= MIN_SCORE


def _quote_request_heads(weighted: dict[str, tuple[float, Hit]], text: str, line: int) -> bool:
    """Whether a ``quote_request`` rule fired in the subject or in the body above the item
    line at ``line``: "could you quote for:\n- 570 pcs ..." lists an RFQ's lines."""
    return any(w > 0 and h.rule.id.endswith(QUOTE_REQUEST)
               and (h.field == "subject" or 0 <= text.find(h.text) < line)
               for w, h in weighted.values())


def _custody_under_work_order(
    weighted: dict[str, tuple[float, Hit]],
) -> tuple[float, str] | None:
    """(custody score, its text) when work is authorised and custody is all property says.

    An RMA number is a transfer of its own, so the caller does not ask then.
    """
    hits = [(w, h) for w, h in weighted.values() if w > 0]
    if not any(h.rule.id.endswith(WORK_AUTHORISATION) for _, h in hits):
        return None
    prop = [(w, h) for w, h in hits if h.rule.category == "property"]
    if not prop or not all(h.rule.id.endswith(CUSTODY_ONLY) for _, h in prop):
        return None
    return sum(w for w, _ in prop), prop[0][1].text


def _decide(
    scores: dict[str, float], header_score: float, header_final: bool, asks: bool,
    header_noise: float = 0.0, scope_score: float = 0.0, other_ack: float = 0.0,
    other_notice: float = 0.0,
) -> tuple[str, str]:
    """Return (category, decided_by): "header", "rule", "weak-rule" or "fallback".

    A scope change (``scope_score`` >= ``SCOPE_MIN``) is business content too when headers
    are weighed, and it outweighs "other" wording that is only thanks (``other_ack``, the
    score of the ``ACKNOWLEDGEMENT`` rules): a sourcing portal's "event amended" notice or a
    web form asking to move a delivery is machine-sent, and a thank-you that also moves a
    date is no pure acknowledgement, yet both change something that exists. A machine
    notice in the text (``other_notice``) is noise as a no-reply header is: business content
    of ``NOISE_OVERRIDE_MIN`` outweighs it.
    """
    top = max(scores[c] for c in BUSINESS)
    change = scope_score if scope_score >= SCOPE_MIN else 0.0
    if header_final:
        return "other", "header"
    # Header noise (Precedence: bulk, a no-reply sender) loses to clear business content
    # however much of it there is: a procurement system's PO is an order. List headers still
    # count against it (a mailing-list digest quotes complaints and orders of others).
    bar = NOISE_OVERRIDE_MIN if header_score - header_noise <= 0 else OVERRIDE_MIN
    if header_score >= HEADER_THRESHOLD and max(top, change) < max(
        bar, header_score - header_noise
    ):
        return "other", "header"
    # A change is no pure acknowledgement: "thank you for the order confirmation, could we
    # move the delivery to week 48?" asks for something. Only thank-you wording gives way;
    # newsletter, spam and out-of-office text still decide "other".
    other = scores["other"] - (other_notice if max(top, change) >= NOISE_OVERRIDE_MIN else 0.0)
    thanks_only = change > 0 and other - other_ack < MIN_SCORE
    if other >= MIN_SCORE and other >= top and not thanks_only:
        return "other", "rule"
    for cat in BUSINESS:
        if scores[cat] >= MIN_SCORE and scores[cat] >= PRIORITY_FRACTION * top:
            return cat, "rule"
    if top > 0:
        return max(BUSINESS, key=lambda c: scores[c]), "weak-rule"
    if header_score > 0 and not change:
        return "other", "header"  # machine-sent and not a single business phrase
    # No business phrase and no header signal: nothing says "other" either, so this is a
    # guess a person must confirm (the gateway may put the alias's queue prior here).
    return ("enquiry" if asks else "other"), "fallback"


def _confidence(
    category: str, scores: dict[str, float], header_score: float, header_noise: float = 0.0
) -> float:
    eff = dict(scores)
    # Header noise argues for "other" only when nothing else decided: a PO from a no-reply
    # address is not less of an order for it.
    eff["other"] = scores["other"] + header_score - (header_noise if category != "other" else 0)
    s = eff[category]
    r = max((v for c, v in eff.items() if c != category), default=0.0)
    if s <= 0:
        return FALLBACK_CONFIDENCE
    strength = 1.0 - math.exp(-s / 4.0)
    separation = 0.5 + 0.5 * (s - r) / (s + r) if s + r > 0 else 0.5
    return round(max(0.05, min(0.99, strength * separation)), 3)


def classify(msg: MessageInput, rules: RuleSet | None = None) -> Classification:
    """Classify one parsed message; never raises on any text input."""
    rs = rules if rules is not None else default_rules()
    subject = (msg.subject or "")[:_MAX_SUBJECT]
    body = msg.body_text or ""
    prepared = prepare(body, subject)
    text = prepared.text
    language = detect_language(text, subject)
    attachments = _attachment_text(msg.attachment_names)
    weighted = _weights(_hits(subject, text, attachments, language, rs),
                        reply=bool(REPLY_SUBJECT.match(subject)))

    scores = {c: 0.0 for c in CATEGORIES}
    structural: list[Evidence] = []
    scope_score = 0.0
    for w, hit in weighted.values():
        if hit.rule.category == SCOPE:
            scope_score += w
        else:
            scores[hit.rule.category] += w
    identifiers = extract_identifiers(subject, body, rs)
    for rule_id, cat, weight, matched in _structural(weighted, identifiers, text, subject):
        scores[cat] += weight
        structural.append(Evidence(rule_id, matched, "body"))
    header = evaluate_headers(msg, rs)
    asks = "?" in text or "?" in subject or scope_score >= SCOPE_MIN
    other_ack = sum(w for w, h in weighted.values() if h.rule.id.endswith(ACKNOWLEDGEMENT))
    notice = sum(w for w, h in weighted.values() if h.rule.id.endswith(MACHINE_NOTICE))
    category, decided_by = _decide(
        scores, header.score, header.final, asks, header.noise, scope_score, other_ack, notice
    )
    scope_change = category != "other" and scope_score >= SCOPE_MIN
    fallback = decided_by in ("weak-rule", "fallback")
    confidence = (FALLBACK_CONFIDENCE if fallback
                  else _confidence(category, scores, header.score, header.noise))

    ordered = sorted(weighted.values(), key=lambda wh: (wh[1].field != "subject", -wh[0]))
    evidence = list(header.evidence) + structural
    for _, hit in ordered:
        label = f"{hit.rule.change}: {hit.text}" if hit.rule.category == SCOPE else hit.text
        evidence.append(Evidence(hit.rule.id, label, hit.field))
    return Classification(
        category=category,
        scope_change=scope_change,
        identifiers=identifiers,
        language=language,
        confidence=confidence,
        evidence=tuple(evidence),
        rules_version=rs.version,
        bounced_message_id=bounced_message_id(msg) if header.bounce else None,
        forwarded=prepared.forwarded,
        decided_by=decided_by,
        needs_triage=fallback,
    )


_QUOTED_MESSAGE_ID = re.compile(r"^[ \t>]*Message-ID:[ \t]*<([^<>\s]{1,990})>", re.I | re.M)
_ANGLE_ID = re.compile(r"<([^<>\s]{1,990})>")
_BOUNCE_SCAN = 100_000


def bounced_message_id(msg: MessageInput) -> str | None:
    """The Message-ID of the returned message: from the quoted original headers in the bounce
    text (text/rfc822-headers parts and "copy of the message" blocks), else from the bounce's
    own In-Reply-To, which several MTAs set to the bounced message."""
    m = _QUOTED_MESSAGE_ID.search((msg.body_text or "")[:_BOUNCE_SCAN])
    if m:
        return m.group(1)
    for name, value in msg.headers:
        if name.strip().lower() == "in-reply-to":
            ids: list[str] = _ANGLE_ID.findall(value)
            if ids:
                return ids[0]
    return None

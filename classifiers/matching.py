"""Run the rules of one language over a message's subject, new text and attachment names.

Speed matters (hundreds of messages per second on one core), so the fields are joined into ONE
text, tokenised once with ``spacy.blank(lang)`` and matched against the rules of that language
plus the English rules (English phrases are common in any business mail): a ``PhraseMatcher``
of the language's own, and one of the English phrases that every language shares, giving what
one matcher of both would (``phrases.py``). A token ``Matcher`` runs only if some rule needs
token patterns. Which field a match is in follows from its character offset.

Sequence rules (``sequence = ["@order_verb", "@order_document"]``) are found by
``sequences.SequenceIndex`` on the same ``Doc``.

A rule counts once per field however often it matches (repetition is not more evidence), and a
match right after a negator ("we have not shipped", "do not cancel"), or with a negator inside
a sequence match, is ignored unless the rule is marked ``negatable = false`` (rules that
themselves express a negation). A match of a rule with ``conditional = "skip"`` (the default for
order, property and scope rules) after a conditional word earlier in its clause ("if we order",
"in case we return the gauges") is ignored too: it is hypothetical; so is an order or property
match with a hedge inside it ("wir wollen eventuell 20 Stück bestellen") or a condition clause
right after it in the same sentence ("we will order 20, if the price is right", "wir
bestellen 20 Stück, wenn ..."), unless that condition is a courtesy ("..., if possible").
An order or property match waits for a clause opened by "once" / "as soon as" / "sobald" /
"dès que" right after it, with or without a comma ("we will send the moulds once the NDA is
signed"), unless it is urgency ("as soon as possible") or asked of the recipient; so does
one opened by a conjunction of the language's concept ``cond_after`` ("wenn", "si", "hvis"),
comma or not (English defines none). An order
match with "about" / "regarding" inside it ("attached is our complaint about order 4711")
names another document's topic and is ignored. The checks read the characters around the
match, so no spaCy ``Token`` objects are created.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING

from classifiers.lifts import NO_LIFTS, Lifts
from classifiers.regex_starts import first_chars, lookahead
from classifiers.rules import (
    NEAR_FIRST,
    NEAR_SECOND,
    SCOPE,
    SEQUENCE_FORM,
    ContentRule,
    RuleSet,
)

if TYPE_CHECKING:
    from spacy.tokens import Doc

# How many words before a match are searched for a negator; stops at punctuation.
NEGATION_WINDOW = 3
# The characters that end a clause for the negation check; the clause before a match is the
# run of other characters up to it, read backwards from the match (one short ``match`` over the
# reversed window instead of a split of the whole window).
_CLAUSE_REST = re.compile(r"[^.;:!?,()\n\[\]]*")
# How many words before a match are searched for a conditional; a clause ends at . ; : ! ? and
# a line break (a comma does not end it: "if the price is right, we order"), and where a
# contrast or a request starts a new main clause: "we usually order 500, but please reduce it",
# "before you start, please change the finish" ask for something now.
CONDITION_WINDOW = 8
# A clause that opens with a conditional word is a condition up to this many words before the
# match: "om ni kan hålla priset från förra året lägger vi en order", "als de levertijd binnen
# twee weken kan, dan plaatsen we de order" (the act stands in the main clause after a comma).
FRONTED_CONDITION_WINDOW = 16
_CONTRASTS = ("but", "aber", "mais", "pero", "mas", "maar", "ale")
_REQUESTS = (
    "please", "pls", "plz", "kindly", "bitte", "svp", "merci de", "por favor", "per favore",
    "prosimy", "proszę", "prosíme", "prosím", "graag", "gelieve", "venligst", "vänligen",
    "snälla",
)
# A clause end, as it reads in the window reversed: ``[.;:!?\n]``, a contrast word, or a comma
# and a request word (forwards: ``,\s*(?:please|...)\b``). Its first match in the reversed
# window is the clause end that ends last in the window (no end can hide inside another), so
# the clause is what follows it, as the last piece of a forward split.
_CONDITION_ENDS_REVERSED = (
    r"[.;:!?\n]|\b(?:" + "|".join(w[::-1] for w in _CONTRASTS) + r")\b"
    r"|\b(?:" + "|".join(w[::-1] for w in _REQUESTS) + r")\s*,"
)
# The characters a clause end can begin with, tested first (zero-width: the same matches):
# the engine enters the alternation, which IGNORECASE makes try every branch, only there.
_CONDITION_END_REVERSED = re.compile(
    lookahead(first_chars(_CONDITION_ENDS_REVERSED, re.IGNORECASE))
    + f"(?:{_CONDITION_ENDS_REVERSED})",
    re.IGNORECASE,
)
ORDER = "order"
# A modal that opens its clause makes a polite request, not a supposition.
_REQUEST_MODALS = frozenset({"may"})
_APOSTROPHE = "\u2019"  # typographic apostrophe, as in "don\u2019t"
_WORD = re.compile(rf"[^\W\d_]+(?:['{_APOSTROPHE}][^\W\d_]+)?")
# Separates the fields in the joined text; no phrase spans a blank line.
_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Hit:
    """One content rule that matched: the rule, the matched text and the field."""

    rule: ContentRule
    text: str
    field: str


def negated(text: str, start_char: int, negators: frozenset[str]) -> bool:
    """True when one of the ``NEGATION_WINDOW`` words before ``start_char`` is a negator."""
    before = text[max(0, start_char - 60) : start_char]
    rest = _CLAUSE_REST.match(before[::-1])
    clause = before[len(before) - rest.end() :] if rest else before
    lowered = clause.lower().replace(_APOSTROPHE, "'")
    # A word is a piece of ``lowered``: without a negator or "n't" anywhere in it, no word
    # can be one (nine windows in ten), and the word search, the costly part, is skipped.
    if _negator_pieces(negators).search(lowered) is None:
        return False
    words = _WORD.findall(lowered)[-NEGATION_WINDOW:]
    return not negators.isdisjoint(words) or any(w.endswith("n't") for w in words)


@lru_cache(maxsize=32)
def _negator_pieces(negators: frozenset[str]) -> re.Pattern[str]:
    """A search for any negator of ``negators``, or "n't", anywhere in a text (inside words
    too): built once per language's set."""
    return re.compile("|".join(re.escape(n) for n in sorted(negators | {"n't"})))


def conditional(
    text: str, start_char: int, conditionals: frozenset[str], lifts: Lifts = NO_LIFTS
) -> bool:
    """True when a conditional word or phrase ("if", "in case") stands among the
    ``CONDITION_WINDOW`` words before ``start_char`` in the same clause, unless ``lifts``
    says that it asks for the change rather than supposes it (see ``lifts.py``)."""
    before = text[max(0, start_char - 160) : start_char]
    end = _CONDITION_END_REVERSED.search(before[::-1])
    clause = before[len(before) - end.start() :] if end else before
    words = _WORD.findall(clause.lower().replace(_APOSTROPHE, "'"))
    if words and words[0] in _REQUEST_MODALS:
        words = words[1:]  # "May we postpone ...?" asks; "we may order" supposes
    if len(words) > CONDITION_WINDOW and (
        words[0] not in conditionals or len(words) > FRONTED_CONDITION_WINDOW
    ):
        words = words[-CONDITION_WINDOW:]
    if not words:
        return False
    if lifts is not NO_LIFTS and not conditionals.isdisjoint(words):
        question = _asks(text, start_char)
        words = [w for i, w in enumerate(words)
                 if w not in conditionals or not lifts.lifted(words, i, question)]
    if not conditionals.isdisjoint(words):
        return True
    phrases = _phrases(conditionals)
    if not phrases:
        return False
    joined = " " + " ".join(words) + " "
    return any(p in joined for p in phrases)


_SENTENCE_END = re.compile(r"[.!?\n]")
# A condition clause attached after a match: a comma, then a subordinator that opens it, up
# to AFTER_WINDOW words after the match, in the same sentence. Only these words (after a
# comma they are conjunctions in every language: sv/da "om", it/pt "se").
AFTER_WINDOW = 4
# A condition clause of at most this many words with a word of possibility is a courtesy.
COURTESY_WORDS = 6
_CONDITION_OPENERS = frozenset({
    "if", "unless", "provided", "wenn", "falls", "sofern", "si", "se", "als", "indien",
    "mits", "om", "hvis", "ifall", "jeśli", "jeżeli", "jezeli", "jesli", "pokud", "jestli",
    "caso", "salvo", "a", "sempre",
})
# Conjunctions of "as soon as" / "once" (branch i12-cond): the act waits for the clause they
# open ("we will send the moulds once the NDA is signed", "wir bestellen, sobald ...", "dès
# que", "non appena", "en cuanto", "zodra", "så snart", "jakmile", "gdy tylko"). Unlike
# "if", they open a condition with or without a comma, up to NEAR_WINDOW words after the
# match; "as soon as possible" / "sobald wie möglich" / "dès que possible" is urgency (a
# courtesy, as below), and a request or question timed by them ("please return the gauges
# once the calibration is done") asks for the act now.
NEAR_WINDOW = 2
_TIME_OPENERS = (
    "once", "as soon as", "sobald", "dès que", "dès qu'", "aussitôt que", "aussitôt qu'",
    "une fois que", "une fois qu'", "non appena", "una volta che", "en cuanto",
    "tan pronto como", "una vez que", "assim que", "logo que", "tão logo", "zodra",
    "så snart", "så fort", "jakmile", "gdy tylko", "jak tylko", "skoro tylko", "kiedy tylko",
)
_TIME_FIRST = frozenset(o.split()[0].split("'")[0] for o in _TIME_OPENERS)
# "once a month", "once again", "at once": "once" as an adverb opens no clause.
_ONCE_ADVERB_NEXT = frozenset({"a", "an", "again", "more", "per", "or", "every", "in", "before"})
# A clause of at most this many words with a modal is urgency too ("as soon as you can",
# "sobald Sie können", "dès que vous pouvez").
URGENCY_WORDS = 3
# Characters after a match read for an opener (NEAR_WINDOW words and the opener's own).
_NEAR_CHARS = 80
# The rest of the sentence after a match; a period before a lower-case word ends an
# abbreviation ("500 stk. så snart ...", "20 pcs. once ..."), not the sentence.
_AFTER = re.compile(r"[^.!?;\n]*(?:\.(?=[ \t]+[a-zà-ÿąćęłńóśźżčďěňřšťůž])[^.!?;\n]*)*")


def condition_inside(text: str, start_char: int, end_char: int, hedges: frozenset[str]) -> bool:
    """True when a hedge (``cond_hedge``: "eventuell", "perhaps", "misschien") stands inside
    the match itself: a sequence match begins at its first element, so "wir wollen eventuell
    20 Stück bestellen" hides it from :func:`conditional`. Only hedges: other conditional
    words double as ordinary ones inside a clause (nl "als volgt", en "every")."""
    words = _WORD.findall(text[start_char:end_char].lower())
    return len(words) > 1 and not hedges.isdisjoint(words[1:])


def topic_inside(text: str, start_char: int, end_char: int, topic: frozenset[str]) -> bool:
    """True when a word of ``topic`` ("about", "regarding", "relativo", "dotyczące") stands
    between the first and the last word of an order match: "attached is our complaint about
    order 4711", "in allegato il reclamo relativo all'ordine 4711" attach another document,
    whose topic the order is (branch i12-cond)."""
    words = _WORD.findall(text[start_char:end_char].lower())
    return len(words) > 2 and not topic.isdisjoint(words[1:-1])


def condition_after(
    text: str,
    end_char: int,
    lifts: Lifts = NO_LIFTS,
    start_char: int | None = None,
    timed: bool = True,
) -> bool:
    """True when a condition clause follows the match in its sentence: ", if ...", ",
    wenn ...", ", si ..." within ``AFTER_WINDOW`` words, or "once ...", "sobald ...", "dès
    que ..." (:data:`_TIME_OPENERS`) with or without a comma; a courtesy, a short clause with
    a word of ``lifts.possible`` ("if possible", "pokud je to ještě možné", "dès que
    possible"), is no condition. ``start_char``, where the match begins, lets a request or a
    question keep a match timed by "once" / "sobald" (without it, none is kept); ``timed``
    False leaves those openers out (a change "ship it by express as soon as it is ready" is
    asked for now, whatever its time)."""
    m = _AFTER.match(text, end_char, end_char + 200)
    rest = m.group() if m else ""
    comma = rest.find(",")
    head = rest if comma < 0 else rest[:comma]
    # The first words after the match (an opener starts within NEAR_WINDOW of them); all of
    # the head when it is short, as it mostly is when a comma follows.
    near = _WORD.findall(head[:_NEAR_CHARS].lower()) if timed or comma >= 0 else []
    head_count = len(near) if len(head) <= _NEAR_CHARS else len(_WORD.findall(head))
    after = (_WORD.findall(rest[comma + 1 :].lower())
             if comma >= 0 and head_count <= AFTER_WINDOW else None)
    if timed:
        clause = _time_clause(near, after)
        if clause is not None and len(head) > _NEAR_CHARS:  # read the clause in full
            clause = _time_clause(_WORD.findall(head.lower()), after)
        if clause is None:
            clause = _if_clause(near, lifts)
        if clause is not None:
            requested = start_char is not None and _requested(text, start_char, end_char)
            return not (requested or _courtesy(clause, lifts))
    if not after or after[0] not in _CONDITION_OPENERS:
        return False
    if after[0] in ("a", "sempre") and after[1:2] not in (["menos"], ["condizione"], ["que"]):
        return False  # "a menos que", "a condizione che", "sempre que"; "a" alone is "to"
    return len(after) > COURTESY_WORDS or lifts.possible.isdisjoint(after[1:])


def _time_clause(near: list[str], after: list[str] | None) -> list[str] | None:
    """The words after a "once" / "sobald" opener that starts within ``NEAR_WINDOW`` words
    of the match (``near``: its first words up to a comma) or first after the comma
    (``after``); None if none."""
    starts = [(near, i) for i in range(min(NEAR_WINDOW + 1, len(near)))]
    if after:
        starts.append((after, 0))
    for ws, i in starts:
        if ws[i] not in _TIME_FIRST:
            continue
        joined = " ".join(ws[i:]) + " "
        for opener in _TIME_OPENERS:
            if not joined.startswith(opener if opener.endswith("'") else opener + " "):
                continue
            # "dès qu'il" is two words ("qu'il" one): the clause starts at the second
            clause = ws[i + opener.count(" ") + (0 if opener.endswith("'") else 1) :]
            if opener == "once" and (
                not clause or clause[0] in _ONCE_ADVERB_NEXT or ws[i - 1 : i] == ["at"]
            ):
                continue
            if clause:
                return clause
    return None


def _if_clause(near: list[str], lifts: Lifts) -> list[str] | None:
    """The words after a conjunction of the language's ``cond_after`` ("wenn", "si", "hvis")
    that starts within ``NEAR_WINDOW`` words of the match without a comma before it, or of
    its ``cond_after_weak`` ("als", "om") followed by a word of ``cond_subject`` ("als
    jullie", "om ni"); None if none (branch i12-intl). English defines none: "need 4 shafts
    today if you have them" stays an order."""
    if not (lifts.opener or lifts.weak_opener):
        return None
    for i, word in enumerate(near[: NEAR_WINDOW + 1]):
        clause = near[i + 1 :]
        if word in lifts.opener or (
            word in lifts.weak_opener and clause and clause[0] in lifts.subject
        ):
            return clause or None
    return None


def _courtesy(words: list[str], lifts: Lifts) -> bool:
    """A short clause with a word of possibility ("as soon as possible", "sobald wie möglich")
    or of the goods being ready ("as soon as they are available", "dès qu'elles sont
    disponibles"), or a very short one with a modal ("as soon as you can"), is urgency or a
    delivery time, not a condition."""
    if len(words) <= COURTESY_WORDS and not (
        lifts.possible.isdisjoint(words) and lifts.ready.isdisjoint(words)
    ):
        return True
    return len(words) <= URGENCY_WORDS and not lifts.modal.isdisjoint(words)


def _requested(text: str, start_char: int, end_char: int) -> bool:
    """Whether the match at ``start_char`` .. ``end_char`` is asked of the recipient: its
    sentence ends with a question mark, or a request word ("please", "bitte", "merci de")
    stands before its end in its sentence."""
    if _asks(text, start_char):
        return True
    before = text[max(0, start_char - 120) : end_char]
    cut = max(before.rfind(c) for c in ".!?\n")
    words = _WORD.findall(before[cut + 1 :].lower())
    joined = " " + " ".join(words) + " "
    return any(f" {r} " in joined for r in _REQUESTS)


def _asks(text: str, start_char: int) -> bool:
    """Whether the sentence of the match at ``start_char`` ends with a question mark."""
    end = _SENTENCE_END.search(text, start_char, start_char + 300)
    return end is not None and end.group() == "?"


@lru_cache(maxsize=32)
def _phrases(conditionals: frozenset[str]) -> tuple[str, ...]:
    """The conditionals of several words, padded with a space on each side: built once per
    language's set (5-13 of its 23-38 conditionals) instead of at every check."""
    return tuple(f" {c} " for c in sorted(conditionals) if " " in c)


_START, _END = itemgetter(1), itemgetter(2)


def _resolve_near(
    found: list[tuple[str, int, int]], rules: RuleSet
) -> list[tuple[str, int, int]]:
    """Turn the two halves of ``near`` rules into one match each (first half, then the second
    within the rule's window); plain matches pass through. Sorted by position."""
    plain: list[tuple[str, int, int]] = []
    firsts: dict[str, list[tuple[int, int]]] = {}
    seconds: dict[str, list[tuple[int, int]]] = {}
    for key, start, end in found:
        if key.endswith(NEAR_FIRST):
            firsts.setdefault(key[: -len(NEAR_FIRST)], []).append((start, end))
        elif key.endswith(NEAR_SECOND):
            seconds.setdefault(key[: -len(NEAR_SECOND)], []).append((start, end))
        else:
            plain.append((key, start, end))
    for rule_id, spans in firsts.items():
        window = rules.content_rules[rule_id].window
        for start, end in spans:
            follow = [e for s, e in seconds.get(rule_id, ()) if end <= s <= end + window]
            if follow:
                plain.append((rule_id, start, min(follow)))
                break
    # By start, then longest first, then as found: two stable sorts by one item each (in C,
    # no Python call a match); the sort by end keeps the order found among equal ends.
    plain.sort(key=_END, reverse=True)
    plain.sort(key=_START)
    return plain


def match_message(
    fields: list[tuple[str, str]], lang: str, rules: RuleSet
) -> list[Hit]:
    """All rules of ``lang`` (and English) that fire on the given (field, text) pairs."""
    parts: list[str] = []
    bounds: list[tuple[int, str]] = []  # (end offset, field) in the joined text
    pos = 0
    for field, text in fields:
        if not text.strip():
            continue
        if parts:
            parts.append(_SEPARATOR)
            pos += len(_SEPARATOR)
        parts.append(text)
        pos += len(text)
        bounds.append((pos, field))
    if not parts:
        return []
    joined = "".join(parts)
    with rules.lock:  # the Doc and its lexemes may not outlive a memory zone (bound_vocab)
        rules.bound_vocab(lang)
        nlp = rules.pipeline(lang)
        phrase, token = rules.matchers(lang)
        doc = nlp.make_doc(joined)
        # The one column the sequence search reads (whitespace is told by the word masks),
        # which also tells the English phrases the language tokenises otherwise.
        lower = doc.to_array(["LOWER"])
        found = phrase(doc, lower)
        if len(token):
            found += [(nlp.vocab.strings[m], s, e) for m, s, e in token(doc)]
        matches: list[tuple[str, int, int]] = []
        forms: list[tuple[int, int, int]] = []  # concept forms of several tokens, for sequences
        for key, s, e in found:
            if key.startswith(SEQUENCE_FORM):
                forms.append((int(key[len(SEQUENCE_FORM) :]), s, e))
            else:
                matches.append((key, s, e))
        sequences = rules.sequence_index(lang)
        if len(sequences):
            matches += sequences.find(doc, forms, lower)
        resolved = _resolve_near(matches, rules)
        hits = _hits(doc, resolved, joined, bounds, lang, rules) if resolved else []
        del doc
    return hits


def _hits(
    doc: Doc,
    resolved: list[tuple[str, int, int]],
    joined: str,
    bounds: list[tuple[int, str]],
    lang: str,
    rules: RuleSet,
) -> list[Hit]:
    """The hits of the ``resolved`` matches (rule id, start token, end token) of ``doc``,
    the tokens of ``joined``. A match's character offsets are read from the two ``Token``
    objects that bound it (a column of every token's offset and length cost more), and only
    as far as needed: most matches repeat a rule already found in their field (about 9 of
    15 a message), told by the first token's offset alone."""
    negators = rules.negators_for(lang)
    conditionals = rules.conditionals_for(lang)
    scope_lifts = rules.lifts_for(lang)
    ends = [b for b, _ in bounds]
    fields = [f for _, f in bounds]
    hits: dict[tuple[str, str], Hit] = {}
    for rule_id, start, end in resolved:
        rule = rules.content_rules[rule_id]
        char = doc[start].idx
        field = fields[bisect_right(ends, char)]  # the first field ending after ``char``
        if (rule.id, field) in hits or field not in rule.fields:
            continue
        last = doc[end - 1]
        end_char = last.idx + len(last)
        if rule.negatable and negated(joined, char, negators):
            continue
        lifts = scope_lifts if rule.category == SCOPE else NO_LIFTS
        if rule.conditional == "skip" and (
            conditional(joined, char, conditionals, lifts)
            or (rule.category != SCOPE
                and condition_inside(joined, char, end_char, scope_lifts.hedge))
            or condition_after(joined, end_char, scope_lifts, char, rule.category != SCOPE)
        ):
            continue
        if rule.category == ORDER and topic_inside(joined, char, end_char, scope_lifts.topic):
            continue
        hits[(rule.id, field)] = Hit(rule, joined[char:end_char], field)
    return list(hits.values())

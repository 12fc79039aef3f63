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
The checks read the characters around the match, so no spaCy ``Token`` objects are created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
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
    words = _WORD.findall(clause.lower().replace(_APOSTROPHE, "'"))[-NEGATION_WINDOW:]
    return any(w in negators or w.endswith("n't") for w in words)


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
# comma they are conjunctions in every language: sv/da "om", it/pt "se"); time words such as
# "before" or "once" that the conditional lists also hold are no condition of an act.
AFTER_WINDOW = 4
# A condition clause of at most this many words with a word of possibility is a courtesy.
COURTESY_WORDS = 6
_CONDITION_OPENERS = frozenset({
    "if", "unless", "provided", "wenn", "falls", "sofern", "si", "se", "als", "indien",
    "mits", "om", "hvis", "ifall", "jeśli", "jeżeli", "jezeli", "jesli", "pokud", "jestli",
    "caso", "salvo", "a", "sempre",
})
_AFTER = re.compile(r"[^.!?;\n]*")


def condition_inside(text: str, start_char: int, end_char: int, hedges: frozenset[str]) -> bool:
    """True when a hedge (``cond_hedge``: "eventuell", "perhaps", "misschien") stands inside
    the match itself: a sequence match begins at its first element, so "wir wollen eventuell
    20 Stück bestellen" hides it from :func:`conditional`. Only hedges: other conditional
    words double as ordinary ones inside a clause (nl "als volgt", en "every")."""
    words = _WORD.findall(text[start_char:end_char].lower())
    return len(words) > 1 and not hedges.isdisjoint(words[1:])


def condition_after(text: str, end_char: int, lifts: Lifts = NO_LIFTS) -> bool:
    """True when a condition clause follows the match in its sentence: ", if ...", ",
    wenn ...", ", si ..." within ``AFTER_WINDOW`` words; a courtesy, a short clause with a
    word of ``lifts.possible`` ("if possible", "pokud je to ještě možné", "si c'est encore
    possible"), is no condition."""
    m = _AFTER.match(text, end_char, end_char + 200)
    rest = m.group() if m else ""
    comma = rest.find(",")
    if comma < 0 or len(_WORD.findall(rest[:comma])) > AFTER_WINDOW:
        return False
    words = _WORD.findall(rest[comma + 1 :].lower())
    if not words or words[0] not in _CONDITION_OPENERS:
        return False
    if words[0] in ("a", "sempre") and words[1:2] not in (["menos"], ["condizione"], ["que"]):
        return False  # "a menos que", "a condizione che", "sempre que"; "a" alone is "to"
    return len(words) > COURTESY_WORDS or lifts.possible.isdisjoint(words[1:])


def _asks(text: str, start_char: int) -> bool:
    """Whether the sentence of the match at ``start_char`` ends with a question mark."""
    end = _SENTENCE_END.search(text, start_char, start_char + 300)
    return end is not None and end.group() == "?"


@lru_cache(maxsize=32)
def _phrases(conditionals: frozenset[str]) -> tuple[str, ...]:
    """The conditionals of several words, padded with a space on each side: built once per
    language's set (5-13 of its 23-38 conditionals) instead of at every check."""
    return tuple(f" {c} " for c in sorted(conditionals) if " " in c)


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
    return sorted(plain, key=lambda m: (m[1], -m[2]))


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
        if not resolved:
            return []
        # The character span of each match (the text of a match is the joined text between
        # its first and last token), read from the few tokens that bound a match: a column
        # of every token's offset and length cost more than these Token objects.
        spans = [(rule_id, *_char_span(doc, start, end)) for rule_id, start, end in resolved]
        del doc
    negators = rules.negators_for(lang)
    conditionals = rules.conditionals_for(lang)
    scope_lifts = rules.lifts_for(lang)
    hits: dict[tuple[str, str], Hit] = {}
    for rule_id, char, end_char in spans:
        rule = rules.content_rules[rule_id]
        field = next(f for b, f in bounds if char < b)
        if (rule.id, field) in hits or field not in rule.fields:
            continue
        if rule.negatable and negated(joined, char, negators):
            continue
        lifts = scope_lifts if rule.category == SCOPE else NO_LIFTS
        if rule.conditional == "skip" and (
            conditional(joined, char, conditionals, lifts)
            or (rule.category != SCOPE
                and condition_inside(joined, char, end_char, scope_lifts.hedge))
            or condition_after(joined, end_char, scope_lifts)
        ):
            continue
        hits[(rule.id, field)] = Hit(rule, joined[char:end_char], field)
    return list(hits.values())


def _char_span(doc: Doc, start: int, end: int) -> tuple[int, int]:
    """Character offsets of the tokens ``start`` .. ``end - 1`` of ``doc``."""
    last = doc[end - 1]
    return doc[start].idx, last.idx + len(last)

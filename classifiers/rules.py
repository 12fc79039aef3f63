"""Load, validate and compile the rule files; compute the rules version.

Layout of the rules folder (all TOML, read with :mod:`tomllib`)::

    headers.toml              rules for machine-generated mail (category "other")
    identifiers.toml          regex patterns for PO/RMA/quote/serial/drawing numbers
    <lang>/<category>.toml    phrase rules for one category in one language
    <lang>/scope.toml         phrase rules for scope changes, plus that language's negators
    <lang>/concepts.toml      concept lexicons, negators and conditionals (``concepts.py``)

Every rule has a unique ``id``; a broken file raises :class:`RulesError` with a one-line
message naming the file, the rule id and the problem, so a bad rules upgrade is refused at
start-up instead of misclassifying mail. The rules version is a sha256 over the bytes of all
rule files sorted by relative path, so every classification names the exact rules used.

An installation may add a folder of its own (``extra_rules``) with the same ``<lang>/`` layout:
its rules join the shipped ones (ids must not clash), its concepts extend the shipped concepts
of the same name, its files are part of the version, and its rules' ``examples`` are checked
when it is loaded (:func:`classifiers.examples.load_rules`), so a rule that does not do what
its author showed is refused at start.
"""

from __future__ import annotations

import hashlib
import re
import threading
import tomllib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifiers import toml_cache
from classifiers.affixes import blank
from classifiers.concepts import (
    CONCEPTS_FILE,
    ENGLISH_CONDITIONALS,
    Concept,
    ConceptError,
    Lexicon,
    expand,
    merge_lexicons,
    parse_concepts,
)
from classifiers.french_tokens import use_compact_token_match
from classifiers.language import DEFAULT, SUPPORTED
from classifiers.lifts import Lifts
from classifiers.phrases import LanguagePhrases, SharedPhrases
from classifiers.sequences import (
    MAX_UNORDERED,
    Element,
    SequenceError,
    SequenceIndex,
    SequenceRule,
    parse_sequence,
)
from classifiers.token_cache import OneToken
from classifiers.token_cache import cache_file as token_cache_file
from classifiers.types import CATEGORIES, IDENTIFIER_KINDS

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.matcher import Matcher
    from spacy.vocab import Vocab

DEFAULT_RULES_DIR = Path(__file__).resolve().parent / "rules"

SCOPE = "scope"
CONTENT_FIELDS: tuple[str, ...] = ("subject", "body", "attachment")
HEADER_FIELDS: tuple[str, ...] = (
    "header",
    "content_type",
    "report_type",
    "attachment_type",
    "attachment_name",
    "from",
    "subject",
)
CHANGE_KINDS: tuple[str, ...] = (
    "quantity",
    "specification",
    "date",
    "address",
    "terms",
    "price",
    "cancellation",
    "hold",
    "obligation",
    "reference",
    "none",
)


class RulesError(ValueError):
    """Raised by :func:`read_rules` when a rule file is missing, malformed or inconsistent,
    and by :func:`classifiers.examples.load_rules` when an installation's rule fails its
    examples."""


@dataclass(frozen=True)
class ContentRule:
    """A phrase rule scored on the new text of subject and body."""

    id: str
    category: str  # one of CATEGORIES, or "scope"
    language: str
    weight: float
    phrases: tuple[str, ...]
    near: tuple[tuple[str, ...], tuple[str, ...]]  # first phrase, then second within window
    window: int
    patterns: tuple[tuple[dict[str, Any], ...], ...]
    fields: tuple[str, ...]
    negatable: bool
    change: str  # scope rules only: what the change is about; "reference"/"none" are helpers
    note: str
    sequences: tuple[tuple[Element, ...], ...] = ()
    unordered: bool = False
    conditional: str = "keep"  # "skip": a conditional clause before the match drops it
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()
    source: str = ""  # the rule's file, as problem lines name it ("nl/order.toml")


@dataclass(frozen=True)
class HeaderRule:
    """A regex on one header-level field; decides whether a mail is machine-generated."""

    id: str
    weight: float
    field: str
    name: str  # header name for field "header"
    pattern: re.Pattern[str]
    final: bool  # True: content can never override (bounce, receipt, auto-reply)
    bounce: bool  # True: the mail reports that one of our messages was not delivered
    requires: tuple[str, ...]
    note: str
    # True: machine-sent, but procurement systems and web forms send business mail like this
    # too (Precedence: bulk, a no-reply sender); clear business content outweighs it.
    noise: bool = False


@dataclass(frozen=True)
class IdentifierPattern:
    """A label regex plus a value-shape regex; the label word is not part of the value."""

    id: str
    kind: str
    regex: re.Pattern[str]
    shape: re.Pattern[str]
    list_continuation: re.Pattern[str] | None
    note: str
    # The label alone makes a number of three digits a business number ("offerta n. 881").
    short: bool = False


@dataclass
class RuleSet:
    """Validated rules with their compiled matchers; build once, share across messages."""

    version: str
    content_rules: dict[str, ContentRule]
    header_rules: tuple[HeaderRule, ...]
    identifier_patterns: tuple[IdentifierPattern, ...]
    negators: dict[str, frozenset[str]]
    source_files: tuple[str, ...]
    concepts: dict[str, dict[str, Concept]] = field(default_factory=dict)
    conditionals: dict[str, frozenset[str]] = field(default_factory=dict)
    not_negators: dict[str, frozenset[str]] = field(default_factory=dict)
    # Ids of the rules that came from an installation's ``extra_rules`` folder.
    extra_rule_ids: tuple[str, ...] = ()
    _pipelines: dict[str, Language] = field(default_factory=dict, repr=False)
    _phrase_matchers: dict[str, LanguagePhrases] = field(default_factory=dict, repr=False)
    _english_phrases: SharedPhrases | None = field(default=None, repr=False)
    _token_matchers: dict[str, Matcher] = field(default_factory=dict, repr=False)
    _vocab_sizes: dict[str, int] = field(default_factory=dict, repr=False)
    # The open spaCy memory zone of each language's vocabulary (see bound_vocab).
    _zones: dict[str, AbstractContextManager[object]] = field(default_factory=dict, repr=False)
    # Held while a message is tokenized and matched: spaCy's pipelines are not thread-safe,
    # and a zone must not close under another thread's Doc.
    lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )
    _sequence_indexes: dict[str, SequenceIndex] = field(default_factory=dict, repr=False)
    _word_sets: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict, repr=False)
    _lifts: dict[str, Lifts] = field(default_factory=dict, repr=False)
    _languages: tuple[str, ...] | None = field(default=None, repr=False)
    _concept_forms: dict[str, dict[str, frozenset[str]]] = field(
        default_factory=dict, repr=False
    )
    _combined_identifiers: list[tuple[re.Pattern[str], list[IdentifierPattern]]] | None = field(
        default=None, repr=False
    )

    @property
    def rule_count(self) -> int:
        """Number of loaded rule entries of every kind (asserted in the tests)."""
        return len(self.content_rules) + len(self.header_rules) + len(self.identifier_patterns)

    def languages(self) -> tuple[str, ...]:
        """Languages with content rules of their own (asked once per message: cached)."""
        if self._languages is None:
            self._languages = tuple(sorted({r.language for r in self.content_rules.values()}))
        return self._languages

    def pipeline(self, lang: str) -> Language:
        """A blank spaCy pipeline (tokenizer only) for ``lang``, cached per rule set."""
        if lang not in self._pipelines:
            from spacy.attrs import IS_SPACE, LOWER
            from spacy.lang.lex_attrs import is_space, lower

            if lang == "fr":
                use_compact_token_match()  # 26 MB less (classifiers/french_tokens.py)
            # spacy.blank(lang) with a tokenizer of the same tokens that tries fewer regex
            # positions (classifiers/affixes.py)
            nlp = blank(lang)
            if not any(r.patterns for r in self.content_rules.values()
                       if r.language in (lang, DEFAULT)):
                # Phrases and sequences read only LOWER and IS_SPACE; the other 21 lexeme
                # attributes (shape, norm, like_num, ...) were computed in Python for every
                # new word: a fifth of tokenizing. Token patterns may use any of them.
                # (spaCy's vocab.pyi leaves out this public cdef attribute of vocab.pxd.)
                # spaCy's two (``string.lower()``, ``string.isspace()``) become the str methods
                # themselves: the same values without a Python frame for each new word.
                same = {lower: str.lower, is_space: str.isspace}
                getters = nlp.vocab.lex_attr_getters  # type: ignore[attr-defined]
                nlp.vocab.lex_attr_getters = {  # type: ignore[attr-defined]
                    k: same.get(v, v) for k, v in getters.items() if k in (LOWER, IS_SPACE)
                }
            self._pipelines[lang] = nlp
        return self._pipelines[lang]

    def matchers(self, lang: str) -> tuple[LanguagePhrases, Matcher]:
        """Phrase and token matchers holding the content rules of ``lang`` and of English.
        The English phrases are in one matcher that every language shares, tokenised with the
        English tokenizer, and matched with the same results as if they were in ``lang``'s
        (``classifiers/phrases.py``)."""
        if lang not in self._phrase_matchers:
            from spacy.matcher import Matcher

            nlp = self.pipeline(lang)
            token = Matcher(nlp.vocab)
            entries: list[tuple[str, tuple[str, ...], bool]] = []
            for rule in self.content_rules.values():
                if rule.language not in (lang, DEFAULT):
                    continue
                entries += [(k, p, rule.language == DEFAULT) for k, p in phrase_entries(rule)]
                if rule.patterns:
                    token.add(rule.id, [list(p) for p in rule.patterns])
            for bit, forms in self.sequence_index(lang).phrases.items():
                entries.append((f"{SEQUENCE_FORM}{bit}", tuple(forms), False))
            self._phrase_matchers[lang] = LanguagePhrases(nlp, entries, self.english_phrases())
            self._token_matchers[lang] = token
            self._vocab_sizes[lang] = len(nlp.vocab.strings)
        return self._phrase_matchers[lang], self._token_matchers[lang]

    def english_phrases(self) -> SharedPhrases:
        """The English rules' phrases, in the one matcher every language's messages use."""
        if self._english_phrases is None:
            english = [r for r in self.content_rules.values() if r.language == DEFAULT]
            self._english_phrases = SharedPhrases(
                self.pipeline(DEFAULT), [e for r in english for e in phrase_entries(r)]
            )
        return self._english_phrases

    def bound_vocab(self, lang: str) -> None:
        """Bound what ``lang``'s vocabulary gathers from messages: the first
        ``VOCAB_GROWTH`` new strings after its matchers were built stay for good (common words,
        and spaCy's tokenizer cache, which fills in that time, points at them); after that,
        messages are tokenized in a spaCy memory zone, which is closed (its strings and
        lexemes freed) and a new one opened each time it holds ``VOCAB_GROWTH`` strings.

        Every new word of a message (names, numbers, addresses: about 12 per message) would
        otherwise stay in the vocabulary for good, 450-800 bytes each, and a daemon would
        grow without end. Tokens and matches do not depend on what the vocabulary holds
        (matches compare hashes), so results stay the same. Rebuilding the pipeline instead
        cost 0.05-0.5 s a time plus the warm vocabulary and cache it lost; a zone costs no
        rebuild, and keeps the cache and the words gathered before it. Call only under
        :attr:`lock`: closing a zone frees lexemes another thread's ``Doc`` could hold."""
        nlp = self._pipelines.get(lang)
        base = self._vocab_sizes.get(lang)
        if nlp is None or base is None or len(nlp.vocab.strings) <= base + VOCAB_GROWTH:
            return
        zone = self._zones.pop(lang, None)
        if zone is not None:
            zone.__exit__(None, None, None)
        zone = nlp.vocab.memory_zone()
        zone.__enter__()
        self._zones[lang] = zone
        self._vocab_sizes[lang] = len(nlp.vocab.strings)

    def negators_for(self, lang: str) -> frozenset[str]:
        """The negators of ``lang`` and of English (mail mixes English into any language),
        less the English ones that are ordinary words of ``lang`` (its ``not_negators``)."""
        key = ("negators", lang)
        if key not in self._word_sets:
            self._word_sets[key] = (
                self.negators.get(lang, frozenset()) | self.negators.get(DEFAULT, frozenset())
            ) - self.not_negators.get(lang, frozenset())
        return self._word_sets[key]

    def conditionals_for(self, lang: str) -> frozenset[str]:
        """The conditional words of ``lang`` and of English (some are two words: "in case")."""
        key = ("conditionals", lang)
        if key not in self._word_sets:
            self._word_sets[key] = (
                self.conditionals.get(lang, frozenset())
                | self.conditionals.get(DEFAULT, frozenset())
                | frozenset(ENGLISH_CONDITIONALS)
            )
        return self._word_sets[key]

    def lifts_for(self, lang: str) -> Lifts:
        """The words of ``lang`` and English that lift a conditional in a requested change
        (concepts ``cond_ask``, ``cond_possible``, ``cond_hedge``, ``cond_modal``), and the
        words that make a document the topic of another (``topic_prep``) or a "sobald" clause a
        time, not a condition (``time_ready``), and the conjunctions that open a condition
        after an act without a comma (``cond_after``, ``cond_after_weak``, ``cond_subject``)."""
        if lang not in self._lifts:
            langs = {lang, DEFAULT}

            def words(name: str) -> frozenset[str]:
                return frozenset().union(
                    *(self.concept_forms(lg).get(name, frozenset()) for lg in langs)
                )

            self._lifts[lang] = Lifts(words("cond_ask"), words("cond_possible"),
                                      words("cond_hedge"), words("cond_modal"),
                                      words("topic_prep"), words("time_ready"),
                                      words("cond_after"), words("cond_after_weak"),
                                      words("cond_subject"))
        return self._lifts[lang]

    def concept_forms(self, lang: str) -> dict[str, frozenset[str]]:
        """Concept name -> every lower-case form of ``lang``'s concepts (lemmas expanded).

        Read from the lemma table once per language, the first time it is needed."""
        if lang not in self._concept_forms:
            self._concept_forms[lang] = expand(lang, self.concepts.get(lang, {}).values())
        return self._concept_forms[lang]

    def sequence_index(self, lang: str) -> SequenceIndex:
        """The sequence rules of ``lang`` and English, compiled for ``lang``'s messages."""
        if lang not in self._sequence_indexes:
            rules = [
                SequenceRule(r.id, r.language, r.sequences, r.window, r.unordered, r.negatable)
                for r in self.content_rules.values()
                if r.sequences and r.language in (lang, DEFAULT)
            ]
            langs = {r.language for r in rules}
            forms = {(lg, name): f for lg in langs for name, f in self.concept_forms(lg).items()}
            concepts = [(lg, c) for lg in langs for c in self.concepts.get(lg, {}).values()]
            prefixes = {(lg, c.name): c.prefixes for lg, c in concepts}
            suffixes = {(lg, c.name): c.suffixes for lg, c in concepts if c.suffixes}
            nlp = self.pipeline(lang)
            # Whether the tokenizer keeps each form as one token, from a file kept between
            # processes where it has the answer (classifiers/token_cache.py): 0.45 s of CPU
            # for the 11 languages otherwise, in every fork server and classifying process.
            one_token = OneToken(token_cache_file(lang), lambda w: _one_token(nlp, w))
            self._sequence_indexes[lang] = SequenceIndex(
                rules, forms, prefixes, self.negators_for(lang), one_token, suffixes
            )
            one_token.save()
        return self._sequence_indexes[lang]


_CONTENT_KEYS = {
    "id", "weight", "phrases", "near", "window", "patterns", "fields", "negatable", "change",
    "note", "sequence", "sequences", "unordered", "conditional", "examples", "counter_examples",
}
# A conditional clause ("if we order ...") makes a statement hypothetical: it is no order,
# no property notice, no change. An enquiry is often conditional ("let me know if you can").
CONDITIONAL_DEFAULT: dict[str, str] = {
    "property": "skip", "order": "skip", SCOPE: "skip",
    "enquiry": "keep", "feedback": "keep", "other": "keep",
}
DEFAULT_WINDOW = 4
# New strings a language's vocabulary keeps for good, and then holds at most in a memory zone
# (450-800 bytes each with the lexeme and cymem's bookkeeping; see RuleSet.bound_vocab).
VOCAB_GROWTH = 2_000
# A ``near`` rule's second phrase must start within this many tokens after the first.
MAX_WINDOW = 12
# PhraseMatcher key of the concept forms and literals of several tokens ("call-off"), followed
# by the sequence index's bit for them.
SEQUENCE_FORM = "#form#"
NEAR_FIRST = "#near0"
NEAR_SECOND = "#near1"


def phrase_entries(rule: ContentRule) -> list[tuple[str, tuple[str, ...]]]:
    """(phrase matcher key, phrases) of a rule, in the order they are added to a matcher."""
    out = [(rule.id, rule.phrases)] if rule.phrases else []
    if rule.near[0]:
        out += [(rule.id + NEAR_FIRST, rule.near[0]), (rule.id + NEAR_SECOND, rule.near[1])]
    return out


_HEADER_KEYS = {"id", "weight", "field", "name", "pattern", "final", "bounce", "requires", "note",
                "noise"}
_IDENT_KEYS = {"id", "kind", "label", "shape", "list", "note", "short"}
# "and" in each supported language (en, de, fr, es, it/pt, nl, pl, sv, da, cs) joins list items.
_LIST_SEPARATOR = (
    r"\s*(?:,|/|&|\b(?:and|und|sowie|et|y|e|en|i|oraz|och|og|a)\b)\s*"
)


def _fail(path: Path, rule_id: str, problem: str) -> RulesError:
    # The whole path: the operator must find the file to fix it, whatever the folder is called.
    return RulesError(f"{path}: rule {rule_id!r}: {problem}")


def _rel(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _read(path: Path) -> dict[str, Any]:
    try:
        return toml_cache.loads(path.read_bytes())  # a parse kept between processes
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: rule '-': not valid TOML: {exc}") from None


def _entries(path: Path, data: dict[str, Any], allowed_top: set[str]) -> list[dict[str, Any]]:
    unknown = set(data) - allowed_top
    if unknown:
        raise _fail(path, "-", f"unknown top-level keys {sorted(unknown)}")
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        raise _fail(path, "-", "no [[rules]] entries")
    for entry in rules:
        if not isinstance(entry.get("id"), str) or not entry["id"]:
            raise _fail(path, "?", "missing or empty id")
    return rules


def _check_keys(path: Path, entry: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise _fail(path, entry["id"], f"unknown keys {sorted(unknown)}")


def _weight(path: Path, entry: dict[str, Any]) -> float:
    w = entry.get("weight")
    if isinstance(w, bool) or not isinstance(w, int | float) or not -20 <= w <= 20 or w == 0:
        raise _fail(path, entry["id"], "weight must be a non-zero number in [-20, 20]")
    return float(w)


def _str_list(path: Path, entry: dict[str, Any], key: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(path, entry["id"], f"{key} must be a list of non-empty strings")
    return tuple(value)


def _compile(path: Path, rule_id: str, pattern: Any, flags: int = re.I) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise _fail(path, rule_id, "pattern must be a non-empty string")
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise _fail(path, rule_id, f"bad regex: {exc}") from None


def _content_rule(
    path: Path,
    lang: str,
    category: str,
    entry: dict[str, Any],
    concepts: Mapping[str, Concept],
    source: str,
) -> ContentRule:
    _check_keys(path, entry, _CONTENT_KEYS)
    rid = entry["id"]
    phrases = _str_list(path, entry, "phrases")
    near_first, near_second = _near(path, entry)
    sequences, unordered = _sequences(path, entry, concepts)
    window = _window(path, entry) if near_first or sequences else 0
    patterns = _patterns(path, lang, entry)
    if not phrases and not patterns and not near_first and not sequences:
        raise _fail(path, rid, "empty phrase list")
    fields = _str_list(path, entry, "fields") or CONTENT_FIELDS
    if set(fields) - set(CONTENT_FIELDS):
        raise _fail(path, rid, f"fields must be among {CONTENT_FIELDS}")
    change = entry.get("change", "none")
    if category == SCOPE and change not in CHANGE_KINDS:
        raise _fail(path, rid, f"change must be one of {CHANGE_KINDS}")
    negatable = entry.get("negatable", True)
    if not isinstance(negatable, bool):
        raise _fail(path, rid, "negatable must be true or false")
    conditional = entry.get("conditional", CONDITIONAL_DEFAULT[category])
    if conditional not in ("skip", "keep"):
        raise _fail(path, rid, 'conditional must be "skip" or "keep"')
    return ContentRule(
        id=rid,
        category=category,
        language=lang,
        weight=_weight(path, entry),
        phrases=phrases,
        near=(near_first, near_second),
        window=window,
        patterns=patterns,
        fields=fields,
        negatable=negatable,
        change=change,
        note=str(entry.get("note", "")),
        sequences=sequences,
        unordered=unordered,
        conditional=conditional,
        examples=_str_list(path, entry, "examples"),
        counter_examples=_str_list(path, entry, "counter_examples"),
        source=source,
    )


Pattern = tuple[dict[str, Any], ...]


def _patterns(path: Path, lang: str, entry: dict[str, Any]) -> tuple[Pattern, ...]:
    """Raw spaCy token patterns, checked by building them into a Matcher."""
    rid = entry["id"]
    patterns = entry.get("patterns", [])
    if not isinstance(patterns, list) or not all(
        isinstance(p, list) and p and all(isinstance(t, dict) for t in p) for p in patterns
    ):
        raise _fail(path, rid, "patterns must be a list of non-empty token-pattern lists")
    if any(str(key).upper() == "LEMMA" for p in patterns for t in p for key in t):
        raise _fail(path, rid, "patterns may not use LEMMA (the pipelines have no lemmatizer): "
                    "use a concept with lemmas in a sequence")
    if patterns:
        from spacy.matcher import Matcher

        try:
            Matcher(_vocab(lang)).add(rid, patterns)
        except Exception as exc:  # spaCy raises several types for bad patterns
            raise _fail(path, rid, f"bad token pattern: {exc}") from None
    return tuple(tuple(p) for p in patterns)


@cache
def _vocab(lang: str) -> Vocab:
    import spacy

    if lang == "fr":
        use_compact_token_match()
    return spacy.blank(lang).vocab


def _sequences(
    path: Path, entry: dict[str, Any], concepts: Mapping[str, Concept]
) -> tuple[tuple[tuple[Element, ...], ...], bool]:
    """``sequence = [...]`` and / or ``sequences = [[...], ...]``, and ``unordered``."""
    rid = entry["id"]
    raw = ([entry["sequence"]] if "sequence" in entry else []) + (
        entry["sequences"] if isinstance(entry.get("sequences"), list) else []
    )
    if "sequences" in entry and not (isinstance(entry["sequences"], list) and entry["sequences"]):
        raise _fail(path, rid, "sequences must be a non-empty list of sequences")
    try:
        sequences = tuple(parse_sequence(seq, concepts.__contains__) for seq in raw)
    except SequenceError as exc:
        raise _fail(path, rid, str(exc)) from None
    unordered = entry.get("unordered", False)
    if not isinstance(unordered, bool):
        raise _fail(path, rid, "unordered must be true or false")
    if unordered and not all(2 <= len(seq) <= MAX_UNORDERED for seq in sequences):
        raise _fail(path, rid, f"unordered needs sequences of 2 to {MAX_UNORDERED} elements")
    return sequences, unordered


def _window(path: Path, entry: dict[str, Any]) -> int:
    window = entry.get("window", DEFAULT_WINDOW)
    if isinstance(window, bool) or not isinstance(window, int) or not 0 <= window <= MAX_WINDOW:
        raise _fail(path, entry["id"], f"window must be an integer in [0, {MAX_WINDOW}]")
    return window


def _near(path: Path, entry: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``near = [["we sent", "we shipped"], ["pump", "samples"]]``: the rule fires when a phrase
    of the first list is followed, within ``window`` tokens, by one of the second ("we shipped
    our two old pumps"). One readable rule instead of thousands of phrase combinations."""
    near = entry.get("near")
    if near is None:
        return (), ()
    if not (
        isinstance(near, list)
        and len(near) == 2
        and all(isinstance(p, list) and p and all(isinstance(w, str) and w.strip() for w in p)
                for p in near)
    ):
        raise _fail(path, entry["id"], "near must be two non-empty phrase lists")
    return tuple(near[0]), tuple(near[1])


def _header_rule(path: Path, entry: dict[str, Any]) -> HeaderRule:
    _check_keys(path, entry, _HEADER_KEYS)
    rid = entry["id"]
    fld = entry.get("field")
    if fld not in HEADER_FIELDS:
        raise _fail(path, rid, f"field must be one of {HEADER_FIELDS}")
    name = entry.get("name", "")
    if fld == "header" and not (isinstance(name, str) and name):
        raise _fail(path, rid, "field 'header' needs a header name")
    final = entry.get("final", False)
    bounce = entry.get("bounce", False)
    noise = entry.get("noise", False)
    if not all(isinstance(flag, bool) for flag in (final, bounce, noise)):
        raise _fail(path, rid, "final, bounce and noise must be true or false")
    if noise and final:
        raise _fail(path, rid, "a final rule cannot be noise")
    return HeaderRule(
        id=rid,
        weight=_weight(path, entry),
        field=fld,
        name=str(name).lower(),
        pattern=_compile(path, rid, entry.get("pattern")),
        final=final,
        bounce=bounce,
        requires=_str_list(path, entry, "requires"),
        note=str(entry.get("note", "")),
        noise=noise,
    )


def _identifier_pattern(
    path: Path, rid: str, kind: str, label: str, shape: str, as_list: bool, note: str,
    short: bool = False,
) -> IdentifierPattern:
    if kind not in IDENTIFIER_KINDS:
        raise _fail(path, rid, f"kind must be one of {IDENTIFIER_KINDS}")
    shape_re = _compile(path, rid, shape, 0)
    if shape_re.groupindex:
        raise _fail(path, rid, "shape must not define named groups")
    if label:
        _compile(path, rid, label)
    # The value must stand alone: not glued to letters, digits or a bracketed case tag.
    full = (
        rf"(?<![\w\[-])(?:{label})(?P<value>{shape})(?![\w\]]|-\w)"
        if label
        else rf"(?<![\w\[/-])(?P<value>{shape})(?![\w\]]|-\w)"
    )
    regex = _compile(path, rid, full, re.I if label else 0)
    cont = re.compile(rf"{_LIST_SEPARATOR}(?P<value>{shape})(?![\w\]]|-\w)") if as_list else None
    return IdentifierPattern(
        id=rid, kind=kind, regex=regex, shape=shape_re, list_continuation=cont, note=note,
        short=short,
    )


def _identifier_rules(path: Path, data: dict[str, Any]) -> list[IdentifierPattern]:
    out = []
    for entry in _entries(path, data, {"rules", "description"}):
        _check_keys(path, entry, _IDENT_KEYS)
        as_list = entry.get("list", False)
        if not isinstance(as_list, bool):
            raise _fail(path, entry["id"], "list must be true or false")
        short = entry.get("short", False)
        if not isinstance(short, bool) or (short and not entry.get("label")):
            raise _fail(path, entry["id"], "short must be true or false, and needs a label")
        label = entry.get("label", "")
        if not isinstance(label, str):
            raise _fail(path, entry["id"], "label must be a string")
        out.append(
            _identifier_pattern(
                path,
                entry["id"],
                entry.get("kind", ""),
                label,
                entry.get("shape", ""),
                as_list,
                str(entry.get("note", "")),
                short,
            )
        )
    return out


def rules_version(
    files: Sequence[Path],
    root: Path,
    extra: Sequence[tuple[str, str]] = (),
    extra_files: Sequence[Path] = (),
    extra_root: Path | None = None,
) -> str:
    """sha256 over the rule files' bytes, sorted by relative path (first 16 hex chars).

    Extra identifier patterns and an installation's ``extra_rules`` files change results too,
    so they are part of the version.
    """
    digest = hashlib.sha256()
    named = [(p.relative_to(root).as_posix(), p) for p in files]
    if extra_root is not None:
        named += [("extra_rules/" + p.relative_to(extra_root).as_posix(), p) for p in extra_files]
    for rel, path in sorted(named, key=lambda item: item[0]):
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    for kind, regex in extra:
        digest.update(f"extra\0{kind}\0{regex}\0".encode())
    return digest.hexdigest()[:16]


@dataclass
class _Loading:
    """What :func:`read_rules` collects from the shipped folder and the installation's."""

    content: dict[str, ContentRule] = field(default_factory=dict)
    negators: dict[str, frozenset[str]] = field(default_factory=dict)
    lexicons: dict[str, Lexicon] = field(default_factory=dict)
    header_rules: list[HeaderRule] = field(default_factory=list)
    ident: list[IdentifierPattern] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)

    def claim(self, p: Path, rid: str) -> None:
        if rid in self.seen:
            raise _fail(p, rid, f"duplicate id (also in {self.seen[rid]})")
        self.seen[rid] = str(p)

    def add_negators(self, lang: str, words: frozenset[str]) -> None:
        self.negators[lang] = self.negators.get(lang, frozenset()) | words


def _language_file(root: Path, p: Path) -> tuple[str, str] | None:
    """(language, stem) for ``<lang>/<name>.toml`` of a supported language, else None."""
    rel = p.relative_to(root)
    if len(rel.parts) == 2 and rel.parts[0] in SUPPORTED:
        return rel.parts[0], p.stem
    return None


def _load_concepts(root: Path, files: list[Path], state: _Loading) -> None:
    for p in files:
        where = _language_file(root, p)
        if where is None or p.name != CONCEPTS_FILE:
            continue
        lang = where[0]
        try:
            lexicon = parse_concepts(lang, _read(p))
        except ConceptError as exc:
            raise _fail(p, exc.rule_id, exc.problem) from None
        state.lexicons[lang] = merge_lexicons(state.lexicons.get(lang), lexicon)
        state.add_negators(lang, lexicon.negators)


def _load_content(root: Path, p: Path, state: _Loading, source: str) -> None:
    where = _language_file(root, p)
    assert where is not None
    lang, category = where
    if category not in CATEGORIES and category != SCOPE:
        raise _fail(p, "-", f"unknown category {category!r}")
    data = _read(p)
    allowed = {"rules", "description"} | ({"negators"} if category == SCOPE else set())
    lexicon = state.lexicons.get(lang)
    concepts = lexicon.concepts if lexicon else {}
    for entry in _entries(p, data, allowed):
        state.claim(p, entry["id"])
        state.content[entry["id"]] = _content_rule(p, lang, category, entry, concepts, source)
    if category == SCOPE:
        neg = data.get("negators", [])
        if not isinstance(neg, list) or not all(isinstance(n, str) for n in neg):
            raise _fail(p, "negators", "negators must be a list of strings")
        state.add_negators(lang, frozenset(n.lower() for n in neg))


def _extra_files(extra: Path) -> list[Path]:
    """The files of an installation's rules folder: ``<lang>/<category>.toml`` only."""
    if not extra.is_dir():
        raise RulesError(f"{extra}: rule '-': extra_rules folder not found")
    files = sorted(extra.rglob("*.toml"))
    for p in files:
        if _language_file(extra, p) is None:
            raise RulesError(f"{p}: rule '-': unexpected rule file location (an extra_rules "
                             "folder holds <language>/<category>.toml and "
                             "<language>/concepts.toml)")
    return files


def read_rules(
    path: Path | None = None,
    extra_identifier_patterns: Sequence[tuple[str, str]] = (),
    extra_rules: Path | None = None,
) -> RuleSet:
    """Read and validate every rule file under ``path`` (default: the package's rules/); the
    examples are run by :func:`classifiers.examples.load_rules`, which needs the matcher.

    ``extra_identifier_patterns`` are (kind, regex) pairs for a company's own number formats
    (e.g. its serial numbers); the whole regex match is the identifier value.
    ``extra_rules`` is an installation's own folder of ``<lang>/`` rule and concept files;
    its rules are listed in ``RuleSet.extra_rule_ids``.
    """
    root = Path(path) if path is not None else DEFAULT_RULES_DIR
    if not root.is_dir():
        raise RulesError(f"{root}: rule '-': rules folder not found")
    files = sorted(root.rglob("*.toml"))
    extra_root = Path(extra_rules) if extra_rules is not None else None
    extra_files = _extra_files(extra_root) if extra_root is not None else []
    state = _Loading()
    _load_concepts(root, files, state)
    if extra_root is not None:
        _load_concepts(extra_root, extra_files, state)

    for p in files:
        rel = p.relative_to(root)
        if rel.as_posix() == "headers.toml":
            for entry in _entries(p, _read(p), {"rules", "description"}):
                state.claim(p, entry["id"])
                state.header_rules.append(_header_rule(p, entry))
        elif rel.as_posix() == "identifiers.toml":
            for pat in _identifier_rules(p, _read(p)):
                state.claim(p, pat.id)
                state.ident.append(pat)
        elif _language_file(root, p) is not None:
            if p.name != CONCEPTS_FILE:
                _load_content(root, p, state, rel.as_posix())
        else:
            raise RulesError(f"{p}: rule '-': unexpected rule file location (expected "
                             "headers.toml, identifiers.toml or <language>/<category>.toml)")
    extra_ids: list[str] = []
    if extra_root is not None:
        for p in extra_files:
            if p.name != CONCEPTS_FILE:
                before = set(state.content)
                _load_content(extra_root, p, state, str(p))
                extra_ids += [rid for rid in state.content if rid not in before]

    known = {r.id for r in state.header_rules}
    for r in state.header_rules:
        missing = set(r.requires) - known
        if missing:
            raise _fail(root / "headers.toml", r.id, f"requires unknown rules {sorted(missing)}")

    for n, (kind, regex) in enumerate(extra_identifier_patterns, start=1):
        fake = Path("<extra_identifier_patterns>")  # the caller's own formats: no rule file
        state.ident.append(
            _identifier_pattern(
                fake, f"extra.{n}.{kind}", kind, "", regex, False, "company-specific format"
            )
        )
    ruleset = RuleSet(
        version=rules_version(files, root, extra_identifier_patterns, extra_files, extra_root),
        content_rules=state.content,
        header_rules=tuple(state.header_rules),
        identifier_patterns=tuple(state.ident),
        negators=state.negators,
        source_files=tuple(p.relative_to(root).as_posix() for p in files)
        + tuple(str(p) for p in extra_files),
        concepts={lang: lex.concepts for lang, lex in state.lexicons.items()},
        conditionals={lang: lex.conditionals for lang, lex in state.lexicons.items()},
        not_negators={lang: lex.not_negators for lang, lex in state.lexicons.items()},
        extra_rule_ids=tuple(extra_ids),
    )
    return ruleset


_APOSTROPHES = ("'", "\u2019")


def _one_token(nlp: Language, word: str) -> bool:
    """Whether the tokenizer can yield ``word`` as one token (else the sequence index has it
    found as a phrase). An elision ("l'", "j'") or a clitic ("'s") is a token only when glued
    to its word ("l'offre" -> "l'", "offre")."""
    if len(nlp.make_doc(word)) == 1:
        return True
    if word.endswith(_APOSTROPHES):
        return nlp.make_doc(word + "abc")[0].lower_ == word
    if word.startswith(_APOSTROPHES):
        # "'s" is split off any word; "'ve" and "'m" only off the words the tokenizer's
        # special cases list ("we've" -> "we", "'ve"): a clitic of either kind is a token.
        return (nlp.make_doc("abc" + word)[-1].lower_ == word
                or word in _special_case_tokens(nlp))
    return False


def _special_case_tokens(nlp: Language) -> set[str]:
    """The lower-case tokens that the tokenizer's special cases yield ("we've" -> "'ve")."""
    from spacy.attrs import ORTH

    rules: dict[str, list[dict[int, str]]] = getattr(nlp.tokenizer, "rules", None) or {}
    return {piece[ORTH].lower() for pieces in rules.values() for piece in pieces}

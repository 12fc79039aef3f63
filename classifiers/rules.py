"""Load, validate and compile the rule files; compute the rules version.

Layout of the rules folder (all TOML, read with :mod:`tomllib`)::

    headers.toml              rules for machine-generated mail (category "other")
    identifiers.toml          regex patterns for PO/RMA/quote/serial/drawing numbers
    <lang>/<category>.toml    phrase rules for one category in one language
    <lang>/scope.toml         phrase rules for scope changes, plus that language's negators

Every rule has a unique ``id``; a broken file raises :class:`RulesError` with a one-line
message naming the file, the rule id and the problem, so a bad rules upgrade is refused at
start-up instead of misclassifying mail. The rules version is a sha256 over the bytes of all
rule files sorted by relative path, so every classification names the exact rules used.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifiers.language import DEFAULT, SUPPORTED
from classifiers.types import CATEGORIES, IDENTIFIER_KINDS

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.matcher import Matcher, PhraseMatcher

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
    """Raised by :func:`load_rules` when a rule file is missing, malformed or inconsistent."""


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


@dataclass
class RuleSet:
    """Validated rules with their compiled matchers; build once, share across messages."""

    version: str
    content_rules: dict[str, ContentRule]
    header_rules: tuple[HeaderRule, ...]
    identifier_patterns: tuple[IdentifierPattern, ...]
    negators: dict[str, frozenset[str]]
    source_files: tuple[str, ...]
    _pipelines: dict[str, Language] = field(default_factory=dict, repr=False)
    _phrase_matchers: dict[str, PhraseMatcher] = field(default_factory=dict, repr=False)
    _token_matchers: dict[str, Matcher] = field(default_factory=dict, repr=False)
    _combined_identifiers: list[tuple[re.Pattern[str], list[IdentifierPattern]]] | None = field(
        default=None, repr=False
    )

    @property
    def rule_count(self) -> int:
        """Number of loaded rule entries of every kind (asserted in the tests)."""
        return len(self.content_rules) + len(self.header_rules) + len(self.identifier_patterns)

    def languages(self) -> tuple[str, ...]:
        return tuple(sorted({r.language for r in self.content_rules.values()}))

    def pipeline(self, lang: str) -> Language:
        """A blank spaCy pipeline (tokenizer only) for ``lang``, cached per rule set."""
        if lang not in self._pipelines:
            import spacy  # here: commands that classify nothing do not pay a second for it

            self._pipelines[lang] = spacy.blank(lang)
        return self._pipelines[lang]

    def matchers(self, lang: str) -> tuple[PhraseMatcher, Matcher]:
        """Phrase and token matchers holding the content rules of ``lang`` and of English
        (tokenised with ``lang``'s tokenizer, so one pass over the text applies both)."""
        if lang not in self._phrase_matchers:
            from spacy.matcher import Matcher, PhraseMatcher

            nlp = self.pipeline(lang)
            phrase = PhraseMatcher(nlp.vocab, attr="LOWER")
            token = Matcher(nlp.vocab)
            for rule in self.content_rules.values():
                if rule.language not in (lang, DEFAULT):
                    continue
                if rule.phrases:
                    phrase.add(rule.id, [nlp.make_doc(p) for p in rule.phrases])
                if rule.near[0]:
                    phrase.add(rule.id + NEAR_FIRST, [nlp.make_doc(p) for p in rule.near[0]])
                    phrase.add(rule.id + NEAR_SECOND, [nlp.make_doc(p) for p in rule.near[1]])
                if rule.patterns:
                    token.add(rule.id, [list(p) for p in rule.patterns])
            self._phrase_matchers[lang] = phrase
            self._token_matchers[lang] = token
        return self._phrase_matchers[lang], self._token_matchers[lang]


_CONTENT_KEYS = {
    "id", "weight", "phrases", "near", "window", "patterns", "fields", "negatable", "change",
    "note",
}
# A ``near`` rule's second phrase must start within this many tokens after the first.
MAX_WINDOW = 12
NEAR_FIRST = "#near0"
NEAR_SECOND = "#near1"
_HEADER_KEYS = {"id", "weight", "field", "name", "pattern", "final", "bounce", "requires", "note",
                "noise"}
_IDENT_KEYS = {"id", "kind", "label", "shape", "list", "note"}
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
        return tomllib.loads(path.read_bytes().decode("utf-8"))
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


def _content_rule(path: Path, lang: str, category: str, entry: dict[str, Any]) -> ContentRule:
    _check_keys(path, entry, _CONTENT_KEYS)
    rid = entry["id"]
    phrases = _str_list(path, entry, "phrases")
    near_first, near_second, window = _near(path, entry)
    patterns = entry.get("patterns", [])
    if not isinstance(patterns, list) or not all(
        isinstance(p, list) and p and all(isinstance(t, dict) for t in p) for p in patterns
    ):
        raise _fail(path, rid, "patterns must be a list of non-empty token-pattern lists")
    if not phrases and not patterns and not near_first:
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
    if patterns:
        import spacy
        from spacy.matcher import Matcher

        try:
            Matcher(spacy.blank(lang).vocab).add(rid, patterns)
        except Exception as exc:  # spaCy raises several types for bad patterns
            raise _fail(path, rid, f"bad token pattern: {exc}") from None
    return ContentRule(
        id=rid,
        category=category,
        language=lang,
        weight=_weight(path, entry),
        phrases=phrases,
        near=(near_first, near_second),
        window=window,
        patterns=tuple(tuple(p) for p in patterns),
        fields=fields,
        negatable=negatable,
        change=change,
        note=str(entry.get("note", "")),
    )


def _near(path: Path, entry: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """``near = [["we sent", "we shipped"], ["pump", "samples"]]``: the rule fires when a phrase
    of the first list is followed, within ``window`` tokens, by one of the second ("we shipped
    our two old pumps"). One readable rule instead of thousands of phrase combinations."""
    near = entry.get("near")
    if near is None:
        return (), (), 0
    if not (
        isinstance(near, list)
        and len(near) == 2
        and all(isinstance(p, list) and p and all(isinstance(w, str) and w.strip() for w in p)
                for p in near)
    ):
        raise _fail(path, entry["id"], "near must be two non-empty phrase lists")
    window = entry.get("window", 4)
    if isinstance(window, bool) or not isinstance(window, int) or not 0 <= window <= MAX_WINDOW:
        raise _fail(path, entry["id"], f"window must be an integer in [0, {MAX_WINDOW}]")
    return tuple(near[0]), tuple(near[1]), window


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
    path: Path, rid: str, kind: str, label: str, shape: str, as_list: bool, note: str
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
        id=rid, kind=kind, regex=regex, shape=shape_re, list_continuation=cont, note=note
    )


def _identifier_rules(path: Path, data: dict[str, Any]) -> list[IdentifierPattern]:
    out = []
    for entry in _entries(path, data, {"rules", "description"}):
        _check_keys(path, entry, _IDENT_KEYS)
        as_list = entry.get("list", False)
        if not isinstance(as_list, bool):
            raise _fail(path, entry["id"], "list must be true or false")
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
            )
        )
    return out


def rules_version(files: Sequence[Path], root: Path, extra: Sequence[tuple[str, str]] = ()) -> str:
    """sha256 over the rule files' bytes, sorted by relative path (first 16 hex chars).

    Extra identifier patterns change results too, so they are part of the version.
    """
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    for kind, regex in extra:
        digest.update(f"extra\0{kind}\0{regex}\0".encode())
    return digest.hexdigest()[:16]


def load_rules(
    path: Path | None = None, extra_identifier_patterns: Sequence[tuple[str, str]] = ()
) -> RuleSet:
    """Load and validate every rule file under ``path`` (default: the package's rules/).

    ``extra_identifier_patterns`` are (kind, regex) pairs for a company's own number formats
    (e.g. its serial numbers); the whole regex match is the identifier value.
    """
    root = Path(path) if path is not None else DEFAULT_RULES_DIR
    if not root.is_dir():
        raise RulesError(f"{root}: rule '-': rules folder not found")
    files: list[Path] = []
    content: dict[str, ContentRule] = {}
    negators: dict[str, frozenset[str]] = {}
    header_rules: list[HeaderRule] = []
    ident: list[IdentifierPattern] = []
    seen: dict[str, str] = {}

    def claim(p: Path, rid: str) -> None:
        if rid in seen:
            raise _fail(p, rid, f"duplicate id (also in {seen[rid]})")
        seen[rid] = _rel(p)

    for p in sorted(root.rglob("*.toml")):
        rel = p.relative_to(root)
        files.append(p)
        data = _read(p)
        if rel.as_posix() == "headers.toml":
            for entry in _entries(p, data, {"rules", "description"}):
                claim(p, entry["id"])
                header_rules.append(_header_rule(p, entry))
        elif rel.as_posix() == "identifiers.toml":
            for pat in _identifier_rules(p, data):
                claim(p, pat.id)
                ident.append(pat)
        elif len(rel.parts) == 2 and rel.parts[0] in SUPPORTED:
            lang, category = rel.parts[0], p.stem
            if category not in CATEGORIES and category != SCOPE:
                raise _fail(p, "-", f"unknown category {category!r}")
            allowed = {"rules", "description"} | ({"negators"} if category == SCOPE else set())
            for entry in _entries(p, data, allowed):
                claim(p, entry["id"])
                content[entry["id"]] = _content_rule(p, lang, category, entry)
            if category == SCOPE:
                neg = data.get("negators", [])
                if not isinstance(neg, list) or not all(isinstance(n, str) for n in neg):
                    raise _fail(p, "negators", "negators must be a list of strings")
                negators[lang] = frozenset(n.lower() for n in neg)
        else:
            raise RulesError(f"{p}: rule '-': unexpected rule file location (expected "
                             "headers.toml, identifiers.toml or <language>/<category>.toml)")

    known = {r.id for r in header_rules}
    for r in header_rules:
        missing = set(r.requires) - known
        if missing:
            raise _fail(root / "headers.toml", r.id, f"requires unknown rules {sorted(missing)}")

    for n, (kind, regex) in enumerate(extra_identifier_patterns, start=1):
        fake = Path("<extra_identifier_patterns>")  # the caller's own formats: no rule file
        ident.append(
            _identifier_pattern(
                fake, f"extra.{n}.{kind}", kind, "", regex, False, "company-specific format"
            )
        )
    return RuleSet(
        version=rules_version(files, root, extra_identifier_patterns),
        content_rules=content,
        header_rules=tuple(header_rules),
        identifier_patterns=tuple(ident),
        negators=negators,
        source_files=tuple(p.relative_to(root).as_posix() for p in files),
    )

"""spaCy's French ``token_match`` in a fraction of the memory, matching exactly the same strings.

spaCy's French tokenizer keeps a chunk whole when ``TOKEN_MATCH`` matches it: 266
alternatives ("^a[-]sexualis[a-z...]+$", one per hyphenated prefix "^anti[-][a-z...][...]*$",
...), nearly each with one or two copies of spaCy's class of all lower-case letters (3,000
characters). ``re`` compiles every copy on its own: importing ``spacy.lang.fr`` made the
process 26 MB larger, the largest single item of the classifier's memory.

The same alternatives factored so that alternatives with the same ending share one copy of it
(``^(?:anti|auto|...)[-][a-z...][...]*$``) describe the same strings (concatenation
distributes over alternation, every alternative is anchored at both ends, and spaCy reads only
whether ``token_match`` matches), and take 0.2 MB. :func:`compact_token_match` builds that
pattern from the variables of spaCy's own module, and only when they rebuild its pattern
exactly; otherwise (another spaCy version) it returns ``None`` and spaCy's pattern is used.
:func:`use_compact_token_match` puts it in place of spaCy's before a French pipeline is made,
and drops spaCy's compiled pattern. ``tests/classifiers/test_clf_french_tokens.py`` checks
that both accept the same strings.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
from types import CodeType, ModuleType
from typing import Any

_FLAGS = "(?iu)"
_compiled: dict[str, re.Pattern[str] | None] = {}  # "pattern": the one built, or None


def compact_token_match() -> re.Pattern[str] | None:
    """The factored equivalent of ``spacy.lang.fr.tokenizer_exceptions.TOKEN_MATCH``'s
    pattern, or ``None`` when that module is not built the way this module expects."""
    if "pattern" not in _compiled:
        te: Any = importlib.import_module(_EXCEPTIONS)
        current = getattr(te.TOKEN_MATCH, "__self__", None)
        if isinstance(current, re.Pattern) and current.pattern != _spacy_pattern(te._regular_exp):
            _compiled["pattern"] = None  # not the pattern this was derived from
        else:
            _compact(te)
    return _compiled["pattern"]


def _spacy_pattern(alternatives: list[str]) -> str:
    """The pattern spaCy's module compiles from its ``_regular_exp``."""
    return _FLAGS + "|".join(f"(?:{m})" for m in alternatives)


def _compact(te: Any) -> re.Pattern[str] | None:
    """Build (once) the factored pattern from the variables of spaCy's module ``te``."""
    if "pattern" in _compiled:
        return _compiled["pattern"]
    _compiled["pattern"] = None
    classes: Any = importlib.import_module("spacy.lang.char_classes")
    alpha, lower = classes.ALPHA, classes.ALPHA_LOWER
    hyphen, elision = te.HYPHENS, te.ELISION
    hyphen_prefix = list(te._hyphen_prefix)
    elision_prefix = list(te._elision_prefix)
    combos = list(te._hyphen_combination)
    # The three generated groups, exactly as spaCy's module writes them.
    by_hyphen = f"[{hyphen}][{lower}][{hyphen}{lower}{elision}]*$"
    by_elision = f"[{elision}][{lower}][{hyphen}{lower}{elision}]*$"
    generated = (
        [f"^{p}{by_hyphen}" for p in hyphen_prefix]
        + [f"^{p}{by_elision}" for p in elision_prefix]
        + [f"^[{alpha}]+[{hyphen}]{c}[{hyphen}](?:l[{elision}])?[{alpha}]+$" for c in combos]
    )
    alternatives: list[str] = list(te._regular_exp)
    written = alternatives[: len(alternatives) - len(generated)]
    if alternatives[len(written) :] != generated:
        return None
    # The hand-written alternatives end in one of two letter runs; the rest stay as written.
    groups: dict[str, list[str]] = {}
    rest: list[str] = []
    for m in written:
        tail = next((t for t in (f"[{lower}]+$", f"[{lower}]*$") if m.endswith(t)), None)
        head = m[: -len(tail)] if tail else ""
        if tail is None or not head.startswith("^") or head.endswith("\\"):
            rest.append(m)
        else:
            groups.setdefault(tail, []).append(head[1:])
    parts = [f"^{_any(heads)}{tail}" for tail, heads in groups.items()] + rest
    parts += [
        f"^{_any(hyphen_prefix)}{by_hyphen}",
        f"^{_any(elision_prefix)}{by_elision}",
        f"^[{alpha}]+[{hyphen}]{_any(combos)}[{hyphen}](?:l[{elision}])?[{alpha}]+$",
    ]
    _compiled["pattern"] = re.compile(_FLAGS + "|".join(f"(?:{p})" for p in parts))
    return _compiled["pattern"]


def _any(pieces: list[str]) -> str:
    return "(?:" + "|".join(f"(?:{p})" for p in pieces) + ")"


def use_compact_token_match() -> None:
    """Make French pipelines created from now on use :func:`compact_token_match`.

    When ``spacy.lang.fr`` is not imported yet, it is imported here with its tokenizer
    exceptions module read by :class:`_Loader`, so spaCy's pattern is never compiled
    (compiling it left the process 26 MB larger for good: most of that is freed, but in
    blocks the allocator keeps). Otherwise spaCy's compiled pattern is replaced and let go.
    Nothing changes when the compact pattern could not be built."""
    fr: Any
    if _FR not in sys.modules:
        spec = _exceptions_spec()
        if spec is not None:
            finder = _Finder(spec)
            sys.meta_path.insert(0, finder)
            try:
                fr = importlib.import_module(_FR)
            finally:
                sys.meta_path.remove(finder)
    pattern = compact_token_match()
    if pattern is None:
        return
    fr = importlib.import_module(_FR)
    te: Any = importlib.import_module(_EXCEPTIONS)
    if fr.French.Defaults.token_match != pattern.match:
        fr.French.Defaults.token_match = pattern.match
        fr.TOKEN_MATCH = te.TOKEN_MATCH = pattern.match
        re.purge()  # re.compile's cache held spaCy's pattern too


_FR = "spacy.lang.fr"
_EXCEPTIONS = "spacy.lang.fr.tokenizer_exceptions"
# The statement of spaCy's module that compiles the pattern, verbatim; the module is read
# without it only when it is there exactly once.
_COMPILE = (
    'TOKEN_MATCH = re.compile(\n    "(?iu)" + "|".join("(?:{})".format(m) for m in _regular_exp)'
    "\n).match\n"
)


def _exceptions_spec() -> importlib.machinery.ModuleSpec | None:
    """Where spaCy's French tokenizer exceptions module is, found without importing
    ``spacy.lang.fr`` (``importlib.util.find_spec`` would import it, and so the module)."""
    lang = importlib.util.find_spec("spacy.lang")
    fr = lang and importlib.machinery.PathFinder.find_spec(_FR, lang.submodule_search_locations)
    spec = fr and importlib.machinery.PathFinder.find_spec(
        _EXCEPTIONS, fr.submodule_search_locations
    )
    if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
        return None
    return spec


class _Finder(importlib.abc.MetaPathFinder):
    """Finds spaCy's French tokenizer exceptions module for :class:`_Loader` (in
    ``sys.meta_path`` only while ``spacy.lang.fr`` is imported)."""

    def __init__(self, spec: importlib.machinery.ModuleSpec) -> None:
        self.spec = spec

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _EXCEPTIONS or self.spec.origin is None:
            return None
        return importlib.util.spec_from_file_location(
            fullname, self.spec.origin, loader=_Loader(fullname, self.spec.origin)
        )


class _Loader(importlib.machinery.SourceFileLoader):
    """spaCy's module, executed without compiling ``TOKEN_MATCH``: it is set to
    :func:`compact_token_match` (spaCy's own when the module is not as expected)."""

    def get_code(self, fullname: str) -> CodeType | None:
        source = self.get_source(fullname)
        if source is None or source.count(_COMPILE) != 1:
            return super().get_code(fullname)
        patched = source.replace(_COMPILE, "TOKEN_MATCH = None\n")
        return compile(patched, self.get_filename(fullname), "exec", dont_inherit=True)

    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        te: Any = module  # spaCy's module: its variables are not known to the type checker
        if te.TOKEN_MATCH is None:
            pattern = _compact(te)
            te.TOKEN_MATCH = (
                pattern.match
                if pattern is not None
                else re.compile(_spacy_pattern(te._regular_exp)).match
            )

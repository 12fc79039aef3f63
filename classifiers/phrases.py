"""The phrase matching of one language: a matcher of its own, and the English rules' matcher,
which every language shares.

Every message is matched against its language's rules and the English rules (English phrases
are common in any business mail). Until 2026-12-07 each language's ``PhraseMatcher`` held the
1,151 English phrases again, tokenised by its own tokenizer: 11 copies (about 16 MB in every
worker's preload) and their words in every vocabulary. Now the English phrases are in ONE
matcher, tokenised by the English tokenizer, and a language's own matcher holds its rules, its
sequence forms and only the English phrases where the shared matcher would not answer as one
matcher of both did (38-61 of the 1,151):

- a phrase that the language's tokenizer splits otherwise ("don't", "e-mail"): the shared
  matcher looks for English tokens, and its matches of such tokens are dropped (``_wrong``);
- a phrase with the same tokens as a phrase or sequence form of the language's own (the
  English "po" and the Danish "po"): a ``PhraseMatcher`` gives the keys of one token sequence
  in the order of that sequence's hash table, which must then hold the keys of both.

A token sequence is answered by the shared matcher only when the keys it holds there are the
keys one matcher of both would hold, added in the same order (so its hash table is the same),
and by the language's own matcher otherwise. The two never match one span, and their matches
merged by position are those of one matcher of both, in the same order, which decides which
rule comes first among those matching one span, and so the evidence's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy
    from spacy.language import Language
    from spacy.matcher import PhraseMatcher
    from spacy.tokens import Doc

# The LOWER hashes of a phrase's tokens: what a phrase matcher on LOWER compares.
Tokens = tuple[int, ...]
# (key, start token, end token) of a match.
Match = tuple[str, int, int]


def _tokens(nlp: Language, phrase: str) -> Tokens:
    return tuple(t.lower for t in nlp.make_doc(phrase))


# A match's (start, end): the sort key of the merged matches, in C (no Python call a match).
_span = itemgetter(1, 2)


def _matcher(nlp: Language) -> PhraseMatcher:
    from spacy.matcher import PhraseMatcher

    return PhraseMatcher(nlp.vocab, attr="LOWER")


class SharedPhrases:
    """The English rules' phrases in one matcher (English tokens), and which keys each token
    sequence holds there, in the order they were added."""

    def __init__(self, nlp: Language, entries: Sequence[tuple[str, Sequence[str]]]) -> None:
        """``entries``: (key, phrases) in the order of the rules."""
        self.matcher = _matcher(nlp)
        nodes: dict[Tokens, dict[str, None]] = {}
        for key, phrases in entries:
            docs = [nlp.make_doc(p) for p in phrases]
            self.matcher.add(key, docs)
            for doc in docs:
                if len(doc):
                    nodes.setdefault(tuple(t.lower for t in doc), {})[key] = None
        self.nodes: dict[Tokens, tuple[str, ...]] = {t: tuple(ks) for t, ks in nodes.items()}
        self.keys: dict[int, str] = {nlp.vocab.strings[k]: k for k, _ in entries}


class LanguagePhrases:
    """The phrase matching of one language: its own matcher and the shared English one."""

    def __init__(
        self,
        nlp: Language,
        entries: Sequence[tuple[str, Sequence[str], bool]],
        shared: SharedPhrases,
    ) -> None:
        """``entries``: (key, phrases, whether they are shared) in the order one matcher of
        both would be given them: the rules of the language and of English in the rules'
        order, then the sequence forms."""
        tokenised: list[tuple[str, list[Tokens], bool]] = []
        for key, phrases, english in entries:
            if english:
                # Only the token hashes are kept: the words the English phrases bring stay out
                # of this language's vocabulary (and its tokenizer's cache).
                with nlp.vocab.memory_zone():
                    tokens = [_tokens(nlp, p) for p in phrases]
            else:
                tokens = [_tokens(nlp, p) for p in phrases]
            tokenised.append((key, [t for t in tokens if t], english))
        both: dict[Tokens, dict[str, None]] = {}
        for key, sequences, _ in tokenised:
            for t in sequences:
                both.setdefault(t, {})[key] = None
        served = {t for t, keys in both.items() if shared.nodes.get(t) == tuple(keys)}
        self.own = _matcher(nlp)
        self.english_kept = 0  # shared phrases this language's own matcher holds too
        for key, sequences, english in tokenised:
            mine = [list(t) for t in sequences if not english or t not in served]
            self.english_kept += len(mine) if english else 0
            if mine:
                # Token hashes instead of Docs: what the matcher keeps of a Doc, and what
                # spaCy's own unpickling of a PhraseMatcher passes (its stub names Docs only).
                self.own.add(key, mine)  # type: ignore[arg-type]
        self._own_keys: dict[int, str] = {nlp.vocab.strings[k]: k for k, _, _ in entries}
        self.shared = shared
        # Token sequences of the shared matcher it must not answer for this language, and
        # the keys that can match them (only their matches are looked at).
        self._wrong = frozenset(t for t in shared.nodes if t not in served)
        self._suspect = frozenset(
            nlp.vocab.strings[k] for t in self._wrong for k in shared.nodes[t]
        )

    def __call__(self, doc: Doc, lower: numpy.ndarray) -> list[Match]:
        """(key, start, end) of every phrase in ``doc``, in the order one matcher of both
        gives them (by start, then end, then that matcher's order of keys). ``lower``:
        ``doc.to_array(["LOWER"])``."""
        keys = self._own_keys
        found = [(keys[m], s, e) for m, s, e in self.own(doc)]
        shared = self.shared.matcher(doc)
        if shared:
            suspect, wrong, keys = self._suspect, self._wrong, self.shared.keys
            found += [
                (keys[m], s, e) for m, s, e in shared
                if m not in suspect or tuple(lower[s:e].tolist()) not in wrong
            ]
            found.sort(key=_span)  # stable: each matcher's own order within a span
        return found

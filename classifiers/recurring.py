"""Words that recur in a language's messages, taught to its tokenizer outside any memory zone.

spaCy's tokenizer caches how it split each whitespace-separated chunk ("delivery," ->
"delivery" ","), but it saves nothing while its vocabulary is in a memory zone (the cached
entries would point at lexemes the zone frees), and nothing for the rest of a text after a
special case ("don't", "I'm", "Tel."; spaCy's issue #1250). ``RuleSet.bound_vocab`` keeps
every language in a zone after its first ``VOCAB_GROWTH`` new strings, and 45 % of the
English text stands after a contraction, so a word met there ("participation",
"Ladestrom.") went through the affix searches, and often got a new lexeme, again in every
message that had it: about 30,000 instructions a chunk (docs/classifier.md, branch
i17-clf3).

Here the tokenizer's prefix search notes each chunk it is asked about (it is asked only
about chunks the cache did not answer: the extra cost falls on misses alone). Every
``TEACH_EVERY`` messages of a language (at a zone's renewal, the zone closed first), the
chunks missed at least ``MIN_MESSAGES`` times since the last lesson (or once then and once
in the round before) are tokenized once outside any zone, special cases kept apart: their
lexemes become permanent and their splits cached. Numbers, names and addresses met once
stay in the zone and are freed with it. The strings kept this way are bounded per language
(``budget``). Tokens do not depend on the cache or on what the vocabulary holds: the
results are the same, only the work is less.
"""

from __future__ import annotations

import heapq
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language

# A chunk missed this many times (in this round and the one before) is taught.
MIN_MESSAGES = 2
# Messages of one language between two lessons.
TEACH_EVERY = 50
# Chunks that may hold a special case, tokenized together (a special case stops the caching
# of the rest of its batch only).
_BATCH = 8


class RecurringWords:
    """The chunks one language's tokenizer had to split since the last lesson."""

    def __init__(self, budget: int) -> None:
        self.budget = budget  # strings this language may still keep for good
        # Filled by the tokenizer's prefix search (``affixes.prefix_search``): each chunk
        # its cache did not answer, and what was left of it after each affix.
        self.misses: list[str] = []
        self._once: set[str] = set()  # missed once in the round before
        self._messages = 0

    def due(self) -> bool:
        """Count one message; True every ``TEACH_EVERY`` messages."""
        self._messages += 1
        return self._messages >= TEACH_EVERY

    def teach(self, nlp: Language) -> int:
        """Tokenize the chunks missed twice since the last lesson (or once then and once in
        the round before) with ``nlp`` (call outside any memory zone), most often missed
        first, within the budget. Returns the strings kept for good."""
        counts, once = Counter(self.misses), self._once
        self.misses.clear()
        self._messages = 0
        if self.budget <= 0:
            return 0
        counts.update(once)
        chunks: list[str] = []
        self._once = set()
        for chunk, n in counts.items():  # one pass, no sort: the budget rarely binds
            if n >= MIN_MESSAGES:
                chunks.append(chunk)
            elif chunk not in once:
                self._once.add(chunk)
        # Most chunks add at most two strings (a word, its lower-case form); the last lesson
        # may overshoot the budget a little.
        room = self.budget // 2
        if len(chunks) > room:
            chunks = heapq.nlargest(room, chunks, key=counts.__getitem__)
        if not chunks:
            return 0
        # The tokenizer caches nothing in a text after a special case, so the chunks that
        # may hold one (not letters only) are tokenized a few at a time, the words of
        # letters only in one text; a word that is a special case ("Im", "dont") is never
        # cached anyway.
        specials = nlp.tokenizer.rules or {}
        plain = [c for c in chunks if c.isalpha() and c not in specials]
        rest = [c for c in chunks if not c.isalpha()]
        strings = nlp.vocab.strings
        before = len(strings)
        for at in range(0, len(rest), _BATCH):
            nlp.make_doc(" ".join(rest[at : at + _BATCH]))
        nlp.make_doc(" ".join(plain))
        # What was taught was cached (its own misses are no news).
        self.misses.clear()
        kept = len(strings) - before
        self.budget -= kept
        return kept

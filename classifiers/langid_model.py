"""py3langid's model for the supported languages in less memory, with the same decisions.

Two tables make up the model: the byte transitions of its automaton (38,346 distinct rows of
256 next states, 39 MB as 32-bit ints) and the log-probability of each automaton output per
language (float16 in the model file). Both are kept smaller here without changing a single
number the identifier computes:

* Bytes that move every state to the same next state are one column: 197 distinct columns
  of the 256. The text's bytes are mapped to their column by ``bytes.translate`` (in C)
  before the walk, which then visits exactly the states it visited before; 30 MB instead
  of 39 MB.
* The probability columns of the supported languages stay float16, as the model file has
  them; the rows a text reaches are gathered and converted to float32 before the same
  float32 matrix product as before (float16 -> float32 is exact): 2 MB instead of 4 MB.

Kept apart from ``language.py`` because it imports py3langid and numpy at module level and
subclasses py3langid's identifier; ``language.py`` imports it only when the first message
needs a language.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Collection

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier

_ROW = 256  # the model's transition rows: one next state per byte value


class CompactIdentifier(LanguageIdentifier):  # type: ignore[misc]  # py3langid has no types
    """A ``LanguageIdentifier`` whose walk reads one column per class of equivalent bytes
    and whose probability table is float16 (see the module docstring)."""

    __slots__ = ("_byte_classes",)

    def _raw_score(self, text: bytes) -> np.ndarray:
        return super()._raw_score(text.translate(self._byte_classes))

    def _sparse_score(self, visits: Counter[int], table: np.ndarray) -> np.ndarray:
        # py3langid's own computation, with the float16 rows converted first, so the product
        # is the float32 one over the same values.
        idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
        counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
        return np.log1p(counts) @ table[idx].astype(np.float32) + self.nb_pc


def load_identifier(languages: Collection[str]) -> LanguageIdentifier:
    """py3langid's model restricted to ``languages`` (ISO 639-1 codes), in compact tables.

    Keeping only our columns of the probability table (instead of ``set_languages``, which
    keeps the full table too) saves about 25 MB more."""
    full = LanguageIdentifier.from_model_file(MODEL_FILE)
    keep = [i for i, code in enumerate(full.nb_classes) if code in languages]
    moves = np.frombuffer(full.tk_nextmove, dtype=np.uint32).reshape(-1, _ROW)
    columns, byte_class = np.unique(moves.T, axis=0, return_inverse=True)
    width = len(columns)
    del moves
    if width > _ROW:
        raise ValueError(f"{MODEL_FILE}: {width} distinct byte columns")
    table = array("I")  # the compact rows, with the model's own item type
    table.frombytes(memoryview(np.ascontiguousarray(columns.T, dtype=np.uint32)).cast("B"))
    del columns
    identifier = CompactIdentifier(
        np.ascontiguousarray(full.nb_ptc[:, keep]),  # float16, as in the model file
        full.nb_pc[keep].copy(),
        [full.nb_classes[i] for i in keep],
        table,
        array("i", full.tk_output),
        tk_row=full.tk_row,
    )
    identifier._byte_classes = bytes(byte_class.ravel().astype(np.uint8).tolist())
    # The walk reads a row offset and an output per byte. As lists these are pointers to
    # int objects spread over megabytes; between two messages spaCy pushes them out of the
    # CPU cache, and the walk took 5 times its isolated time. Packed arrays hold the same
    # numbers in a quarter of the memory: a quarter less time inside the classifier
    # (bench/classify_speed.py), the same results.
    identifier._rowbase = array("q", [row * width for row in full.tk_row])
    return identifier

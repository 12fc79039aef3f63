"""A text read as one byte a character, for the identifier scan's byte-mapped prefilters.

``classifiers.identifiers`` finds digit clusters and label starts in bytes mapped from the text
by a table, a byte for each character, instead of asking Unicode's tables about every
character inside ``re``. A Latin-1 text (most mail) is its own bytes, mapped by
``bytes.translate``. Any other text of the Basic Multilingual Plane (Polish "ł", Czech "ř",
"€", typographic quotes, Chinese: about a third of the generated bodies) is read as its UTF-16
code units and mapped by ``numpy.take`` over a table of all 65,536 of them, built once per
table on first need. Only a text with characters beyond that plane (emoji) has no view; its
callers scan the str as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # imported where a text beyond Latin-1 needs it: the daemon's process,
    import numpy as np  # which imports this module but classifies nothing, never loads it

_PLANE = 0x10000


@dataclass
class ByteTable:
    """The byte of each character: ``latin`` for the first 256 (a ``bytes.translate``
    table), ``wide`` decides the rest; the array of all 65,536 is built on first use."""

    latin: bytes
    wide: Callable[[str], int]
    _full: np.ndarray | None = field(default=None, repr=False)

    def full(self) -> np.ndarray:
        """The table of every UTF-16 code unit (a lone surrogate is a character of its own)."""
        if self._full is None:
            import numpy as np

            codes = list(self.latin)
            codes += (self.wide(chr(c)) for c in range(256, _PLANE))
            self._full = np.array(codes, dtype=np.uint8)
        return self._full


class LatinView(NamedTuple):
    """A text as its Latin-1 bytes (``raw``), or else as its UTF-16 code units (``units``).
    A named tuple: made for every text, and a frozen dataclass costs several times more."""

    raw: bytes
    units: np.ndarray | None = None

    def mapped(self, table: ByteTable, lo: int, hi: int) -> bytes:
        """The characters ``lo`` to ``hi`` of the text, each mapped by ``table``."""
        if self.units is None:
            return self.raw[lo:hi].translate(table.latin)
        return table.full().take(self.units[lo:hi]).tobytes()


def latin_view(text: str) -> LatinView | None:
    """The view of ``text``; None when it has characters beyond the Basic Multilingual Plane
    (each takes two UTF-16 code units: positions would shift)."""
    try:
        return LatinView(text.encode("latin-1"))
    except UnicodeEncodeError:
        pass
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) != 2 * len(text):
        return None
    import numpy as np

    return LatinView(b"", np.frombuffer(units, dtype=np.uint16))

"""The compact language model (``classifiers.langid_model``) scores every text exactly as
py3langid's own identifier over the full tables does: same walk, same float32 scores."""

from __future__ import annotations

import random
from array import array
from pathlib import Path

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from classifiers.langid_model import CompactIdentifier, load_identifier
from classifiers.language import SUPPORTED

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "langid" / "short_mail.tsv"


def _reference() -> LanguageIdentifier:
    """The identifier as classifiers.language built it before the compact tables: the
    model's 256-byte transition rows and float32 probability columns."""
    full = LanguageIdentifier.from_model_file(MODEL_FILE)
    keep = [i for i, code in enumerate(full.nb_classes) if code in SUPPORTED]
    return LanguageIdentifier(
        np.ascontiguousarray(full.nb_ptc[:, keep], dtype=np.float32),
        full.nb_pc[keep].copy(),
        [full.nb_classes[i] for i in keep],
        full.tk_nextmove,
        array("i", full.tk_output),
        tk_row=full.tk_row,
    )


def _texts() -> list[str | bytes]:
    rng = random.Random(12)
    texts: list[str | bytes] = FIXTURE.read_text(encoding="utf-8").splitlines()
    for _ in range(300):  # any byte, any code point: every column class is walked
        texts.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))))
        texts.append("".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randint(0, 80))))
    return texts


def test_compact_model_scores_every_text_as_the_full_tables() -> None:
    compact, reference = load_identifier(SUPPORTED), _reference()
    assert isinstance(compact, CompactIdentifier)
    assert compact.nb_classes == reference.nb_classes
    assert len(compact.tk_nextmove) < 0.8 * len(reference.tk_nextmove)
    for text in _texts():
        got, want = compact._decide(text), reference._decide(text)
        assert got.dtype == want.dtype == np.float32
        assert got.tobytes() == want.tobytes(), text
        assert compact.classify(text) == reference.classify(text)

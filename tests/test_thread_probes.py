"""The threading probe corpus (tests/fixtures/thread_probes, written by its make_probes.py):
mail of other companies' kinds, scored pairwise by bench/thread_eval.py like the labelled
corpora. Floors, not the exact figures: precision and the unrelated pairs must not move (one
wrong join puts a stranger's mail into a customer's case); recall may rise.

The misses the floors allow are deliberate (docs/threading.md, 2026-12-07): a colleague's
forward that copies nobody of the conversation, a procurement system's change notice for the
same PO (a fresh mail repeating words), the customer's staff answering their own cloud
helpdesk's mail from another domain, a stripped reply with a generic subject ("Re: Order") or
with words that name two of the buyer's cases ("Re: Purchase order"), and a buyer who writes
about an Ariba PO from her own address.
"""

from __future__ import annotations

from pathlib import Path

from bench.thread_eval import evaluate, load_labels

PROBES = Path(__file__).resolve().parent / "fixtures" / "thread_probes"
ALIASES = ("sales@vantor.example", "support@vantor.example")


def test_the_probe_corpus_is_labelled_as_written():
    labelled = load_labels(PROBES)
    assert len(labelled) == 84
    assert len({thread for _, thread in labelled}) == 31
    assert all(path.is_file() for path, _ in labelled)


def test_the_probe_corpus_threads_without_a_wrong_join():
    scores = evaluate(PROBES, ALIASES)
    assert scores.unrelated_pairs == [], scores.render()
    assert scores.precision == 1.0, scores.render()
    assert scores.recall >= 0.90, scores.render()
    assert scores.f1 >= 0.95, scores.render()

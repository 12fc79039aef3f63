"""prove_entries: the entries, their inclusion proofs and the checkpoint they lead to, from one
pass over a real ledger; the same checks as write_checkpoint before anything is signed."""

from __future__ import annotations

import pytest

from archive import checkpoints as cps
from archive import verify_inclusion
from archive.proofs import prove_entries
from tests.support.checkpoints import add_entries, pub, rewrite_entry


def test_proofs_lead_to_a_checkpoint_signed_in_the_same_pass(archive, key):
    add_entries(archive, 37)
    proven = prove_entries(archive, [1, 20, 37], key)
    assert cps.load_checkpoints(archive) == [proven.checkpoint]
    assert proven.tree_size == 37 and proven.root_hash == proven.checkpoint.root_hash
    ledger = {e.seq: e for e in archive.entries()}
    for seq in (1, 20, 37):
        assert proven.entries[seq] == ledger[seq]
        assert verify_inclusion(ledger[seq].entry_hash, proven.proofs[seq], proven.checkpoint,
                                pub(key))
    # Nothing grew: the same checkpoint again, none signed; and the proofs equal the
    # one-proof-per-pass function's.
    again = prove_entries(archive, [20], key)
    assert again.checkpoint == proven.checkpoint and len(cps.load_checkpoints(archive)) == 1
    assert again.proofs[20] == cps.inclusion_proof(archive, 20, proven.checkpoint)


def test_without_a_key_the_proofs_lead_to_the_unsigned_head_of_the_whole_ledger(archive):
    add_entries(archive, 10)
    proven = prove_entries(archive, [4], None)
    assert proven.checkpoint is None and proven.tree_size == 10
    assert cps.load_checkpoints(archive) == []
    assert proven.proofs[4]["root_hash"] == proven.root_hash


def test_a_rewritten_history_is_refused_before_anything_is_signed(archive, key):
    add_entries(archive, 9)
    cps.write_checkpoint(archive, key)
    add_entries(archive, 3, start=9)
    rewrite_entry(archive, 5)  # re-chained: only the earlier checkpoint can tell
    with pytest.raises(cps.CheckpointError, match="history was rewritten"):
        prove_entries(archive, [10], key)
    assert len(cps.load_checkpoints(archive)) == 1


def test_entries_not_in_the_ledger_are_refused(archive, key):
    add_entries(archive, 3)
    with pytest.raises(cps.CheckpointError, match="not all in the ledger"):
        prove_entries(archive, [2, 4], key)

"""Reading a range of ledger entries from the middle: what the gap scan's refiling relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive import Archive, Receipt


@pytest.fixture(scope="module")
def long_archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """Enough entries (about 1.3 MB of ledger) that bisecting takes many steps."""
    archive = Archive.open(tmp_path_factory.mktemp("ledger"))
    archive.ensure()
    for start in range(0, 5000, 500):
        archive.store_many([(f"message {n}".encode(), Receipt(
            transport="test", envelope={"alias": "a@example.test", "n": n, "pad": "x" * (n % 97)}))
            for n in range(start, start + 500)])
    return archive


@pytest.mark.parametrize(("after", "until"), [
    (0, 3), (0, None), (1, 1), (2, 2), (1234, 1240), (2500, 2500), (4990, None), (4999, 5000),
    (5000, None), (4000, 3999), (3333, 6000)])
def test_entries_between_two_seqs_are_exactly_those(long_archive: Archive, after: int,
                                                    until: int | None) -> None:
    expected = list(range(after + 1, min(until or 5000, 5000) + 1))
    got = [e.seq for e in long_archive.entries(after_seq=after, until_seq=until)]
    assert got == expected


def test_every_entry_is_reached_from_the_middle(long_archive: Archive) -> None:
    """Each seq, bisected to on its own, comes back whole and equal to the full read."""
    full = {e.seq: e for e in long_archive.entries()}
    for seq in range(1, 5001, 7):
        assert list(long_archive.entries(after_seq=seq - 1, until_seq=seq)) == [full[seq]]


def test_a_damaged_line_makes_the_seek_fall_back_to_reading_from_the_top(tmp_path: Path) -> None:
    archive = Archive.open(tmp_path)
    archive.ensure()
    archive.store_many([(f"m{n}".encode(), Receipt(transport="test", envelope={"pad": "y" * 300}))
                        for n in range(1000)])
    ledger = archive.ledger.path
    lines = ledger.read_bytes().splitlines(keepends=True)
    # Its seq prefix no longer reads; it sits where the first bisection step lands.
    lines[500] = b"garbage" + lines[500][7:]
    ledger.write_bytes(b"".join(lines))
    assert [e.seq for e in archive.entries(after_seq=100, until_seq=105)] == list(range(101, 106))

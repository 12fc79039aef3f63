"""archive.parallel and the verify walk that uses it: the same results from forked helpers as
from this process alone, even when a helper dies; and the same first problem."""

from __future__ import annotations

import os
import select
import threading

import pytest

from archive import Archive, Receipt, merkle, parallel
from archive import checkpoints as cps
from archive.verify import verify_archive


@pytest.fixture
def needs_fork() -> None:
    """Checked when the test runs: a fork copies only the calling thread, so run_tasks never
    forks while another thread runs (a test that leaves one running would show here)."""
    if not parallel.can_fork():
        pytest.skip(f"fork is refused with {threading.active_count()} threads running")


def test_tasks_run_in_helpers_and_come_back_in_order(needs_fork):
    # Task 0 waits for task 1 to have started: whichever process took task 0, the other one
    # must run task 1, so both this process and a helper do work.
    started_r, started_w = os.pipe()

    def task(n: int) -> tuple[int, int]:
        if n == 0:
            ready, _, _ = select.select([started_r], [], [], 30)
            assert ready, "task 1 never started in another process"
        elif n == 1:
            os.write(started_w, b"1")
        return n * n, os.getpid()

    try:
        results = parallel.run_tasks(64, task, helpers=1)
    finally:
        os.close(started_r)
        os.close(started_w)
    assert [square for square, _ in results] == [n * n for n in range(64)]
    assert len({pid for _, pid in results[:2]}) == 2


def test_the_tasks_of_a_helper_that_dies_are_run_here(needs_fork):
    parent = os.getpid()

    def task(n: int) -> int:
        if os.getpid() != parent and n % 7 == 3:
            os._exit(1)  # the helper dies with the tasks it took
        return n + 1

    assert parallel.run_tasks(40, task, helpers=1) == list(range(1, 41))


def test_without_helpers_everything_runs_here_and_meanwhile_runs_once():
    calls = []
    results = parallel.run_tasks(5, lambda n: os.getpid(), helpers=0,
                                 meanwhile=lambda: calls.append(1))
    assert results == [os.getpid()] * 5 and calls == [1]


@pytest.fixture
def big_archive(tmp_path):
    """More entries than verify needs before it forks helpers."""
    archive = Archive.open(tmp_path / "archive")
    archive.store_many([(f"Subject: {n}\r\n\r\nbody {n}\r\n".encode(), Receipt("smtp", {}))
                        for n in range(1200)])
    return archive


@pytest.mark.parametrize("helpers", [0, 1])
def test_verify_finds_the_same_first_problem_with_and_without_helpers(
        big_archive, key, monkeypatch, helpers):
    monkeypatch.setattr(parallel, "idle_helpers", lambda: helpers)
    # Checkpoints at sizes that cut through chunks, checked from the walk's own subtrees.
    for size in (700, 1200):
        cps.append_checkpoint(big_archive, cps.sign_checkpoint(
            cps.load_private_key(key, big_archive.ledger.root.parent), size,
            merkle.root_hash([bytes.fromhex(e.entry_hash) for e in big_archive.entries()
                              if e.seq <= size])))
    check = cps.CheckpointCheck(big_archive, cps.public_key_path(key))
    assert verify_archive(big_archive.ledger, big_archive.blobs, tree=check.tree).ok
    assert check.finish() is None and len(check.checkpoints) == 2
    for seq in (1000, 450):  # the earlier one is reported
        entry = next(e for e in big_archive.entries() if e.seq == seq)
        blob = big_archive.blobs.path_of(entry.sha256)
        blob.chmod(0o644)
        blob.write_bytes(blob.read_bytes() + b"!")
    report = verify_archive(big_archive.ledger, big_archive.blobs)
    assert (report.first_problem.seq, report.first_problem.problem) == (450, "altered-blob")

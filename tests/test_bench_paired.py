"""The shared parts of the paired benchmarks (bench/paired.py) and the profile's attribution of
time to stages (bench/profile_stages.py): pure functions, checked without running a benchmark;
and the summed PSS of a process tree."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from bench.paired import percentile, ratios, round_order, spread, tree_pss_mb
from bench.profile_stages import Attribution, Func, own_stage

PARSE: Func = ("/x/gateway/processing/parsing.py", 10, "parse_message")
CLASSIFY: Func = ("/x/classifiers/classify.py", 20, "classify")
SQL: Func = ("/venv/site-packages/sqlalchemy/engine/base.py", 5, "execute")
HELPER: Func = ("/venv/site-packages/lib/helper.py", 7, "helper")
ROOT: Func = ("/venv/site-packages/lib/top.py", 1, "top")


def test_rounds_alternate_two_sides() -> None:
    assert [round_order(n, ["a", "b"]) for n in range(3)] == [["a", "b"], ["b", "a"], ["a", "b"]]


@pytest.mark.parametrize("count", [3, 4, 5])
def test_each_side_goes_first_and_follows_each_other_side_equally_often(count: int) -> None:
    sides = [chr(ord("a") + i) for i in range(count)]
    period = count if count % 2 == 0 else 2 * count
    orders = [round_order(n, sides) for n in range(period)]
    assert all(sorted(order) == sides for order in orders)
    firsts = Counter(order[0] for order in orders)
    follows = Counter(pair for order in orders for pair in pairwise(order))
    assert set(firsts) == set(sides) and len(set(firsts.values())) == 1
    # every ordered pair of different sides, each as often: the side after the sink is not
    # always the same one (as with plain rotation of three sides)
    assert len(follows) == count * (count - 1) and len(set(follows.values())) == 1


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0


def test_summary_is_median_and_range_of_per_round_ratios() -> None:
    assert ratios([2.0, 3.0], [4.0, 3.0]) == [0.5, 1.0]
    assert spread([1.0, 5.0, 2.0], "{:.1f}") == "2.0 (1.0-5.0)"
    assert spread([7.0]) == "7"


def test_a_package_stage_needs_the_package_not_a_name_ending_like_it() -> None:
    assert own_stage(("/repo/archive/store.py", 1, "store_many")) == "archive"
    assert own_stage(("/repo/bench/myarchive/x.py", 1, "f")) is None


def _edge(seconds: float, calls: int = 1) -> tuple[int, int, float, float]:
    return (calls, calls, seconds, seconds)


def test_library_time_goes_to_the_stages_that_called_it_by_their_share() -> None:
    # The database was called for 3 s from parsing's path and 1 s from classifying's.
    raw = {
        ROOT: (1, 1, 0.0, 10.0, {}),
        PARSE: (1, 1, 1.0, 4.0, {ROOT: _edge(4.0)}),
        CLASSIFY: (1, 1, 1.0, 2.0, {ROOT: _edge(2.0)}),
        SQL: (2, 2, 4.0, 4.0, {PARSE: _edge(3.0), CLASSIFY: _edge(1.0)}),
    }
    seconds = Attribution(raw).by_stage()
    assert seconds["parse"] == 1.0 + 3.0
    assert seconds["classify"] == 1.0 + 1.0
    assert seconds["other"] == 0.0  # ROOT has no own time


def test_recursion_does_not_lose_time() -> None:
    # helper calls itself; all of it was reached from classify.
    raw = {
        CLASSIFY: (1, 1, 0.0, 5.0, {}),
        HELPER: (3, 1, 5.0, 5.0, {CLASSIFY: _edge(5.0), HELPER: _edge(2.0, 2)}),
    }
    assert Attribution(raw).by_stage()["classify"] == 5.0



def test_pss_of_a_process_tree_counts_each_process_once() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        sizes = tree_pss_mb(os.getpid())
    finally:
        child.communicate(b"")
    assert len(sizes) >= 2  # this process and the child (and any others it started)
    assert all(size > 0 for size in sizes)
    own = [line for line in Path("/proc/self/status").read_text().splitlines()
           if line.startswith("VmRSS:")]
    assert sizes[0] <= int(own[0].split()[1]) / 1024 + 1  # a process's PSS is at most its RSS

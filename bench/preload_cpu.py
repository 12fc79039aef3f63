"""The CPU of the workers' fork server's start (issue 17): ``import
gateway.daemon.worker_preload`` in a fresh interpreter, which is what the fork server runs
before it forks the first worker of a daemon or of a ``commgate ingest``, from this checkout
and a baseline in alternating order, each round; CPU (user + sys, ``RUSAGE_CHILDREN``) and
wall per run, median (range) and the per-round ratio this / baseline.

Two modes: ``daemon`` (no sample: the server builds every language) and ``import`` (a sample
folder, as ``commgate ingest`` gives its pool: ``--sample DIR`` of ``.eml`` files). Caches
(``$COMMGATE_CACHE_DIR``) are whatever the environment has, or the baseline's own with
``--base-cache DIR``: run once beforehand for warm ones; ``--cold`` gives every run a new
empty cache folder instead (the first start after an install or an upgrade)::

    python bench/preload_cpu.py --baseline ../base --rounds 5 --sample DIR
    python bench/preload_cpu.py --baseline ../base --base-cache /tmp/base-cache --rounds 5
    python bench/preload_cpu.py --baseline ../base --cold --rounds 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench import paired

WARM_ENV = "COMMGATE_WORKER_WARM_FOLDER"  # gateway.daemon.workers.WARM_ENV
CACHE_ENV = "COMMGATE_CACHE_DIR"  # classifiers.lemma_cache.CACHE_ENV


def one_preload(checkout: Path, sample: Path | None,
                cache: Path | None = None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one preload in a fresh interpreter (with ``cache`` as
    its cache folder, if given)."""
    env = {k: v for k, v in os.environ.items() if k != WARM_ENV}
    env["PYTHONPATH"] = str(checkout)
    if cache is not None:
        env[CACHE_ENV] = str(cache)
    if sample is not None:
        env[WARM_ENV] = str(sample)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gateway.daemon.worker_preload"],
                   cwd=checkout, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sample", type=Path, help="a folder of .eml files: adds 'import'")
    parser.add_argument("--base-cache", type=Path,
                        help="the baseline's cache folder (default: $COMMGATE_CACHE_DIR)")
    parser.add_argument("--cold", action="store_true",
                        help="a new empty cache folder for every run")
    args = parser.parse_args()
    caches: dict[str, Path | None] = {"this": None, "base": args.base_cache}
    sides = {"this": Path(__file__).resolve().parents[1], "base": args.baseline.resolve()}
    modes: dict[str, Path | None] = {"daemon": None}
    if args.sample:
        modes["import"] = args.sample.resolve()
    cpu: dict[tuple[str, str], list[float]] = {}
    wall: dict[tuple[str, str], list[float]] = {}
    print(f"preload_cpu: {'cold caches' if args.cold else 'caches as they are'}; "
          f"{paired.machine_note()}")
    for number in range(args.rounds):
        for side in paired.round_order(number, list(sides)):
            for mode, sample in modes.items():
                if args.cold:
                    with tempfile.TemporaryDirectory(prefix="preload-cold-") as folder:
                        c, w = one_preload(sides[side], sample, Path(folder))
                else:
                    c, w = one_preload(sides[side], sample, caches[side])
                cpu.setdefault((side, mode), []).append(c)
                wall.setdefault((side, mode), []).append(w)
                print(f"round {number + 1} {side:5s} {mode:7s} CPU {c:5.2f} s  wall {w:5.2f} s",
                      flush=True)
    print(f"\n{args.rounds} rounds, median (range)")
    for mode in modes:
        for side in sides:
            print(f"  {mode:7s} {side:5s} CPU {paired.spread(cpu[side, mode], '{:.2f}')} s"
                  f"   wall {paired.spread(wall[side, mode], '{:.2f}')} s")
        ratio = paired.ratios(cpu["this", mode], cpu["base", mode])
        print(f"  {mode:7s} this / base, CPU per round: {paired.spread(ratio, '{:.3f}')}"
              f" (mean {statistics.fmean(ratio):.3f})")
    print(f"machine: {paired.machine_note()}")


if __name__ == "__main__":
    main()

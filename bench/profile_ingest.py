"""Where the time of one bulk ``commgate ingest`` goes, by stage (issue 17).

Writes ``--messages`` distinct generated messages (``bench/speed_corpus.py``) as ``.eml``
files, makes a fresh home and runs ``commgate ingest`` on them in a fresh process under
cProfile: ``bench/_profile_site/sitecustomize.py`` profiles every Python process of the run
(the command and any worker process it starts), and the profiles are merged.

cProfile keeps no call stacks, only caller -> callee edges with their times. Each function's
own time (tottime) is given to the stage of its nearest caller that starts a stage (below),
walking up the edges and splitting by the time each caller spent in it: a SQLAlchemy call
made while threading counts as thread, one made by the batch writer as write. The stages:

* start-up: imports (``<module>``), the CLI, configuration, ``load_rules`` (rules and their
  examples);
* languages: what the first message of each language builds and later ones reuse (the spaCy
  pipeline, the rules' matchers, the lemma tables): once per process;
* archive: reading the input files, blobs, ledger, the queue rows (``archive/``,
  ``gateway/intake/``, ``gateway/processing/ingest.py``);
* parse: ``parse_message``;  classify: ``classify`` and ``gateway/processing/classification``;
* thread: ``thread_batch`` and ``gateway/processing/threader``;
* write: the rest of the worker pipeline (dedupe, the batch writer, the transaction);
* hooks: ``run_hooks`` (the workflows that see each filed message).

cProfile slows pure-Python code more than C and I/O: the shares are of profiled time, and the
run is slower than an unprofiled one (both are printed). By default the clock is wall time, so
waiting counts (the import's main process mostly waits for its workers); ``--cpu`` profiles
each process's CPU time instead (``time.thread_time``), the measure of the issue's target.

Run::

    PYTHONPATH=$PWD python bench/profile_ingest.py --messages 1000 [--postgres] [--top 25] [--cpu]
"""

from __future__ import annotations

import argparse
import glob
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench import paired
from bench.profile_stages import STAGES, Attribution, Func

SITE = Path(__file__).resolve().parent / "_profile_site"
def short(func: Func) -> str:
    filename, line, name = func
    path = filename.replace(os.sep, "/")
    for marker in ("site-packages/", str(paired.PROJECT_ROOT) + "/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path}:{line})" if filename != "~" else name


def report(stats: pstats.Stats, count: int, wall: float, top: int) -> None:
    raw = stats.stats  # type: ignore[attr-defined]  # not in typeshed's pstats
    attribution = Attribution(raw)
    seconds = attribution.by_stage()
    total = sum(seconds.values())
    per_message = total - seconds["start-up"] - seconds["languages"]
    print(f"\nprofiled run: {wall:.1f} s wall, {total:.1f} s profiled in "
          f"{len(raw)} functions; without start-up and languages "
          f"{per_message / count * 1000:.2f} ms per message (profiled)")
    print(f"\n{'stage':<10} {'seconds':>8} {'share':>7} {'ms/msg':>7}   (share of all profiled "
          "time; ms/msg over the messages)")
    for stage in STAGES:
        print(f"{stage:<10} {seconds[stage]:8.2f} {seconds[stage] / total:7.1%} "
              f"{seconds[stage] / count * 1000:7.2f}")
    ordered = sorted(raw.items(), key=lambda kv: -kv[1][3])
    print(f"\ntop {top} functions by cumulative time (inclusive; nested calls overlap):")
    print(f"{'cum s':>7} {'share':>6} {'ms/msg':>7} {'calls':>8}  function")
    for func, (_cc, nc, _tt, ct, _callers) in ordered[:top]:
        print(f"{ct:7.2f} {ct / total:6.1%} {ct / count * 1000:7.2f} {nc:8d}  {short(func)}")
    print(f"\ntop {top} functions by own time, with the stage it was given to:")
    print(f"{'own s':>7} {'share':>6} {'ms/msg':>7} {'calls':>8}  function  [stage shares]")
    for func, (_cc, nc, tt, _ct, _callers) in sorted(raw.items(), key=lambda kv: -kv[1][2])[
            :top]:
        split = ", ".join(f"{s} {v:.0%}" for s, v in sorted(
            attribution.shares(func).items(), key=lambda kv: -kv[1]) if v >= 0.05)
        print(f"{tt:7.2f} {tt / total:6.1%} {tt / count * 1000:7.2f} {nc:8d}  {short(func)}  "
              f"[{split}]")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    paired.add_common_arguments(parser, messages=1000, rounds=1)
    parser.add_argument("--top", type=int, default=25, help="functions listed (25)")
    parser.add_argument("--save", type=Path, help="also write the merged profile (pstats)")
    parser.add_argument("--cpu", action="store_true",
                        help="profile CPU time (time.thread_time), not wall time")
    args = parser.parse_args(argv)
    paired.check_counts(args)
    backend = paired.backends(args)[-1]
    corpus = paired.Corpus(args.corpora)
    raws = corpus.messages(args.messages, args.seed)
    sizes = [len(r) for r in raws]
    print(f"profile_ingest: {args.messages} distinct messages (median "
          f"{statistics.median(sizes) / 1024:.1f} KB), commgate ingest on {backend}, "
          f"{paired.machine_note()}", flush=True)
    with paired.workspace(args, "commgate-profile-ingest-") as root:
        inbox = root / "inbox"
        paired.write_eml_folder(inbox, raws)
        home = paired.Home.create(root / "home", backend,
                                  worker_processes=args.worker_processes)
        profiles = root / "profiles"
        profiles.mkdir()
        env = paired.child_env(COMMGATE_PROFILE_DIR=str(profiles),
                               COMMGATE_PROFILE_CLOCK="cpu" if args.cpu else "wall")
        env["PYTHONPATH"] = f"{SITE}{os.pathsep}{env['PYTHONPATH']}"
        try:
            os.sync()
            began = time.perf_counter()
            done = subprocess.run(paired.commgate(home.path, "ingest", str(inbox)), env=env,
                                  cwd=paired.PROJECT_ROOT, capture_output=True, text=True,
                                  check=False)
            wall = time.perf_counter() - began
        finally:
            home.close()
        if done.returncode != 0:
            raise SystemExit(f"commgate ingest failed:\n{done.stderr[-3000:]}")
        print(done.stdout.strip())
        files = sorted(glob.glob(str(profiles / "*.prof")))
        if not files:
            raise SystemExit("no profile was written")
        stats = pstats.Stats(*files)
        print(f"{len(files)} process(es) profiled")
        if args.save:
            stats.dump_stats(str(args.save))
        report(stats, args.messages, wall, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())

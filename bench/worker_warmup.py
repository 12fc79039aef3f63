"""What a worker process pays before its first message in each language is classified.

A daemon's worker, or ``commgate ingest``'s, is a fresh process: it loads the gateway and the
rules, and builds each language (tokenizer, matchers, sequence index, concept forms) on its
first message in that language. This measures that price per language, in CPU seconds of the
worker (``getrusage``: a busy machine disturbs it far less than wall time), for the ways a
worker can start:

* ``spawn``       a fresh interpreter, no lemma form cache (``COMMGATE_CACHE_DIR=off``): how
                  workers started before issue 17's warm-up work;
* ``spawn+cache`` a fresh interpreter, concept forms from :mod:`classifiers.lemma_cache`;
* ``forkserver``  forked from the pool's fork server (gateway/daemon/worker_preload.py) with
                  the cache: what ``WorkerPool`` does now. The fork server's own start (once
                  per daemon or ``commgate ingest``) is printed apart.

One worker per mode and round starts (its CPU to the point where it could classify: ``start``)
and then classifies one generated message (``bench/speed_corpus.py``, parse -> to_input ->
classify) of each language in turn; each language's cell is the CPU that first message took.
The modes alternate their order from round to round; the report gives the median and range
over the rounds.

Run::

    PYTHONPATH=$PWD python bench/worker_warmup.py --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

with contextlib.suppress(ModuleNotFoundError):  # a spawned child running this file again
    import _project_path  # noqa: F401  (must come before gateway; its sys.path is set already)

MODES = ("spawn", "spawn+cache", "forkserver")
PRELOAD = "gateway.daemon.worker_preload"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def first_messages(raws: dict[str, bytes], environ: dict[str, str],
                   out: Any) -> None:
    """In the worker: what worker_main loads, then the first message of each language;
    reports [("start", "", cpu), (lang, detected language, cpu of its first message), ...]."""
    os.environ.clear()
    os.environ.update(environ)
    from classifiers.classify import classify
    from gateway.bootstrap import App  # noqa: F401  (what worker_main imports)
    from gateway.processing.classification import rules_for, to_input
    from gateway.processing.parsing import parse_message

    rules = rules_for(None)
    report = [("start", "", _cpu())]
    for lang, raw in raws.items():
        before = _cpu()
        result = classify(to_input(parse_message(raw)), rules)
        report.append((lang, result.language, _cpu() - before))
    out.put(report)


def _server_start(cache: str) -> float:
    """CPU seconds of importing the preload module in a fresh interpreter (the fork
    server's start), measured in a child of its own."""
    code = ("import resource, time\nimport gateway.daemon.worker_preload\n"
            "u = resource.getrusage(resource.RUSAGE_SELF)\nprint(u.ru_utime + u.ru_stime)")
    import subprocess

    env = dict(os.environ, COMMGATE_CACHE_DIR=cache)
    return float(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                capture_output=True, text=True).stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--corpora", type=Path,
                        default=Path(os.environ.get("COMMGATE_CORPORA", "/work/shared/corpora")))
    args = parser.parse_args(argv)
    from bench import speed_corpus

    generator = speed_corpus.Generator(speed_corpus.load_sources(args.corpora), args.seed)
    messages = {lang: generator.message(lang)[0] for lang in speed_corpus.LANGUAGES}
    cache = tempfile.mkdtemp(prefix="commgate-warmup-cache-")
    envs = {"spawn": dict(os.environ, COMMGATE_CACHE_DIR="off"),
            "spawn+cache": dict(os.environ, COMMGATE_CACHE_DIR=cache),
            "forkserver": dict(os.environ, COMMGATE_CACHE_DIR=cache)}
    os.environ["COMMGATE_CACHE_DIR"] = cache  # the fork server's environment
    server = multiprocessing.get_context("forkserver")
    server.set_forkserver_preload([PRELOAD])
    contexts: dict[str, Any] = {"spawn": multiprocessing.get_context("spawn"),
                "spawn+cache": multiprocessing.get_context("spawn"), "forkserver": server}
    def run(mode: str) -> list[tuple[str, str, float]]:
        ctx = contexts[mode]
        queue = ctx.Queue()
        p = ctx.Process(target=first_messages, args=(messages, envs[mode], queue))
        p.start()
        report: list[tuple[str, str, float]] = queue.get()
        p.join()
        return report

    run("spawn+cache")  # the cache's first fill (once per machine and table version): not counted
    starts = [_server_start(cache) for _ in range(args.rounds)]
    cpu: dict[tuple[str, str], list[float]] = {}
    detected: dict[str, str] = {}
    for number in range(args.rounds):
        for mode in MODES[number % 3:] + MODES[:number % 3]:
            for lang, found, seconds in run(mode):
                detected[lang] = found
                cpu.setdefault((mode, lang), []).append(seconds)
        print(f"round {number + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    print(f"worker CPU seconds to the first classified message, median (range) over "
          f"{args.rounds} rounds; fork server start {statistics.median(starts):.2f} s "
          f"({min(starts):.2f}-{max(starts):.2f}) once per pool")
    print(f"{'lang':<6}" + "".join(f"{m:>22}" for m in MODES) + "   ratio forkserver/spawn")
    totals = {m: 0.0 for m in MODES}
    for lang in ("start", *messages):
        cells = []
        for mode in MODES:
            values = cpu[(mode, lang)]
            totals[mode] += statistics.median(values)
            cells.append(f"{statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})")
        ratio = statistics.median(cpu[("forkserver", lang)]) / statistics.median(
            cpu[("spawn", lang)])
        shown = lang if detected[lang] in ("", lang) else f"{lang}>{detected[lang]}"
        print(f"{shown:<6}" + "".join(f"{c:>22}" for c in cells) + f"   {ratio:.3f}")
    print(f"{'sum':<6}" + "".join(f"{totals[m]:>22.2f}" for m in MODES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU time of filing alone: everything a worker does after classification (issue 17).

Archives ``--messages`` distinct generated messages into a fresh home, parses and classifies
every batch as a worker does (not measured), then measures what follows in the same process:
claim, dedupe, threading, the batch writer, the hooks, the row images and the ledger entry of
the commit. ``bench/profile_ingest.py`` sees the whole import under cProfile, whose cost per
call hides the filing stages among start-up and classification; this isolates them, so a change
to filing is measured in a minute. Prints the CPU ms per message (``time.thread_time``, the
worker's own thread) and with ``--profile`` the top functions of a cProfile of the same part.

Run::

    PYTHONPATH=$PWD python bench/profile_filing.py --messages 1000 [--postgres] [--profile]
    PYTHONPATH=$PWD python bench/profile_filing.py --messages 1000 --seed 2 --root /work/main
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench import paired


def run(home: paired.Home, raws: Sequence[bytes], profile: cProfile.Profile | None
        ) -> tuple[float, int]:
    """File ``raws`` in ``home``; the CPU seconds spent outside parse and classify, and the
    number of outcomes."""
    from archive import Receipt
    from gateway.bootstrap import App
    from gateway.core.domains import organisational_domain
    from gateway.intake.handoff import Delivery, accept
    from gateway.processing.pipeline import Processor

    app = App.open(home.path)
    try:
        accept(app, [Delivery(raw, Receipt(transport="file", envelope={"alias": paired.ALIASES[0]}))
                     for raw in raws])
        excluded = 0.0
        prepare = Processor._prepare_all

        def timed_prepare(self: Processor, receipts: Sequence[object]) -> object:
            nonlocal excluded
            if profile is not None:
                profile.disable()
            start = time.thread_time()
            try:
                return prepare(self, receipts)  # type: ignore[arg-type]
            finally:
                excluded += time.thread_time() - start
                if profile is not None:
                    profile.enable()

        Processor._prepare_all = timed_prepare  # type: ignore[method-assign,assignment]
        _ = app.processor.rules
        # Parsed once per process before any worker files (gateway/daemon/worker_preload.py):
        # left to the first batch that threads by domain, it cost 0.5 s inside the measure.
        organisational_domain("mail.example.co.uk")
        # The first batch builds languages and warms caches: filed apart, not measured.
        app.processor.process_batch(app.settings.config.worker.batch_size)
        # What start-up made is frozen out of the collector's sight, as in every worker
        # (gateway/daemon/worker_preload.py): in view, the full collections walked the
        # classifier's millions of objects, ~0.1 ms per message filed.
        gc.collect()
        gc.freeze()
        excluded, count = 0.0, 0
        start = time.thread_time()
        if profile is not None:
            profile.enable()
        while outcomes := app.processor.process_batch(app.settings.config.worker.batch_size):
            count += len(outcomes)
        if profile is not None:
            profile.disable()
        total = time.thread_time() - start
        Processor._prepare_all = prepare  # type: ignore[method-assign]
        return total - excluded, count
    finally:
        app.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", action="store_true", help="file into PostgreSQL")
    parser.add_argument("--profile", action="store_true", help="also cProfile the filing")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--save", help="write the profile (pstats) here")
    parser.add_argument("--root", type=Path, default=paired.PROJECT_ROOT,
                        help="the checkout whose commgate files (default: this one): run it "
                        "alternately with another checkout for a paired comparison")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.root.resolve()))  # before anything imports gateway
    raws = paired.Corpus(None).messages(args.messages, args.seed)
    with tempfile.TemporaryDirectory(prefix="profile-filing-") as tmp:
        home = paired.Home.create(Path(tmp) / "home",
                                  "postgresql" if args.postgres else "sqlite", root=args.root)
        try:
            profile = cProfile.Profile(time.thread_time) if args.profile else None
            seconds, count = run(home, raws, profile)
        finally:
            home.close()
    import gateway

    print(f"{Path(gateway.__file__).parents[1]}: {count} outcomes after the first batch, "
          f"{seconds * 1000:.0f} ms CPU, "
          f"{seconds * 1000 / max(count, 1):.3f} ms per message "
          f"({'postgresql' if args.postgres else 'sqlite'}{', profiled' if profile else ''})")
    if profile is not None:
        stats = pstats.Stats(profile, stream=sys.stdout)
        if args.save:
            stats.dump_stats(args.save)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())

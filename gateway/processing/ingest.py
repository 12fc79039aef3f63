"""``commgate ingest``: bulk import of files, folders, Maildirs and mbox files.

Archiving runs here; filing runs in worker processes once the import is large enough to repay
their start (each loads the classifier, a few seconds: :data:`WORKERS_AFTER`), so a bulk
import uses every core while a handful of files is filed in this process as before. Until the
import is known to be that large, what is archived waits in the queue: the workers file all of
a large import, so this process never builds the classifier's languages they build again. The
summary is the same either way: the workers send back the outcome of every receipt.

Progress (:class:`IngestProgress`) is told the number of messages first, then how many are
done as they finish: a duplicate or an unreadable file at once, a message once it is filed or
quarantined, by this process or by a worker (whose outcomes arrive on the pool's threads).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from archive import Receipt
from gateway.core.errors import ConfigError
from gateway.intake.aliases import alias_from_headers
from gateway.intake.handoff import Delivery, accept
from gateway.intake.sources import SourceProblem, count_messages, iter_messages
from gateway.processing.context import WorkerContext
from gateway.processing.pipeline import Outcome

BATCH_MESSAGES = 100
BATCH_BYTES = 64 * 1024 * 1024
# Messages archived before worker processes are started to file: below it the processes' start
# (a few seconds each, the classifier loaded) costs more than filing here on one core.
WORKERS_AFTER = 300
# The receipts an import's worker claims at a time, at the least (a larger [worker] batch_size
# is kept). Filing a batch costs about 100 ms of CPU besides its messages' own (claim, the
# hooks' queries, the batch writer's statements, the commit with its row images and ledger
# entry: bench/profile_filing.py's CPU per message, 2.1 ms with 100, 1.45 ms with 250), which
# an import pays per batch; the daemon's 100 keeps a message's wait to be filed short.
WORKER_BATCH = 250
# Messages of the import the workers' fork server classifies once before it forks them, so the
# languages the import is in are built once, not by every worker (WorkerPool.start).
WARM_SAMPLE = 64


class Workers(Protocol):
    """Worker processes filing what is queued (gateway.daemon.workers.WorkerPool)."""

    def start(self, warm_with: Sequence[bytes] = ()) -> None: ...

    def wake(self) -> None: ...

    def finish(self, timeout: float | None = None) -> bool: ...


class IngestProgress(Protocol):
    """Where an import reports how far it is (the command line's bar or log lines)."""

    def start(self, total: int) -> None:
        """Called once, before the first message is read, with how many there are."""

    def advance(self, count: int) -> None:
        """``count`` more messages are done; called from any thread."""


# Makes the worker processes of an import, given where to send each batch's outcomes and each
# error (message, whether it is a configuration fault).
WorkersFactory = Callable[[Callable[[list[Outcome]], None], Callable[[str, bool], None]],
                          Workers]


@dataclass
class IngestSummary:
    seen: int = 0
    archived: int = 0
    duplicates: int = 0
    filed: int = 0
    new_cases: int = 0
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)
    # Why filing stopped (a configuration fault such as broken classifier rules): what was
    # archived and not filed waits in the queue.
    not_filed: str = ""

    def add_outcomes(self, outcomes: list[Outcome], origins: dict[int, str]) -> None:
        for outcome in outcomes:
            if outcome.status == "filed":
                self.filed += 1
                self.new_cases += outcome.new_case
            elif outcome.status == "duplicate":
                self.duplicates += 1
            elif outcome.status == "quarantined":
                self.quarantined.append({"seq": outcome.seq, "origin": origins.get(outcome.seq, ""),
                                         "reason": outcome.reason})

    def to_dict(self) -> dict[str, Any]:
        return {"seen": self.seen, "archived": self.archived, "duplicates": self.duplicates,
                "filed": self.filed, "new_cases": self.new_cases,
                "quarantined": self.quarantined, "unreadable": self.unreadable,
                "not_filed": self.not_filed}

    def render(self) -> str:
        lines = [
            f"messages seen:   {self.seen}",
            f"archived:        {self.archived}",
            f"duplicates:      {self.duplicates} (already archived, nothing new)",
            f"filed in cases:  {self.filed} ({self.new_cases} new cases)",
            f"quarantined:     {len(self.quarantined)}",
        ]
        reasons = Counter(q["reason"] for q in self.quarantined)
        lines += [f"  {count:>5} x {reason}" for reason, count in reasons.most_common()]
        if self.unreadable:
            lines.append(f"unreadable:      {len(self.unreadable)}")
            lines += [f"  {u['origin']}: {u['reason']}" for u in self.unreadable[:20]]
        return "\n".join(lines)


def ingest(
    app: WorkerContext,
    paths: list[Path],
    alias: str | None = None,
    progress: IngestProgress | None = None,
    workers: WorkersFactory | None = None,
    workers_after: int = WORKERS_AFTER,
) -> IngestSummary:
    """Archive every message found, then process it; malformed mail is filed or quarantined.
    A configuration fault stops the filing, not the archiving (``not_filed`` says why).
    ``workers``: worker processes take over the filing once ``workers_after`` messages are
    archived (None: all is filed in this process)."""
    done: Callable[[int], object] = progress.advance if progress else lambda _: None
    total = count_messages(paths) if progress or workers is not None else 0
    if progress:
        progress.start(total)
    # Known to be the workers' from its count: they start after the first batch is archived
    # (their fork server's seconds of start-up then pass while this process archives the
    # rest), not after ``workers_after`` messages. ``commgate ingest`` starts their fork
    # server before it even opens the installation (:func:`sample_ahead`); the pool then
    # finds it running.
    large = workers is not None and total >= workers_after
    summary = IngestSummary()
    origins: dict[int, str] = {}
    received: list[Outcome] = []
    faults: list[str] = []
    lock = threading.Lock()
    pool: Workers | None = None

    def collect(outcomes: list[Outcome]) -> None:
        with lock:
            received.extend(outcomes)
        done(len(outcomes))

    def failed(message: str, config_error: bool) -> None:
        if config_error:
            with lock:
                faults.append(message)

    aliases = app.settings.alias_addresses
    default_alias = alias or app.settings.default_alias
    batch_size = app.settings.config.worker.batch_size
    batch: list[Delivery] = []
    batch_bytes = 0

    filed_here = 0
    held = 0  # archived, not yet filed: waiting to see whether the workers take the import
    held_raw: list[bytes] = []  # their bytes, a sample of which warms the workers

    def file_here() -> None:
        """File what is pending in this process, one committed batch at a time, each
        counted as done when it commits."""
        nonlocal filed_here
        while outcomes := app.processor.process_batch(batch_size):
            summary.add_outcomes(outcomes, origins)
            done(len(outcomes))
            filed_here += len(outcomes)

    def settle(count: int) -> None:
        """File here what is pending; of ``count`` archived, what stayed queued (filing
        stopped) is done as far as this import goes."""
        before = filed_here
        if not summary.not_filed:
            try:
                file_here()
            except ConfigError as exc:
                # The operator's, found only now (``commgate ingest`` checks at start): the
                # mail is archived and queued; take the rest in too, file it after the fix.
                summary.not_filed = str(exc)
        done(max(0, count - (filed_here - before)))

    def flush() -> None:
        nonlocal batch, batch_bytes, pool, held
        if not batch:
            return
        accepted = accept(app, batch)
        if workers is not None and pool is None:
            held_raw.extend(delivery.raw for delivery in batch)
        batch, batch_bytes = [], 0
        summary.archived += len(accepted.entries)
        summary.duplicates += accepted.duplicates
        origins.update((entry.seq, _origin(entry.envelope)) for entry in accepted.entries)
        if pool is None and workers is not None and summary.archived and (
                large or summary.archived >= workers_after):
            pool = workers(collect, failed)
            pool.start(held_raw[::max(1, -(-len(held_raw) // WARM_SAMPLE))])
            held_raw.clear()
        done(accepted.duplicates)
        if pool is not None:
            pool.wake()  # the rest, held mail included, is done when the workers file it
            return
        if workers is not None:
            # Filed here only if the import ends before it is worth the workers: a large
            # import's first batches are theirs too, so this process never builds the
            # classifier's languages the workers build again.
            held += len(accepted.entries)
            return
        settle(len(accepted.entries))

    for item in iter_messages(paths):
        if isinstance(item, SourceProblem):
            summary.unreadable.append({"origin": item.origin, "reason": item.reason})
            done(1)
            continue
        summary.seen += 1
        target = alias or alias_from_headers(item.raw, aliases, default_alias)
        envelope = {**item.envelope, "alias": target}
        batch.append(Delivery(item.raw, Receipt(transport="file", envelope=envelope)))
        batch_bytes += len(item.raw)
        if len(batch) >= BATCH_MESSAGES or batch_bytes >= BATCH_BYTES:
            flush()
    flush()
    if pool is None and workers is not None and summary.seen:
        # Too few for the workers: filed here, with what earlier runs left pending (a killed
        # import's re-run archives nothing new and still files the rest).
        settle(held)
    if pool is not None:
        pool.finish()  # every worker files what is pending, then exits
        summary.add_outcomes(sorted(received, key=lambda o: o.seq), origins)
        if faults and not summary.not_filed:
            summary.not_filed = faults[0]
        if not summary.not_filed:
            # What the workers left (they kept dying, say: the log says why) is filed here,
            # so an import never ends with its mail silently waiting in the queue.
            try:
                file_here()
            except ConfigError as exc:
                summary.not_filed = str(exc)
    return summary


def sample_ahead(paths: list[Path], workers_after: int | None = None) -> list[bytes]:
    """The sample :func:`ingest` gives its workers' pool for an import of ``paths`` (the
    first batch, every n-th message of it), read before the import starts, so that the
    pool's fork server can be started before the command opens its database and archive
    (gateway.cli.main); empty when ``paths`` hold fewer than ``workers_after`` messages (no
    workers then; default :data:`WORKERS_AFTER`). Reading stops there: a large mbox is not
    read through once more."""
    if workers_after is None:
        workers_after = WORKERS_AFTER
    first: list[bytes] = []
    for seen, item in enumerate(iter_messages(paths), start=1):
        if not isinstance(item, SourceProblem) and len(first) < BATCH_MESSAGES:
            first.append(item.raw)
        if seen >= workers_after:
            return first[::max(1, -(-len(first) // WARM_SAMPLE))]
    return []


def _origin(envelope: Any) -> str:
    index = envelope.get("mbox_index")
    return f"{envelope.get('file', '')}#{index}" if index else str(envelope.get("file", ""))

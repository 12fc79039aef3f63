"""Whether the daemon makes progress: the condition of systemd's watchdog pings, and the
one-line STATUS= that ``systemctl status commgate`` shows.

The watchdog is for a daemon that hangs, not for one that waits: a WATCHDOG=1 goes out every
half ``WatchdogSec=`` as long as the event loop runs (the pings come from it) and no part of
the intakes' archive writes or of the filing side has been silent for longer than
``WatchdogSec=`` while mail waits for it. The parts are an archive write in progress (a hung
file system), the recorder (queues archived mail in the database), the daemon's worker round (the
gap scan; the filing itself with ``[worker] processes = 0``) and each worker process (which
says "idle" every ``poll_seconds`` when it has nothing to do). A worker blocked on a lock that
is never released is silent with a backlog: the pings stop and systemd restarts the daemon. An
idle daemon with no backlog keeps pinging, however long it waits; so does a daemon whose
database is down, since its workers report the failure and retry (a restart would not bring the
database back, and the intakes keep archiving meanwhile). A worker process that is starting
(loading the spaCy models) is watched from its first report on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Stall:
    """A part of the filing side silent for ``seconds`` while ``waiting`` mail waits."""

    part: str
    seconds: float


def stalls(now: float, limit: float, busy_since: Mapping[str, float],
           waiting: int | None) -> list[Stall]:
    """The parts busy (or silent) since longer than ``limit`` seconds, when mail waits:
    ``waiting`` is the backlog plus the mail archived but not yet queued (None: unknown, as
    when the database does not answer the count; then a silent part counts)."""
    if waiting == 0:
        return []
    return [Stall(part, now - since) for part, since in sorted(busy_since.items())
            if now - since > limit]


def status_line(intakes: list[str], backlog: int | None, unrecorded: int,
                last_verify: str, stalled: list[Stall]) -> str:
    """STATUS= for systemd: the intakes' states, the backlog, the last verify, and why the
    watchdog pings stopped, if they did."""
    parts = ["; ".join(intakes) or "no network intakes"]
    queued = "unknown (the database did not answer)" if backlog is None else str(backlog)
    parts.append(f"backlog {queued}" + (f" (+{unrecorded} archived, not yet queued)"
                                         if unrecorded else ""))
    parts.append(f"last verify: {last_verify}")
    if stalled:
        parts.append("WATCHDOG WITHHELD: " + ", ".join(
            f"{s.part} silent for {s.seconds:.0f} s" for s in stalled))
    return " | ".join(parts)

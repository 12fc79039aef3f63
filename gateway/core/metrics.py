"""The daemon's own Prometheus metrics: what happens in this process, counted as it happens.

Only what the daemon's process sees is counted here: the intakes handing mail to the archive
and the SMTP acknowledgement's latency. Filing happens in worker processes, whose counters
would never reach this registry; those figures (filed, quarantined, backlog, outbound, reviews,
breaches) are read from the database at scrape time instead (gateway/daemon/metrics.py), so
they are the installation's totals, survive restarts and agree with ``commgate cases list``.

The metrics live in :data:`REGISTRY`, not prometheus-client's global one, so only the
daemon's endpoint serves them; counting in a command (``commgate ingest``) costs a few
additions and is never scraped.
"""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

ACCEPTED = Counter(
    "commgate_messages_accepted", "Messages an intake handed to the archive, by intake "
    "(transport: smtp, lmtp, imap, file).", ["intake"], registry=REGISTRY)
ARCHIVED = Counter(
    "commgate_messages_archived", "Messages made durable in the archive (blob and ledger entry "
    "fsynced), by intake.", ["intake"], registry=REGISTRY)
ARCHIVE_FAILURES = Counter(
    "commgate_archive_failures", "Messages the archive could not take (the sender was told to "
    "retry, the file or IMAP message stays), by intake.", ["intake"], registry=REGISTRY)
ACCEPT_SECONDS = Histogram(
    "commgate_accept_seconds", "Time from the end of DATA to the 250 reply (the message "
    "durable), by intake.", ["intake"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))


def count_accepted(intake: str, messages: int = 1) -> None:
    _child(ACCEPTED, intake).inc(messages)


def count_archived(intake: str, messages: int = 1) -> None:
    _child(ARCHIVED, intake).inc(messages)


def observe_accept(intake: str, seconds: float) -> None:
    """One message's time from the end of DATA to its 250 (``ACCEPT_SECONDS``)."""
    _child(ACCEPT_SECONDS, intake).observe(seconds)


@functools.cache
def _child(metric: Counter | Histogram, intake: str) -> Any:
    """``metric.labels(intake)``, looked up once: ``labels`` validates, builds the key and
    takes a lock on every call, three times per SMTP message. Nothing here removes a child,
    so the one remembered is the one ``labels`` would return."""
    return metric.labels(intake)


def count_archive_failure(intake: str, messages: int = 1) -> None:
    ARCHIVE_FAILURES.labels(intake).inc(messages)

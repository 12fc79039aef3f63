"""Mail taken in from the command line: ``commgate ingest`` (files and folders archived, then
filed) and ``commgate classify`` (one file judged by the rules, nothing stored).

The daemon's intakes hand mail to the worker themselves; these are the same steps for a person
at a shell, kept here so that a web page offering an upload would run exactly them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.processing.claims import release_dead_here
from gateway.processing.classification import classify_parsed, rules_for
from gateway.processing.ingest import WORKER_BATCH as WORKER_BATCH  # for the CLI
from gateway.processing.ingest import IngestProgress, IngestSummary, ingest
from gateway.processing.ingest import WorkersFactory as WorkersFactory  # for the CLI
from gateway.processing.ingest import sample_ahead as sample_ahead  # for the CLI
from gateway.processing.parsing import parse_message
from gateway.processing.preflight import check_filing_config_own_rules

if TYPE_CHECKING:
    from classifiers import RuleSet
    from gateway.config import Settings
    from gateway.processing.context import WorkerContext


def check_filing(ctx: WorkerContext) -> None:
    """Refuse a configuration fault before any mail is read: it is one line and exit 2, and
    the mail stays where it is, neither archived to wait nor quarantined as if it were bad.
    The shipped rules are not read here: worker processes file a large import with their
    own copy, and a small one reads them at its first message."""
    rules = check_filing_config_own_rules(ctx.settings)
    if rules is not None:
        ctx.processor.use_rules(rules)


def ingest_paths(ctx: WorkerContext, *, actor: str, paths: list[Path],
                 alias: str | None = None,
                 progress: IngestProgress | None = None,
                 workers: WorkersFactory | None = None) -> IngestSummary:
    """Archive every message in ``paths``, then file it. Mail is archived and filed by the
    system, as the daemon's intakes do; ``actor`` names who ran it in the log only.
    ``workers``: the worker processes a large import files with (the caller's, which owns
    processes: gateway.daemon.workers)."""
    logging.getLogger(__name__).info("ingest of %d path(s) started by %s", len(paths), actor)
    ctx.archive.clean_tmp()  # leftovers of killed runs, older than an hour
    ctx.processor.catch_up(logging.WARNING)  # what an earlier run could not queue
    release_dead_here(ctx.db)  # batches held by workers of a killed run
    return ingest(ctx, paths, alias=alias, progress=progress, workers=workers)


def classifier_rules(settings: Settings | None) -> RuleSet:
    """The rules an installation uses (None: the shipped ones); broken ones raise
    :class:`gateway.core.errors.RulesConfigError`."""
    return rules_for(settings)


def classify_raw(raw: bytes, rules: RuleSet) -> dict[str, Any]:
    """What the worker would decide about these bytes, as ``commgate classify --json`` prints
    it (without the file name)."""
    return classify_parsed(parse_message(raw), rules).to_dict()

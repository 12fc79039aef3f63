"""What the worker pool's fork server loads once, so that no worker process pays for it.

Worker processes are forked from a fork server (``multiprocessing``'s ``forkserver``: a fresh
interpreter started by the pool, or under ``commgate run`` a fork of the daemon made before it
started any thread (``workers.fork_server_from_here``); single-threaded either way, so forking
it is safe where forking the running daemon, with its threads and event loop, is not).
Importing this module in that server loads
what every worker would otherwise load itself, and a worker starts as a copy of it (pages
stay shared until written):

- the gateway's modules and spaCy (about 1.5 s of CPU per process);
- the shipped rule set, read and checked (about 1 s), which ``rules_for`` then returns to
  every worker of an installation that uses the shipped rules;
- the Public Suffix List (the threader's organisational domains);
- the database layer's first-use work (:func:`warm_database`: the ORM's mappers, the SQLite
  dialect, the migration scripts' revisions), which otherwise filled each worker's own pages;
- every language with rules of its own, built and used once (tokenizer, matchers, sequence
  index, concept forms from :mod:`classifiers.lemma_cache`; every message is also matched
  against the English rules): about 4 s of CPU for the 11 languages, once per fork server.

Until 2026-12 only English was built here, the others by each worker on its first message in
them (0.2-1.2 s each, French 4 s: spaCy compiled its tokenizer exceptions on import); then
every worker paid that CPU and held a private copy of every language it had seen (about
80 MB), where built here they are pages the workers share. Since French costs 0.4 s
(``classifiers/french_tokens.py``), building them all here delays the first worker's start by
about 4 s of CPU instead of 5-10 s, and spares each worker as much at its first messages.
A bulk import (``commgate ingest``) also gives its pool a sample of its messages, which this
server classifies once (:func:`warm_with`), so what classification makes on first use is
made once for every worker; for an import, only English and the languages of that sample are
built here (since 2026-12-07: an import in one or two languages does not wait for the other
nine). A failure here is logged and ignored: a worker then loads what
it needs itself.
"""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def warm(every_language: bool = True) -> None:
    """Load the worker's modules and the shipped rules, and build and use English and (with
    ``every_language``) each other language with rules of its own."""
    import gateway.bootstrap  # what worker_main imports
    import gateway.daemon.workers  # noqa: F401
    from classifiers.classify import classify
    from classifiers.language import DEFAULT
    from classifiers.types import MessageInput
    from gateway.core.domains import organisational_domain
    from gateway.processing.classification import rules_for

    # The Public Suffix List, parsed on the first sender's domain a worker threads (0.1-0.5 s
    # of CPU): parsed here, it is one copy in pages the workers share.
    organisational_domain("mail.example.co.uk")
    rules = rules_for(None)  # what rules_for(settings) returns for the shipped rules
    others = tuple(lg for lg in rules.languages() if lg != DEFAULT) if every_language else ()
    for lang in (DEFAULT, *others):
        examples = (e for r in rules.content_rules.values() if r.language == lang
                    for e in r.examples)
        example = next(examples, None)
        if example is not None:  # its language is detected from it, most often as ``lang``
            classify(MessageInput(subject="Re: PO 4711", body_text=example), rules)
        rules.matchers(lang)  # and built for certain, whatever was detected
        rules.sequence_index(lang)


def warm_database() -> None:
    """What the database layer makes on first use, made here once for every worker instead
    of in each worker's own pages: the SQLite dialect's modules, the ORM's mapper
    configuration, the schema revisions of the migration scripts and what reading a
    database's revision imports (about 7 MB per worker, measured with a fork of this
    server)."""
    from sqlalchemy.orm import configure_mappers

    from gateway.db.session import make_engine, schema_state

    configure_mappers()
    engine = make_engine("sqlite://")  # in memory: no file, nothing kept
    schema_state(engine)  # the dialect, a connection, the revisions (gateway.db.revisions)
    engine.dispose()


def warm_with(folder: Path) -> None:
    """Classify every message in ``folder`` (a sample of a bulk import, written by the pool
    that started this server: gateway.daemon.workers.WARM_ENV): each language among them is
    built here once, for every worker, instead of by each worker on its first message in it.
    Nothing is filed; a message that fails to parse or classify is skipped."""
    from gateway.processing.classification import classify_parsed, rules_for
    from gateway.processing.parsing import parse_message

    rules = rules_for(None)
    for path in sorted(folder.iterdir()):
        try:
            classify_parsed(parse_message(path.read_bytes()), rules)
        except Exception as exc:  # a worker meets it again and quarantines it if it must
            log.debug("warm-up message %s skipped: %s", path.name, exc)


# The cyclic collector is off while the preload builds (what it makes stays, so each pass only
# walked the growing heap again: 5 full passes, 0.3-0.45 s of the preload's 3.4 s of CPU), and
# runs once at the end for the preload's own cyclic garbage (about 3,000 objects), which would
# otherwise be frozen below with what stays. With the collector off, everything made since is
# in the youngest generation: a pass over it finds the same garbage as a full one (0.11 s
# instead of 0.17, and the heap of the process this server was forked from is not walked).
collecting = gc.isenabled()
gc.disable()
try:
    # A bulk import's server builds the languages of its sample (and English), not all 11: a
    # language an import is not in costs it nothing (0.1-0.5 s of CPU each otherwise, on the
    # import's critical path: every worker waits for this server); a language the sample
    # missed is built by each worker on its first message in it. A daemon's server builds
    # them all, for the life of the daemon's workers.
    sample = os.environ.get("COMMGATE_WORKER_WARM_FOLDER")
    warm(every_language=not sample)
    warm_database()
    if sample:
        warm_with(Path(sample))
except Exception as exc:  # the workers load what they need themselves
    log.warning("worker preload failed, each worker loads the classifier itself: %s", exc)
finally:
    gc.collect(0)
    if collecting:  # the workers forked from here collect as any process does
        gc.enable()
# Objects made so far are never collected in the workers: the collector does not walk (and
# so does not write to) their pages, which stay shared with the fork server.
gc.freeze()

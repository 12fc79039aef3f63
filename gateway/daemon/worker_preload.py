"""What the worker pool's fork server loads once, so that no worker process pays for it.

Worker processes are forked from a fork server (``multiprocessing``'s ``forkserver``: a fresh
interpreter started by the pool, single-threaded, so forking it is safe where forking the
daemon, with its threads and event loop, is not). Importing this module in that server loads
what every worker would otherwise load itself, and a worker starts as a copy of it (pages
stay shared until written):

- the gateway's modules and spaCy (about 1.5 s of CPU per process);
- the shipped rule set, read and checked (about 1 s), which ``rules_for`` then returns to
  every worker of an installation that uses the shipped rules;
- every language with rules of its own, built and used once (tokenizer, matchers, sequence
  index, concept forms from :mod:`classifiers.lemma_cache`; every message is also matched
  against the English rules): about 4 s of CPU for the 11 languages, once per fork server.

Until 2026-12 only English was built here, the others by each worker on its first message in
them (0.2-1.2 s each, French 4 s: spaCy compiled its tokenizer exceptions on import); then
every worker paid that CPU and held a private copy of every language it had seen (about
80 MB), where built here they are pages the workers share. Since French costs 0.4 s
(``classifiers/french_tokens.py``), building them all here delays the first worker's start by
about 4 s of CPU instead of 5-10 s, and spares each worker as much at its first messages.
A failure here is logged and ignored: a worker then loads what it needs itself.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def warm() -> None:
    """Load the worker's modules and the shipped rules, and build and use each language."""
    import gateway.bootstrap  # what worker_main imports
    import gateway.daemon.workers  # noqa: F401
    from classifiers.classify import classify
    from classifiers.language import DEFAULT
    from classifiers.types import MessageInput
    from gateway.processing.classification import rules_for

    rules = rules_for(None)  # what rules_for(settings) returns for the shipped rules
    for lang in (DEFAULT, *(lg for lg in rules.languages() if lg != DEFAULT)):
        examples = (e for r in rules.content_rules.values() if r.language == lang
                    for e in r.examples)
        example = next(examples, None)
        if example is not None:  # its language is detected from it, most often as ``lang``
            classify(MessageInput(subject="Re: PO 4711", body_text=example), rules)
        rules.matchers(lang)  # and built for certain, whatever was detected
        rules.sequence_index(lang)


try:
    warm()
except Exception as exc:  # the workers load what they need themselves
    log.warning("worker preload failed, each worker loads the classifier itself: %s", exc)
# Objects made so far are never collected in the workers: the collector does not walk (and
# so does not write to) their pages, which stay shared with the fork server.
gc.freeze()

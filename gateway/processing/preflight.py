"""What filing mail needs of the configuration, checked when a command starts, before it reads
any mail: ``run``, ``ingest`` and ``quarantine retry`` call :func:`check_filing_config`.

Without the check such a fault shows only at the message that first needs the setting (the first
reply that quotes one of our Message-IDs needs the threading key), where it would look like that
message's fault. The processing worker treats a ConfigError raised while filing as the
operator's too (the mail stays queued, see gateway.processing.pipeline); checking at start means
an operator hears of it at once, in one line, and not from a paused worker's log. """

from __future__ import annotations

from classifiers import RuleSet
from gateway.config import Settings
from gateway.processing.classification import rules_for
from gateway.processing.signing import signing_key


def check_filing_config(settings: Settings, *, fresh: bool = False) -> RuleSet:
    """The database URL, the threading key and the classifier rules (read afresh when
    ``fresh``); each problem raises one ConfigError line. Returns the rules, for the
    processor to use."""
    settings.database_url()
    signing_key(settings)  # a key file is created here when none is configured
    return rules_for(settings, fresh=fresh)

"""What a SIGHUP applies to a running daemon and its worker processes; any other change of
commgate.toml waits for a restart (the daemon names it in the log).

Live: the log level, the classifier section (the rules are read again), the aliases (which
addresses the SMTP/LMTP intake takes, the queue priors, owners and display names) and the
review templates. Reply templates need no reload: they are versions in the database, read at
every use (``commgate templates publish`` is live at once).
"""

from __future__ import annotations

from gateway.config import Config, Settings

LIVE_SETTINGS = frozenset({"log_level", "classifier", "aliases", "reviews"})


def apply_live(settings: Settings, new: Config) -> list[str]:
    """Put the live sections of ``new`` into ``settings`` (one assignment: a reader sees the
    old configuration or the new one, never half of each); the names of the other sections
    that differ, which need a restart."""
    running = settings.config
    settings.config = running.model_copy(
        update={name: getattr(new, name) for name in LIVE_SETTINGS})
    return [name for name in Config.model_fields
            if name not in LIVE_SETTINGS and getattr(running, name) != getattr(new, name)]

"""What filing mail needs of the configuration, checked when a command starts, before it reads
any mail: ``run`` and ``quarantine retry`` call :func:`check_filing_config`, ``ingest``
:func:`check_filing_config_own_rules` (the shipped rules are not read to be checked).

Without the check such a fault shows only at the message that first needs the setting (the first
reply that quotes one of our Message-IDs needs the threading key), where it would look like that
message's fault. The processing worker treats a ConfigError raised while filing as the
operator's too (the mail stays queued, see gateway.processing.pipeline); checking at start means
an operator hears of it at once, in one line, and not from a paused worker's log.

A daemon whose worker processes file the mail classifies nothing itself, so it checks the rules
in a child process (:func:`check_filing_config_apart`, this module run with ``-m``): reading
them imports spaCy and builds matchers, about 48 MB that the daemon's process would otherwise
keep for its whole life. """

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from classifiers import RuleSet
from gateway.config import Settings
from gateway.core.errors import ConfigError, RulesConfigError
from gateway.processing.classification import rules_for
from gateway.processing.signing import signing_key


@dataclass(frozen=True)
class RulesChecked:
    """Rules that a child process read and found valid: what the daemon logs of them."""

    version: str
    source_files: tuple[str, ...]


def check_filing_config(settings: Settings, *, fresh: bool = False) -> RuleSet:
    """The database URL, the threading key and the classifier rules (read afresh when
    ``fresh``); each problem raises one ConfigError line. Returns the rules, for the
    processor to use."""
    _check_database_and_key(settings)
    return rules_for(settings, fresh=fresh)


def check_filing_config_own_rules(settings: Settings) -> RuleSet | None:
    """:func:`check_filing_config` for a command that may leave the filing to worker
    processes (``commgate ingest``): the classifier rules are read only when the installation
    has rules of its own (a rules folder, extra rules, identifier formats), the operator's to
    break; the shipped rules are part of the installed code, and reading them to check them
    cost the importing process about 1 s of CPU before its first message, which the workers
    (their fork server has read them) did not need. Returns the rules read, or None (a
    process that files reads the shipped rules when it first needs them)."""
    if uses_own_rules(settings):
        return check_filing_config(settings)
    _check_database_and_key(settings)
    return None


def uses_own_rules(settings: Settings) -> bool:
    """Whether the installation names rules of its own instead of the shipped ones alone."""
    cfg = settings.config.classifier
    return bool(cfg.rules_path or cfg.extra_rules or cfg.identifier_patterns)


def _check_database_and_key(settings: Settings) -> None:
    """What both checks read in this process: the database URL and the threading key."""
    settings.database_url()
    signing_key(settings)  # a key file is created here when none is configured


def check_filing_config_apart(settings: Settings) -> RulesChecked:
    """:func:`check_filing_config`, the rules read in a fresh child process (the same Python,
    this checkout's code, this environment) that reads ``settings``' home; raises the child's
    ConfigError line here."""
    _check_database_and_key(settings)
    code_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (code_root, env.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, "-m", __name__, str(settings.home)], env=env,
                          capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"checking the classifier rules failed (exit code "
                          f"{done.returncode}): {tail}") from None
    if "error" in answer:
        kind = RulesConfigError if answer["kind"] == "rules" else ConfigError
        raise kind(answer["error"])
    return RulesChecked(answer["version"], tuple(answer["source_files"]))


def _check_here(home: str) -> dict[str, object]:
    from gateway.config import load_settings

    try:
        rules = rules_for(load_settings(Path(home)), fresh=True)
    except RulesConfigError as exc:
        return {"error": str(exc), "kind": "rules"}
    except ConfigError as exc:
        return {"error": str(exc), "kind": "config"}
    return {"version": rules.version, "source_files": list(rules.source_files)}


if __name__ == "__main__":
    print(json.dumps(_check_here(sys.argv[1])))

"""What the in-process CLI (the ``cli`` fixture) printed and returned."""

from __future__ import annotations

import io
import json
import os
import pwd
from collections.abc import Mapping
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

from gateway.cli.main import main as cli_main
from gateway.core.text import acted_by

# The OS user running the tests: the actor of every command-line action they take; ``--as``
# is recorded beside it as ``claimed_as`` (docs/ledger-events.md, "Who acted").
OS_USER = pwd.getpwuid(os.geteuid()).pw_name


def claimed(name: str) -> str:
    """Who acted, as shown, for a command run here with ``--as name``."""
    return acted_by(OS_USER, name)


def who(event: Mapping[str, Any]) -> str:
    """Who acted, as shown, for an event of ``--json`` output: "root (as alice)", "system"."""
    return acted_by(event["actor"], event.get("claimed_as"))


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def run_cli(*argv: str) -> CliResult:
    """``commgate ARGS...`` in-process, capturing what it prints: the ``cli`` fixture without a
    home, for commands that read no installation (they need no backend, so run once)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(list(argv))
    return CliResult(code, out.getvalue(), err.getvalue())

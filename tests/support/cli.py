"""What the in-process CLI (the ``cli`` fixture) printed and returned."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

from gateway.cli.main import main as cli_main


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

"""Hand-written probe batches (``tests/classifiers/data/*_probes_*.toml``) as classifier input:
read by the probe tests and by ``bench/scope_probe.py`` alike, so both score the same messages."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from classifiers import MessageInput


def load_probes(path: Path) -> list[dict[str, Any]]:
    """The ``[[probe]]`` tables of a probe file."""
    with path.open("rb") as fh:
        probes: list[dict[str, Any]] = tomllib.load(fh)["probe"]
    return probes


def to_message(probe: dict[str, Any]) -> MessageInput:
    """A probe as the classifier's input."""
    headers = tuple((str(n), str(v)) for n, v in probe.get("headers", ()))
    return MessageInput(subject=probe["subject"], body_text=probe["body"],
                        from_addr=probe.get("from", ""), headers=headers)

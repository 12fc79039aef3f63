"""Comparing two snapshot files (one JSON object per line, one line per message), as written
by ``bench/classify_snapshot.py`` and ``bench/parse_snapshot.py`` to prove a speed change kept
every result."""

from __future__ import annotations

import json
from pathlib import Path

SHOWN = 20  # differing messages printed, at most
FIELDS_SHOWN = 3  # differing fields printed per message, at most


def compare(before: Path, after: Path, label: str) -> int:
    """Print each message whose fields differ (named by its ``label`` field) and the count;
    exit status 1 if any differs or the files hold different numbers of messages."""
    a = before.read_text(encoding="utf-8").splitlines()
    b = after.read_text(encoding="utf-8").splitlines()
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y]
    for i in differ[:SHOWN]:
        x, y = json.loads(a[i]), json.loads(b[i])
        fields = [k for k in sorted(x.keys() | y.keys()) if x.get(k) != y.get(k)]
        print(f"{label} {x.get(label)}: differs in {', '.join(fields)}")
        for k in fields[:FIELDS_SHOWN]:
            print(f"  before {k} = {str(x.get(k))[:300]}\n  after  {k} = {str(y.get(k))[:300]}")
    print(f"{len(a)} / {len(b)} messages, {len(differ)} differ")
    return 1 if differ or len(a) != len(b) else 0

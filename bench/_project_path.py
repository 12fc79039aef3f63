"""Imported first by each benchmark script: puts the project root ahead of ``bench/`` on
``sys.path``, because running ``python bench/x.py`` puts ``bench/`` first and
``bench/archive.py`` would then shadow the ``archive`` package."""

import sys
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

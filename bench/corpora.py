"""Where the shared third-party corpora are, for the benchmarks and the tests.

The corpora are not in the repository (their licences and size): they are read from
``$COMMGATE_CORPORA`` or, by default, from ``shared/corpora`` beside the clone, where the CI
machine puts them. A clone on its own has none, so the tests that need them skip and the
benchmarks stop with one line instead of a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CORPORA_ENV = "COMMGATE_CORPORA"
DEFAULT_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def corpora_root() -> Path:
    """The corpora folder: ``$COMMGATE_CORPORA`` if set, else ``../shared/corpora``."""
    configured = os.environ.get(CORPORA_ENV)
    return Path(configured).expanduser() if configured else DEFAULT_CORPORA


def require_corpus(folder: Path) -> Path:
    """``folder`` if it exists; otherwise say so in one line and exit 2 (a usage error)."""
    if not folder.is_dir():
        print(f"{Path(sys.argv[0]).name}: corpus not found at {folder}; set {CORPORA_ENV} to "
              f"the shared corpora folder or name the corpus folder on the command line",
              file=sys.stderr)
        raise SystemExit(2)
    return folder

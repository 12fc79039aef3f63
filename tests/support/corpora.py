"""Where the tests' mail data lives: the fixtures in the repository and the shared third-party
corpora, which a fresh clone may lack (the ``corpora`` tests then skip with CORPORA_MISSING)."""

from __future__ import annotations

from pathlib import Path

from bench.corpora import CORPORA_ENV, corpora_root

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CORPORA = corpora_root()
CORPORA_MISSING = None if CORPORA.is_dir() else (
    f"shared corpora not found at {CORPORA}; set {CORPORA_ENV} to the corpora folder to run "
    f"these tests")
# Set (not "0") where absent corpora must stop the run instead of skipping (.ci/run).
REQUIRE_CORPORA_ENV = "COMMGATE_REQUIRE_CORPORA"

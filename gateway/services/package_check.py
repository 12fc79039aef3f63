"""Re-checking an evidence package offline (``commgate audit verify-package``).

An auditor runs this far from the installation: it opens no home, no archive and no database,
and imports none of their code, so it takes no context and records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.evidence.verify import verify_package
from gateway.services.base import View


@dataclass(frozen=True)
class PackageProblem(View):
    file: str
    problem: str


@dataclass(frozen=True)
class PackageCheck(View):
    """``status``: "verified", "unsigned" (intact, nothing signed) or "failed"."""

    path: str
    status: str
    problems: tuple[PackageProblem, ...]
    files: int
    messages: int
    purged: int
    checkpoint: dict[str, Any] | None
    key_id: str | None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "ok": self.ok, "files": self.files,
                "messages": self.messages, "purged": self.purged,
                "checkpoint": self.checkpoint, "key_id": self.key_id,
                "problems": [p.to_json() for p in self.problems]}


def check_package(*, package: Path, public_key: Path | None = None) -> PackageCheck:
    """Re-check an evidence package offline, against a pinned public key if given."""
    r = verify_package(package, public_key)
    return PackageCheck(r.path, r.status, tuple(PackageProblem(p.file, p.problem)
                                                for p in r.problems),
                        r.files, r.messages, r.purged, r.checkpoint, r.key_id)

"""Real file-system faults (the ``small_fs`` fixture mounts the tmpfs)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def remount_read_only(path: Path) -> None:
    """Remount the tmpfs at ``path`` read-only under whatever is writing to it."""
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)

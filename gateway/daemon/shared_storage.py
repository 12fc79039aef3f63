"""Which file system the archive folder is on, so a daemon that may share it with other nodes
says at start when that file system cannot be shared safely (docs/two-nodes.md).

The ledger's appends are serialised by ``flock`` on a separate lock file and fsynced after the
lock is released (archive/ledger.py): correct wherever every writer sees one coherent file
(processes on one host; a cluster file system). On NFS and SMB a second host may take the lock
before the first host's append reached the server, and reads a cached size: it would write a
second entry with the same sequence number. One daemon alone on such a mount is unaffected.
"""

from __future__ import annotations

import os
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
# File systems whose caches are not coherent between hosts under the ledger's locking.
NETWORK_FILESYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p",
                                 "afs", "ncpfs"})


def filesystem_type(path: Path, mountinfo: Path = MOUNTINFO) -> str | None:
    """The type of the file system ``path`` lives on ("ext4", "nfs4" ...), from the kernel's
    mount table; None where there is none to read (not Linux)."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best_point, best_type = "", None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or not rest:
            continue
        point = _unescape(fields[4])
        # Later lines mount over earlier ones at the same point: the last one wins.
        if _under(target, point) and len(point) >= len(best_point):
            best_point, best_type = point, rest[0]
    return best_type


def shared_storage_warning(archive: Path, dialect: str, mountinfo: Path = MOUNTINFO,
                           ) -> str | None:
    """One line for the log when the archive is on a network file system and the database
    would let other nodes share it; None otherwise."""
    kind = filesystem_type(archive, mountinfo)
    if dialect != "postgresql" or kind not in NETWORK_FILESYSTEMS:
        return None
    return (f"the archive {archive} is on {kind}: one node may use it, but never let nodes on "
            "other hosts share it (their ledger appends could collide); use a local file "
            "system or a cluster file system (docs/two-nodes.md)")


def _under(path: str, mount_point: str) -> bool:
    return mount_point == "/" or path == mount_point or path.startswith(mount_point + "/")


def _unescape(field: str) -> str:
    """Mount points in mountinfo escape space, tab, newline and backslash as octal."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field

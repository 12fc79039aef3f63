"""The daemon names the file system under the archive and warns when it is one that nodes on
several hosts must not share (docs/two-nodes.md)."""

from __future__ import annotations

from pathlib import Path

from gateway.daemon.shared_storage import filesystem_type, shared_storage_warning

# The kernel's format (proc(5)): a mount point with a space is escaped as \040.
MOUNTINFO = """\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
41 22 0:35 / /srv/mail\\040archive rw,relatime shared:7 - nfs4 nas:/export/mail rw,vers=4.2
42 22 0:36 / /srv/local rw,relatime - xfs /dev/sdb1 rw
43 42 0:37 / /srv/local rw,relatime - tmpfs tmpfs rw
"""


def mount_table(tmp_path: Path) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text(MOUNTINFO)
    return path


def test_the_innermost_and_latest_mount_decides(tmp_path):
    table = mount_table(tmp_path)
    assert filesystem_type(Path("/srv/mail archive/ledger"), table) == "nfs4"
    assert filesystem_type(Path("/srv/mail"), table) == "ext4"  # a sibling, not the mount
    assert filesystem_type(Path("/srv/local/archive"), table) == "tmpfs"  # mounted over xfs
    assert filesystem_type(Path("/var/lib/commgate"), table) == "ext4"


def test_network_file_system_is_named_when_nodes_could_share_it(tmp_path):
    table = mount_table(tmp_path)
    warning = shared_storage_warning(Path("/srv/mail archive"), "postgresql", table)
    assert warning is not None
    assert warning.startswith("the archive /srv/mail archive is on nfs4: one node may use it")
    assert "docs/two-nodes.md" in warning
    # SQLite is one machine, one daemon; a local file system is fine to share on one host.
    assert shared_storage_warning(Path("/srv/mail archive"), "sqlite", table) is None
    assert shared_storage_warning(Path("/srv/local/archive"), "postgresql", table) is None


def test_a_real_mount_is_recognised(small_fs):
    assert filesystem_type(small_fs(1024) / "archive") == "tmpfs"


def test_without_a_mount_table_nothing_is_claimed(tmp_path):
    assert filesystem_type(tmp_path, tmp_path / "absent") is None
    assert shared_storage_warning(tmp_path, "postgresql", tmp_path / "absent") is None

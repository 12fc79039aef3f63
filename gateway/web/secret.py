"""The key that signs session cookies: made at first start in the installation's home folder,
readable by its owner only, never in a configuration file or a log.

Created with ``O_EXCL`` so two processes starting at once agree on one key (the loser reads the
winner's). A key file that others may read is refused: whoever reads it can sign in as anyone.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from gateway.core.errors import ConfigError

KEY_NAME = "web-session.key"
_KEY_BYTES = 32


def session_key(home: Path) -> bytes:
    """The installation's session key, created on first use."""
    path = home / KEY_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    try:
        os.write(fd, secrets.token_hex(_KEY_BYTES).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return _read(path)


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} may be read by others: 'chmod 600 {path}' (and, if others "
                          "did read it, delete it so a new key ends every session)")
    key = path.read_bytes().strip()
    if len(key) < _KEY_BYTES:
        raise ConfigError(f"{path} holds no usable key: delete it, a new one is made at start")
    return key

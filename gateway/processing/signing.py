"""Our own signed reference: every Message-ID commgate sends carries the case reference and an
HMAC over it, so a reply that quotes it (In-Reply-To/References) threads to the right case even
when the customer's client rewrote the subject, and nobody can forge one without the key.

Format: ``<NPC-000123.k3j9x2a1.mfrgg5dbnfuw4zlo@example.com>``: reference, a random nonce that
makes each id unique, and the first 80 bits of HMAC-SHA256(key, "reference.nonce") in base32.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path

from gateway.config import Settings
from gateway.core.errors import ConfigError

DEFAULT_KEY_FILE = "keys/threading.key"
_TOKEN = re.compile(r"^([A-Z][A-Z0-9]{1,9}-\d{1,9})\.([a-z0-9]{6,32})\.([a-z2-7]{16})@",
                    re.IGNORECASE)


def signing_key(settings: Settings) -> bytes:
    """The key from ``threading.signing_key_env``/``_file``; without either, a random key kept
    in ``HOME/keys/threading.key`` (mode 0600), created on first use."""
    threading = settings.config.threading
    if threading.signing_key_env or threading.signing_key_file:
        value = settings.secret("threading", threading.signing_key_env,
                                threading.signing_key_file, field="signing_key")
        if len(value) < 16:
            raise ConfigError("threading.signing_key: the key must be at least 16 characters")
        return value.encode()
    return _home_key(settings.resolve(DEFAULT_KEY_FILE))


@lru_cache(maxsize=8)
def _home_key(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot read the threading key {path} ({exc.strerror})") from exc
    key = secrets.token_hex(32).encode()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot create the threading key {path} ({exc.strerror})") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def _tag(key: bytes, ref: str, nonce: str) -> str:
    digest = hmac.new(key, f"{ref.upper()}.{nonce.lower()}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()


def make_message_id(settings: Settings, case_ref: str, domain: str) -> str:
    """A new, unique Message-ID (with angle brackets) that carries ``case_ref`` signed."""
    nonce = secrets.token_hex(6)
    return f"<{case_ref}.{nonce}.{_tag(signing_key(settings), case_ref, nonce)}@{domain}>"


def signed_case_ref(settings: Settings, message_id: str) -> str | None:
    """The case reference in one of our own Message-IDs, or None if it is not ours or the
    signature does not match (a forged or altered id)."""
    match = _TOKEN.match(message_id.strip().lstrip("<"))
    if not match:
        return None
    ref, nonce, tag = match.groups()
    expected = _tag(signing_key(settings), ref, nonce)
    return ref.upper() if hmac.compare_digest(expected, tag.lower()) else None

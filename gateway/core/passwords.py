"""The argon2 parameters of an installation, by name (``[web] password_hashing``).

The names are argon2-cffi's ``argon2.profiles``; the default is the library's own (RFC 9106
low memory). ``cheapest`` costs almost nothing and protects nothing: it exists so a test
suite that signs in thousands of times does not spend minutes hashing, and the web
application warns in its log when it is configured. A stored hash keeps working whatever the
setting (its parameters are in it) and is rehashed with the configured ones at the next
sign-in.
"""

from __future__ import annotations

from functools import cache

from argon2 import Parameters, PasswordHasher, profiles

DEFAULT = "rfc9106-low-memory"
# For tests only: a hash of this profile takes microseconds to guess.
TEST_ONLY = frozenset({"cheapest"})
PROFILES: dict[str, Parameters] = {
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,
    "rfc9106-high-memory": profiles.RFC_9106_HIGH_MEMORY,
    "pre-21.2": profiles.PRE_21_2,
    "cheapest": profiles.CHEAPEST,
}


def check_profile(name: str) -> str:
    """``name`` when it names a profile; a ValueError listing the names otherwise."""
    if name not in PROFILES:
        raise ValueError(f"unknown password hashing profile {name!r} (expected one of: "
                         f"{', '.join(PROFILES)})")
    return name


@cache
def hasher(name: str) -> PasswordHasher:
    """The hasher of profile ``name`` (made once: hashers hold no state)."""
    return PasswordHasher.from_parameters(PROFILES[check_profile(name)])


@cache
def dummy_hash(name: str) -> str:
    """A hash of nobody's password, verified when a name is unknown so that answer costs
    as long as a wrong password (made once per profile, on first use)."""
    return hasher(name).hash("not a password of anyone")

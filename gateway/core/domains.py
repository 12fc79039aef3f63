"""Which organisation a mail domain belongs to (RFC 7489 §3.2, by the Public Suffix List).

``eu.customer.example`` and ``customer.example`` are one organisation; ``customer-example.com``
and ``customer.example.evil.test`` are not. The list bundled with ``publicsuffixlist`` is used
as installed: never fetched at run time.
"""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PublicSuffixList


@lru_cache(maxsize=1)
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()


@lru_cache(maxsize=4096)
def organisational_domain(domain: str) -> str:
    """``mail.example.co.uk`` -> ``example.co.uk``; a name that is itself a public suffix or
    unknown stays as it is."""
    name = domain.strip().rstrip(".").lower()
    return _public_suffixes().privatesuffix(name) or name


def same_organisation(first: str, second: str) -> bool:
    return bool(first) and bool(second) and (
        organisational_domain(first) == organisational_domain(second))

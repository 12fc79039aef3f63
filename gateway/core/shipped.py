"""Files shipped beside the code: the example configuration, the systemd unit, the docs.

The repository keeps one copy of each where an operator reading it looks (config/, systemd/,
README.md, docs/); a wheel carries them as package data under ``gateway/_data/`` (setup.py maps
the folders there). They are read from the installed package when it has them, else from the
source tree this package runs from (a checkout, an editable install), so ``commgate config
example`` prints the same text either way.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from gateway.core.errors import ShippedFileMissing

EXAMPLE_CONFIG = "config/commgate.example.toml"
SYSTEMD_UNIT = "systemd/commgate.service"
_PACKAGED = "_data"  # below the gateway package, in a wheel
_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the checkout that holds gateway/


def shipped_file(name: str) -> Traversable:
    """The shipped file ``name`` (a path as in the repository, such as :data:`EXAMPLE_CONFIG`)."""
    packaged = resources.files("gateway").joinpath(_PACKAGED)
    for part in name.split("/"):
        packaged = packaged.joinpath(part)
    if packaged.is_file():
        return packaged
    source = _SOURCE_ROOT / name
    if source.is_file():
        return source
    raise ShippedFileMissing(f"{name} is missing from this installation (looked in {packaged} "
                             f"and {source}); reinstall commgate from its wheel or sdist")


def shipped_text(name: str) -> str:
    return shipped_file(name).read_text(encoding="utf-8")

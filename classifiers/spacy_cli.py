"""spaCy without its command line, which classifying never uses.

``import spacy`` imports ``spacy.cli.info`` only to re-export ``spacy.info``, and that imports
the whole command line package: typer, click, weasel, requests, httpx, rich, jinja2 (17 MB of
the 56 MB ``import spacy`` adds to a process; measured with ``/proc/self/statm``). Every
process that classifies pays it, and a daemon's fork server passes it to each worker.
:func:`defer` (called by ``classifiers/__init__.py``, before any spaCy import of ours) puts
placeholders for ``spacy.cli`` and ``spacy.cli.info`` in ``sys.modules``; the real package
is imported the first time anything reads from them (``spacy.cli.download``, ``spacy.info()``),
so nothing that uses the command line notices.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_NAMES = ("spacy.cli.info", "spacy.cli")


def defer() -> None:
    """Stand placeholders in for ``spacy.cli`` until first used; nothing if spaCy (or its
    command line) is imported already."""
    if "spacy" in sys.modules or any(name in sys.modules for name in _NAMES):
        return
    cli = types.ModuleType("spacy.cli", "placeholder: see classifiers/spacy_cli.py")
    cli.__path__ = []  # a package, as the real one is
    cli.__getattr__ = _real_attribute("spacy.cli")  # type: ignore[method-assign]
    info = types.ModuleType("spacy.cli.info", "placeholder: see classifiers/spacy_cli.py")
    info.__getattr__ = _info_attribute(cli)  # type: ignore[method-assign]
    sys.modules.update({"spacy.cli": cli, "spacy.cli.info": info})


def _load(name: str) -> types.ModuleType:
    """The real module ``name``, the placeholders first taken out of ``sys.modules``."""
    for placeholder in _NAMES:
        module = sys.modules.get(placeholder)
        if module is not None and module.__doc__ == "placeholder: see classifiers/spacy_cli.py":
            del sys.modules[placeholder]
    return importlib.import_module(name)


def _real_attribute(name: str) -> Any:
    def attribute(attr: str) -> Any:
        if attr.startswith("__"):  # the import system asking (``__path__``): not a use
            raise AttributeError(attr)
        return getattr(_load(name), attr)

    return attribute


def _info_attribute(cli: types.ModuleType) -> Any:
    def attribute(attr: str) -> Any:
        spacy = sys.modules.get("spacy")
        if attr == "info" and spacy is not None and not hasattr(spacy, "cli"):
            # spacy/__init__.py's ``from .cli.info import info``: its ``spacy.cli`` is the
            # placeholder from now on (an import would have set it), its ``info`` ours.
            spacy.cli = cli  # type: ignore[attr-defined]
            return _real_info
        return _real_attribute("spacy.cli.info")(attr)

    return attribute


def _real_info(*args: Any, **kwargs: Any) -> Any:
    """``spacy.info``: spaCy's own, imported now."""
    return _load("spacy.cli.info").info(*args, **kwargs)

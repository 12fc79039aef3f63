"""The migration scripts' revisions, read from their text without importing them or Alembic.

Every process that opens a database checks that its schema is the code's newest revision.
Alembic's ``ScriptDirectory`` answers by importing itself and every script (with
``alembic.op`` and the autogenerate machinery: 11 MB in the daemon, again in the worker pool's
fork server); the answer is two assignments per script, ``revision`` and ``down_revision``,
read here with :mod:`ast`. tests/gateway/test_migrations.py checks it against Alembic's.
"""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path


def read_revisions(folder: Path) -> tuple[str, frozenset[str]]:
    """The newest revision (the one no script revises) and every revision of the scripts in
    ``folder``. Raises ValueError for a script without a literal ``revision``, or for a set of
    scripts with other than one newest revision (Alembic's "multiple heads")."""
    revises: dict[str, tuple[str, ...]] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":  # Alembic skips it too
            continue
        values = _assignments(path)
        revision = values.get("revision")
        if not isinstance(revision, str):
            raise ValueError(f"{path.name}: no literal revision")
        down = values.get("down_revision")
        if isinstance(down, str):
            revises[revision] = (down,)
        elif isinstance(down, (tuple, list)):  # a merge of several revisions
            revises[revision] = tuple(str(d) for d in down)
        else:  # None: the first revision
            revises[revision] = ()
    revised = {down for downs in revises.values() for down in downs}
    heads = sorted(set(revises) - revised)
    if len(heads) != 1:
        raise ValueError(f"{folder}: {len(heads)} newest revisions, one expected: {heads}")
    return heads[0], frozenset(revises)


def _assignments(path: Path) -> dict[str, object]:
    """The module-level ``name = literal`` (or ``name: type = literal``) of a script."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                # Not a literal: not one of the names read here.
                with contextlib.suppress(ValueError):
                    found[target.id] = ast.literal_eval(value)
    return found

"""What every service result shares: a frozen dataclass that turns itself into JSON."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from gateway.core.text import iso


def jsonable(value: Any) -> Any:
    """Plain JSON values from views, dataclasses, datetimes, tuples and mappings."""
    if isinstance(value, View):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value


@dataclasses.dataclass(frozen=True)
class View:
    """Base of every service result; a subclass overrides ``to_json`` when its JSON shape
    (kept stable for scripts that read ``--json``) differs from its fields."""

    def to_json(self) -> Any:
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

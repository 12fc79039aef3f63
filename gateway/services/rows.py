"""Views built from the domain's read models (plain dicts whose keys are the ``--json`` shape).

A :class:`RowView` declares the keys as typed fields in the order ``--json`` prints them;
:meth:`RowView.from_row` refuses a row whose keys differ, so a read model that gains or loses
a key fails the tests here instead of silently changing (or losing part of) the JSON. A key
that is not a Python name (``from``) is a field with another name, mapped in ``JSON_NAMES``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Self, TypeVar

from gateway.services.base import View, jsonable

T = TypeVar("T", bound=View)


@dataclasses.dataclass(frozen=True)
class RowView(View):
    """A view with one field per key of a read-model row."""

    JSON_NAMES: ClassVar[Mapping[str, str]] = {}  # field name -> JSON key, where they differ

    @classmethod
    def keys(cls) -> list[str]:
        return [cls.JSON_NAMES.get(f.name, f.name) for f in dataclasses.fields(cls)]

    @classmethod
    def from_row(cls, row: Mapping[str, Any], **converted: Any) -> Self:
        """The view of ``row``; ``converted`` gives fields already turned into views."""
        if list(row) != cls.keys():
            raise ValueError(f"{cls.__name__}: the row has keys {list(row)}, the view "
                             f"{cls.keys()}")
        values = {f.name: row[cls.JSON_NAMES.get(f.name, f.name)]
                  for f in dataclasses.fields(cls)}
        values.update(converted)
        return cls(**values)

    def to_json(self) -> Any:
        return {self.JSON_NAMES.get(f.name, f.name): jsonable(getattr(self, f.name))
                for f in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class Listing(View, Generic[T]):
    """An ordered list of views; its JSON is the JSON list of its items."""

    items: tuple[T, ...]

    def to_json(self) -> Any:
        return [item.to_json() for item in self.items]

    def __len__(self) -> int:
        return len(self.items)

"""Exports for auditors: evidence packages, mbox and .eml folders (``commgate audit export``,
``commgate export mbox|eml``).

Every export is recorded in the access log by the export itself (``gateway.evidence.package``,
``gateway.evidence.exports``): after the selection is resolved, before a message byte is read,
and the record names the cases and messages it hands out. Checking a package is
``gateway.services.package_check`` (offline: it loads no database code). """

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.evidence.exports import export_eml, export_mbox
from gateway.evidence.package import PackageReport, export_package
from gateway.evidence.select import Selection, parse_date
from gateway.services.base import View

if TYPE_CHECKING:
    from gateway.core.context import Context

EXPORT_FORMATS = ("mbox", "eml")


@dataclass(frozen=True)
class PackageExported(View):
    """The package written: the report of :func:`gateway.evidence.package.export_package`."""

    report: PackageReport

    def to_json(self) -> dict[str, Any]:
        return self.report.to_dict()


@dataclass(frozen=True)
class MessagesExported(View):
    path: Path
    format: str
    messages: int
    bytes: int
    purged: tuple[dict[str, Any], ...]
    export_seq: int

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "messages": self.messages,
                "bytes": self.bytes, "purged": [dict(item) for item in self.purged],
                "export_seq": self.export_seq}


def selection(*, cases: tuple[str, ...] = (), date_from: str | None = None,
              date_to: str | None = None, alias: str | None = None,
              customer: str | None = None, by: str = "received") -> Selection:
    """What to export, from the operator's words (a bare ``date_to`` includes that day);
    checked before anything is opened, so a mistyped date costs nothing."""
    return Selection(cases=tuple(cases),
                     date_from=parse_date(date_from) if date_from else None,
                     date_to=parse_date(date_to, end=True) if date_to else None,
                     alias=alias, customer=customer, by=by)


def export_evidence(ctx: Context, *, actor: str, selected: Selection,
                    output: Path) -> PackageExported:
    """Build a verifiable evidence package (zip) at ``output``, never overwriting."""
    return PackageExported(export_package(ctx, selected, output, actor))


def export_messages(ctx: Context, *, actor: str, export_format: str, selected: Selection,
                    output: Path) -> MessagesExported:
    """The selected messages as one mboxrd file or a new folder of .eml files."""
    if export_format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {export_format!r}")
    run = export_mbox if export_format == "mbox" else export_eml
    r = run(ctx, selected, output, actor)
    return MessagesExported(r.path, r.format, r.messages, r.bytes,
                            tuple(dict(item) for item in r.purged), r.export_seq)

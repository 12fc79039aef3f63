"""The context of what drives the worker itself: ``commgate ingest``, reclassify, outbound
delivery (which files its own copies). Everything else takes
:class:`gateway.core.context.Context`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from gateway.core.context import Context

if TYPE_CHECKING:
    from gateway.processing.pipeline import Processor


class WorkerContext(Context, Protocol):
    @property
    def processor(self) -> Processor: ...

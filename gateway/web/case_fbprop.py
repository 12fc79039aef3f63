"""What the case page's feedback and property forms need (templates/case_fbprop.html): the
values the workflows accept and, per item of the case, the statuses it may go to now. Kept
apart from the pages so that the case page can call it without importing their routes."""

from __future__ import annotations

from typing import Any

from gateway.services.cases import CaseDetail
from gateway.services.lifecycle import FEEDBACK_TYPES, SEVERITIES
from gateway.services.property import KINDS, NEEDS_NOTE, next_statuses


def case_forms(case: CaseDetail) -> dict[str, Any]:
    """The choices of the feedback and property forms of ``case``."""
    items = case.property.get("property", [])
    return {
        "feedback": case.lifecycle.get("feedback"),
        "feedback_types": FEEDBACK_TYPES, "severities": SEVERITIES, "kinds": KINDS,
        "needs_note": NEEDS_NOTE,
        "items": [{"item": item, "next": next_statuses(item["status"], item["proposed"])}
                  for item in items],
    }

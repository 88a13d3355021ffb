"""The check step before a limit change is saved: the change said in words, and what it
would have raised on the patient's last 90 days of readings, with the limits as they are
and as they would be.

The figures come from the same replay as the API's rule preview
(``server.judging.preview``), so the page and the API cannot give different numbers. The
readings are read within the page's own deadline, as the patient page reads them: a hung
InfluxDB costs the clinician at most that, then the check says the preview is unavailable
and the change can still be saved (the limits are the clinician's decision; the preview
only informs it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late
from dataclasses import dataclass

from server.api.auth import Principal, audit
from server.api.deps import Db
from server.judging.preview import DAYS, Count, history, replay, rules_now
from server.pages.thresholds import EDGE_BY_FIELD, PERSISTENCE_LABEL, Limits, merged_changes, with_unit
from server.store.influx.errors import StoreError
from server.store.influx.store import InfluxStore
from server.store.models import now

log = logging.getLogger(__name__)

#: How long the check waits for the readings before it says the preview is unavailable (the
#: replay after it is not timed: NumPy on what was read).
PREVIEW_BUDGET = 1.5
_readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="limits-preview")
UNAVAILABLE = (
    "The preview is unavailable: the reading store is not answering just now. You can still save this change."
)


@dataclass(frozen=True, slots=True)
class Check:
    """What the check step shows. ``current`` and ``proposed`` are None when the readings
    could not be read, and ``unavailable`` then says so."""

    lines: list[str]
    days: int
    readings: int = 0
    current: Count | None = None
    proposed: Count | None = None
    unavailable: str | None = None


def change_in_words(limit: Limits, edges: Mapping[str, float | None], persistence: int | None) -> list[str]:
    """Each edge the change sets, as a clinician says it: 'Systolic: red at or above
    170 mmHg, was 180 mmHg'."""
    lines = []
    for field, value in edges.items():
        edge = EDGE_BY_FIELD[field]
        was = limit.shown(field)
        if value is None:
            lines.append(f"{limit.label}: no {edge.label.lower()} limit, was {was}")
        else:
            lines.append(
                f"{limit.label}: {edge.label.lower()} {with_unit(value, limit.decimals, limit.unit)}, was {was}"
            )
    if persistence is not None:
        lines.append(f"{limit.label}: {PERSISTENCE_LABEL.lower()} {persistence}, was {limit.persistence}")
    return lines


def check(
    db: Db,
    store: InfluxStore,
    principal: Principal,
    patient_id: str,
    limit: Limits,
    edges: Mapping[str, float | None],
    persistence: int | None,
) -> Check:
    """The check for this change (raises ``RuleSetError`` when the change cannot be used
    with the patient's other rules). Audited as the API's preview is, when it replayed."""
    lines = change_in_words(limit, edges, persistence)
    with db.session() as s:
        rules = rules_now(s, patient_id)
    proposed = rules.with_personal(merged_changes(rules.personal, limit.measure, edges, persistence))
    future = _readers.submit(history, store, patient_id, now(), DAYS)
    try:
        readings = future.result(timeout=PREVIEW_BUDGET)
    except (StoreError, Late) as e:
        log.warning("limit check without a preview for %s: %s", patient_id, type(e).__name__)
        return Check(lines, DAYS, unavailable=UNAVAILABLE)
    current, after = replay([rules.current, proposed], readings)
    audit(db, principal, "rules_previewed", patient_id, f"page {limit.measure.value}")
    return Check(lines, DAYS, len(readings), current, after)

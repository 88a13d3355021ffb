"""Before a limit change is saved, the threshold page shows what it would have raised on
the patient's last 90 days of readings, and saves only when the clinician confirms.

The readings are sent by a real hub through the broker and the ingest into InfluxDB; the
page's figures are compared with the API's preview of the same change (the one replay both
use). While InfluxDB hangs the check step says the preview is unavailable, within the
page's deadline, and the change can still be saved."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, expect
from sqlalchemy import select

from common.wire.vocabulary import Measure, ReadingKind
from server.app import create_app
from server.pages.limits_check import UNAVAILABLE
from server.provisioning import add_patient
from server.settings import ServerSettings
from server.store.influx.store import InfluxStore
from server.store.models import AuditEvent
from tests.fixtures.browser import served, signed_in_client
from tests.fixtures.server import Stack
from tests.support.hanging import HangingServer

OWN = {"Origin": "http://carewatch.test"}
#: Systolic on ten mornings: under the default red (180) all along, at or above 170 four times.
SYSTOLIC = [150, 172, 148, 175, 152, 149, 171, 150, 176, 151]


def _history_sent(stack: Stack, patient_id: str, hub_id: str, name: str) -> None:
    now = datetime.now(UTC)
    hub = stack.patient_with_hub(patient_id, hub_id, name=name, since=now - timedelta(days=20))
    for day, value in enumerate(SYSTOLIC):
        hub.send(
            ReadingKind.BLOOD_PRESSURE,
            {Measure.SYSTOLIC: value, Measure.DIASTOLIC: 80, Measure.PULSE: 70},
            measured_at=now - timedelta(days=12 - day, hours=3),
        )
    assert hub.wait_delivered(30), "the hub's readings were not all confirmed by the server"


def _systolic(stack: Stack, patient_id: str) -> dict[str, Any]:
    rules = stack.api.get(f"/api/v1/patients/{patient_id}/rules", headers=stack.auth()).json()
    return dict(rules["effective"]["thresholds"]["systolic"])


def _api_preview(stack: Stack, patient_id: str, change: dict[str, Any]) -> dict[str, Any]:
    r = stack.api.post(
        f"/api/v1/patients/{patient_id}/rules/preview",
        json={"changes": {"thresholds": {"systolic": change}}, "days": 90},
        headers=stack.auth(),
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _actions(stack: Stack, patient_id: str) -> list[str]:
    with stack.db.session() as s:
        return [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.target == patient_id))]


def _figures(html: str) -> tuple[int, int]:
    found = re.search(r'data-proposed="(\d+)" data-current="(\d+)"', html)
    assert found, "the check step shows no preview"
    return int(found[1]), int(found[2])


def test_the_check_step_shows_the_apis_figures_and_saves_only_that_edge_when_confirmed(stack: Stack) -> None:
    _history_sent(stack, "p-chk-1", "hub-chk-1", "Ruth Check")
    before = _systolic(stack, "p-chk-1")
    api = _api_preview(stack, "p-chk-1", {"red": {"at_or_above": 170}})
    assert api["readings"] == len(SYSTOLIC)
    # Lowering red to 170 catches the four readings from 171 to 176: red alerts a day apart or
    # more, each reviewed before the next, so four more alerts than the limits now raise.
    assert api["proposed"]["by_severity"].get("red", 0) - api["current"]["by_severity"].get("red", 0) == 4

    client = signed_in_client(stack.api.app, stack.token)
    form = {"measure": "systolic", "version": "0", "red_above": "170", "reason": "usual BP high"}
    checked = client.post("/patients/p-chk-1/thresholds", data=form, headers=OWN)
    assert checked.status_code == 200, checked.text
    assert "Systolic: red at or above 170 mmHg, was 180 mmHg" in checked.text
    assert _figures(checked.text) == (api["proposed"]["opened"], api["current"]["opened"])
    n, m = _figures(checked.text)
    assert (
        f"the last 90 days of readings would have raised <strong>{n} alert{'s' if n != 1 else ''}</strong> "
        f"({m} with the current limits)" in checked.text
    )
    assert f"With this change: {api['proposed']['by_severity']['red']} red" in checked.text
    # Nothing is saved before the confirmation; the preview itself is audited.
    assert _systolic(stack, "p-chk-1") == before
    actions = _actions(stack, "p-chk-1")
    assert "rules_changed" not in actions and "rules_previewed" in actions

    saved = client.post(
        "/patients/p-chk-1/thresholds", data={**form, "confirm": "yes"}, headers=OWN, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    after = _systolic(stack, "p-chk-1")
    assert after["red"] == {**before["red"], "at_or_above": 170.0}
    assert {k: v for k, v in after.items() if k != "red"} == {k: v for k, v in before.items() if k != "red"}
    assert _actions(stack, "p-chk-1").count("rules_changed") == 1
    versions = stack.api.get("/api/v1/patients/p-chk-1/rules", headers=stack.auth()).json()["history"]
    assert [v["changes"] for v in versions] == [{"thresholds": {"systolic": {"red": {"at_or_above": 170.0}}}}]


def test_removing_a_limit_shows_its_preview_beside_the_confirmation(stack: Stack) -> None:
    _history_sent(stack, "p-chk-2", "hub-chk-2", "Alan Remove")
    api = _api_preview(stack, "p-chk-2", {"red": {"at_or_above": None}})
    client = signed_in_client(stack.api.app, stack.token)
    page = client.get("/patients/p-chk-2/thresholds/systolic/remove?edge=red_above")
    assert page.status_code == 200
    assert _figures(page.text) == (api["proposed"]["opened"], api["current"]["opened"])
    assert "rules_changed" not in _actions(stack, "p-chk-2")


def test_while_influxdb_hangs_the_check_says_so_in_time_and_the_change_can_still_be_saved(
    stack: Stack,
) -> None:
    add_patient(stack.db, "p-chk-3", "Hung Preview", actor="test")
    with HangingServer() as hung_influx:
        hung = InfluxStore(stack.influx.config.model_copy(update={"url": hung_influx.url}))
        app = create_app(ServerSettings(database_url=stack.db.url), stack.db, hung)
        client = signed_in_client(app, stack.token)
        form = {"measure": "systolic", "version": "0", "red_above": "170", "reason": "usual BP high"}
        started = time.monotonic()
        checked = client.post("/patients/p-chk-3/thresholds", data=form, headers=OWN)
        took = time.monotonic() - started
        assert checked.status_code == 200
        assert UNAVAILABLE.replace("'", "&#39;") in checked.text
        assert "Save this change" in checked.text
        assert took < 2.5, f"the check took {took:.2f} s"
        assert hung_influx.accepted >= 1  # it did ask the store
        saved = client.post(
            "/patients/p-chk-3/thresholds",
            data={**form, "confirm": "yes"},
            headers=OWN,
            follow_redirects=False,
        )
        assert saved.status_code == 303
    assert _systolic(stack, "p-chk-3")["red"]["at_or_above"] == 170.0
    assert "rules_previewed" not in _actions(stack, "p-chk-3")  # no replay happened


def test_the_two_steps_in_chromium(stack: Stack, browser: Browser) -> None:
    _history_sent(stack, "p-chk-4", "hub-chk-4", "Edith Steps")
    api = _api_preview(stack, "p-chk-4", {"red": {"at_or_above": 170}})
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    shots = os.environ.get("CAREWATCH_SCREENSHOTS")
    with served(app) as base, browser.new_context(viewport={"width": 1280, "height": 900}) as context:
        page = context.new_page()
        page.goto(f"{base}/patients/p-chk-4")
        page.fill("#token", stack.token)
        page.click("button:has-text('Sign in')")
        page.get_by_role("link", name="Change Systolic limits").click()
        page.fill("#red_above", "170")
        page.fill("#reason", "usual BP high")
        page.click("button:has-text('Check this change')")

        expect(page.locator("h1")).to_contain_text("Check this change before saving it")
        expect(page.locator(".cw-change")).to_have_text("Systolic: red at or above 170 mmHg, was 180 mmHg")
        n, m = api["proposed"]["opened"], api["current"]["opened"]
        expect(page.locator(".cw-preview")).to_contain_text(
            f"With this change, the last 90 days of readings would have raised {n} alerts "
            f"({m} with the current limits)."
        )
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            for width in (1280, 360):
                page.set_viewport_size({"width": width, "height": 900})
                page.screenshot(path=str(Path(shots) / f"check-limit-change-{width}.png"), full_page=True)
            page.set_viewport_size({"width": 1280, "height": 900})

        # "Change it" goes back to the form as it was typed; nothing was saved.
        page.click("button:has-text('Change it')")
        expect(page.locator("#red_above")).to_have_value("170")
        expect(page.locator("#reason")).to_have_value("usual BP high")
        assert _systolic(stack, "p-chk-4")["red"]["at_or_above"] == 180.0

        page.fill("#red_above", "172")
        page.click("button:has-text('Check this change')")
        expect(page.locator(".cw-change")).to_have_text("Systolic: red at or above 172 mmHg, was 180 mmHg")
        page.click("button:has-text('Save this change')")
        row = page.locator("tr[data-measure='systolic']")
        expect(row.locator("td.red_above")).to_contain_text("172 mmHg")
        expect(row.locator("td.red_below")).to_contain_text("90 mmHg")
    assert _systolic(stack, "p-chk-4")["red"] == {"at_or_below": 90.0, "at_or_above": 172.0}

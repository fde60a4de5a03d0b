"""The console's waivers and rules pages over a stack with an overlay and signed waivers."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.test_console import Browser
from tests.test_runner_waivers import CREATED, RULE, Setup, setup, stack  # noqa: F401


def test_waivers_page_shows_active_and_expired_and_rules_by_layer(setup: Setup) -> None:  # noqa: F811
    expiring = setup.waiver(expires=(CREATED + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    lasting = setup.waiver(expires="2026-12-31")
    setup.write("expiring.json", expiring.to_json())
    setup.write("lasting.json", lasting.to_json())
    setup.write("broken.json", "{not json")
    setup.refresh()
    setup.clock.now = CREATED + timedelta(hours=3)
    user = Browser(setup.runner, "operator")
    try:
        page = user.client.get("/console/waivers").text
        assert "1 active, 1 expired, 1 invalid" in page
        sections = dict(re.findall(r"<h2>(\w+)</h2>(.*?)(?=<h2>|</main>)", page, re.S))
        assert lasting.id in sections["Active"] and expiring.id not in sections["Active"]
        assert expiring.id in sections["Expired"] and lasting.id not in sections["Expired"]
        assert "broken.json" in sections["Other"]
        rules = user.client.get("/console/rules").text
        layers = re.findall(r"<h2>([^<]+)</h2>", rules)
        assert any(x.startswith("constitution") for x in layers), layers
        assert any(x.startswith("overlay") for x in layers), layers
        overlay = rules.split(next(x for x in layers if x.startswith("overlay")), 1)[1]
        assert f"<code>{RULE}</code>" in overlay.split("<h2>")[0]
    finally:
        user.close()

"""axe-core in the pages under test: the script to load into a browser context, and what it
finds that matters (serious or critical violations), for every test that looks at a page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page

AXE = Path(__file__).resolve().parent.parent / "fixtures" / "vendor" / "axe.min.js"


def load_axe(context: BrowserContext) -> BrowserContext:
    """Every page of ``context`` gets axe-core, through the browser's debugging channel, so
    the pages' Content-Security-Policy (which would refuse it as a script) does not apply."""
    context.add_init_script(path=str(AXE))
    return context


def serious(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical, each with the elements it names."""
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]

"""Driving Debian's Chromium with Playwright, and axe-core's accessibility scan (its axe.min.js
comes inside the axe-playwright-python package: nothing is fetched at test time)."""

from __future__ import annotations

import os
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe

CHROMIUM = os.environ.get("EXEMPLARS_CHROMIUM", "/usr/bin/chromium")  # scripts/ensure-browser.sh installs it
SERIOUS = ("serious", "critical")
_axe = Axe()


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])  # root in CI: no sandbox


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now: 'rule: where' lines."""
    found = _axe.run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in found if v.get("impact") in SERIOUS]


def screenshot(page, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

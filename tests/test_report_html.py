"""The HTML report opened in a real headless Chromium: every chart drew its marks.

Chromium (Debian's ``chromium``, installed by ``.ci/run``) loads the file with the
network off, runs plotly, and dumps the resulting DOM; each chart must have produced an
SVG with drawn shapes (paths with geometry). A screenshot is kept in the test's temp dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.reports import build_report, render_html
from storage.reporting import load_report_facts
from storage.sql import open_store
from tests.storage.test_report_figures import fifty_conversations

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000", "--hide-scrollbars",
)  # fmt: skip


class _Charts(HTMLParser):
    """Counts, per ``data-chart`` container, its SVGs and the paths that have geometry."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs: Counter[str] = Counter()
        self.shapes: Counter[str] = Counter()
        self._chart: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if self._chart is None:
            if tag == "div" and attributes.get("data-chart"):
                self._chart, self._depth = attributes["data-chart"], 1
            return
        if tag == "div":
            self._depth += 1
        if tag == "svg" and "main-svg" in (attributes.get("class") or ""):
            self.svgs[self._chart] += 1
        if tag == "path" and len(attributes.get("d") or "") > 3:
            self.shapes[self._chart] += 1

    def handle_endtag(self, tag: str) -> None:
        if self._chart is not None and tag == "div":
            self._depth -= 1
            if self._depth == 0:
                self._chart = None


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


async def test_html_report_renders_every_chart_in_chromium(tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("SUPPORTBOT_REQUIRE_CHROMIUM"):
            pytest.fail("chromium not found, and SUPPORTBOT_REQUIRE_CHROMIUM is set (CI)")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'report.db'}")
    try:
        await fifty_conversations().write(store)
        report = build_report(await load_report_facts(store))
    finally:
        await store.close()
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    assert "<script src=" not in page.read_text()  # self-contained: nothing to fetch

    dom = _chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile").stdout
    screenshot = tmp_path / "report.png"
    _chromium(
        "--window-size=1200,4000", f"--screenshot={screenshot}", page.as_uri(),
        profile=tmp_path / "profile",
    )  # fmt: skip

    charts = _Charts()
    charts.feed(dom)
    expected = {
        "chart-csat-over-time", "chart-csat-persona", "chart-csat-flow",
        "chart-handoff-reasons", "chart-funnel-0", "chart-funnel-1", "chart-funnel-2",
    }  # fmt: skip
    assert set(charts.svgs) == expected, f"charts that drew no SVG: {expected - set(charts.svgs)}"
    empty = [chart for chart in expected if charts.shapes[chart] == 0]
    assert empty == [], f"charts with no drawn shapes: {empty}"
    assert "62.9%" in dom and "Funnel: where_is_my_order (guided)" in dom
    assert screenshot.stat().st_size > 10_000, "the screenshot is blank"

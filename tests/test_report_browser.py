"""The HTML report as a reader sees it, in a real browser (Debian's Chromium, driven by Playwright): every table page
shows its rows as text, the first row of each retrieval picture can be scrolled to, no caption turns "@" into a mail
link, and the interactive page draws points whose hover text names a configuration.

It reads the demo's report (README command 1 writes results/report.html; CI runs it before the tests) or the one
``LSHBENCH_REPORT`` names. Without the report or without Chromium it skips and says why, unless
``LSHBENCH_REQUIRE_BROWSER`` is set (CI sets it once apt installed Chromium), when it fails instead. Screenshots of
the landing page, the headline and summary tables and the interactive page go to results/screenshots/.
"""

from __future__ import annotations

import csv
import html
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REPORT = Path(os.environ.get("LSHBENCH_REPORT", REPO / "results" / "report.html"))
SHOTS = REPO / "results" / "screenshots"
REQUIRED = bool(os.environ.get("LSHBENCH_REQUIRE_BROWSER"))


def _missing(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (LSHBENCH_REQUIRE_BROWSER is set)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def page():
    if not REPORT.is_file():
        _missing(f"no report at {REPORT}: run README command 1 (the demo, then --report) first")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        _missing("no chromium on PATH: `apt-get install -y chromium` (Debian) to check the report in a browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(REPORT.resolve().as_uri())
        page.wait_for_function("typeof app !== 'undefined' && typeof results !== 'undefined'")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "landing.png"))
        yield page
        browser.close()


def results_matching(page, suffix: str, folder: str) -> list[str]:
    return page.evaluate("([s, f]) => Object.keys(results).filter(p => p.startsWith(f) && p.endsWith(s)).sort()",
                         [suffix, folder])


def show(page, path: str, content: str):
    """Open a result in the report's viewer, as its eye icon does."""
    page.evaluate("([p, c]) => app.setView({content: c, contentPath: results[p].data_uri, resultPath: p})",
                  [path, content])


def html_frame(page):
    page.wait_for_selector("iframe")
    frame = page.frame_locator("iframe")
    return frame


def test_the_landing_page_leads_to_the_headline(page):
    text = page.inner_text("body")
    assert "Start with" in text and "headline.html" in text and "explorer.html" in text
    assert "System Message" not in text, "reStructuredText warnings on the landing page"


def test_every_table_page_shows_its_rows_as_text(page):
    tables = results_matching(page, ".html", "results/tables/")
    names = sorted(p.name for p in (REPORT.parent / "tables").glob("*.csv"))
    assert [Path(t).stem for t in tables] == [Path(n).stem for n in names], "a table without its page in the report"
    for table in tables:
        show(page, table, "html")
        frame = html_frame(page)
        rows = frame.locator("tbody tr")
        with open(REPORT.parent / "tables" / f"{Path(table).stem}.csv", newline="") as f:
            expected = list(csv.reader(f))
        assert rows.count() == len(expected) - 1, table
        header = frame.locator("thead th").all_inner_texts()
        assert header == expected[0], table
        if len(expected) > 1:
            first = rows.first.locator("td").all_inner_texts()
            assert any(first), f"{table}: the first row shows no text"
            assert first[0] == expected[1][0], table
        unknown = [c for c, d in zip(frame.locator("dl dt").all_inner_texts(), frame.locator("dl dd").all_inner_texts())
                   if d == "(see the caption)"]
        assert not unknown, f"{table}: the glossary does not know {unknown}"
        if Path(table).stem in ("headline", "summary"):
            page.wait_for_timeout(300)
            page.screenshot(path=str(SHOTS / f"{Path(table).stem}.png"))


def test_the_first_row_of_every_retrieval_picture_can_be_reached(page):
    pictures = results_matching(page, ".png", "results/plots/")
    pictures = [p for p in pictures if "_retrieved_" in p]
    assert pictures, "no retrieval picture in the report"
    for picture in pictures:
        show(page, picture, "img")
        page.wait_for_function("() => document.querySelector('img') && document.querySelector('img').complete")
        box = page.evaluate("""() => {
            const img = document.querySelector('img');
            let pane = img.parentElement;
            while (pane && getComputedStyle(pane).overflowY !== 'auto') pane = pane.parentElement;
            pane.scrollTop = 0; pane.scrollLeft = 0;
            const i = img.getBoundingClientRect(), p = pane.getBoundingClientRect();
            return {top: i.top, left: i.left, height: i.height, paneTop: p.top, paneLeft: p.left,
                    natural: img.naturalHeight};
        }""")
        # the picture's first row (title band and the first query's row: the top 160 of its natural pixels)
        assert box["top"] >= box["paneTop"] - 1, f"{picture}: its top is {box['paneTop'] - box['top']:.0f} px " \
                                                 "above the scroll range"
        assert box["left"] >= box["paneLeft"] - 1, picture


def test_no_caption_turns_an_at_sign_into_a_mail_link(page):
    captions = page.evaluate("() => Object.entries(results).map(([p, r]) => [p, r.caption || ''])")
    assert captions
    linked = [p for p, caption in captions if "mailto:" in caption]
    assert not linked, f"mailto: links in the captions of {linked}"
    assert page.locator('a[href^="mailto:"]').count() == 0, "a mailto: link on the landing page"
    assert "mailto:" not in page.evaluate("() => workflow_desc"), "a mailto: link in the workflow's description"
    assert any("recall@10" in html.unescape(caption) for _, caption in captions), \
        "no caption mentions recall@10: the check checks nothing"


def test_the_interactive_page_draws_points_whose_hover_names_a_configuration(page):
    pages = results_matching(page, ".html", "results/plots/")
    assert pages, "no interactive page in the report"
    for path in pages:
        show(page, path, "html")
        frame = html_frame(page)
        points = frame.locator("svg path.point")
        points.first.wait_for(state="attached", timeout=30000)
        assert points.count() > 10, f"{path}: {points.count()} points drawn"
        configurations = [points.nth(i).get_attribute("data-configuration") for i in range(points.count())]
        point = points.nth([i for i, c in enumerate(configurations) if c != "all"][0])  # a method's, not exact's
        point.hover()
        hover = frame.locator("#hover")
        hover.wait_for(state="visible", timeout=10000)
        text = hover.inner_text()
        assert "configuration: " + point.get_attribute("data-configuration") in text and "seeds:" in text, \
            f"{path}: hover shows {text!r}"
        datasets = frame.locator("#dataset option").all_inner_texts()
        assert len(datasets) == len(set(datasets)) >= 1
        page.screenshot(path=str(SHOTS / f"{Path(path).stem}.png"))

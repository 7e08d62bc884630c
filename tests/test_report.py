"""report.html and ``mflab compare`` (issue 24): built from a run's files alone, checked as
a reader sees it in a real headless Chromium, and refusing bad input in one line.

The browser test needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them); without them it is skipped here and fails under CI (``CI`` set), so CI never passes
without having looked at the page. Its screenshots are kept in ``test-artifacts/`` (or
``$MFLAB_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from mflab.report.build import caption_for, markdown_html
from mflab.report.diff import config_difference
from mflab.runs.executor import SerialExecutor
from mflab.runs.lifecycle import start
from mflab.runs.sweep import sweep
from mflab.studies import registry

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
#: A Müller–Brown run of a few seconds: three methods, 24 agents, 300 gradient evaluations.
TINY = ["optimizers=B1,B5,B10", "n_agents=24", "n_seeds=2", "budget=300", "n_records=12"]


def _mflab(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mflab", *args], capture_output=True,
                          text=True, cwd=cwd, env=ENV, timeout=300)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A sweep of two tiny Müller–Brown runs (seeds 0, 1): a batch report over two runs."""
    out = tmp_path_factory.mktemp("report") / "sweep"
    sweep("mueller-brown", [0, 1], overrides=TINY, out=out, executor=SerialExecutor())
    return out


def test_every_run_and_batch_gets_a_report_with_headline_and_embedded_figures(batch):
    for run in (batch / "seed-0", batch / "seed-1"):
        html = (run / "report.html").read_text()
        figures = sorted((run / "figures").glob("*.png"))
        assert len(figures) == 4
        # every figure embedded (no file link needed) and captioned from the study
        assert html.count('<img src="data:image/png;base64,') == len(figures)
        captions = registry.get("mueller-brown").captions
        for f in figures:
            text = caption_for(captions, f.stem)
            assert text and text[:40].replace("'", "&#x27;") in html, f.stem
        assert 'class="headline"' in html and "share in the global basin A" in html
    html = (batch / "report.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == 8  # both seeds' figures
    assert html.count("share in the global basin A") == 4  # top table + each run's table
    assert "mflab sweep mueller-brown --preset quick --seeds 0,1" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_report_links_resolve_and_markdown_is_relinked(batch):
    html = (batch / "report.html").read_text()
    ids = set(re.findall(r'id="([^"]+)"', html))
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert len(hrefs) > 10
    for h in hrefs:
        if h.startswith("#"):
            assert h[1:] in ids, h
        else:
            assert (batch / h).exists(), h
    body = markdown_html("# T\n\n[t](tables/x.csv)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
                         "run/")
    assert "<h3>T</h3>" in body and 'href="run/tables/x.csv"' in body
    assert '<div class="table-wrap"><table>' in body


@pytest.mark.parametrize("case", ["missing", "plain", "unfinished"])
def test_report_refuses_what_is_not_a_finished_run_and_writes_nothing(case, tmp_path):
    target = tmp_path / "x"
    if case == "plain":
        target.mkdir()
    elif case == "unfinished":
        target.mkdir()
        (target / "config.json").write_text('{"study": "mueller-brown"}')
        (target / "meta.json").write_text('{"status": "interrupted"}')
    before = sorted(p.name for p in tmp_path.rglob("*"))
    r = _mflab("report", "x", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("mflab report: error")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_report_command_rebuilds_a_deleted_report(batch, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(batch / "seed-0", copy)
    (copy / "report.html").unlink()
    r = _mflab("report", "copy", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "report: copy/report.html"
    assert (copy / "report.html").read_text() == (batch / "seed-0" / "report.html").read_text()


# ----------------------------------------------------------------------------- compare
@pytest.fixture(scope="module")
def other_run(tmp_path_factory):
    """A run of the same tiny study with another step size (the config difference)."""
    out = tmp_path_factory.mktemp("cmp") / "eta"
    return start("mueller-brown", preset="quick", overrides=[*TINY, "eta=2e-4"], out=out,
                 progress=False)


def test_compare_shows_the_config_difference_headline_and_an_overlay(batch, other_run,
                                                                     tmp_path):
    a = batch / "seed-0"
    r = _mflab("compare", str(a), str(other_run), "--out", "cmp", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| eta | `0.0001` | `0.0002` |" in md
    assert "share in A, B1 GD" in md and (tmp_path / "cmp" / "overlay.png").is_file()
    assert r.stdout.strip().splitlines()[-1].startswith("comparison: ")
    # the config difference in code: seed and one field
    import json

    ca = json.loads((a / "config.json").read_text())
    cb = json.loads((other_run / "config.json").read_text())
    assert [row[0] for row in config_difference(ca, cb)] == ["eta"]
    cb = {**cb, "seed": 5}
    assert [row[0] for row in config_difference(ca, cb)] == ["seed", "eta"]


@pytest.mark.parametrize("case", ["not-a-run", "other-study", "out-exists", "batch"])
def test_compare_refuses_bad_input_in_one_line_writing_nothing(case, batch, other_run,
                                                              tmp_path):
    a, b, out = str(batch / "seed-0"), str(other_run), "cmp"
    if case == "not-a-run":
        (tmp_path / "plain").mkdir()
        b = "plain"
    elif case == "other-study":
        (tmp_path / "fake").mkdir()
        for name, text in (("config.json", '{"study": "three-spin", "preset": "quick", '
                            '"seed": 0, "overrides": [], "config": {}}'),
                           ("meta.json", '{"status": "complete"}')):
            (tmp_path / "fake" / name).write_text(text)
        b = "fake"
    elif case == "out-exists":
        (tmp_path / "cmp").mkdir()
    elif case == "batch":
        b = str(batch)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    r = _mflab("compare", a, b, "--out", out, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


# ----------------------------------------------------------------------------- browser
def _browser():
    """(chromium, chromedriver) paths, or None."""
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (chrome, driver) if chrome and driver else None


@pytest.fixture(scope="module")
def browser():
    found = _browser()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must check report.html in a real browser: install Debian's "
                        "chromium and chromium-driver (.ci/run does)")
        pytest.skip("no chromium / chromedriver here (apt-get install chromium "
                    "chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = found[0]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--allow-file-access-from-files"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(executable_path=found[1]), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


#: Every text element whose content overflows its own box (scrollWidth beyond clientWidth)
#: outside a scrolling table box, and every element sticking out of the viewport.
OVERFLOW_JS = """
const out = [];
const vw = document.documentElement.clientWidth;
for (const el of document.querySelectorAll(
        'h1,h2,h3,h4,p,li,figcaption,summary,td,th,figure,img,pre,code,nav')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || el.closest('details:not([open])')) continue;
  const inScroller = el.closest('.table-wrap') !== null;
  const style = getComputedStyle(el);
  if (style.display !== 'inline' && el.scrollWidth > el.clientWidth + 1 && !inScroller)
    out.push(el.tagName + ' overflows its box: ' + el.textContent.slice(0, 60));
  if (!inScroller && r.right > vw + 1)
    out.push(el.tagName + ' sticks out of the page: ' + el.textContent.slice(0, 60));
}
if (document.documentElement.scrollWidth > vw + 1) out.push('the page scrolls sideways');
return out;
"""


@pytest.mark.parametrize("width", [1280, 400])
def test_report_in_a_real_browser(browser, batch, width):
    """The live page: every image decoded, every link resolving, the headline table there,
    no text overflowing its box at 1280 and 400 px. The screenshot is kept."""
    browser.set_window_size(width, 1000)
    browser.get((batch / "report.html").as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);")
    assert len(images) == 8 and all(ok and w > 0 for ok, w in images), images
    rows = browser.execute_script(
        "return document.querySelectorAll('#headline table.headline tbody tr').length;")
    assert rows >= 6
    for href in browser.execute_script(
            "return Array.from(document.links).map(a => a.href);"):
        url = urlparse(href)
        if url.scheme == "file":
            assert Path(unquote(url.path)).exists(), href
            if url.fragment:
                assert browser.execute_script(
                    "return document.getElementById(arguments[0]) !== null;", url.fragment)
        else:
            pytest.fail(f"a link leaves the page's files: {href}")
    assert browser.execute_script(OVERFLOW_JS) == []
    art = Path(os.environ.get("MFLAB_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    art.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight;")
    browser.set_window_size(width, min(int(height), 8000))
    assert browser.save_screenshot(str(art / f"report-{width}px.png"))

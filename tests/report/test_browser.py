"""The report in a real browser: headless Chromium renders it, shows the verdict, the endpoint
table and six charts with real sizes, and fetches nothing from the network.

Chromium is Debian's package (``make browser`` installs it). The screenshots and the page stay
in ``tests/report/output/`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import base64
import html as html_lib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from harness.report import ReportFiles

pytestmark = pytest.mark.browser

OUTPUT = Path(__file__).parent / "output"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHARTS = ["chart-rate", "chart-latency", "chart-server-latency", "chart-throttles", "chart-errors", "chart-dropped"]

# Added to a copy of the report (the report itself has no scripts): after load, write what the
# browser laid out into a <pre> that --dump-dom then prints.
PROBE = """<script>
window.addEventListener("load", function () {
  var shown = function (el) { return !!el && el.offsetWidth > 0 && el.offsetHeight > 0; };
  var out = {
    scrollHeight: document.documentElement.scrollHeight,
    verdict: document.getElementById("verdict").innerText,
    verdictShown: shown(document.getElementById("verdict")),
    title: document.getElementById("report-title").innerText,
    rows: Array.from(document.querySelectorAll("#endpoint-table tbody tr")).map(function (tr) {
      return {shown: shown(tr), cells: Array.from(tr.cells).map(function (td) { return td.innerText; })};
    }),
    images: Array.from(document.images).map(function (img) {
      return {id: img.id, complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
              width: img.offsetWidth, height: img.offsetHeight, alt: img.alt};
    }),
    throttle: document.getElementById("throttle-summary").innerText
  };
  var pre = document.createElement("pre");
  pre.id = "probe-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium(*args: str, log: Path | None = None) -> str:
    """Run headless Chromium once (a fresh profile, no network) and return its stdout."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        cmd = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            *([f"--log-net-log={log}"] if log else []),
            *args,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc.stdout


def page_requests(netlog: Path) -> list[str]:
    """URLs the page asked for (Chromium's own background requests have no origin and are left out)."""
    data = json.loads(netlog.read_text())
    start_job = data["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        e["params"]["url"]
        for e in data["events"]
        if e["type"] == start_job and "url" in e.get("params", {}) and e["params"].get("initiator") != "not an origin"
    ]


@pytest.fixture(scope="module")
def browser() -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`make browser` installs Debian's package)")


@pytest.fixture(scope="module")
def rendered(browser: None, report: ReportFiles) -> dict[str, Any]:
    """What Chromium laid out for the report (via the probe), plus the page's network log."""
    OUTPUT.mkdir(exist_ok=True)
    page = OUTPUT / "report.html"
    shutil.copyfile(report.html, page)
    probe = OUTPUT / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    netlog = OUTPUT / "netlog.json"
    dom = chromium("--window-size=1400,3000", "--dump-dom", probe.as_uri(), log=netlog)
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run: " + dom[-500:]
    out = json.loads(html_lib.unescape(found.group(1)))
    out["requests"] = page_requests(netlog)
    chromium("--window-size=1400,3000", f"--screenshot={OUTPUT / 'report.png'}", page.as_uri())
    chromium(f"--window-size=1400,{out['scrollHeight']}", f"--screenshot={OUTPUT / 'report-full.png'}", page.as_uri())
    return out


def test_verdict_banner_is_shown(rendered: dict[str, Any]) -> None:
    assert rendered["verdictShown"]
    assert rendered["verdict"].startswith("✗ FAILED – 1 of 3 gates failed")
    assert "server_error_rate < 0.1%" in rendered["verdict"] and "0.19 %" in rendered["verdict"]
    assert rendered["title"] == "spike"


def test_endpoint_table_rows_are_shown(rendered: dict[str, Any], results: Any) -> None:
    rows = rendered["rows"]
    assert [r["cells"][0].split("\n")[0] for r in rows] == ["list items", "get item", "my profile", "create order", "Total"]
    assert all(r["shown"] for r in rows)
    assert rows[-1]["cells"][1] == f"{results.total:,}"


def test_every_chart_is_an_image_with_its_real_size(rendered: dict[str, Any], report: ReportFiles) -> None:
    images = {img["id"]: img for img in rendered["images"]}
    assert list(images) == CHARTS
    html = report.html.read_text()
    for chart in CHARTS:
        img = images[chart]
        assert img["complete"] and img["naturalWidth"] > 0 and img["naturalHeight"] > 0, chart
        assert img["width"] > 600 and img["height"] > 150, chart  # laid out, not collapsed
        data = re.search(rf'<img id="{chart}" src="data:image/png;base64,([^"]+)"', html)
        assert data, chart
        png = base64.b64decode(data.group(1))
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert (img["naturalWidth"], img["naturalHeight"]) == (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"))
        assert img["alt"].strip()
    assert "First throttling seen" in rendered["throttle"]


def test_nothing_is_fetched_from_the_network(rendered: dict[str, Any]) -> None:
    outside = [u for u in rendered["requests"] if not u.startswith(("file:", "data:"))]
    assert outside == []


def test_the_network_check_catches_an_external_image(browser: None, tmp_path: Path) -> None:
    """The detector itself works: a page with an external image and stylesheet is caught."""
    page = tmp_path / "bad.html"
    page.write_text('<img src="https://cdn.example.com/x.png"><link rel="stylesheet" href="http://fonts.example.org/f.css">')
    netlog = tmp_path / "netlog.json"
    chromium("--dump-dom", page.as_uri(), log=netlog)
    assert sorted(page_requests(netlog)) == ["http://fonts.example.org/f.css", "https://cdn.example.com/x.png"]


def test_screenshots_are_kept(rendered: dict[str, Any]) -> None:
    from PIL import Image

    for name, height in (("report.png", 3000), ("report-full.png", rendered["scrollHeight"])):
        image = Image.open(OUTPUT / name)
        assert image.size == (1400, height)
        assert len(image.convert("RGB").getcolors(1 << 24) or []) > 50  # a rendered page, not a blank one

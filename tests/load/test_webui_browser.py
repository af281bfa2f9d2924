"""The Locust web UI in a real browser: ``locust -f locustfiles/api.py --scenario ... --local``
on a free 127.0.0.1 port, driven by headless Chromium through Selenium. It clicks Start, sees
requests counted, opens the Server tab and sees CloudWatch's figures arrive (the local
emulator publishes AWS/ApiGateway metrics to moto at 1-second resolution), opens the harness
tab, stops the run, follows the report link and sees the verdict.

Chromium and its driver are Debian's packages (``make browser`` installs them). A screenshot of
each step stays in ``tests/load/output/`` (git-ignored), with Locust's log. The whole test takes
well under 90 s, and every process it started is stopped at the end, even on failure.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(150)]

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(__file__).parent / "output"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BUDGET = 90.0
T = TypeVar("T")

SCENARIO = """
name = "webui-browser"
gates = ["p95 < 1s", "error_rate < 5%", "server.p95 < 1s"]
[target]
base_url = "local"
[auth]
users = 5
[[endpoints]]
name = "list items"
path = "/items"
[load]
profile = "steady"
rate = 20
duration = "60s"
vus = 5
[local]
latency_ms = 5
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def locust(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Locust with the web UI and ``--local``, in a process group of its own (with the local
    stack it starts); SIGTERM at the end, then SIGKILL for whatever is left of the group.
    Checks the whole test's time, set-up and clean-up included."""
    began = time.monotonic()
    OUTPUT.mkdir(exist_ok=True)
    for old in OUTPUT.glob("webui-*"):
        old.unlink()
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    port = free_port()
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "api.py"), "--scenario", "scenario.toml", "--local",
           "--results-dir", str(tmp_path / "run"), "--web-host", "127.0.0.1", "--web-port", str(port)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HARNESS_"))}
    log = open(OUTPUT / "webui-locust.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "proc": proc, "run_dir": tmp_path / "run"}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 10
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)  # the local stack's moto and emulator stop after Locust
        leftover = group_alive(proc.pid)
        if leftover:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()
        assert not leftover, "Locust left processes of its local stack running"
    elapsed = time.monotonic() - began
    print(f"\nthe web UI browser test took {elapsed:.1f} s in all")
    assert elapsed < BUDGET, f"the browser test took {elapsed:.0f} s, over its {BUDGET:.0f} s budget"


@pytest.fixture
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("chromium and chromium-driver are not installed (`make browser` installs Debian's packages)")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={profile}", "--window-size=1400,1100"):  # fmt: skip
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, proc: subprocess.Popen[bytes]) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except Exception:  # the page is still changing under us (stale elements, not there yet)
            value = None
        if value:
            return value
        assert proc.poll() is None, f"Locust exited ({proc.returncode}) while waiting for {what}; see {OUTPUT / 'webui-locust.log'}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def first_row(driver: Any, xpath: str) -> list[str] | None:
    """The cells' text of the first table row matching ``xpath`` (None if not shown), read in one
    script run: the tabs re-render their tables every second, and a row found in one WebDriver
    call can be gone, or hold another row's cells, by the next."""
    return driver.execute_script(
        "const row = document.evaluate(arguments[0], document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;"
        "return row ? Array.from(row.querySelectorAll(':scope > td'), td => td.innerText.trim()) : null;",
        xpath,
    )


def row_cells(driver: Any, first_cell: str) -> list[str] | None:
    """The cells of the table row whose first cell reads ``first_cell`` (None if not shown)."""
    return first_row(driver, f"//tr[td[1][normalize-space()='{first_cell}']]")


def harness_row(driver: Any, section: str, item: str) -> list[str] | None:
    return first_row(driver, f"//tr[td[1][normalize-space()='{section}'] and td[2][normalize-space()='{item}']]")


def button(driver: Any, text: str) -> Any:
    from selenium.webdriver.common.by import By

    found = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip().upper() == text.upper()]
    return found[0] if found else None


def tab(driver: Any, title: str) -> Any:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.XPATH, f"//button[@role='tab'][normalize-space()='{title}']")
    return found[0] if found else None


def test_the_web_ui_shows_the_server_and_harness_tabs_and_links_the_report(locust: dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    proc, driver = locust["proc"], browser
    shots: list[str] = []

    def shot(name: str) -> None:
        driver.save_screenshot(str(OUTPUT / f"webui-{len(shots) + 1:02d}-{name}.png"))
        shots.append(name)

    try:
        # 1. the start form: the local stack is up and the scenario's users exist by now
        def page_loaded() -> bool:
            driver.get(locust["url"] + "/")
            return button(driver, "Start") is not None

        wait_for("the web UI's start form", page_loaded, 40, proc)
        note = wait_for("the note on the ignored fields", lambda: driver.find_element(By.ID, "harness-shape-note").text, 5, proc)
        assert note.startswith("Ignored. The scenario drives this run") and "5 virtual users" in note and "20 to 20 rps" in note
        assert driver.find_element(By.NAME, "userCount").get_attribute("disabled") is not None  # Locust's own, for a shape class
        shot("start-form")

        # 2. Start: requests are counted in Locust's statistics
        button(driver, "Start").click()

        def requests_counted() -> int | None:
            cells = row_cells(driver, "GET")
            return (
                int(cells[2].replace(",", ""))
                if cells and cells[1] == "list items" and cells[2].replace(",", "").isdigit() and int(cells[2].replace(",", "")) > 0
                else None
            )

        counted = wait_for("requests counted in the statistics table", requests_counted, 25, proc)
        assert counted > 0
        shot("requests")

        # 3. the Server tab: CloudWatch's figures arrive (numbers, with the newest period's time)
        tab(driver, "Server").click()

        def server_count(above: int) -> Callable[[], list[str] | None]:
            def probe() -> list[str] | None:
                cells = row_cells(driver, "API Gateway Count")
                return cells if cells and re.fullmatch(r"[\d,]+", cells[1]) and int(cells[1].replace(",", "")) > above else None

            return probe

        first = wait_for("CloudWatch's Count in the Server tab", server_count(0), 25, proc)
        # refreshed every few seconds: the next answer counts more, with a newer period
        count = wait_for("the Server tab's next refresh", server_count(int(first[1].replace(",", ""))), 15, proc)
        assert re.fullmatch(r"\d\d:\d\d:\d\d UTC", count[3]) and count[3] > first[3]
        latency = row_cells(driver, "API Gateway Latency p95")
        assert latency is not None and latency[1].endswith(" ms")
        cloudwatch = row_cells(driver, "CloudWatch")
        assert cloudwatch is not None and "1-s periods" in cloudwatch[2]
        assert row_cells(driver, "Cognito TokenRefreshThrottles") == ["Cognito TokenRefreshThrottles", "no data yet", "no data yet", ""]
        shot("server")

        # 4. the harness tab: the open model, the token pool, the gates, the report link
        tab(driver, "harness").click()
        so_far = wait_for("the open model's counts", lambda: harness_row(driver, "open model", "run so far"), 10, proc)
        assert re.match(r"[\d,.]+ planned · [\d,]+ released · [\d,]+ dropped", so_far[2])
        status = harness_row(driver, "run", "status")
        assert status is not None and status[2].startswith("running: ")
        assert harness_row(driver, "tokens", "sign-ins") == ["tokens", "sign-ins", "5", ""]
        gate = wait_for("a gate evaluated live", lambda: (r := harness_row(driver, "gate", "p95 < 1s")) and r[2] in ("PASS", "FAIL") and r, 10, proc)
        assert gate[2] == "PASS"
        report_link = "a.harness-link[href='/harness/report.html']"  # found afresh each try: the tab re-renders
        wait_for(
            "the report link", lambda: (a := driver.find_element(By.CSS_SELECTOR, report_link)).is_displayed() and a.text == "/harness/report.html", 5, proc
        )
        shot("harness")
        driver.execute_script("document.querySelector(arguments[0])?.scrollIntoView({block: 'end'})", report_link)
        shot("harness-gates")

        # 5. Stop
        button(driver, "Stop").click()
        # (Locust's page stops polling if it sees the stop's brief "cleanup": webui.js reloads it)
        wait_for("the run to stop", lambda: "STOPPED" in driver.find_element(By.TAG_NAME, "header").text.upper(), 15, proc)
        shot("stopped")

        # 6. follow the report link: a page that waits for the report, then the report itself
        wait_for("the report link", lambda: driver.find_element(By.CSS_SELECTOR, "a.harness-link[href='/harness/report.html']"), 10, proc).click()
        verdict = wait_for("the report's verdict", lambda: driver.find_element(By.ID, "verdict"), 30, proc)
        # stopped by hand, the run was interrupted: the report judges no part of a run
        assert verdict.get_attribute("data-verdict") == "not judged", verdict.text
        assert verdict.text.startswith("Not judged – the run was interrupted")
        assert "p95 < 1s passed" in verdict.text and "server.p95 < 1s passed" in verdict.text
        assert driver.current_url == locust["url"] + "/harness/report.html"
        shot("report")
    except BaseException:
        shot("failure")
        raise
    assert (locust["run_dir"] / "report.html").is_file() and (locust["run_dir"] / "results.json").is_file()

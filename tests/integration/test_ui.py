"""The dashboard at /ui in headless Chromium, against the real API (uvicorn) and PostgreSQL.

Debian's chromium (``make chromium`` installs it) is driven by Playwright's Python package;
Playwright never downloads a browser here. The API runs in this process, in a uvicorn server on
a free localhost port, over the test's own database.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from batchacct_api.app import create_app
from batchacct_api.dashboard import CONTENT_SECURITY_POLICY, UI_FILES
from batchacct_api.settings import ApiSettings

from .conftest import Env
from .test_api import insert_job, insert_quarantine

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("BATCHACCT_TEST_CHROMIUM") or shutil.which("chromium") or "chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VOS = ("atlas", "cms", "lhcb")
TIMEOUT_MS = 10_000


def _insert_data(env: Env) -> None:
    with env.connect() as conn:
        for day, vo in enumerate(VOS * 2, start=1):
            insert_job(
                conn,
                vo=vo,
                end_time=datetime(2024, 1, day, 12, tzinfo=UTC),
                submit_time=datetime(2024, 1, day, 10, tzinfo=UTC),
                processors=2,
            )
        insert_quarantine(conn, reason="bad_field", detail="field 7 is not an integer")
        conn.execute(
            'INSERT INTO collector_files (collector, file_id, path, source_format, site, "offset",'
            " size, lines, records, state) VALUES ('lsf:SITE-A:ce01', 'f1', '/var/log/lsb.acct',"
            " 'lsf', 'SITE-A', 1000, 1000, 6, 6, 'done')"
        )
        conn.execute(
            "INSERT INTO publications (run_id, kind, header, destination, message_id, records,"
            " bytes, sites, months, status) VALUES ('run-1', 'summary', 'APEL-summary-job-message:"
            " v0.3', 'dirq', '20240201/abc', 3, 512, '{SITE-A}', '{2024-01}', 'queued')"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def api_url(env: Env) -> Iterator[str]:
    """The real API under uvicorn on a free localhost port, in a thread of this process."""
    _insert_data(env)
    port = _free_port()
    app = create_app(ApiSettings(database_url=env.database_url))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start in 10 s"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run 'make chromium' (Debian's chromium package)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        # A persistent context is how Playwright takes a user-data-dir; its browser is what we
        # need (every test opens its own context: fresh sessionStorage).
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        assert context.browser is not None
        try:
            yield context.browser
        finally:
            context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" else None,
    )
    yield page
    context.close()
    # No script errors and no CSP violations (Chromium reports those on the console). The
    # wrong-token test's 401s are expected network errors, not script errors.
    assert not [e for e in errors if "401" not in e], errors


def test_dashboard_draws_charts_and_tables(api_url: str, read_token: str, page: Page) -> None:
    response = page.goto(api_url + "/ui")
    assert response is not None and response.status == 200
    assert page.url == api_url + "/ui/"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["content-type"] == "text/html; charset=utf-8"

    # It asks for a token first and shows nothing else.
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#dashboard")).to_be_hidden()
    page.fill("#token", read_token)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#dashboard")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("Updated")

    # Every chart is drawn, the stacked one with a bar per VO and day and a legend of the VOs.
    charts = page.locator("figure.chart")
    expect(charts).to_have_count(6)
    cpu = page.locator("figure[data-chart=cpu_hours_by_vo]")
    expect(cpu.locator("h3")).to_have_text("CPU hours by VO")
    assert cpu.locator("svg rect.bar").count() == 2 * len(VOS)
    assert sorted(cpu.locator(".legend li").all_inner_texts()) == sorted(VOS)
    expect(cpu.locator("svg .axis-title").first).to_contain_text("hours")
    lines = page.locator("figure[data-chart=jobs_started_and_running] svg polyline.series-line")
    assert lines.count() >= 1
    assert page.locator("figure[data-chart=wall_time_distribution] svg rect.bar").count() > 0
    efficiency = page.locator("figure[data-chart=cpu_efficiency_by_vo]")
    assert efficiency.locator("svg rect.bar").count() == len(VOS)

    # The tables have rows.
    for table, text in (
        ("#table-publications", "summary"),
        ("#table-quarantine", "bad_field"),
        ("#table-files", "/var/log/lsb.acct"),
        ("#table-missing", "ce01.example.org"),
    ):
        rows = page.locator(f"{table} tbody tr")
        expect(rows.first).to_be_visible()
        assert rows.count() >= 1
        expect(page.locator(table)).to_contain_text(text)

    # The filters reach the chart queries: one VO leaves one legend entry.
    page.fill("#filters input[name=vo]", "cms")
    page.click("#filters button[type=submit]")
    expect(cpu.locator(".legend li")).to_have_count(1)
    expect(cpu.locator(".legend")).to_have_text("cms")
    page.fill("#filters input[name=user]", "nobody")
    page.click("#filters button[type=submit]")
    expect(cpu).to_contain_text("No jobs match the filters.")
    page.click("#filters button[type=reset]")
    expect(cpu.locator(".legend li").first).to_be_visible()

    # The token stays for the tab: a reload does not ask again.
    page.reload()
    expect(page.locator("#dashboard")).to_be_visible()
    expect(page.locator("#login")).to_be_hidden()


def test_wrong_token_is_refused_with_the_reason(api_url: str, page: Page) -> None:
    page.goto(api_url + "/ui/")
    page.fill("#token", "not-a-token")
    page.click("#login-form button[type=submit]")
    error = page.locator("#login-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("401")
    expect(error).to_contain_text("invalid token")
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('batchacct.token')") is None


def test_static_files_need_no_token_and_have_their_types(api_url: str) -> None:
    with httpx.Client(base_url=api_url) as http:
        redirect = http.get("/ui")
        assert redirect.status_code == 308 and redirect.headers["location"] == "ui/"
        for name, content_type in UI_FILES.items():
            response = http.get(f"/ui/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"] == content_type
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert response.headers["x-content-type-options"] == "nosniff"
        index = http.get("/ui/").text
        assert "<script>" not in index and " style=" not in index  # the CSP allows neither
        for path in ("/ui/missing.js", "/ui/..%2Fapp.py", "/ui/%2e%2e/dashboard.py"):
            assert http.get(path).status_code == 404, path
        assert http.get("/api/v1/charts").status_code == 401

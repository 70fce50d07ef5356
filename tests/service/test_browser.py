"""The web page at / in a real headless Chromium: type a question, watch tokens stream."""

from __future__ import annotations

import os
import shutil

import pytest

from mock_llm.knowledge import find_entry

pytestmark = pytest.mark.browser

CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)


@pytest.fixture
def browser_page():
    if CHROMIUM is None:
        pytest.skip(
            "no Chromium installed (Debian: apt-get install chromium); "
            "set CHROMIUM=/path/to/chrome to use another"
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_page_streams_an_answer_with_eventsource(browser_page, service, mock, tmp_path):
    page = browser_page
    mock.config.latency = "realistic"  # slow enough to see tokens arrive one by one
    page.goto(service.url + "/")
    page.fill("#message", "What is HBM3?")
    page.click("#send")
    page.wait_for_function("document.getElementById('answer').textContent.length > 0")
    partial = page.text_content("#answer")
    page.wait_for_selector("body[data-state=done]", timeout=20_000)
    answer = page.text_content("#answer")
    assert answer.startswith("HBM3 is a stacked DRAM standard") and len(answer) > len(partial)
    assert "first token" in page.text_content("#stats")
    page.screenshot(path=os.environ.get("PAGE_SCREENSHOT", str(tmp_path / "page.png")))
    # the page closed its EventSource: exactly one upstream call, no reconnect loop
    assert len(mock.state.chat_requests()) == 1


def test_page_shows_the_reason_of_a_refused_request(browser_page, service, mock):
    page = browser_page
    page.goto(service.url + "/")
    page.select_option("#model", "gpt-4o")
    mock.state.fail_next(2, "400")
    page.fill("#message", "What is HBM3?")
    page.click("#send")
    page.wait_for_selector("body[data-state=error]", timeout=20_000)
    assert "error 400" in page.text_content("#stats")


# The lecture's browser snippet, as it stands, but for its `process.stdout.write`: that is
# Node's API, which a browser does not have, so the page gives it one that collects text.
LECTURE_SNIPPET = """
window.process = {stdout: {write: (text) => { window.printed.push(text); }}};
window.printed = []; window.lectureDone = false;
const evtSource = new EventSource("/chat/stream?message=What+is+HBM3");
evtSource.addEventListener("token", (e) => process.stdout.write(e.data));
evtSource.addEventListener("done", () => { evtSource.close(); window.lectureDone = true; });
"""


def test_the_lecture_browser_snippet_works_against_the_get_stream(browser_page, service, mock):
    page = browser_page
    page.goto(service.url + "/")
    page.evaluate(LECTURE_SNIPPET)
    page.wait_for_function("window.lectureDone === true", timeout=20_000)
    printed = page.evaluate("window.printed.join('')")
    assert printed == find_entry("HBM3").answer  # EventSource keeps every space
    assert len(mock.state.chat_requests()) == 1  # closed on done: no reconnect

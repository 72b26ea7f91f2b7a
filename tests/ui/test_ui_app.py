"""The running app: its API through gradio_client, and the page in Debian's Chromium (Playwright).

Browser tests are marked `browser` and skip only when /usr/bin/chromium is absent. Screenshots
go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-gpu"]
WAIT_MS = 120_000  # the CPU is shared with other work: be patient


def test_gradio_client_api(running_app: str) -> None:
    from gradio_client import Client

    client = Client(running_app, verbose=False)
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/ask", "/run_sql", "/save_example", "/pick_database", "/upload_database", "/paste_schema"} <= set(api)

    history, box, sql, table, note, retrieved, details = client.predict(
        "How many books are in the catalog?", [], True, 3, api_name="/ask"
    )
    assert sql == "SELECT COUNT(*) AS book_count FROM books"
    assert table["headers"] == ["book_count"] and table["data"] == [[60]]
    assert len(retrieved["data"]) == 3 and details.startswith("Answered by **knn**")

    # the session (database choice) is kept per client
    chat, status, schema, picker = client.predict("clinic", [], api_name="/pick_database")
    assert "`clinic`" in status and "CREATE TABLE patients" in schema
    answer = client.predict("How many patients are registered at the clinic?", [], True, 3, api_name="/ask")
    assert answer[2] == "SELECT COUNT(*) AS patient_count FROM patients"

    chat, table, note = client.predict("DELETE FROM patients", [], api_name="/run_sql")
    assert "only read-only SELECT queries are allowed" in chat[-1]["content"][0]["text"]
    chat, *_ = client.predict("", [], True, 3, api_name="/ask")
    assert "the question is empty" in chat[-1]["content"][0]["text"]

    # another client still gets bookshop, its own default
    other = Client(running_app, verbose=False)
    assert other.predict("How many books are in the catalog?", [], True, 3, api_name="/ask")[3]["data"] == [[60]]


@pytest.fixture
def page(chromium, running_app: str):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.set_default_timeout(WAIT_MS)
            tab.goto(running_app, wait_until="domcontentloaded")
            yield tab
        finally:
            browser.close()


def ask_in_browser(page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()


@pytest.mark.browser
def test_browser_pick_database_ask_and_see_sql_and_table(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#notice")).to_contain_text("answers come from retrieval alone", timeout=WAIT_MS)
    page.locator("#db-picker").get_by_label("clinic").check()
    expect(page.locator("#db-status")).to_contain_text("clinic", timeout=WAIT_MS)
    expect(page.locator("#schema")).to_contain_text("CREATE TABLE patients", timeout=WAIT_MS)

    ask_in_browser(page, "How many doctors does each department have?")
    expect(page.locator("#sql")).to_contain_text("SELECT", timeout=WAIT_MS)
    expect(page.locator("#sql")).to_contain_text("department", timeout=WAIT_MS)
    result = page.locator("#result table")
    expect(result).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#result-note")).to_contain_text("rows", timeout=WAIT_MS)
    assert page.locator("#result [role=row]").count() >= 3  # a header row and at least two rows
    expect(page.locator("#chat")).to_contain_text("answered by knn", timeout=WAIT_MS)
    expect(page.locator("#details")).to_contain_text("Answered by knn", timeout=WAIT_MS)

    page.locator("#retrieved").get_by_text("Retrieved examples").click()
    expect(page.locator("#retrieved-table")).to_contain_text("clinic", timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "ui-ask.png"), full_page=True)


@pytest.mark.browser
def test_browser_bad_input_gets_a_message_and_the_app_keeps_working(page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    not_sqlite = tmp_path / "notes.sqlite"
    not_sqlite.write_text("just some notes, not a database\n")
    chat = page.locator("#chat")
    page.locator("#ask").click()  # an empty question
    expect(chat).to_contain_text("the question is empty", timeout=WAIT_MS)

    ask_in_browser(page, "How many books are in the catalog?")
    expect(page.locator("#sql")).to_contain_text("book_count", timeout=WAIT_MS)

    editor = page.locator("#sql .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("DELETE FROM books")
    page.locator("#run-sql").click()
    expect(chat).to_contain_text("only read-only SELECT queries are allowed", timeout=WAIT_MS)

    page.get_by_role("tab", name="Upload").click()
    page.locator("#upload input[type=file]").set_input_files(str(not_sqlite))
    expect(chat).to_contain_text("notes.sqlite is not a SQLite database", timeout=WAIT_MS)

    page.get_by_role("tab", name="Paste schema").click()
    page.locator("#schema-input textarea").fill("CREATE TABLE t (a INT,, b);")
    page.locator("#use-schema").click()
    expect(chat).to_contain_text("the schema does not load in SQLite", timeout=WAIT_MS)

    ask_in_browser(page, "How many books are in the catalog?")
    expect(page.locator("#result table")).to_contain_text("60", timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-bad-input.png"), full_page=True)

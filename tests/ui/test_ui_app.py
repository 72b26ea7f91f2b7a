"""The running app: its API through gradio_client, and the page in Debian's Chromium (Playwright).

Browser tests are marked `browser` and skip only when /usr/bin/chromium is absent. Screenshots
go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-gpu"]
WAIT_MS = 120_000  # the CPU is shared with other work: be patient
VIEWPORT = {"width": 1280, "height": 900}  # the screen: the answer must show without scrolling
GROUPED = "How many doctors does each department have?"
COUNTRIES = "How many customers are there in each country?"
UNANSWERABLE = "What is the airspeed velocity of an unladen swallow?"
CODERAG = [sys.executable, "-m", "ui.cli"]


def test_gradio_client_api(running_app: str) -> None:
    from gradio_client import Client

    client = Client(running_app, verbose=False)
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/ask", "/run_sql", "/save_example", "/pick_database", "/upload_database", "/paste_schema"} <= set(api)

    history, box, sql, table, note, retrieved, details, head, download, *_ = client.predict(
        "How many books are in the catalog?", [], True, 3, api_name="/ask"
    )
    assert sql == "SELECT COUNT(*) AS book_count FROM books"
    assert table["headers"] == ["book_count"] and table["data"] == [[60]]
    assert len(retrieved["data"]) == 3 and details.startswith("Answered by **knn**")
    assert head.startswith("### How many books are in the catalog?") and "**1 row**" in head
    assert Path(download["value"]).read_text().splitlines() == ["book_count", "60"]

    # the session (database choice) is kept per client
    chat, status, schema, picker = client.predict("clinic", [], api_name="/pick_database")
    assert "`clinic`" in status and "CREATE TABLE patients" in schema
    answer = client.predict("How many patients are registered at the clinic?", [], True, 3, api_name="/ask")
    assert answer[2] == "SELECT COUNT(*) AS patient_count FROM patients"

    chat, table, note, *_ = client.predict("DELETE FROM patients", [], api_name="/run_sql")
    assert "only read-only SELECT queries are allowed" in chat[-1]["content"][0]["text"]
    chat, *_ = client.predict("", [], True, 3, api_name="/ask")
    assert "the question is empty" in chat[-1]["content"][0]["text"]

    # another client still gets bookshop, its own default
    other = Client(running_app, verbose=False)
    assert other.predict("How many books are in the catalog?", [], True, 3, api_name="/ask")[3]["data"] == [[60]]


@pytest.fixture
def page(chromium, running_app: str, app_token: str):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport=VIEWPORT)
            tab.set_default_timeout(WAIT_MS)
            tab.goto(f"{running_app}?token={app_token}", wait_until="domcontentloaded")  # as the owner opens the printed link
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

    page.locator("#retrieved").get_by_text("Which examples it came from").click()
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


def pick(page, name: str) -> None:
    from playwright.sync_api import expect

    page.locator("#db-picker").get_by_label(name).check()
    expect(page.locator("#db-status")).to_contain_text(name, timeout=WAIT_MS)


def in_viewport(box: dict | None) -> bool:
    return (
        box is not None
        and 0 <= box["y"]
        and box["y"] + box["height"] <= VIEWPORT["height"]
        and box["x"] + box["width"] <= VIEWPORT["width"]
    )


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / name))


def set_editor(page, selector: str, text: str) -> None:
    page.locator(f"{selector} .cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


@pytest.mark.browser
def test_browser_answer_card_shows_rows_above_the_fold_and_a_chart(page) -> None:
    """At 1280×900 the question's card shows its first result rows without scrolling, and a grouped count gets a bar chart."""
    from playwright.sync_api import expect

    pick(page, "clinic")
    ask_in_browser(page, GROUPED)
    head = page.locator("#answer-head")
    expect(head).to_contain_text(GROUPED, timeout=WAIT_MS)
    expect(head).to_contain_text("rows", timeout=WAIT_MS)
    first_row = page.locator("#result [role=row]").nth(1)  # the first row under the header
    expect(first_row).to_be_visible(timeout=WAIT_MS)
    assert page.evaluate("window.scrollY") == 0
    assert in_viewport(first_row.bounding_box()), first_row.bounding_box()
    assert in_viewport(head.bounding_box())
    chart = page.locator("#chart-bar")
    expect(chart).to_be_visible(timeout=WAIT_MS)
    expect(chart.locator("canvas, svg").first).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#chart-line")).to_be_hidden()
    expect(page.locator("#chart-scatter")).to_be_hidden()
    expect(page.locator("#download-csv")).to_be_visible()
    shoot(page, "ui-answer.png")
    chart.scroll_into_view_if_needed()
    shoot(page, "ui-chart.png")

    # results people can read: a count per country on the demo bookshop is a bar per country, and
    # a float in the result table is rounded for display (the CSV keeps the exact value)
    pick(page, "bookshop")
    ask_in_browser(page, COUNTRIES)
    expect(head).to_contain_text(COUNTRIES, timeout=WAIT_MS)
    expect(page.locator("#sql")).to_contain_text("country", timeout=WAIT_MS)
    expect(chart).to_be_visible(timeout=WAIT_MS)
    expect(chart.locator("canvas, svg").first).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#chart-scatter")).to_be_hidden()
    set_editor(page, "#sql", "SELECT 0.1 + 0.2 AS x, 523.0600000000003 AS total")
    page.locator("#run-sql").click()
    result = page.locator("#result table")
    expect(result).to_contain_text("523.06", timeout=WAIT_MS)  # the new result is in (a prefix of the exact value too)
    cells = result.text_content()  # the cells' text (inner_text leaves the data cells out)
    assert "0.3" in cells and "523.06" in cells
    assert "523.0600000000003" not in cells and "0.30000000000000004" not in cells, cells


@pytest.mark.browser
def test_browser_an_error_is_its_own_message(page) -> None:
    from playwright.sync_api import expect

    ask_in_browser(page, "How many books are in the catalog?")
    expect(page.locator("#result table")).to_contain_text("60", timeout=WAIT_MS)
    bot = page.locator("#chat [data-testid=bot]")
    expect(bot).to_have_count(1, timeout=WAIT_MS)
    set_editor(page, "#sql", "DELETE FROM books")
    page.locator("#run-sql").click()
    expect(bot).to_have_count(2, timeout=WAIT_MS)
    expect(bot.nth(1)).to_contain_text("only read-only SELECT queries are allowed")
    assert "read-only" not in bot.nth(0).inner_text()  # the answer before it is untouched
    expect(page.locator("#action-status")).to_contain_text("only read-only SELECT queries are allowed")
    shoot(page, "ui-error.png")


@pytest.mark.browser
def test_browser_abstention_offers_teach_this(page, app_home: Path) -> None:
    from playwright.sync_api import expect

    ask_in_browser(page, UNANSWERABLE)
    expect(page.locator("#answer-head")).to_contain_text("No stored example matches this question well", timeout=WAIT_MS)
    teach = page.locator("#teach-this")
    expect(teach).to_be_visible(timeout=WAIT_MS)
    shoot(page, "ui-abstain.png")
    set_editor(page, "#sql", "SELECT count(*) AS swallows FROM books WHERE title LIKE '%swallow%'")
    teach.click()
    # no login: the save lasts for this browser session, with the command that would share it
    expect(page.locator("#action-status")).to_contain_text("Saved for this session", timeout=WAIT_MS)
    expect(page.locator("#action-status")).to_contain_text("coderag db teach bookshop")
    expect(page.locator("#result table")).to_contain_text("swallows", timeout=WAIT_MS)
    ask_in_browser(page, UNANSWERABLE)  # asked again in this session: answered with the saved SQL
    expect(page.locator("#answer-head")).to_contain_text("the SQL you saved for this question in this session", timeout=WAIT_MS)
    expect(page.locator("#result table")).to_contain_text("swallows", timeout=WAIT_MS)
    from rag.registry import ExampleStore

    assert not any("swallow" in e.sql for e in ExampleStore(app_home).load("bookshop"))  # nothing reached the shared store


def cli_show(home: Path, name: str) -> str:
    import os

    env = {**os.environ, "CODERAG_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([*CODERAG, "db", "show", name], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.browser
def test_browser_examples_tab_lists_edits_and_deletes_and_the_cli_sees_it(page, app_home: Path) -> None:
    from playwright.sync_api import expect

    pick(page, "pets")
    page.get_by_role("tab", name="Examples").click()
    title = page.locator("#examples-title")
    expect(title).to_contain_text("0 examples of pets", timeout=WAIT_MS)

    page.locator("#example-question textarea").fill("How many dogs are there?")
    set_editor(page, "#example-sql", "SELECT count(*) FROM pets WHERE species = 'dog'")
    page.locator("#example-add").click()
    status = page.locator("#example-status")
    expect(status).to_contain_text("Added", timeout=WAIT_MS)
    table = page.locator("#examples-table")
    expect(table).to_contain_text("How many dogs are there?", timeout=WAIT_MS)
    assert "How many dogs are there?" in cli_show(app_home, "pets")

    table.locator("[role=gridcell]").nth(1).click()  # the first example's question
    expect(status).to_contain_text("Editing", timeout=WAIT_MS)
    page.locator("#example-question textarea").fill("How many dogs do we have?")
    page.locator("#example-update").click()
    expect(status).to_contain_text("Saved the edited example", timeout=WAIT_MS)
    expect(table).to_contain_text("How many dogs do we have?", timeout=WAIT_MS)
    shown = cli_show(app_home, "pets")
    assert "How many dogs do we have?" in shown and "How many dogs are there?" not in shown
    shoot(page, "ui-examples.png")

    page.locator("#example-delete").click()
    expect(status).to_contain_text("Deleted", timeout=WAIT_MS)
    expect(table).not_to_contain_text("How many dogs", timeout=WAIT_MS)
    assert "How many dogs" not in cli_show(app_home, "pets")

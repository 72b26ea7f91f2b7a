"""The UI on a database by URL: the real `coderag ui` process serving the demo bookshop loaded into a
real PostgreSQL (tests/fixtures/servers.py) with `coderag db load-demo`, asked in Debian's Chromium."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.ui_process import CODERAG, ui_process

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-gpu"]
WAIT_MS = 120_000
QUESTION = "How many customers are there in each country?"
DATABASE = "coderag_ui"


@pytest.fixture(scope="module")
def pg_ui(postgres_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`db load-demo` into its own PostgreSQL database, then `coderag ui --db shop-pg`; yields (its URL, its home)."""
    from fixtures.servers import OWNER, OWNER_PASSWORD

    if DATABASE not in postgres_server.psql("SELECT datname FROM pg_database").split():
        postgres_server.create_database(DATABASE)
    work = tmp_path_factory.mktemp("ui_engines")
    env = {
        **os.environ,
        "CODERAG_HOME": str(work / "home"),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TMPDIR": str(work),
        "CODERAG_DB_PASSWORD": OWNER_PASSWORD,
    }
    env.pop("GRADIO_TEMP_DIR", None)
    url = postgres_server.url(OWNER, DATABASE)
    loaded = subprocess.run(
        [*CODERAG, "db", "load-demo", url, "--demo", "bookshop", "--name", "shop-pg", "--replace"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert loaded.returncode == 0, loaded.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with ui_process(["--db", "shop-pg", "--allow-privileged-role"], env, port) as served:  # the owner role may write
        yield served.url, work / "home"
    assert OWNER_PASSWORD not in served.output


@pytest.mark.browser
def test_browser_asks_a_postgresql_database_and_gets_its_rows(pg_ui: tuple[str, Path], chromium: Path) -> None:
    from fixtures.servers import OWNER_PASSWORD
    from playwright import sync_api
    from playwright.sync_api import expect

    from rag.corpus import demo_db_path

    address, home = pg_ui
    with sqlite3.connect(demo_db_path("bookshop", home)) as conn:
        countries = conn.execute("SELECT COUNT(DISTINCT country) FROM customers").fetchone()[0]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(WAIT_MS)
            page.goto(address, wait_until="domcontentloaded")
            expect(page.locator("#db-status")).to_contain_text("shop-pg", timeout=WAIT_MS)
            expect(page.locator("#schema")).to_contain_text("customers", timeout=WAIT_MS)
            page.locator("#question textarea").fill(QUESTION)
            page.locator("#ask").click()
            expect(page.locator("#sql")).to_contain_text("GROUP BY", timeout=WAIT_MS)
            expect(page.locator("#result table")).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#result-note")).to_contain_text("rows", timeout=WAIT_MS)
            assert page.locator("#result [role=row]").count() == countries + 1  # a header and one row per country, from PostgreSQL
            assert OWNER_PASSWORD not in page.content()
        finally:
            browser.close()

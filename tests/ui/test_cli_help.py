"""Every `coderag ... --help` reads like git's, sqlite3's and psql's: no type tags before the options,
defaults shown, and an example to copy. Each page is printed by the real entry point."""

from __future__ import annotations

import doctest
import re
from typing import Any

import pytest
import typer.main
from fixtures.cli import invoke_main

import ui.commands.helptext
from ui.cli import app

TYPE_TAG = re.compile(
    r"<(bool|str|int|float|path|file|text|integer|choice|list|tuple|datetime|uuid)\b[^>]*>|\b(TEXT|INTEGER|FLOAT|BOOLEAN)\b"
)


def _commands() -> list[tuple[list[str], Any]]:
    """(argv, click command) for the root and every visible command and group under it."""
    found: list[tuple[list[str], Any]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append((path, command))
        for name, sub in (getattr(command, "commands", None) or {}).items():
            if not sub.hidden:
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()


def _help(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    capsys.readouterr()
    code = invoke_main([*argv, "--help"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    return printed.out


def test_every_command_is_walked() -> None:
    paths = {" ".join(argv) for argv, _ in COMMANDS}
    assert {
        "",
        "ask",
        "sql",
        "mcp",
        "ui",
        "retrain",
        "index build",
        "models pull",
        "db teach",
        "synth review",
        "eval score",
        "embedder use",
    } <= paths
    assert "embedder train" not in paths  # the hidden old name
    assert len(paths) >= 35


@pytest.mark.parametrize("argv", [argv for argv, _ in COMMANDS], ids=[" ".join(argv) or "coderag" for argv, _ in COMMANDS])
def test_help_has_no_type_tags_shows_defaults_and_an_example(capsys: pytest.CaptureFixture, argv: list[str]) -> None:
    page = _help(capsys, argv)
    command = dict((tuple(a), c) for a, c in COMMANDS)[tuple(argv)]
    assert page.startswith(f"Usage: {' '.join(['coderag', *argv])} ")
    assert not TYPE_TAG.search(page), TYPE_TAG.search(page)
    assert "╭" not in page and "{" not in page.splitlines()[0]  # plain text, arguments named like QUESTION, not {question}
    for param in command.params:
        default = param.default
        if param.hidden or default in (None, False, (), []) or callable(default) or param.show_default is False:
            continue
        shown = ", ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        assert f"[default: {shown}" in " ".join(page.split()), f"{param.name}: default {shown!r} not shown"
    example = page.split("\nExample", 1)
    assert len(example) == 2, f"no example in `coderag {' '.join(argv)} --help`"
    lines = [line.strip() for line in example[1].splitlines()[1:] if line.strip()]
    assert lines and all(line.startswith(" ".join(["coderag", *argv])) for line in lines), lines


def test_an_option_shows_the_name_of_its_value_and_a_flag_shows_none(capsys: pytest.CaptureFixture) -> None:
    page = " ".join(_help(capsys, ["sql"]).split())
    assert "--db DB " in page and "--max-rows ROWS " in page and "--timeout TIMEOUT " in page
    assert "--json Print one JSON object." in page
    assert "Usage: coderag sql [OPTIONS] SQL" in page


def test_doctests() -> None:
    result = doctest.testmod(ui.commands.helptext)
    assert result.attempted >= 1 and result.failed == 0


@pytest.mark.parametrize("argv", [[], ["db"], ["embedder"]])
def test_a_group_without_its_command_prints_its_help(capsys: pytest.CaptureFixture, argv: list[str]) -> None:
    capsys.readouterr()
    code = invoke_main(argv)
    printed = capsys.readouterr()
    assert code == 2 and printed.err == ""
    assert printed.out.startswith(f"Usage: {' '.join(['coderag', *argv])} [OPTIONS] COMMAND") and "\nCommands:\n" in printed.out

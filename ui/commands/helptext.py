"""How every `coderag ... --help` reads: plain text like git's, sqlite3's and psql's help.

An option shows the name of its value (`--db DB`, `--k K`), never a type tag such as `<str>` or
`<int range>`; defaults, ranges and "required" follow its help; the command's example (the last
paragraph of its help, starting `Example:`) ends the page, one command per line, never re-wrapped:

    Usage: coderag sql [OPTIONS] SQL

      Run one read-only query on a database.

    Arguments:
      SQL                 One read-only SQL query.  [required]

    Options:
      --db DB             Demo database name ...  [required]
      --max-rows ROWS     Row cap (default 1,000).  [x>=1]
      --json              Print one JSON object.

    Example:
      coderag sql --db bookshop "SELECT count(*) FROM books"

`plain_help(app)` gives every command and group under the root this look; the packages declare their
commands with plain typer and need not know.
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:  # typer carries its own copy of click
    from typer._click import Context, HelpFormatter, Parameter

EXAMPLE = re.compile(r"\n\s*\n\s*Examples?:[ \t]*(?P<lines>.*)\Z", re.S)


def split_example(text: str | None) -> tuple[str, list[str]]:
    """A help text without its closing `Example:` paragraph, and that paragraph's command lines.

    >>> split_example("Answer a question.\\n\\nExample: coderag ask 'How many?'")
    ('Answer a question.', ["coderag ask 'How many?'"])
    >>> split_example("Only prose.")
    ('Only prose.', [])
    """
    text = inspect.cleandoc(text or "")
    found = EXAMPLE.search(text)
    if found is None:
        return text, []
    lines = [line.strip() for line in found["lines"].splitlines() if line.strip()]
    return text[: found.start()].rstrip(), lines


def value_name(param: Parameter) -> str:
    """What an option's value is called on the page: its metavar, its choices, or the last word of its name in capitals."""
    if param.metavar:
        return param.metavar
    described = getattr(param, "type_descriptor", None)  # typer's account of the annotation
    if described is not None and described.is_choice and described.choices:
        return "[" + "|".join(str(getattr(choice, "value", choice)) for choice in described.choices) + "]"
    longest = max(param.opts, key=len).lstrip("-")
    return longest.rsplit("-", 1)[-1].upper()  # --llm-model-path PATH, --max-rows ROWS, --db DB


def usage_name(param: Parameter) -> str:
    """An argument as the usage line writes it: NAME, [NAME] when optional, NAME... when repeated."""
    name = param.metavar or (param.name or "").upper()
    if param.nargs != 1:
        name += "..."
    return name if param.required else f"[{name}]"


class PlainHelp:
    """The help page of a command or group (mixed into typer's classes; their parsing is unchanged)."""

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self.format_usage(ctx, formatter)  # type: ignore[attr-defined]
        self.format_help_text(ctx, formatter)
        self.format_params(ctx, formatter)
        self.format_epilog(ctx, formatter)

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []  # type: ignore[attr-defined]
        pieces += [usage_name(p) for p in self.get_params(ctx) if p.param_type_name == "argument"]  # type: ignore[attr-defined]
        subcommands = getattr(self, "subcommand_metavar", None)
        return pieces + [subcommands] if subcommands else pieces

    def format_help_text(self, ctx: Context, formatter: HelpFormatter) -> None:
        text, _ = split_example(self.help)  # type: ignore[attr-defined]
        if text:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(text)

    def format_params(self, ctx: Context, formatter: HelpFormatter) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):  # type: ignore[attr-defined]
            record = param.get_help_record(ctx)  # typer's: the help, then [default: ...; range; required]
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((param.metavar or (param.name or "").upper(), record[1]))
            else:
                options.append((self.option_names(param), record[1]))
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    @staticmethod
    def option_names(param: Any) -> str:
        """`--db DB`, `--json`, `--color / --no-color`: the option's names, and its value's name unless it is a flag."""
        names = ", ".join(param.opts)
        if param.secondary_opts:
            names += " / " + ", ".join(param.secondary_opts)
        return names if param.is_flag or param.count else f"{names} {value_name(param)}"

    def format_epilog(self, ctx: Context, formatter: HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)  # type: ignore[misc]
        _, examples = split_example(self.help)  # type: ignore[attr-defined]
        if examples:
            with formatter.section("Example" if len(examples) == 1 else "Examples"):
                for line in examples:
                    formatter.write(f"{'':>{formatter.current_indent}}{line}\n")


class PlainHelpCommand(PlainHelp, TyperCommand):
    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        self.format_params(ctx, formatter)


class PlainHelpGroup(PlainHelp, TyperGroup):
    def format_params(self, ctx: Context, formatter: HelpFormatter) -> None:
        super().format_params(ctx, formatter)
        self.format_commands(ctx, formatter)

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        self.format_params(ctx, formatter)


def plain_help(app: typer.Typer) -> None:
    """Give `app`, its commands and every group under it (recursively) the plain help page."""
    app.info.cls = app.info.cls or PlainHelpGroup
    for command in app.registered_commands:
        if command.cls in (None, TyperCommand):  # typer's default; a command with a class of its own keeps it
            command.cls = PlainHelpCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            plain_help(group.typer_instance)

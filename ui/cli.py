"""The `coderag` command line: the root command, assembling every package's commands (`ui` holds the
interfaces; the commands of its own are in ui/commands/). Every CodeRagError becomes one line on stderr
and a non-zero exit."""

from __future__ import annotations

import os
import re
import sys

import typer

import embedder.cli as embedder_cli
import eval.cli as eval_cli
import synth.cli as synth_cli
import synth.db as db_cli
from rag.errors import CodeRagError
from ui.commands import ask, chat, index, mcp, models, sql
from ui.commands.helptext import plain_help
from ui.commands.output import err, print_error

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help='Local retrieval-augmented text-to-SQL.\n\nExample: coderag ask "How many customers are there in each country?" --db bookshop',
)


def _add_commands() -> None:
    """Every package's commands under the root (each command module imports its heavy parts inside its commands)."""
    app.command("ask")(ask.ask)
    app.command("sql")(sql.run_sql)
    app.command("mcp")(mcp.mcp)
    app.add_typer(index.app, name="index")
    app.add_typer(models.app, name="models")
    app.add_typer(eval_cli.app, name="eval")
    app.add_typer(synth_cli.app, name="synth")
    app.add_typer(db_cli.app, name="db")
    embedder_cli.register(app)
    app.command("ui")(chat.ui)
    plain_help(app)


_add_commands()


def main() -> None:
    """The `coderag` entry point ([project.scripts] in pyproject.toml)."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        code = app(prog_name="coderag", standalone_mode=False)
    except CodeRagError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(130)
    except OSError as exc:  # a path the system refuses (permissions, not a directory, disk full)
        where = f": {exc.filename}" if exc.filename else ""
        print_error(f"{exc.strerror or exc}{where}")
        sys.exit(1)
    except Exception as exc:  # usage errors: typer >= 0.29 raises its own copy of click's, older typer click's
        import click

        if type(exc).__name__ == "NoArgsIsHelpError":  # a group without its command (`coderag db`): its help
            sys.stdout.write(exc.format_message() + "\n")  # type: ignore[attr-defined]
            sys.exit(2)
        if isinstance(exc, (typer.exceptions.TyperException, click.ClickException)):
            print_error(_usage_message(exc))
            sys.exit(getattr(exc, "exit_code", 2))
        raise
    sys.exit(code if isinstance(code, int) else 0)


def _usage_message(exc: Exception) -> str:
    """A usage error as one line, with where to find help."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    option = getattr(exc, "option_name", None)
    if option and not re.fullmatch(r"--?[A-Za-z][\w-]*", option):  # text that only looks like an option, e.g. SQL starting with --
        message += "; an argument that starts with '-' goes after '--', e.g. coderag sql --db DB -- '-- note ...'"
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "coderag"
    return f"{message} (see `{path} --help`)"


if __name__ == "__main__":
    main()

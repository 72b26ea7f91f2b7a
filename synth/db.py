"""`coderag db`: register your own database, synthesize its example store, teach it, inspect it.

    coderag db add shop.sqlite --name shop        # introspect, synthesize question → SQL examples, index them
    coderag ask "How many orders were shipped in May?" --db shop
    coderag db teach shop --question "..." --sql "SELECT ..."   # or --file examples.jsonl / .csv
    coderag db list | show shop | remove shop

The commands live in synth/dbcommands/: adding.py (add, load-demo, copy: a database comes in and gets
its store) and stores.py (list, show, remove, teach: what is registered and what each store holds).
"""

from __future__ import annotations

import typer

from synth.dbcommands import adding, stores

app = typer.Typer(
    no_args_is_help=True,
    help="Your own databases: register, synthesize examples, teach, inspect.\n\nExample: coderag db add ~/data/shop.sqlite --name shop",
)

app.command("add")(adding.add)
app.command("load-demo")(adding.load_demo)
app.command("copy")(adding.copy)
app.command("list")(stores.list_databases)
app.command("show")(stores.show)
app.command("remove")(stores.remove)
app.command("teach")(stores.teach)

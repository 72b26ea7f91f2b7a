"""The `coderag` commands that live in `ui` (the root, ui/cli.py, adds them with every package's own):

ask.py      coderag ask: a question → retrieved examples, SQL, result
sql.py      coderag sql: one read-only query
index.py    coderag index build | info
models.py   coderag models check | pull
mcp.py      coderag mcp: the MCP server (ui/mcpserver.py)
chat.py     coderag ui: the Gradio chat (ui/app.py)
output.py   how they print: one-line errors, JSON, tables of rows
helptext.py how every command's --help reads (plain, no type tags, defaults, an example)
"""

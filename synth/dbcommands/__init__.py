"""The `coderag db` commands (synth/db.py assembles the group):

adding.py   add, load-demo, copy: a database comes in, is registered and gets its example store
stores.py   list, show, remove, teach: the registered databases and what each store holds
common.py   the consoles, a registration by name, the index refresh after a store changes
"""

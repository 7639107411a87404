"""The `mlcheck` commands, one module each: its parser (`register`) and its handler.

`mlcheck.cli` builds the top-level parser from them. A command module imports only what its
parser needs; its handler imports the rest when it runs, so `mlcheck gate` starts fast.
"""

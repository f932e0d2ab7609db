"""The LALR tables of playgraph's grammars, built by ``scripts/gen_tables.py``.

Shipped so that a fresh install never builds them (about half a second per grammar);
`playgraph.grammar.loading.load_parser` uses them only when their key matches the
grammar text, the parser options and lark's minor version.
"""

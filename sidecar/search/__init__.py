"""Full-text search over everything an agent said or ran, on Turso's FTS index.

The index lives in a file of its own beside the history database and is filled by a
background indexer, so an append never pays for indexing (see `index.py`).
"""

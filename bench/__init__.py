"""Benchmarks for datastore_engine against raw LMDB, SQLite and TinyDB.

Run ``python -m bench --quick`` (CI smoke, < 60 s) or ``python -m bench`` (full).
Each backend runs in its own subprocess, the backends in lock-step (see :mod:`bench.run`);
results go to ``bench/results/<timestamp>.json`` and a Markdown report is printed.
See ``bench/README.md``.
"""

"""Researcher notebooks (``*.ipynb``), executed as tests; see README.md.

A package only so that pytest imports ``notebooks/conftest.py`` as ``notebooks.conftest``: as a
top-level ``conftest`` module it would clash with ``tests/conftest.py``.
"""

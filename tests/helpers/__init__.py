"""Test helpers importable from any test folder (pytest puts tests/ on sys.path through tests/conftest.py).

They live here rather than in the folders' conftest.py files: every conftest is imported as the module
``conftest``, so ``from conftest import ...`` breaks as soon as two folders are collected in one run.
"""

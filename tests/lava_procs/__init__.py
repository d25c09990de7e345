"""Lava processes only the tests use (process.py + models.py per package: Lava's
compiler executes every module in a process's directory)."""

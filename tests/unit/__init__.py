"""The fast unit tier (a package, so its module names cannot clash with tests/*.py)."""

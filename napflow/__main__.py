"""``python -m napflow``: the same as the ``napflow`` command."""

from napflow.cli import main

main()

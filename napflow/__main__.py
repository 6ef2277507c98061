"""``python -m napflow``: the same as the ``napflow`` command."""

from napflow.cli import main

if __name__ == "__main__":  # not when a worker process (audit verify) imports this module
    main()

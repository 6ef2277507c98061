"""napflow: carries 1540 National Implementation Action Plans through approval.

The package root holds the foundation every layer may use: :mod:`napflow.errors` (the one
error hierarchy), :mod:`napflow.clock`, :mod:`napflow.inputs` (checking what people type)
and :mod:`napflow.timezones`. The layers are its sub-packages; docs/architecture.md has the
map and the import rule (kept by tests/test_layers.py).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """Return ``__version__`` on first use (reading package metadata costs start-up time)."""
    if name != "__version__":
        raise AttributeError(f"module 'napflow' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("napflow")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found

"""napflow: carries 1540 National Implementation Action Plans through approval."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("napflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

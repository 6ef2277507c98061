"""The web interface: server-rendered pages for coordinators and the JSON API under /api/v1.

An interface like the CLI: it may import :mod:`napflow.services`, :mod:`napflow.runtime`
and napflow's foundation modules, nothing below the services (tests/test_layers.py).
"""

from napflow.web.app import create_app

__all__ = ["create_app"]

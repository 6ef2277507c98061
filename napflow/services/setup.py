"""The init service: create or upgrade the database, optionally with the demo plans."""

from __future__ import annotations

from dataclasses import dataclass

from napflow.runtime import Runtime


@dataclass(frozen=True)
class InitResult:
    """Schema revision before and after, and whether the demo plans were loaded now."""

    database: str
    revision_before: str | None
    revision_after: str
    demo_loaded: bool | None


def init_database(rt: Runtime, demo: bool = False) -> InitResult:
    """Bring the database to the newest schema; with ``demo``, load the demo plans once."""
    before, after = rt.db.upgrade()
    loaded = None
    if demo:
        from napflow.services.demo import load_demo

        loaded = load_demo(rt)
    return InitResult(rt.db.describe(), before, after, loaded)

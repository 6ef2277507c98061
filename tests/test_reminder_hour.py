"""A deadline kind's own reminder hour: its reminders go at that local hour in each
reader's zone, the other kinds' at the workflow's; an hour that is no hour is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import InvalidDefinition
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.storage.schema import deadlines, outbox
from napflow.timezones import to_local
from napflow.workflow.definition import load_definition

NAP = (Path(__file__).resolve().parents[1] / "workflows" / "nap.toml").read_text(encoding="utf-8")
APPROVAL = "[deadlines.approval]\n"


@pytest.fixture
def early(db_url: str, clock: VirtualClock, tmp_path: Path) -> Iterator[Runtime]:
    """The NAP workflow whose approval reminders go at 07:00 (the rest at 09:00)."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "nap.toml").write_text(NAP.replace(APPROVAL, APPROVAL + "reminder_hour = 7\n"))
    rt = build_runtime(Settings(database_url=db_url, workflow_dirs=(folder,)), clock=clock)
    services.init_database(rt)
    services.add_person(rt, "coord@example.org", "Coordinator", timezone="Europe/Vienna")
    services.create_plan(rt, "TJK", "Plan", timezone="Asia/Dushanbe", key="TJK-H")
    services.grant_role(rt, "TJK-H", "coord@example.org", "coordinator")
    services.add_deadline(rt, "TJK-H", "approval", "2015-12-31")
    services.add_deadline(rt, "TJK-H", "follow_up_session", "2015-10-08", end="2015-10-09")
    yield rt
    rt.db.dispose()


def test_each_kind_at_its_hour_in_the_readers_zone(early: Runtime) -> None:
    with early.db.read() as conn:
        rows = conn.execute(
            select(deadlines.c.kind, outbox.c.send_at, outbox.c.recipient).join(
                deadlines, deadlines.c.id == outbox.c.deadline_id
            )
        ).all()
    hours = {
        (r.kind, to_local(r.send_at, "Europe/Vienna").hour)
        for r in rows
        if r.recipient == "coord@example.org"
    }
    assert hours == {("approval", 7), ("follow_up_session", 9)}


def test_an_hour_that_is_no_hour_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nap.toml"
    path.write_text(NAP.replace(APPROVAL, APPROVAL + "reminder_hour = 24\n"))
    with pytest.raises(InvalidDefinition) as refused:
        load_definition(path)
    assert "deadlines.approval.reminder_hour: must be a whole hour 0-23, not 24" in "\n".join(
        refused.value.problems
    )

"""Simulation: run the dispatcher on a virtual clock and write every e-mail to a folder.

With a scenario, an isolated database is built from the scenario file and its dated steps
happen as the virtual clock passes them. Without one, the forecast runs on a copy of the
current database, which is left untouched (a SQLite file is copied whole; a server's
plans, people, history, deadlines and outbox are copied into a SQLite file). Either way
the mail goes to ``.eml`` files whose Date header is the virtual time it would have been
sent.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import insert, select

from napflow.clock import Clock, VirtualClock
from napflow.errors import InputError, NotFoundError
from napflow.inputs import parse_day
from napflow.notifications.mailer import Outgoing
from napflow.runtime import Runtime
from napflow.runtime.settings import Settings
from napflow.services._timers import FIRED
from napflow.services.dispatch import next_due, send_due
from napflow.services.people import list_people
from napflow.services.reminders import list_messages
from napflow.services.scenario import Step, add_people, load_scenario, scenario_path
from napflow.services.setup import init_database
from napflow.services.timers import list_timers
from napflow.storage.database import Database
from napflow.storage.schema import metadata
from napflow.timezones import to_local


@dataclass(frozen=True)
class SimulatedMessage:
    """One e-mail the simulation sent, or a transition napflow fired by itself.

    A timer's transition has ``kind`` "timer", no recipient, and its title for subject.
    """

    sent_at: datetime
    local_time: str
    recipient: str
    kind: str
    plan: str
    subject: str
    file: str


def _day(value: str, what: str) -> date:
    return parse_day(value, what)


#: what a forecast runs on; never logins, sessions, tokens or keys (nor any table added later
#: before it is thought about here)
_COPIED = {
    "people",
    "plans",
    "roles",
    "history",
    "deadlines",
    "outbox",
    "timers",
    "workflow_versions",
}
_COPY_BATCH = 1000


def _copy_database(rt: Runtime, target: Path) -> None:
    """Copy the database into the SQLite file ``target`` for a forecast to run on."""
    if rt.db.sqlite_path is None:
        _copy_rows(rt, target)
        return
    if not rt.db.sqlite_path.exists():
        raise NotFoundError(
            f"There is no napflow database at {rt.db.sqlite_path} to forecast from."
        )
    source = sqlite3.connect(rt.db.sqlite_path)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # a consistent snapshot, even while napflow runs
    finally:
        copy.close()
        source.close()


def _copy_rows(rt: Runtime, target: Path) -> None:
    """Copy a server database's plans and what a forecast reads of them into SQLite.

    The tables of ``_COPIED``: people, plans, roles, history, deadlines, outbox, timers and
    the stored workflow versions. The same migrations make the same schema on both engines,
    so rows go across as they are, table by table in foreign-key order, from one snapshot
    (a read transaction).
    """
    rt.db.require_current_schema()
    copy = Database(f"sqlite:///{target}")
    try:
        copy.upgrade()
        with rt.db.read() as source, copy.engine.begin() as dest:
            for table in metadata.sorted_tables:
                if table.name not in _COPIED:
                    continue
                rows = source.execute(select(table).execution_options(yield_per=_COPY_BATCH))
                for batch in rows.mappings().partitions():
                    dest.execute(insert(table), [dict(row) for row in batch])
    finally:
        copy.dispose()


def simulate(
    rt: Runtime,
    make_runtime: Callable[[Settings, Clock], Runtime],
    start: str,
    end: str,
    out: Path,
    scenario: str | None = None,
) -> list[SimulatedMessage]:
    """Simulate from ``start`` to ``end`` (dates, UTC) and return the messages sent.

    ``make_runtime`` wires the isolated runtime the simulation runs in (the CLI passes
    napflow.runtime.bootstrap.build_runtime).
    """
    first, last = _day(start, "--from"), _day(end, "--to")
    if last < first:
        raise InputError(f"--to {end} is before --from {start}.")
    window_start = datetime.combine(first, time(), tzinfo=UTC)
    window_end = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
    steps: list[Step] = []
    loaded = load_scenario(scenario_path(scenario)) if scenario is not None else None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot use {out} for the mail: {exc.strerror}.") from exc
    with tempfile.TemporaryDirectory(prefix="napflow-simulate-") as tmp:
        db_file = Path(tmp) / "simulation.db"
        settings = dataclasses.replace(
            rt.settings,
            database_url=f"sqlite:///{db_file}",
            mail_transport="file",
            mail_dir=str(out),
        )
        clock = VirtualClock(window_start)
        if loaded is None:
            _copy_database(rt, db_file)
        sim = make_runtime(settings, clock)
        try:
            init_database(sim)
            if loaded is not None:
                clock.set(min(window_start, loaded.steps[0].at if loaded.steps else window_start))
                add_people(sim, loaded, {p.email for p in list_people(sim)})
                steps = list(loaded.steps)
            _run(sim, clock, steps, window_start, window_end)
            return _summary(sim, out, window_start)
        finally:
            sim.db.dispose()


class _Discard:
    """The transport of the time before the window: mail goes nowhere."""

    def send(self, message: Outgoing) -> None:
        """Drop the message."""

    def close(self) -> None:
        """Nothing to release."""


def _run(
    sim: Runtime, clock: VirtualClock, steps: list[Step], start: datetime, end: datetime
) -> None:
    # Before the window everything happens as it would (an escalation chain keeps going),
    # but its mail is dropped; from the window on, mail is written.
    assert sim.mailer is not None
    past = dataclasses.replace(sim, mailer=dataclasses.replace(sim.mailer, transport=_Discard()))
    _play(past, clock, steps, start)
    clock.set(max(start, clock.now()))
    _play(sim, clock, steps, end)


def _play(rt: Runtime, clock: VirtualClock, steps: list[Step], until: datetime) -> None:
    while True:
        due = next_due(rt)
        moment = min(t for t in (due, steps[0].at if steps else None, until) if t is not None)
        if moment >= until:
            return
        clock.set(max(moment, clock.now()))
        while steps and steps[0].at <= clock.now():
            steps.pop(0).call(rt)
        send_due(rt)


def _summary(sim: Runtime, out: Path, start: datetime) -> list[SimulatedMessage]:
    files = {}
    for path in out.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        files[str(message["Message-ID"])] = (path.name, str(message["Subject"]))
    result = []
    for m in list_messages(sim, "sent"):
        if (m.sent_at or m.send_at) < start:
            continue
        name, subject = files.get(m.message_id or "", ("", ""))
        result.append(
            SimulatedMessage(
                sent_at=m.sent_at or m.send_at,
                local_time=m.local_send_at,
                recipient=m.recipient,
                kind=m.kind,
                plan=m.plan,
                subject=subject,
                file=name,
            )
        )
    result += _timers_fired(sim, start)
    return sorted(result, key=lambda r: (r.sent_at, r.recipient))


def _timers_fired(sim: Runtime, start: datetime) -> list[SimulatedMessage]:
    """Return the timer transitions the simulation fired from ``start`` on."""
    found = []
    for timer in list_timers(sim, FIRED):
        if timer.ended_at is None or timer.ended_at < start:
            continue
        found.append(
            SimulatedMessage(
                sent_at=timer.ended_at,
                local_time=to_local(timer.ended_at, timer.timezone).strftime("%Y-%m-%d %H:%M %Z"),
                recipient="",
                kind="timer",
                plan=timer.plan,
                subject=f"{timer.title} ({timer.from_state} -> {timer.to_state})",
                file="",
            )
        )
    return found

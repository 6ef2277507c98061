"""Shared fixtures: a real database per test (SQLite and PostgreSQL), a virtual clock, the CLI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import CAST, DEMO_NOW, EVERYONE, START, Result, mail_runtime, review_plan
from pg_server import PgServer
from smtp_sink import SmtpServer

from napflow import services
from napflow.cli import run
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings

#: the engines every database test runs on: both by default (NAPFLOW_TEST_ENGINES=sqlite
#: for a quick run on SQLite alone)
ENGINES = os.environ.get("NAPFLOW_TEST_ENGINES", "sqlite,postgresql").split(",")


def _selected(item: pytest.Item) -> bool:
    """Whether ``item`` runs in this run, by its engine markers (see pyproject.toml)."""
    callspec = getattr(item, "callspec", None)
    engine = callspec.params.get("engine") if callspec else None
    # a test not parametrized by engine runs on whichever engines this run tests
    engines = {engine} if engine else set(ENGINES)
    if item.get_closest_marker("both_engines"):
        return {"sqlite", "postgresql"} <= set(ENGINES)
    if item.get_closest_marker("sqlite_only"):
        return "sqlite" in engines
    if item.get_closest_marker("postgresql_only"):
        return "postgresql" in engines
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the tests this run's engines leave out: sqlite_only tests (SQLite's own files
    and pragmas) on PostgreSQL, postgresql_only tests (row locks, roles, pg_dump) on SQLite,
    both_engines tests (one engine compared with the other) unless both are tested.
    """
    kept = [item for item in items if _selected(item)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture(scope="session", autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The run's own XDG_STATE_HOME: the server key files of the PostgreSQL test databases
    go there, not to ~/.local/state (napflow processes the tests start inherit it)."""
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(state := tmp_path_factory.mktemp("state"))
    yield state
    if before is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = before


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway PostgreSQL server for the whole run (started on first use)."""
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The database engine of this test run: sqlite or postgresql."""
    return str(request.param)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path, engine: str) -> Iterator[str]:
    """A new, empty database on the test's engine."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'napflow.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = f"napflow_{uuid.uuid4().hex[:12]}"
    server.execute(f"CREATE DATABASE {name}")
    yield server.url(name)
    server.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def rt(db_url: str, clock: VirtualClock) -> Iterator[Runtime]:
    runtime = build_runtime(Settings(database_url=db_url), clock=clock)
    services.init_database(runtime)
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def demo(rt: Runtime, clock: VirtualClock) -> Runtime:
    """The demo plans (`napflow init --demo`, password napflow-demo) on 10 October 2015."""
    services.init_database(rt)
    services.load_demo(rt)
    clock.set(DEMO_NOW)
    return rt


@pytest.fixture
def nap_plan(rt: Runtime) -> str:
    """A NAP plan for Tajikistan with the whole cast, in drafting."""
    for email in EVERYONE:
        services.add_person(rt, email, email.split("@")[0].title())
    plan = services.create_plan(rt, "TJK", "Test plan", timezone="Asia/Dushanbe", key="TJK-T")
    for role, emails in CAST.items():
        for email in emails:
            services.grant_role(rt, plan.key, email, role)
    return plan.key


@pytest.fixture
def cli(
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Callable[..., Result]:
    """Run the napflow CLI in-process against the test database; return code and output."""
    monkeypatch.chdir(tmp_path)  # no stray ./config.toml is read
    for var in ("NAPFLOW_DATABASE_URL", "NAPFLOW_CONFIG", "NAPFLOW_WORKFLOW_DIRS"):
        monkeypatch.delenv(var, raising=False)

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        code = run(["--db", db_url, *args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback for this test."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_rt(db_url: str, clock: VirtualClock, smtp: SmtpServer) -> Iterator[Runtime]:
    """A runtime that sends through the test's SMTP server."""
    runtime = mail_runtime(db_url, clock, smtp)
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def cast(rt: Runtime) -> Runtime:
    """A plan in working-group review, its coordinator, chair, member and approver."""
    return review_plan(rt)

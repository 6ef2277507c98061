"""Who may do what: for every workflow file, every state, trigger and role, the engine allows
exactly what the file says, through the CLI and through the API.

The expectation is read from the TOML file itself (not through napflow's loader): a role
may fire a trigger in a state when a transition of that trigger lists the state among its
sources ("*": every state that is not final) and the role among its roles. Where the file
allows it, the plan is first brought to the state by the workflow's own transitions and
the transition's conditions are met (a comment given, every role assigned, a quorum's
actions done), so an allowed action must succeed; everything else must be refused (exit
1, HTTP 403 or 422) and leave the plan as it was.
"""

from __future__ import annotations

import tomllib
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers import REPO, Result

from napflow import services
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services.accounts import create_api_token
from napflow.web import create_app

#: the test's own workflows beside napflow's: a quorum of two thirds (committee.toml); the
#: four-eyes rule, any_of, all_of, not and a condition on a deadline (clearance.toml)
TEST_WORKFLOWS = Path(__file__).parent / "workflows"
WORKFLOW_FILES = [
    *sorted((REPO / "workflows").glob("*.toml")),
    TEST_WORKFLOWS / "committee.toml",
    TEST_WORKFLOWS / "clearance.toml",
]
COMMENT = "Reviewed; see the annex."


class FileRules:
    """A workflow file read as plain TOML: states, roles, and who may fire what where."""

    def __init__(self, path: Path) -> None:
        data = tomllib.loads(path.read_text())
        self.name: str = data["workflow"]["name"]
        self.initial: str = data["workflow"]["initial"]
        self.states = list(data["states"])
        self.final = {s for s, spec in data["states"].items() if spec.get("final")}
        self.roles = list(data["roles"])
        self.transitions: list[dict[str, Any]] = data["transitions"]
        self.triggers = list(dict.fromkeys(t["trigger"] for t in self.transitions))

    def sources(self, transition: dict[str, Any]) -> list[str]:
        source = transition["source"]
        if source == "*":
            return [s for s in self.states if s not in self.final]
        return [source] if isinstance(source, str) else list(source)

    def transition(self, state: str, trigger: str) -> dict[str, Any] | None:
        return next(
            (t for t in self.transitions if t["trigger"] == trigger and state in self.sources(t)),
            None,
        )

    def allows(self, role: str, trigger: str, state: str) -> bool:
        found = self.transition(state, trigger)
        # a timer transition (after_days, on_missed) lists no roles: napflow fires it, no one
        return found is not None and role in found.get("roles", [])

    def path_to(self, state: str) -> list[dict[str, Any]]:
        """The fewest transitions from the initial state to ``state`` (breadth first)."""
        paths: dict[str, list[dict[str, Any]]] = {self.initial: []}
        queue = deque([self.initial])
        while queue:
            here = queue.popleft()
            for t in self.transitions:
                dest = t.get("dest")
                by_people = bool(t.get("roles"))
                if by_people and dest and dest not in paths and here in self.sources(t):
                    paths[dest] = [*paths[here], t]
                    queue.append(dest)
        return paths[state]


def person(role: str) -> str:
    return f"{role.replace('_', '-')}@example.org"


@pytest.fixture
def live_rt(db_url: str) -> Iterator[Runtime]:
    """A runtime on the real clock, as the CLI and the web app run."""
    runtime = build_runtime(Settings(database_url=db_url, workflow_dirs=(TEST_WORKFLOWS,)))
    services.init_database(runtime)
    yield runtime
    runtime.db.dispose()


class Matrix:
    """Plans of one workflow with one person per role, brought to any state on demand."""

    def __init__(self, rt: Runtime, rules: FileRules) -> None:
        self.rt, self.rules, self.made = rt, rules, 0
        for role in rules.roles:
            if person(role) not in {p.email for p in services.list_people(rt)}:
                services.add_person(rt, person(role), role)

    def meet_conditions(self, key: str, transition: dict[str, Any]) -> None:
        """Do on plan ``key`` what ``transition``'s quorums ask for (the other conditions are
        met by the comment every action carries and by every role being assigned)."""
        for condition in transition.get("conditions", []):
            if isinstance(condition, dict) and condition.get("name") == "quorum":
                services.advance_plan(
                    self.rt, key, condition["trigger"], person(condition["role"]), COMMENT
                )

    def fire(self, key: str, transition: dict[str, Any]) -> None:
        """Fire ``transition`` on plan ``key``, meeting its conditions first."""
        self.meet_conditions(key, transition)
        services.advance_plan(
            self.rt, key, transition["trigger"], person(transition["roles"][0]), COMMENT
        )

    def plan_in(self, state: str) -> str:
        """A new plan with every role assigned, brought to ``state``."""
        self.made += 1
        key = services.create_plan(
            self.rt, "TJK", f"Matrix {self.made}", workflow=self.rules.name
        ).key
        for role in self.rules.roles:
            services.grant_role(self.rt, key, person(role), role)
        for transition in self.rules.path_to(state):
            self.fire(key, transition)
        assert services.show_plan(self.rt, key).state == state
        return key


def cli_attempt(cli: Callable[..., Result]) -> Callable[[str, str, str], bool]:
    def attempt(key: str, trigger: str, email: str) -> bool:
        done = cli("advance", key, trigger, "--as", email, "--comment", COMMENT)
        assert done.code in (0, 1), done.err
        return done.code == 0

    return attempt


def api_attempt(client: TestClient, rt: Runtime) -> Callable[[str, str, str], bool]:
    tokens: dict[str, str] = {}

    def attempt(key: str, trigger: str, email: str) -> bool:
        if email not in tokens:
            tokens[email] = create_api_token(rt, email)
        done = client.post(
            f"/api/v1/plans/{key}/advance",
            json={"trigger": trigger, "comment": COMMENT},
            headers={"Authorization": f"Bearer {tokens[email]}"},
        )
        assert done.status_code in (200, 403, 422), done.text
        return done.status_code == 200

    return attempt


@pytest.mark.slow
@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=[p.stem for p in WORKFLOW_FILES])
@pytest.mark.parametrize("channel", ["cli", "api"])
def test_the_engine_allows_exactly_what_the_file_says(
    live_rt: Runtime,
    cli: Callable[..., Result],
    path: Path,
    channel: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NAPFLOW_WORKFLOW_DIRS", str(TEST_WORKFLOWS))
    rules = FileRules(path)
    matrix = Matrix(live_rt, rules)
    with TestClient(create_app(live_rt)) as client:
        attempt = cli_attempt(cli) if channel == "cli" else api_attempt(client, live_rt)
        wrong: list[str] = []
        for state in rules.states:
            key = matrix.plan_in(state)
            for trigger in rules.triggers:
                for role in rules.roles:
                    allowed = rules.allows(role, trigger, state)
                    found = rules.transition(state, trigger)
                    if allowed and found is not None:
                        key = matrix.plan_in(state)  # a fresh plan, its conditions met
                        matrix.meet_conditions(key, found)
                    before = services.plan_history(live_rt, key).records
                    done = attempt(key, trigger, person(role))
                    if done != allowed:
                        wrong.append(
                            f"{state} {trigger} as {role}: {'done' if done else 'refused'}"
                        )
                    if done:
                        key = matrix.plan_in(state)
                    else:
                        assert services.plan_history(live_rt, key).records == before
    assert not wrong, f"{rules.name} via {channel}: not as the file says:\n" + "\n".join(wrong)

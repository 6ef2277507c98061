"""Contract tests run over every workflow file shipped in workflows/ (a new file gets them)."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest
from helpers import REPO

from napflow import services
from napflow.runtime import Runtime
from napflow.workflow.catalog import WorkflowCatalog
from napflow.workflow.definition import load_definition
from napflow.workflow.engine import Engine

FILES = sorted((REPO / "workflows").glob("*.toml"))


def test_there_are_workflow_files() -> None:
    assert {f.stem for f in FILES} >= {"nap", "national_report"}


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_file_validates_and_builds_one_engine(path: Path) -> None:
    definition = load_definition(path)
    engine = Engine(definition)
    assert set(engine.machine.states) == set(definition.state_names)
    assert set(engine.machine.events) == set(definition.triggers)


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_every_final_state_can_be_reached_by_people_with_roles(path: Path, rt: Runtime) -> None:
    """Walk the workflow through the services, granting every role, until each state is seen."""
    definition = load_definition(path)
    everyone = {role: f"{role}@example.org" for role in definition.role_names}
    for email in everyone.values():
        services.add_person(rt, email, email)
    seen: set[str] = set()
    # breadth-first over (path of triggers) so each state is entered by a real plan
    queue: deque[list[str]] = deque([[]])
    counter = 0
    while queue and seen != set(definition.state_names):
        steps = queue.popleft()
        counter += 1
        key = services.create_plan(rt, "TJK", "Contract", definition.name, key=f"C-{counter}").key
        for role, email in everyone.items():
            services.grant_role(rt, key, email, role)
        for trigger in steps:
            plan = services.show_plan(rt, key)
            actor = next(everyone[r] for r in definition.transition_for(plan.state, trigger).roles)
            # quorums: everyone first does every recorded action (stay = true) open to them
            for stay in (t for t in definition.transitions_from(plan.state) if t.stays):
                for email in everyone.values():
                    if stay.trigger in services.show_plan(rt, key, email).allowed:
                        services.advance_plan(rt, key, stay.trigger, email, comment="contract test")
            services.advance_plan(rt, key, trigger, actor, comment="contract test")
        state = services.show_plan(rt, key).state
        if state in seen:
            continue
        seen.add(state)
        for t in definition.transitions_from(state):  # those people fire (not timers)
            if t.dest is not None and t.dest not in seen and not t.timer:
                queue.append([*steps, t.trigger])
    assert seen == set(definition.state_names)


def test_a_file_dropped_in_a_directory_is_a_new_workflow(tmp_path: Path) -> None:
    text = (REPO / "workflows" / "national_report.toml").read_text()
    (tmp_path / "law_approval.toml").write_text(
        text.replace('name = "national_report"', 'name = "law_approval"')
    )
    (tmp_path / "broken.toml").write_text("[workflow]\nname = 'broken'\n")
    catalog = WorkflowCatalog([REPO / "workflows", tmp_path])
    assert catalog.names() == ["committee_review", "law_approval", "nap", "national_report"]
    broken = next(e for e in catalog.entries() if e.name == "broken")
    assert broken.definition is None and broken.problems
    assert catalog.engine("law_approval").definition.initial == "drafting"

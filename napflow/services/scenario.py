"""Scenario files: people, plans, roles, deadlines, drafts and dated actions, as services.

A scenario is data (TOML, see ``napflow/scenarios/tajikistan-2015.toml`` and
docs/scenarios.md). Loading checks the whole file first and reports every problem with its
key; then each entry becomes a step (a time and a service call): plans with their first
roles, deadlines added, actions, and at any moment a role granted or revoked, a deadline
moved, a draft added. The demo loads the shipped scenario into the database; ``napflow
simulate`` replays one on a virtual clock and sends its mail to files.
"""

from __future__ import annotations

import io
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from napflow.errors import InputError, InvalidDefinition
from napflow.inputs import printable
from napflow.runtime import Runtime
from napflow.services.advance import advance_plan
from napflow.services.deadlines import add_deadline, list_deadlines, move_deadline
from napflow.services.drafts import add_draft
from napflow.services.people import add_person
from napflow.services.plans import create_plan
from napflow.services.roles import grant_role, revoke_role
from napflow.timezones import validate_timezone
from napflow.workflow.toml_checks import Problems, unknown_keys

SHIPPED = "tajikistan-2015"
#: the scenario files shipped with napflow (package data of napflow)
SCENARIOS = Path(__file__).parent.parent / "scenarios"
_SECTIONS = {"scenario", "people", "plans", "deadlines", "actions", "roles", "moves", "drafts"}
_KEYS = {
    "people": {"email", "name", "timezone", "locale"},
    "plans": {"key", "country", "title", "timezone", "locale", "workflow", "created", "roles"},
    "deadlines": {"plan", "kind", "date", "end", "time", "timezone", "title", "location", "added"},
    "actions": {"plan", "at", "trigger", "by", "comment"},
    "roles": {"plan", "at", "grant", "revoke", "email", "by", "comment"},
    "moves": {"plan", "at", "kind", "date", "end", "time", "title", "location", "by", "comment"},
    "drafts": {"plan", "at", "file", "text", "name", "by", "note"},
}


@dataclass(frozen=True)
class Step:
    """One thing that happens in a scenario, at a moment."""

    at: datetime
    order: int
    call: Callable[[Runtime], object]


@dataclass(frozen=True)
class Scenario:
    """A checked scenario: its people (added first) and its steps in time order."""

    title: str
    #: (email, name, zone, language) of each person
    people: tuple[tuple[str, str, str | None, str | None], ...]
    steps: tuple[Step, ...]


def scenario_path(name_or_path: str) -> Path:
    """Return the file for a shipped scenario's name, or the path as given.

    A name is looked up among the shipped scenarios only (no separators, no ``..``): a
    name cannot reach a file elsewhere; a path names one on purpose.
    """
    if "/" not in name_or_path and "\\" not in name_or_path and name_or_path not in (".", ".."):
        shipped = SCENARIOS / f"{name_or_path}.toml"
        try:
            if shipped.is_file():
                return shipped
        except OSError:  # not a name any file could have (too long, say): no shipped one
            pass
    return Path(name_or_path)


def _moment(problems: Problems, where: str, value: Any, zone: str) -> datetime | None:
    try:
        local = datetime.fromisoformat(str(value))
    except ValueError:
        problems.add(where, f"{value!r} is not a local time; write YYYY-MM-DD HH:MM")
        return None
    return local.replace(tzinfo=ZoneInfo(zone))


def _dated(
    problems: Problems,
    data: dict[str, Any],
    section: str,
    time_key: str,
    zones: dict[str, str],
) -> Iterator[tuple[str, datetime, dict[str, Any]]]:
    """Yield (plan key, moment, entry) for the entries of ``section`` that check out."""
    for i, entry in enumerate(x for x in data.get(section, []) if isinstance(x, dict)):
        key = str(entry.get("plan", ""))
        if key not in zones:
            problems.add(f"{section}[{i}].plan", f"unknown plan {key!r}")
            continue
        at = _moment(problems, f"{section}[{i}].{time_key}", entry.get(time_key), zones[key])
        if at is not None:
            yield key, at, entry


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario file; raise InvalidDefinition listing every problem."""
    problems = Problems(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidDefinition(
            [f"{printable(str(path))}: cannot be read ({exc.strerror})"]
        ) from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidDefinition([f"{path.name}: not valid TOML: {exc}"]) from exc
    unknown_keys(problems, "", data, _SECTIONS)
    for section, keys in _KEYS.items():
        for i, entry in enumerate(data.get(section, [])):
            if isinstance(entry, dict):
                unknown_keys(problems, f"{section}[{i}]", entry, keys)
            else:
                problems.add(f"{section}[{i}]", "must be a table")
    people = tuple(
        (p.get("email", ""), p.get("name", ""), p.get("timezone"), p.get("locale"))
        for p in data.get("people", [])
        if isinstance(p, dict)
    )
    zones: dict[str, str] = {}
    steps: list[Step] = []
    for i, plan in enumerate(p for p in data.get("plans", []) if isinstance(p, dict)):
        zone = str(plan.get("timezone", "UTC"))
        try:
            validate_timezone(zone)
        except ValueError as exc:
            problems.add(f"plans[{i}].timezone", str(exc))
            continue
        key = str(plan.get("key", ""))
        zones[key] = zone
        opened = _moment(problems, f"plans[{i}].created", plan.get("created"), zone)
        if opened is None:
            continue
        steps.append(
            Step(
                opened,
                0,
                partial(
                    create_plan,
                    country=str(plan.get("country", "")),
                    title=str(plan.get("title", "")),
                    workflow=str(plan.get("workflow", "nap")),
                    timezone=zone,
                    key=key,
                    locale=plan.get("locale"),
                ),
            )
        )
        roles = plan.get("roles") or {}
        if not isinstance(roles, dict) or not all(
            isinstance(v, list) and all(isinstance(e, str) for e in v) for v in roles.values()
        ):
            problems.add(f"plans[{i}].roles", 'must be a table like { coordinator = ["a@b.org"] }')
            continue
        for role, emails in roles.items():
            steps.extend(
                Step(opened, 1, partial(grant_role, key=key, email=e, role=role)) for e in emails
            )
    for key, added, d in _dated(problems, data, "deadlines", "added", zones):
        steps.append(
            Step(
                added,
                2,
                partial(
                    add_deadline,
                    key=key,
                    kind=str(d.get("kind", "")),
                    on=str(d.get("date", "")),
                    end=d.get("end"),
                    at=d.get("time"),
                    timezone=d.get("timezone"),
                    title=d.get("title"),
                    location=d.get("location"),
                ),
            )
        )
    for key, at, a in _dated(problems, data, "actions", "at", zones):
        steps.append(
            Step(
                at,
                3,
                partial(
                    advance_plan,
                    key=key,
                    trigger=str(a.get("trigger", "")),
                    actor=str(a.get("by", "")),
                    comment=a.get("comment"),
                ),
            )
        )
    steps += _changes(problems, data, zones, path.parent)
    if problems.items:
        raise InvalidDefinition(problems.items)
    steps.sort(key=lambda s: (s.at, s.order))  # stable: a file's order within one moment
    title = str((data.get("scenario") or {}).get("title", path.stem))
    return Scenario(title, people, tuple(steps))


def _changes(
    problems: Problems, data: dict[str, Any], zones: dict[str, str], folder: Path
) -> list[Step]:
    """Return the steps of ``[[roles]]``, ``[[moves]]`` and ``[[drafts]]``: at any moment."""
    steps = []
    for key, at, r in _dated(problems, data, "roles", "at", zones):
        role = r.get("grant") or r.get("revoke")
        if bool(r.get("grant")) == bool(r.get("revoke")) or not isinstance(role, str):
            problems.add("roles", f'{key}: give either grant = "<role>" or revoke = "<role>"')
            continue
        change = grant_role if r.get("grant") else revoke_role
        steps.append(
            Step(
                at,
                1,
                partial(
                    change,
                    key=key,
                    email=str(r.get("email", "")),
                    role=role,
                    actor=r.get("by"),
                    comment=r.get("comment"),
                ),
            )
        )
    for key, at, m in _dated(problems, data, "moves", "at", zones):
        steps.append(
            Step(
                at,
                2,
                partial(
                    _move_kind,
                    key=key,
                    kind=str(m.get("kind", "")),
                    on=str(m.get("date", "")),
                    at=m.get("time"),
                    end=m.get("end"),
                    title=m.get("title"),
                    location=m.get("location"),
                    actor=m.get("by"),
                    comment=m.get("comment"),
                ),
            )
        )
    for key, at, d in _dated(problems, data, "drafts", "at", zones):
        if ("file" in d) == ("text" in d):
            problems.add("drafts", f"{key}: give either file (next to the scenario) or text")
            continue
        if "file" in d:
            source = folder / str(d["file"])
            if not source.is_file():
                problems.add("drafts", f"{key}: no file {d['file']!r} next to the scenario")
                continue
            name = str(d.get("name", source.name))
            content = source.read_bytes()
        else:
            name, content = str(d.get("name", "draft.txt")), str(d["text"]).encode("utf-8")
        steps.append(
            Step(
                at,
                2,
                partial(
                    _add_draft,
                    key=key,
                    content=content,
                    name=name,
                    actor=d.get("by"),
                    note=d.get("note"),
                ),
            )
        )
    return steps


def _move_kind(rt: Runtime, *, key: str, kind: str, **changes: Any) -> object:
    """Move plan ``key``'s open deadline of ``kind`` (a scenario names it by its kind)."""
    found = [
        d for d in list_deadlines(rt, key) if d.kind == kind and d.status in ("pending", "missed")
    ]
    if not found:
        raise InputError(f"{key} has no open deadline of kind {kind!r} to move.")
    return move_deadline(rt, found[0].id, **changes)


def _add_draft(
    rt: Runtime, *, key: str, content: bytes, name: str, actor: str | None, note: str | None
) -> object:
    with io.BytesIO(content) as source:
        return add_draft(rt, key, source, name, actor=actor, note=note)


def add_people(rt: Runtime, scenario: Scenario, known: set[str]) -> None:
    """Register the scenario's people who are not registered yet."""
    for email, name, zone, locale in scenario.people:
        if email.lower() not in known:
            add_person(rt, email, name, zone, locale)

"""Workflow versions: which there are, what changed between two, and moving plans to another.

A plan runs under the version of its workflow it was created under until an administrator
migrates it (:func:`migrate_plans`): in one transaction per plan its state is mapped to the
new version's, a ``migrated`` record naming both versions and the mapping is sealed, and its
deadlines and reminders are derived again under the new version. The actions of the round
in progress stay (their triggers are judged under the new version from then on).
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from napflow import inputs
from napflow.errors import (
    InputError,
    InvalidDefinition,
    NapflowError,
    NotFoundError,
    RefusedError,
)
from napflow.i18n import N_, _
from napflow.ledger.record import Kind
from napflow.runtime import Runtime
from napflow.services._outbox import sync_reminders
from napflow.services._records import append, load_plan
from napflow.services._visibility import load_viewer, visible_clause
from napflow.services._workflow_versions import ensure_stored
from napflow.services.access import require_admin
from napflow.storage.schema import plans, workflow_versions
from napflow.workflow.definition import WorkflowDefinition


@dataclass(frozen=True)
class VersionInfo:
    """One version of a workflow: stored (when, digest), in the file, and its plans."""

    version: int
    digest: str
    stored_at: datetime | None
    #: the version the workflow's file has now (new plans start on it)
    in_file: bool
    #: plans (that the viewer sees) running under it now
    plans: int


def list_versions(rt: Runtime, name: str, viewer: str | None = None) -> list[VersionInfo]:
    """Return the versions of workflow ``name``: stored ones and the file's, oldest first.

    Plans are counted among those ``viewer`` sees (None: the operator, every plan).
    """
    entry = rt.catalog.file_entry(name)
    with rt.db.read() as conn:
        who = load_viewer(conn, viewer)
        stored = conn.execute(
            select(
                workflow_versions.c.version,
                workflow_versions.c.digest,
                workflow_versions.c.stored_at,
            )
            .where(workflow_versions.c.name == name)
            .order_by(workflow_versions.c.version)
        ).all()
        counts: dict[int, int] = dict(
            conn.execute(
                select(plans.c.workflow_version, func.count())
                .where(plans.c.workflow == name, visible_clause(who))
                .group_by(plans.c.workflow_version)
            ).all()
        )
    current = entry.definition if entry is not None else None
    if entry is None and not stored:
        raise NotFoundError(
            _("There is no workflow called %(name)r; workflows: %(known)s.")
            % {"name": name, "known": ", ".join(rt.catalog.names()) or "none"}
        )
    found = {
        row.version: VersionInfo(
            row.version,
            row.digest,
            row.stored_at,
            current is not None and current.version == row.version,
            counts.get(row.version, 0),
        )
        for row in stored
    }
    if current is not None and current.version not in found:
        found[current.version] = VersionInfo(
            current.version, current.digest, None, True, counts.get(current.version, 0)
        )
    return [found[v] for v in sorted(found)]


@dataclass(frozen=True)
class Change:
    """One difference between two versions: what (a section and a name) and how."""

    section: str
    name: str
    #: added, removed or changed
    how: str
    before: Any = None
    after: Any = None


@dataclass(frozen=True)
class WorkflowDiff:
    """What changed from version ``old`` to version ``new`` of workflow ``name``."""

    name: str
    old: int
    new: int
    changes: list[Change]


#: the sections a diff compares, in the order it lists them
SECTIONS = ("workflow", "states", "roles", "transitions", "conditions", "deadlines", "notices")


def diff_versions(rt: Runtime, name: str, old: int, new: int) -> WorkflowDiff:
    """Return what changed from version ``old`` to ``new`` of workflow ``name``.

    States, roles and deadlines by name; transitions by trigger (their sources, target and
    roles), their conditions apart; notices by the triggers they follow; the ``[workflow]``
    table's settings, ``[drafts]`` and ``[mail]`` as settings of the workflow.
    """
    before = _tables(rt.catalog.get(name, old))
    after = _tables(rt.catalog.get(name, new))
    changes: list[Change] = []
    for section in SECTIONS:
        a, b = before[section], after[section]
        for key in [*a, *(k for k in b if k not in a)]:
            if key not in b:
                changes.append(Change(section, key, "removed", a[key], None))
            elif key not in a:
                changes.append(Change(section, key, "added", None, b[key]))
            elif a[key] != b[key]:
                changes.append(Change(section, key, "changed", a[key], b[key]))
    return WorkflowDiff(name, old, new, changes)


def _tables(definition: WorkflowDefinition) -> dict[str, dict[str, Any]]:
    """Return each section of the diff: name -> what the file says of it."""
    data = tomllib.loads(definition.source)
    head = {k: v for k, v in data.get("workflow", {}).items() if k != "version"}
    for table in ("drafts", "mail"):
        if table in data:
            head[table] = data[table]
    transitions: dict[str, Any] = {}
    conditions: dict[str, Any] = {}
    specs = data.get("transitions", [])
    repeated = Counter(str(spec.get("trigger")) for spec in specs)
    for spec in specs:
        trigger = str(spec.get("trigger"))
        if repeated[trigger] > 1:  # one trigger, several transitions: each by its source
            source = spec.get("source")
            trigger += f" from {', '.join(source) if isinstance(source, list) else source}"
        transitions[trigger] = {k: v for k, v in spec.items() if k != "conditions"}
        if spec.get("conditions"):
            conditions[trigger] = spec["conditions"]
    notices = {", ".join(n.get("on", [])): n for n in data.get("notices", [])}
    return {
        "workflow": head,
        "states": dict(data.get("states", {})),
        "roles": dict(data.get("roles", {})),
        "transitions": transitions,
        "conditions": conditions,
        "deadlines": dict(data.get("deadlines", {})),
        "notices": notices,
    }


def check_against_database(rt: Runtime, definition: WorkflowDefinition) -> None:
    """Refuse ``definition`` if the database stores its version with other text.

    Raises InvalidDefinition naming both digests and the version to give instead.
    """
    stored = rt.catalog.stored(definition.name, definition.version)
    if stored is not None and stored.digest != definition.digest:
        latest = max(v.version for v in list_versions(rt, definition.name))
        raise InvalidDefinition(
            [
                f"{definition.path.name}: workflow {definition.name} v{definition.version} "
                f"differs from the v{definition.version} this database stores (stored "
                f"{stored.digest[:12]}, this file {definition.digest[:12]}); plans run under "
                f"the stored text. Give the changed file a new version "
                f"(version = {latest + 1})."
            ]
        )


@dataclass(frozen=True)
class Stranded:
    """A plan whose state the target version lacks: what mapping would move it."""

    key: str
    version: int
    state: str
    #: a state of the target version to map it to (None: no likely one)
    suggestion: str | None


def stranded_plans(
    rt: Runtime, target: WorkflowDefinition, mapping: Mapping[str, str] | None = None
) -> list[Stranded]:
    """Return the plans of ``target``'s workflow, on other versions, that it would strand.

    A plan is stranded when the state it is in is not a state of ``target`` and
    ``mapping`` does not map it to one. The suggestion is the state of ``target`` with the
    same title, else the one state only ``target`` has for one only the old version had.
    """
    mapping = mapping or {}
    with rt.db.read() as conn:
        rows = conn.execute(
            select(plans.c.key, plans.c.workflow_version, plans.c.state)
            .where(plans.c.workflow == target.name, plans.c.workflow_version != target.version)
            .order_by(plans.c.key)
        ).all()
    found = []
    for row in rows:
        if row.state in target.state_names or row.state in mapping:
            continue
        found.append(Stranded(row.key, row.workflow_version, row.state, None))
    return [
        Stranded(s.key, s.version, s.state, _suggest(rt, target, s.version, s.state)) for s in found
    ]


def _suggest(rt: Runtime, target: WorkflowDefinition, version: int, state: str) -> str | None:
    try:
        old = rt.catalog.get(target.name, version)
    except NapflowError:
        return None
    new_only = [s for s in target.states if s.name not in old.state_names]
    titled = [s.name for s in new_only if s.title == old.state(state).title]
    if titled:
        return titled[0]
    old_only = [s for s in old.state_names if s not in target.state_names]
    return new_only[0].name if len(new_only) == 1 and len(old_only) == 1 else None


@dataclass(frozen=True)
class Moved:
    """A plan moved (or, in a dry run, that would move) to another workflow version."""

    key: str
    old: int
    new: int
    from_state: str
    to_state: str


@dataclass(frozen=True)
class Refused:
    """A plan that was not moved, and why."""

    key: str
    reason: str


@dataclass
class Migration:
    """The outcome of a migration: the plans moved and those refused."""

    name: str
    to: int
    dry_run: bool
    moved: list[Moved] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """Return ``OLD=NEW`` pairs as a mapping; refuse a pair that is not one."""
    found: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise InputError(
                _(
                    "%(option)s takes OLD=NEW (a state of the old version, one of the new), "
                    "not %(value)r."
                )
                % {"option": "--map-state", "value": pair}
            )
        found[old.strip()] = new.strip()
    return found


def migrate_plans(
    rt: Runtime,
    name: str,
    to: int,
    *,
    mapping: Mapping[str, str] | None = None,
    key: str | None = None,
    every: bool = False,
    dry_run: bool = False,
    actor: str | None = None,
) -> Migration:
    """Move plan ``key`` (or ``every`` plan of workflow ``name`` not on it) to version ``to``.

    Administrators only (``actor`` None: the operator). Each plan moves in a transaction of
    its own; a plan whose state version ``to`` lacks and ``mapping`` does not map is refused
    with the reason, and the others still move. ``dry_run`` writes nothing and says what
    would happen, every refusal included.
    """
    mapping = dict(mapping or {})
    if (key is None) == (not every):
        raise InputError(
            _("Name the plans to move: %(plan)s KEY or %(all)s.")
            % {"plan": "--plan", "all": "--all"}
        )
    target = rt.catalog.get(name, to)
    for old, new in mapping.items():
        if new not in target.state_names:
            raise InputError(
                _(
                    "%(option)s %(pair)s: %(state)r is not a state of %(name)s v%(version)d; "
                    "states: %(states)s."
                )
                % {
                    "option": "--map-state",
                    "pair": f"{old}={new}",
                    "state": new,
                    "name": name,
                    "version": to,
                    "states": ", ".join(target.state_names),
                }
            )
    with rt.db.read() as conn:
        who = require_admin(conn, actor, N_("Cannot migrate plans as %(actor)s: %(reason)s."))
        query = select(plans.c.key).where(plans.c.workflow == name).order_by(plans.c.key)
        if key is not None:
            query = query.where(plans.c.key == inputs.plan_key(key))
        keys = [row.key for row in conn.execute(query)]
    if key is not None and not keys:
        load_plan_or_refuse(rt, inputs.plan_key(key), name)
    result = Migration(name, to, dry_run)
    for each in keys:
        try:
            moved = _migrate_one(rt, each, target, mapping, dry_run, who)
        except RefusedError as exc:
            result.refused.append(Refused(each, str(exc)))
            continue
        if moved is not None:
            result.moved.append(moved)
    return result


def load_plan_or_refuse(rt: Runtime, key: str, name: str) -> None:
    """Refuse a plan that is missing, or not of workflow ``name``."""
    with rt.db.read() as conn:
        plan = load_plan(conn, key)  # a missing plan is refused here
    raise InputError(
        _("%(key)s runs under workflow %(workflow)s, not %(name)s.")
        % {"key": key, "workflow": plan.workflow, "name": name}
    )


def _migrate_one(
    rt: Runtime,
    key: str,
    target: WorkflowDefinition,
    mapping: Mapping[str, str],
    dry_run: bool,
    actor: str | None,
) -> Moved | None:
    """Move plan ``key`` to ``target`` in one transaction; None if it is on it already.

    A dry run reads only (and takes no write lock).
    """
    now = rt.clock.now()
    with rt.db.read() if dry_run else rt.db.write() as conn:
        plan = load_plan(conn, key)
        if plan.workflow_version == target.version:
            return None
        to_state = mapping.get(plan.state, plan.state)
        if to_state not in target.state_names:
            raise RefusedError(
                _(
                    "%(key)s is in %(state)s, which %(name)s v%(version)d does not have; give "
                    "%(option)s %(state)s=NEW (states: %(states)s)."
                )
                % {
                    "key": key,
                    "state": plan.state,
                    "name": target.name,
                    "version": target.version,
                    "option": "--map-state",
                    "states": ", ".join(target.state_names),
                }
            )
        moved = Moved(key, plan.workflow_version, target.version, plan.state, to_state)
        if dry_run:
            return moved
        ensure_stored(conn, rt.catalog, target, audit_key=rt.secrets.audit_key, at=now, actor=actor)
        used = {old: new for old, new in mapping.items() if old == plan.state}
        after = append(
            conn,
            plan,
            audit_key=rt.secrets.audit_key,
            kind=Kind.MIGRATED,
            at=now,
            to_state=to_state,
            actor=actor,
            payload={"from_version": plan.workflow_version, "map": used},
            workflow_version=target.version,
        )
        sync_reminders(conn, target, after, now)
    return moved

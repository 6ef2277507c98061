"""Reading a plan for change, and appending to its history together with the change.

Every change to a plan goes through :func:`append` (a new plan's first record through
:func:`start`): it moves the plan's seq on by one with a compare-and-swap and writes the
history record with that seq, sealed onto the plan's hash chain (napflow.ledger.chain), in the
caller's transaction. A lost race changes no row and raises ConflictError, so the whole
transaction rolls back and nothing half-done is left.

The statements of an advance are built once and run as FastStatements (see
napflow.storage.fastpath and bench/advance.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, Text, and_, bindparam, insert, select, update

from napflow.errors import ConflictError, NotFoundError
from napflow.i18n import _
from napflow.ledger import chain
from napflow.ledger.record import UNVERSIONED_KINDS, Kind
from napflow.services._ledger_key import require_key
from napflow.storage.database import WRITER
from napflow.storage.fastpath import FastStatement
from napflow.storage.schema import history, people, plans, roles
from napflow.storage.text import plan_search_text

_PLAN_BY_KEY = select(plans).where(plans.c.key == bindparam("key"))
_PLAN_BY_KEY_LOCKED = _PLAN_BY_KEY.with_for_update()


class PlanHead(NamedTuple):
    """The columns of a plan an action reads and changes."""

    id: int
    key: str
    state: str
    version: int
    entered_seq: int
    workflow: str
    workflow_version: int
    timezone: str
    seq: int
    head_hash: str
    #: the plan's current draft: its version (0: none yet) and SHA-256
    draft_version: int = 0
    draft_sha256: str = ""


#: A plan as read for an action (PlanHead) or whole (a Row of the plans table).
PlanRow = PlanHead | Row[Any]

_HEAD = (
    plans.c.id,
    plans.c.key,
    plans.c.state,
    plans.c.version,
    plans.c.entered_seq,
    plans.c.workflow,
    plans.c.workflow_version,
    plans.c.timezone,
    plans.c.seq,
    plans.c.head_hash,
    plans.c.draft_version,
    plans.c.draft_sha256,
)

# The plan, and the roles one person holds on it, in one round trip: no row if the plan is
# missing; person_id NULL if the person is not registered; one row per role held.
_FOR_ACTOR = (
    select(
        *_HEAD, people.c.id, people.c.deactivated_at.is_not(None).label("departed"), roles.c.role
    )
    .select_from(
        plans.outerjoin(people, people.c.email == bindparam("email")).outerjoin(
            roles, and_(roles.c.plan_id == plans.c.id, roles.c.person_id == people.c.id)
        )
    )
    .where(plans.c.key == bindparam("key"))
)
_PLAN_FOR_ACTOR = FastStatement(_FOR_ACTOR)
# In a write transaction the plan row is locked as it is read, so that concurrent actions
# on one plan queue up and each sees the plan as the one before it left it (PostgreSQL).
_PLAN_FOR_ACTOR_LOCKED = FastStatement(_FOR_ACTOR.with_for_update(of=plans))

_MOVE_PLAN = FastStatement(
    update(plans)
    .where(plans.c.id == bindparam("b_id"), plans.c.seq == bindparam("b_seq"))
    .values(
        version=bindparam("b_version"),
        seq=bindparam("b_new_seq"),
        head_hash=bindparam("b_head_hash"),
        updated_at=bindparam("b_at"),
        state=bindparam("b_state"),
        entered_seq=bindparam("b_entered_seq"),
        workflow_version=bindparam("b_workflow_version"),
        draft_version=bindparam("b_draft_version"),
        draft_sha256=bindparam("b_draft_sha256"),
    )
)

# The payload is bound as the text that was sealed, not encoded again.
_ADD_RECORD = FastStatement(
    insert(history).values(
        {
            c.name: bindparam(c.name, type_=Text() if c.name == "payload" else c.type)
            for c in history.columns
            if c.name != "id"
        }
    )
)


_HEAD_BY_ID = FastStatement(
    select(*_HEAD).where(plans.c.id == bindparam("plan_id")).with_for_update()
)


def load_head(conn: Connection, plan_id: int) -> PlanHead:
    """Return the head of the plan with id ``plan_id`` (which must exist), locked, to append."""
    return PlanHead(*_HEAD_BY_ID.execute(conn, {"plan_id": plan_id}).fetchone())


def unregistered(email: str) -> NotFoundError:
    """Return the error for a person who is not registered, saying how to register them."""
    return NotFoundError(
        _("%(email)s is not registered; add them with %(command)s.")
        % {"email": email, "command": f"`napflow person add {email} --name ...`"},
        missing="person",
        key=email,
    )


def missing_plan(key: str) -> NotFoundError:
    """Return the error for a plan that does not exist, or that the asker does not see."""
    return NotFoundError(
        _("There is no plan %(key)r; %(command)s shows the plans there are.")
        % {"key": key, "command": "`napflow plan list`"},
        missing="plan",
        key=key,
    )


def load_plan(conn: Connection, key: str) -> Row[Any]:
    """Return the whole plan row with ``key`` (locked in a write), or refuse, naming the list."""
    query = _PLAN_BY_KEY_LOCKED if conn.info.get(WRITER) else _PLAN_BY_KEY
    row = conn.execute(query, {"key": key}).first()
    if row is None:
        raise missing_plan(key)
    return row


@dataclass(frozen=True)
class PlanForActor:
    """A plan and the roles one person holds on it."""

    plan: PlanHead
    actor_roles: frozenset[str]
    #: the person was deactivated
    departed: bool = False


def load_plan_for_actor(conn: Connection, key: str, email: str) -> PlanForActor:
    """Return plan ``key`` and the roles ``email`` holds on it; refuse unknown plan or person."""
    statement = _PLAN_FOR_ACTOR_LOCKED if conn.info.get(WRITER) else _PLAN_FOR_ACTOR
    rows = statement.execute(conn, {"key": key, "email": email}).fetchall()
    if not rows:
        raise missing_plan(key)
    *head, person_id, departed, _role = rows[0]
    if person_id is None:
        raise unregistered(email)
    held = frozenset(row[-1] for row in rows if row[-1] is not None)
    return PlanForActor(PlanHead(*head), held, bool(departed))


def _seal(record: dict[str, Any], audit_key: bytes | None) -> dict[str, Any]:
    """Encode the record's payload as stored and add its digest; return the record."""
    record["payload"] = chain.payload_text(record["payload"])
    record["hash"] = chain.seal(record, audit_key)
    return record


def start(conn: Connection, plan: dict[str, Any], *, audit_key: bytes | None, **first: Any) -> int:
    """Insert a new plan (the ``plans`` columns in ``plan``) with its first record.

    ``first`` holds the record's columns (kind, to_state, payload...); it gets seq 1, the
    plan's creation time and workflow, and is chained to the plan's key; ``audit_key`` (if
    any) seals it, and a key that is not the ledger's is refused first (see
    napflow.services._ledger_key). Return the plan id.
    """
    require_key(conn, audit_key, plan["created_at"])
    record = _seal(
        {
            **dict.fromkeys(("trigger", "from_state", "actor", "role", "comment", "payload")),
            **first,
            "seq": 1,
            "at": plan["created_at"],
            "workflow": plan["workflow"],
            "workflow_version": plan["workflow_version"],
            "prev_hash": chain.genesis(plan["key"]),
        },
        audit_key,
    )
    values = {**plan, "version": 1, "seq": 1, "entered_seq": 1, "head_hash": record["hash"]}
    values["search"] = plan_search_text(plan["key"], plan["title"])
    inserted = conn.execute(insert(plans).values(**values)).inserted_primary_key
    assert inserted is not None
    _ADD_RECORD.execute(conn, {**record, "plan_id": inserted[0]})
    return int(inserted[0])


def append(
    conn: Connection,
    plan: PlanRow,
    *,
    audit_key: bytes | None,
    kind: str,
    at: datetime,
    trigger: str | None = None,
    to_state: str | None = None,
    actor: str | None = None,
    role: str | None = None,
    comment: str | None = None,
    payload: dict[str, Any] | None = None,
    draft: tuple[int, str] | None = None,
    new_round: bool = False,
    workflow_version: int | None = None,
) -> PlanHead:
    """Record one change of ``plan`` (read in this transaction); return the plan after it.

    For a transition, ``to_state`` becomes the plan's state and starts a new round;
    ``new_round`` starts one in the same state (a new draft). ``draft`` (version, SHA-256)
    becomes the plan's current draft. Every kind but mail bookkeeping moves the plan's
    version on. Several changes in one transaction chain: pass each call the plan the
    previous one returned. ``audit_key`` (if any) seals the record; a key that is not the
    ledger's is refused before anything is written (napflow.services._ledger_key).
    A migration (``workflow_version``: the version it moves the plan to) sets the state to
    ``to_state`` and keeps the round; the record is made under the new version.
    """
    require_key(conn, audit_key, at, plan.head_hash)
    seq = plan.seq + 1
    moves = kind in (Kind.TRANSITION, Kind.MIGRATED)
    under = plan.workflow_version if workflow_version is None else workflow_version
    new_state = to_state if moves and to_state is not None else plan.state
    version = plan.version if kind in UNVERSIONED_KINDS else plan.version + 1
    entered_seq = seq if kind == Kind.TRANSITION or new_round else plan.entered_seq
    draft_version, draft_sha256 = draft or (plan.draft_version, plan.draft_sha256)
    record = _seal(
        {
            "plan_id": plan.id,
            "seq": seq,
            "kind": kind,
            "trigger": trigger,
            "from_state": plan.state,
            "to_state": new_state,
            "actor": actor,
            "role": role,
            "comment": comment,
            "at": at,
            "workflow": plan.workflow,
            "workflow_version": under,
            "payload": payload,
            "prev_hash": plan.head_hash,
        },
        audit_key,
    )
    moved = _MOVE_PLAN.execute(
        conn,
        {
            "b_id": plan.id,
            "b_seq": plan.seq,
            "b_new_seq": seq,
            "b_version": version,
            "b_head_hash": record["hash"],
            "b_at": at,
            "b_state": new_state,
            "b_entered_seq": entered_seq,
            "b_workflow_version": under,
            "b_draft_version": draft_version,
            "b_draft_sha256": draft_sha256,
        },
    )
    if moved.rowcount != 1:
        raise ConflictError(
            _(
                "%(key)s changed while this action was being recorded; nothing was written. "
                "See %(command)s and try again."
            )
            % {"key": plan.key, "command": f"`napflow history {plan.key}`"},
            key=plan.key,
        )
    _ADD_RECORD.execute(conn, record)
    return PlanHead(
        plan.id,
        plan.key,
        new_state,
        version,
        entered_seq,
        plan.workflow,
        under,
        plan.timezone,
        seq,
        record["hash"],
        draft_version,
        draft_sha256,
    )


def draft_bound(plan: PlanRow) -> dict[str, Any] | None:
    """Return what an action record says of the draft it acted on (None: no draft yet)."""
    if not plan.draft_version:
        return None
    return {"draft": {"version": plan.draft_version, "sha256": plan.draft_sha256}}

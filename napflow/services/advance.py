"""The advance service: fire a trigger on a plan, as one person, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from napflow import inputs
from napflow.errors import ConflictError, InputError, NotAllowedError
from napflow.i18n import _
from napflow.ledger.record import Kind
from napflow.runtime import Runtime
from napflow.services._plan_facts import allowed_now, load_facts
from napflow.services._records import append, draft_bound
from napflow.services._visibility import actor_on_plan
from napflow.services._workflow_versions import ensure_stored
from napflow.services.deadlines import after_action
from napflow.workflow.engine import Decision


@dataclass(frozen=True)
class AdvanceResult:
    """What an advance did: the trigger, the states before and after, the new version.

    ``version`` is the plan's version after every record the action wrote (its own and
    those of the deadlines it opened or met): what a next ``expect_version`` must give.
    """

    key: str
    trigger: str
    from_state: str
    to_state: str
    version: int
    actor: str
    role: str | None


def _refusal(key: str, decision: Decision, actor: str, allowed: list[str]) -> str:
    refusal = (
        _("Cannot %(trigger)s %(key)s: %(reasons)s. Allowed now for %(actor)s: %(allowed)s.")
        if allowed
        else _("Cannot %(trigger)s %(key)s: %(reasons)s. Allowed now for %(actor)s: nothing.")
    )
    return refusal % {
        "trigger": decision.trigger,
        "key": key,
        "reasons": "; ".join(decision.reasons),
        "actor": actor,
        "allowed": ", ".join(allowed),
    }


def advance_plan(
    rt: Runtime,
    key: str,
    trigger: str,
    actor: str,
    comment: str | None = None,
    expect_version: int | None = None,
    draft: int | None = None,
) -> AdvanceResult:
    """Fire ``trigger`` on plan ``key`` as ``actor``, recording it in the plan's history.

    The actor's role on the plan, the workflow's conditions and comment rules are checked in
    the same transaction that writes the new state and the history record, so either both
    are stored or neither. ``expect_version`` refuses the action if anyone changed the plan
    since the caller read it at that version (a form, a script that showed the plan first).
    ``draft`` refuses it likewise if the plan's current draft is no longer that version
    (the draft the person read). The record names the draft acted on, version and digest.
    """
    key = inputs.plan_key(key)
    actor = inputs.email_address(actor)
    comment = inputs.comment(comment)
    with rt.db.write() as conn:
        found = actor_on_plan(conn, key, actor)
        plan = found.plan
        if expect_version is not None and plan.version != expect_version:
            raise ConflictError(
                _(
                    "%(key)s is at version %(version)d, not %(expected)d: it changed since you "
                    "read it (now in %(state)s); nothing was written. See %(command)s."
                )
                % {
                    "key": key,
                    "version": plan.version,
                    "expected": expect_version,
                    "state": plan.state,
                    "command": f"`napflow history {key}`",
                },
                key=key,
                expected_version=expect_version,
                found_version=plan.version,
                state=plan.state,
            )
        if draft is not None and plan.draft_version != draft:
            stale = (
                _(
                    "%(key)s has no draft v%(draft)d (it has no draft yet); nothing was "
                    "written. See %(command)s and act on the current draft."
                )
                if not plan.draft_version
                else _(
                    "%(key)s's draft is v%(current)d now, not v%(draft)d: a newer draft was "
                    "added since you read it; nothing was written. See %(command)s and act on "
                    "the current draft."
                )
            )
            raise ConflictError(
                stale
                % {
                    "key": key,
                    "draft": draft,
                    "current": plan.draft_version,
                    "command": f"`napflow draft list {key}`",
                },
                key=key,
                found_version=plan.version,
                state=plan.state,
                expected_draft=draft,
                found_draft=plan.draft_version,
            )
        engine = rt.catalog.engine(plan.workflow, plan.workflow_version)
        if trigger not in engine.definition.triggers:
            raise InputError(
                _("Workflow %(workflow)s has no trigger %(trigger)r; triggers: %(triggers)s.")
                % {
                    "workflow": plan.workflow,
                    "trigger": trigger,
                    "triggers": ", ".join(engine.definition.triggers),
                }
            )
        needs = engine.needs(plan.state, trigger)
        facts = load_facts(conn, plan, needs, actor, found.actor_roles, comment)
        decision = engine.fire(facts, trigger)
        if not decision.allowed:
            allowed = allowed_now(conn, engine, plan, actor)
            raise NotAllowedError(
                _refusal(key, decision, actor, allowed),
                key=key,
                trigger=trigger,
                actor=actor,
                state=plan.state,
                reasons=decision.reasons,
                allowed=allowed,
            )
        assert decision.transition is not None
        role = engine.acting_role(facts, decision.transition)
        to_state = facts.state
        now = rt.clock.now()
        ensure_stored(  # a plan from before versions were stored: its version is, now
            conn, rt.catalog, engine.definition, audit_key=rt.secrets.audit_key, at=now, actor=actor
        )
        after = append(
            conn,
            plan,
            audit_key=rt.secrets.audit_key,
            kind=Kind.ACTION if decision.transition.stays else Kind.TRANSITION,
            at=now,
            trigger=trigger,
            to_state=to_state,
            actor=actor,
            role=role,
            comment=comment,
            payload=draft_bound(plan),
        )
        record = {
            "seq": after.seq,
            "trigger": trigger,
            "from_state": plan.state,
            "to_state": to_state,
            "actor": actor,
            "role": role,
            "comment": comment,
            # the draft acted on (None: no draft yet), for the mails to name and link
            **(draft_bound(plan) or {"draft": None}),
        }
        # what the action does to deadlines and messages is recorded too: the version to
        # report is the one after those records, the one a next --expect-version must give
        after = after_action(conn, engine, after, record, now, rt.secrets.audit_key)
    return AdvanceResult(key, trigger, plan.state, to_state, after.version, actor, role)

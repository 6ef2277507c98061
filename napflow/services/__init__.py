"""Services: one function per user action; each owns its transaction.

The CLI, the web app and the scheduler call these and nothing below them. Each module is
one use case or a family of them (``plans``, ``deadlines``, ``audit``...); modules whose
names start with ``_`` are helpers of the services alone. The layer may import everything
below it: :mod:`napflow.workflow`, :mod:`napflow.ledger`, :mod:`napflow.storage`,
:mod:`napflow.notifications`, :mod:`napflow.runtime` and napflow's foundation modules.

The names below are loaded on first use (PEP 562), so ``from napflow import services``
costs nothing until a service is called: ``napflow --help`` never loads SQLAlchemy.
Modules are reached the same way: ``services.audit.verify_ledger(...)``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from napflow.services import (
        access,
        accounts,
        advance,
        audit,
        checkpoints,
        choices,
        deadlines,
        demo,
        dispatch,
        drafts,
        feeds,
        history,
        journey,
        people,
        plan_list,
        plans,
        portfolio,
        reminders,
        report,
        roles,
        scenario,
        setup,
        signing,
        simulate,
        timers,
        work,
        workflow_versions,
        workflows,
    )
    from napflow.services.advance import AdvanceResult, advance_plan
    from napflow.services.deadlines import (
        DeadlineView,
        add_deadline,
        cancel_deadline,
        list_deadlines,
        move_deadline,
    )
    from napflow.services.demo import load_demo
    from napflow.services.history import HistoryRecord, PlanHistory, plan_history
    from napflow.services.people import PersonView, add_person, list_people
    from napflow.services.plans import (
        PlanAsOf,
        PlanView,
        create_plan,
        edit_plan,
        list_plans,
        plan_countries,
        plans_as_of,
        show_plan,
    )
    from napflow.services.reminders import MessageView, list_messages, preview_messages
    from napflow.services.report import DurationsReport, PlanDurations, durations
    from napflow.services.roles import RoleChange, RoleView, grant_role, list_roles, revoke_role
    from napflow.services.setup import InitResult, init_database

#: every name of the services' public face -> the module that defines it
_NAMES = {
    "AdvanceResult": "advance",
    "DeadlineView": "deadlines",
    "DurationsReport": "report",
    "HistoryRecord": "history",
    "InitResult": "setup",
    "MessageView": "reminders",
    "PersonView": "people",
    "PlanAsOf": "plans",
    "PlanDurations": "report",
    "PlanHistory": "history",
    "PlanView": "plans",
    "RoleChange": "roles",
    "RoleView": "roles",
    "add_deadline": "deadlines",
    "add_person": "people",
    "advance_plan": "advance",
    "cancel_deadline": "deadlines",
    "create_plan": "plans",
    "durations": "report",
    "edit_plan": "plans",
    "grant_role": "roles",
    "init_database": "setup",
    "list_deadlines": "deadlines",
    "list_messages": "reminders",
    "list_people": "people",
    "list_plans": "plans",
    "list_roles": "roles",
    "load_demo": "demo",
    "move_deadline": "deadlines",
    "plan_countries": "plans",
    "plan_history": "history",
    "plans_as_of": "plans",
    "preview_messages": "reminders",
    "revoke_role": "roles",
    "show_plan": "plans",
}
#: the service modules the interfaces use by name (services.audit, services.accounts, ...)
_MODULES = frozenset(
    {
        "access",
        "accounts",
        "advance",
        "audit",
        "checkpoints",
        "choices",
        "deadlines",
        "demo",
        "dispatch",
        "drafts",
        "feeds",
        "history",
        "journey",
        "people",
        "plan_list",
        "plans",
        "portfolio",
        "reminders",
        "report",
        "roles",
        "scenario",
        "setup",
        "signing",
        "simulate",
        "timers",
        "work",
        "workflow_versions",
        "workflows",
    }
)

__all__ = [
    "AdvanceResult",
    "DeadlineView",
    "DurationsReport",
    "HistoryRecord",
    "InitResult",
    "MessageView",
    "PersonView",
    "PlanAsOf",
    "PlanDurations",
    "PlanHistory",
    "PlanView",
    "RoleChange",
    "RoleView",
    "access",
    "accounts",
    "add_deadline",
    "add_person",
    "advance",
    "advance_plan",
    "audit",
    "cancel_deadline",
    "checkpoints",
    "choices",
    "create_plan",
    "deadlines",
    "demo",
    "dispatch",
    "drafts",
    "durations",
    "edit_plan",
    "feeds",
    "grant_role",
    "history",
    "init_database",
    "journey",
    "list_deadlines",
    "list_messages",
    "list_people",
    "list_plans",
    "list_roles",
    "load_demo",
    "move_deadline",
    "people",
    "plan_countries",
    "plan_history",
    "plan_list",
    "plans",
    "plans_as_of",
    "portfolio",
    "preview_messages",
    "reminders",
    "report",
    "revoke_role",
    "roles",
    "scenario",
    "setup",
    "show_plan",
    "signing",
    "simulate",
    "timers",
    "work",
    "workflow_versions",
    "workflows",
]


def __getattr__(name: str) -> Any:
    """Load a service (or a service module) on first use."""
    if name in _MODULES:
        return importlib.import_module(f"napflow.services.{name}")
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'napflow.services' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"napflow.services.{module}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    """List the services and the service modules (for completion and help())."""
    return sorted({*_NAMES, *_MODULES})

"""Services: one function per user action; each owns its transaction.

The CLI, the web app and the scheduler call these and nothing below them.
"""

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
    list_plans,
    plan_countries,
    plans_as_of,
    show_plan,
)
from napflow.services.reminders import MessageView, list_messages, preview_messages
from napflow.services.report import DurationsReport, PlanDurations, durations
from napflow.services.roles import RoleChange, RoleView, grant_role, list_roles, revoke_role
from napflow.services.setup import InitResult, init_database

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
    "add_deadline",
    "add_person",
    "advance_plan",
    "cancel_deadline",
    "create_plan",
    "durations",
    "grant_role",
    "init_database",
    "list_deadlines",
    "list_messages",
    "list_people",
    "list_plans",
    "list_roles",
    "load_demo",
    "move_deadline",
    "plan_countries",
    "plan_history",
    "plans_as_of",
    "preview_messages",
    "revoke_role",
    "show_plan",
]

"""Services: one function per user action; each owns its transaction.

The CLI, the web app and the scheduler call these and nothing below them.
"""

from napflow.services.advance import AdvanceResult, advance_plan
from napflow.services.history import HistoryRecord, PlanHistory, plan_history
from napflow.services.people import PersonView, add_person, list_people
from napflow.services.plans import PlanView, create_plan, list_plans, show_plan
from napflow.services.roles import RoleChange, RoleView, grant_role, list_roles, revoke_role
from napflow.services.setup import InitResult, init_database

__all__ = [
    "AdvanceResult",
    "HistoryRecord",
    "InitResult",
    "PersonView",
    "PlanHistory",
    "PlanView",
    "RoleChange",
    "RoleView",
    "add_person",
    "advance_plan",
    "create_plan",
    "grant_role",
    "init_database",
    "list_people",
    "list_plans",
    "list_roles",
    "plan_history",
    "revoke_role",
    "show_plan",
]

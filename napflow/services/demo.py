"""Demo data: the shipped Tajikistan 2015 scenario, loaded into the database.

Tajikistan's 2015 plan ends up in working-group review after one return for changes (the
Dushanbe meeting of 29-30 July 2015), with part of the working group's endorsements in, an
approval deadline of 31 December 2015 and the Vienna follow-up session of 8-9 October.
Turkmenistan's plan was submitted on 11 June 2018; Kyrgyzstan's was approved on 24 December
2021. Every step goes through the services on a virtual clock, so the history is what
napflow itself would have recorded.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import update

from napflow.clock import VirtualClock
from napflow.errors import RefusedError
from napflow.runtime import Runtime
from napflow.services.accounts import set_demo_passwords
from napflow.services.people import list_people
from napflow.services.plans import list_plans
from napflow.services.roles import list_roles
from napflow.services.scenario import SHIPPED, add_people, load_scenario, scenario_path
from napflow.storage.schema import Status, outbox

DEMO_KEYS = ("TJK-2015", "TKM-2018", "KGZ-2021")


#: every demo person logs in to the web app with this (demo data only)
DEMO_PASSWORD = "napflow-demo"  # noqa: S105 - published on purpose, for the demo


def demo_logins(rt: Runtime) -> list[tuple[str, str, str]]:
    """Return (plan, role, e-mail) of the TJK-2015 people to log in as in the web app."""
    return [
        ("TJK-2015", role.role, role.email)
        for role in list_roles(rt, "TJK-2015")
        if role.role in ("coordinator", "wg_chair", "wg_member", "expert", "observer")
    ]


def load_demo(rt: Runtime) -> bool:
    """Load the demo people and plans; return False if they were loaded already.

    Refuses when only some of the demo keys exist (an interrupted load, or a user's own
    plan under a demo key) rather than guess.
    """
    present = {p.key for p in list_plans(rt)} & set(DEMO_KEYS)
    if present == set(DEMO_KEYS):
        return False
    if present:
        raise RefusedError(
            f"Plans {', '.join(sorted(present))} exist but not all demo plans do; the demo "
            "cannot be loaded into this database. Use a new one (--db) for the demo."
        )
    scenario = load_scenario(scenario_path(SHIPPED))
    clock = VirtualClock(scenario.steps[0].at)
    demo = dataclasses.replace(rt, clock=clock)
    add_people(demo, scenario, {p.email for p in list_people(demo)})
    for step in scenario.steps:
        clock.set(step.at)
        step.call(demo)
    set_demo_passwords(rt, [email for email, *_rest in scenario.people], DEMO_PASSWORD)
    # What the demo's history queued belongs to years past: not for sending now.
    with rt.db.write() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.status == Status.PENDING, outbox.c.send_at < rt.clock.now())
            .values(status=Status.CANCELLED, last_error="demo history, not sent")
        )
    return True

"""Demo data: three real NAP processes from the domain notes, with dated histories.

Tajikistan's 2015 plan sits in working-group review after one return for changes (the
Dushanbe meeting of 29-30 July 2015), with part of the working group's endorsements in.
Turkmenistan's plan was submitted for approval on 11 June 2018; Kyrgyzstan's was approved by
Cabinet of Ministers resolution No. 340 of 24 December 2021. The people are fictitious; the
bodies they work for are the real members of those working groups. Every step goes through
the services on a virtual clock, so the history is what napflow itself would have recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import update

from napflow.clock import VirtualClock
from napflow.errors import RefusedError
from napflow.models import Status, outbox
from napflow.runtime import Runtime
from napflow.services import (
    add_person,
    advance_plan,
    create_plan,
    grant_role,
    list_people,
    list_plans,
)

DEMO_KEYS = ("TJK-2015", "TKM-2018", "KGZ-2021")

# email, name, time zone
PEOPLE = [
    (
        "f.rahimov@cbrn.tj.example",
        "Farrukh Rahimov (CBRN Safety and Security Agency)",
        "Asia/Dushanbe",
    ),
    (
        "s.nazarova@president.tj.example",
        "Sitora Nazarova (Executive Office of the President)",
        "Asia/Dushanbe",
    ),
    (
        "d.saidov@medt.tj.example",
        "Davron Saidov (Ministry of Economic Development and Trade)",
        "Asia/Dushanbe",
    ),
    ("m.karimova@mfa.tj.example", "Malika Karimova (Ministry of Foreign Affairs)", "Asia/Dushanbe"),
    ("a.sharipov@customs.tj.example", "Alisher Sharipov (Customs Service)", "Asia/Dushanbe"),
    (
        "n.kurbonov@kchs.tj.example",
        "Nurullo Kurbonov (Committee for Emergency Situations)",
        "Asia/Dushanbe",
    ),
    ("minister@mfa.tj.example", "Minister of Foreign Affairs of Tajikistan", "Asia/Dushanbe"),
    ("e.huber@osce.example", "Eva Huber (OSCE Conflict Prevention Centre)", "Europe/Vienna"),
    (
        "j.okafor@un1540.example",
        "James Okafor (1540 Committee Group of Experts)",
        "America/New_York",
    ),
    ("observer@unrcpd.example", "UNRCPD liaison (observer)", "Asia/Kathmandu"),
    ("b.atayev@mfa.tm.example", "Berdi Atayev (Ministry of Foreign Affairs)", "Asia/Ashgabat"),
    ("g.orazova@customs.tm.example", "Gulnara Orazova (State Customs Service)", "Asia/Ashgabat"),
    ("cabinet@gov.tm.example", "Cabinet of Ministers of Turkmenistan", "Asia/Ashgabat"),
    ("a.tokonova@mineconomy.kg.example", "Aigul Tokonova (Ministry of Economy)", "Asia/Bishkek"),
    ("k.usenov@mvd.kg.example", "Kanat Usenov (Ministry of Internal Affairs)", "Asia/Bishkek"),
    (
        "c.abdyldaeva@customs.kg.example",
        "Cholpon Abdyldaeva (State Customs Service)",
        "Asia/Bishkek",
    ),
    ("cabinet@gov.kg.example", "Cabinet of Ministers of the Kyrgyz Republic", "Asia/Bishkek"),
]

# key, country, title, zone, roles: role -> emails
PLANS = [
    (
        "TJK-2015",
        "TJK",
        "National Action Plan on the implementation of UNSCR 1540 (2016-2021)",
        "Asia/Dushanbe",
        {
            "coordinator": ["f.rahimov@cbrn.tj.example"],
            "wg_chair": ["s.nazarova@president.tj.example"],
            "wg_member": [
                "d.saidov@medt.tj.example",
                "m.karimova@mfa.tj.example",
                "a.sharipov@customs.tj.example",
                "n.kurbonov@kchs.tj.example",
            ],
            "expert": ["e.huber@osce.example", "j.okafor@un1540.example"],
            "approver": ["minister@mfa.tj.example"],
            "observer": ["observer@unrcpd.example"],
        },
    ),
    (
        "TKM-2018",
        "TKM",
        "National Action Plan on the implementation of UNSCR 1540 (2018-2022)",
        "Asia/Ashgabat",
        {
            "coordinator": ["b.atayev@mfa.tm.example"],
            "wg_chair": ["b.atayev@mfa.tm.example"],
            "wg_member": ["g.orazova@customs.tm.example"],
            "expert": ["e.huber@osce.example"],
            "approver": ["cabinet@gov.tm.example"],
        },
    ),
    (
        "KGZ-2021",
        "KGZ",
        "National Action Plan on the implementation of UNSCR 1540 (2022-2025)",
        "Asia/Bishkek",
        {
            "coordinator": ["a.tokonova@mineconomy.kg.example"],
            "wg_chair": ["a.tokonova@mineconomy.kg.example"],
            "wg_member": ["k.usenov@mvd.kg.example", "c.abdyldaeva@customs.kg.example"],
            "expert": ["e.huber@osce.example"],
            "approver": ["cabinet@gov.kg.example"],
        },
    ),
]

# key, local date-time (in the plan's zone), trigger, actor, comment
ACTIONS: list[tuple[str, str, str, str, str | None]] = [
    ("TJK-2015", "2015-07-15 10:00", "submit_for_review", "f.rahimov@cbrn.tj.example", None),
    ("TJK-2015", "2015-07-29 16:30", "endorse", "m.karimova@mfa.tj.example", None),
    (
        "TJK-2015",
        "2015-07-30 12:00",
        "request_changes",
        "s.nazarova@president.tj.example",
        "Working-group meeting, Dushanbe, 29-30 July 2015: revise section III (border and "
        "export controls) with the Customs Service's comments before the experts see it.",
    ),
    ("TJK-2015", "2015-09-21 09:30", "submit_for_review", "f.rahimov@cbrn.tj.example", None),
    ("TJK-2015", "2015-10-08 11:00", "endorse", "s.nazarova@president.tj.example", None),
    ("TJK-2015", "2015-10-09 10:00", "endorse", "a.sharipov@customs.tj.example", None),
    ("TJK-2015", "2015-10-09 15:00", "endorse", "m.karimova@mfa.tj.example", None),
    ("TKM-2018", "2018-03-12 10:00", "submit_for_review", "b.atayev@mfa.tm.example", None),
    ("TKM-2018", "2018-03-20 10:00", "endorse", "g.orazova@customs.tm.example", None),
    ("TKM-2018", "2018-03-21 10:00", "send_to_experts", "b.atayev@mfa.tm.example", None),
    ("TKM-2018", "2018-05-04 10:00", "endorse", "e.huber@osce.example", None),
    ("TKM-2018", "2018-06-11 10:00", "submit_for_approval", "b.atayev@mfa.tm.example", None),
    ("KGZ-2021", "2021-06-01 10:00", "submit_for_review", "a.tokonova@mineconomy.kg.example", None),
    ("KGZ-2021", "2021-06-10 10:00", "endorse", "k.usenov@mvd.kg.example", None),
    ("KGZ-2021", "2021-06-11 10:00", "endorse", "c.abdyldaeva@customs.kg.example", None),
    ("KGZ-2021", "2021-06-15 10:00", "send_to_experts", "a.tokonova@mineconomy.kg.example", None),
    (
        "KGZ-2021",
        "2021-08-20 10:00",
        "return_with_comments",
        "e.huber@osce.example",
        "Add time frames and competent bodies to every activity under heading II.",
    ),
    ("KGZ-2021", "2021-09-06 10:00", "submit_for_review", "a.tokonova@mineconomy.kg.example", None),
    ("KGZ-2021", "2021-09-13 10:00", "endorse", "k.usenov@mvd.kg.example", None),
    ("KGZ-2021", "2021-09-14 10:00", "endorse", "c.abdyldaeva@customs.kg.example", None),
    ("KGZ-2021", "2021-09-15 10:00", "send_to_experts", "a.tokonova@mineconomy.kg.example", None),
    ("KGZ-2021", "2021-10-18 10:00", "endorse", "e.huber@osce.example", None),
    (
        "KGZ-2021",
        "2021-11-01 10:00",
        "submit_for_approval",
        "a.tokonova@mineconomy.kg.example",
        None,
    ),
    (
        "KGZ-2021",
        "2021-12-24 15:00",
        "approve",
        "cabinet@gov.kg.example",
        "Cabinet of Ministers resolution No. 340 of 24 December 2021.",
    ),
]

# when each plan was opened, local time
CREATED = {
    "TJK-2015": "2013-09-02 09:00",
    "TKM-2018": "2017-11-06 09:00",
    "KGZ-2021": "2021-03-01 09:00",
}


def _at(local: str, zone: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone))


def _steps() -> list[tuple[datetime, Callable[[Runtime], object]]]:
    """Every demo step as (when, service call), in the order they happened."""
    steps: list[tuple[datetime, Callable[[Runtime], object]]] = []
    zones = {key: zone for key, _c, _t, zone, _r in PLANS}
    for key, country, title, zone, roles in PLANS:
        opened = _at(CREATED[key], zone)
        steps.append(
            (
                opened,
                partial(
                    create_plan,
                    country=country,
                    title=title,
                    workflow="nap",
                    timezone=zone,
                    key=key,
                ),
            )
        )
        for role, emails in roles.items():
            steps.extend((opened, partial(grant_role, key=key, email=e, role=role)) for e in emails)
    for key, local, trigger, actor, comment in ACTIONS:
        steps.append(
            (
                _at(local, zones[key]),
                partial(advance_plan, key=key, trigger=trigger, actor=actor, comment=comment),
            )
        )
    return sorted(steps, key=lambda step: step[0])  # stable: same-time steps keep their order


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
    clock = VirtualClock(_at("2013-09-01 09:00", "Asia/Dushanbe"))
    demo = dataclasses.replace(rt, clock=clock)
    known = {p.email for p in list_people(demo)}
    for email, name, zone in PEOPLE:
        if email not in known:
            add_person(demo, email, name, zone)
    for when, call in _steps():
        clock.set(when)
        call(demo)
    # The notices the demo's history queued belong to years past: not for sending now.
    with rt.db.write() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.status == Status.PENDING, outbox.c.send_at < rt.clock.now())
            .values(status=Status.CANCELLED, last_error="demo history, not sent")
        )
    return True

"""`napflow serve --workers N`: worker processes share one database; one scheduler sends."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import CAST, serving

from napflow import services
from napflow.runtime import Runtime
from napflow.services.accounts import create_api_token
from napflow.services.audit import verify_ledger

COORD, CHAIR = CAST["coordinator"][0], CAST["wg_chair"][0]


def post(url: str, token: str, body: dict[str, str]) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def worker_processes(pid: int) -> list[int]:
    """The uvicorn workers among the children of process ``pid`` (Linux /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


@pytest.mark.slow
def test_workers_serve_concurrent_actions_and_one_scheduler_sends_each_notice_once(
    rt: Runtime, db_url: str, nap_plan: str, tmp_path: Path
) -> None:
    members = CAST["wg_member"] + [f"wg{i}@example.org" for i in range(10)]
    experts = CAST["expert"] + [f"expert{i}@example.org" for i in range(5)]
    for email in members[len(CAST["wg_member"]) :] + experts[len(CAST["expert"]) :]:
        services.add_person(rt, email, email)
        services.grant_role(rt, nap_plan, email, "expert" if "expert" in email else "wg_member")
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    before = services.show_plan(rt, nap_plan).version
    tokens = {email: create_api_token(rt, email) for email in [*members, CHAIR]}
    env = {
        **os.environ,
        "NAPFLOW_DATABASE_URL": db_url,
        "NAPFLOW_MAIL_DIR": str(tmp_path / "mail"),
        "NAPFLOW_POLL_SECONDS": "1",
    }
    env.pop("NAPFLOW_CONFIG", None)
    with serving("--workers", "3", "--with-scheduler", cwd=tmp_path, env=env) as (url, proc, log):
        assert len(worker_processes(proc.pid)) == 3
        advance = f"{url}/api/v1/plans/{nap_plan}/advance"
        with ThreadPoolExecutor(len(members)) as pool:  # every member endorses at once
            codes = list(
                pool.map(lambda m: post(advance, tokens[m], {"trigger": "endorse"}), members)
            )
        assert codes == [200] * len(members)
        assert post(advance, tokens[members[0]], {"trigger": "send_to_experts"}) == 403
        assert post(advance, tokens[CHAIR], {"trigger": "send_to_experts"}) == 200

        def notices() -> list[services.MessageView]:
            found = services.list_messages(rt, key=nap_plan)
            return [
                m
                for m in found
                if m.kind == "notice" and m.rung == "send_to_experts" and m.status == "sent"
            ]

        deadline = time.monotonic() + 60
        while len(notices()) < len(experts):
            assert time.monotonic() < deadline, "the notices were not sent"
            time.sleep(0.2)
        time.sleep(2)  # a second scheduler would send again by now
    output = log.read_text()
    assert output.count("Reminders are sent from this process") == 1
    assert "Traceback" not in output
    assert proc.returncode == 0
    assert sorted(m.recipient for m in notices()) == sorted(experts)
    assert {m.attempts for m in services.list_messages(rt, key=nap_plan)} <= {0, 1}
    history = services.plan_history(rt, nap_plan).records
    assert [r.seq for r in history] == list(range(1, len(history) + 1))
    assert sorted(r.actor for r in history if r.trigger == "endorse") == sorted(members)
    assert [r.actor for r in history if r.trigger == "send_to_experts"] == [CHAIR]
    assert services.show_plan(rt, nap_plan).version > before
    assert verify_ledger(rt).ok


def test_a_worker_builds_its_app_from_the_environment_and_starts_no_scheduler(
    rt: Runtime, db_url: str, nap_plan: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from apscheduler.schedulers.base import BaseScheduler
    from starlette.testclient import TestClient

    from napflow.web.worker import create_worker_app

    started: list[object] = []
    monkeypatch.setattr(BaseScheduler, "start", lambda self, *a, **k: started.append(self))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NAPFLOW_CONFIG", raising=False)
    monkeypatch.setenv("NAPFLOW_DATABASE_URL", db_url)
    token = create_api_token(rt, COORD)
    with TestClient(create_worker_app()) as client:  # built, started up, serving
        found = client.get(
            f"/api/v1/plans/{nap_plan}", headers={"Authorization": f"Bearer {token}"}
        )
    assert found.status_code == 200 and found.json()["key"] == nap_plan
    assert started == []  # no scheduler of any kind was started in the worker

"""Drafts over HTTP: the plan page, downloads, and the API's upload, list, download and diff.

Both engines, through the real app (TestClient): pages with a logged-in session, the API
with tokens.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from helpers import CAST, PASSWORD, csrf_of, log_in, web_client

from napflow import services
from napflow.runtime import Runtime
from napflow.services import accounts

COORD, CHAIR, EXPERT, MINISTER = (
    CAST[r][0] for r in ("coordinator", "wg_chair", "expert", "approver")
)
MEMBERS = CAST["wg_member"]
V1 = b"# National Action Plan\n\nExport controls: the list of 2014.\n"
V2 = b"# National Action Plan\n\nExport controls: the list of 2015.\n"


@pytest.fixture
def http(rt: Runtime, nap_plan: str) -> Iterator[TestClient]:
    with web_client(rt) as client:
        yield client


def bearer(rt: Runtime, email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.create_api_token(rt, email)}"}


def upload(http: TestClient, key: str, auth: dict[str, str], data: bytes, name: str) -> object:
    return http.post(
        f"/api/v1/plans/{key}/drafts",
        files={"file": (name, io.BytesIO(data), "application/octet-stream")},
        data={"note": "From the API"},
        headers=auth,
    )


def test_the_api_uploads_lists_downloads_and_compares_drafts(
    rt: Runtime, nap_plan: str, http: TestClient
) -> None:
    auth = bearer(rt, COORD)
    first = upload(http, nap_plan, auth, V1, "nap v1.md")
    assert first.status_code == 201, first.text  # type: ignore[attr-defined]
    assert first.json()["sha256"] == hashlib.sha256(V1).hexdigest()  # type: ignore[attr-defined]
    assert upload(http, nap_plan, auth, V2, "nap v2.md").status_code == 201  # type: ignore[attr-defined]
    listed = http.get(f"/api/v1/plans/{nap_plan}/drafts", headers=auth).json()
    assert [(d["version"], d["note"]) for d in listed["items"]] == [
        (1, "From the API"),
        (2, "From the API"),
    ]
    got = http.get(f"/api/v1/plans/{nap_plan}/drafts/1", headers=auth)
    assert got.status_code == 200 and got.content == V1
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"nap_v1.md\"; filename*=UTF-8''nap%20v1.md"
    )
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.headers["x-content-type-options"] == "nosniff"
    diff = http.get(f"/api/v1/plans/{nap_plan}/drafts/1/diff/2", headers=auth).json()
    assert (diff["inserted"], diff["deleted"]) == (1, 1)
    assert [(r["op"], r["text"]) for r in diff["changes"] if r["op"] != "equal"] == [
        ("delete", "2014."),
        ("insert", "2015."),
    ]


def test_the_api_refuses_bad_uploads_and_hides_drafts_of_hidden_plans(
    rt: Runtime, nap_plan: str, http: TestClient
) -> None:
    member, outsider = bearer(rt, MEMBERS[0]), bearer(rt, "outsider@example.org")
    refused = upload(http, nap_plan, member, V1, "nap.md")
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert "only a coordinator" in refused.json()["detail"]  # type: ignore[attr-defined]
    coord = bearer(rt, COORD)
    lying = upload(http, nap_plan, coord, b"%PDF-1.4\n", "nap.docx")
    assert lying.status_code == 400  # type: ignore[attr-defined]
    assert "is a PDF document, not a Word document" in lying.json()["detail"]  # type: ignore[attr-defined]
    no_file = http.post(f"/api/v1/plans/{nap_plan}/drafts", data={"note": "x"}, headers=coord)
    assert no_file.status_code == 400 and "a field 'file'" in no_file.json()["detail"]
    huge = http.post(
        f"/api/v1/plans/{nap_plan}/drafts",
        content=b"",
        headers={**coord, "Content-Length": str(60 << 20), "Content-Type": "multipart/form-data"},
    )
    assert huge.status_code == 413 and "larger than the 50 MB" in huge.json()["detail"]

    def chunked() -> Iterator[bytes]:  # no length declared: refused before it is read
        yield b"--x\r\n"

    unsized = http.post(
        f"/api/v1/plans/{nap_plan}/drafts",
        content=chunked(),
        headers={**coord, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert unsized.status_code == 400 and "Content-Length" in unsized.json()["detail"]
    assert services.drafts.list_drafts(rt, nap_plan) == []
    services.drafts.add_draft(rt, nap_plan, io.BytesIO(V1), "nap.md", COORD)
    for path in ("/drafts", "/drafts/1", "/drafts/1/diff/1"):
        hidden = http.get(f"/api/v1/plans/{nap_plan}{path}", headers=outsider)
        missing = http.get(f"/api/v1/plans/ZZZ-0{path}", headers=outsider)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["detail"].replace(nap_plan, "K") == missing.json()["detail"].replace(
            "ZZZ-0", "K"
        )


def test_the_plan_page_shows_the_draft_and_its_form_acts_on_it(
    rt: Runtime, nap_plan: str, http: TestClient
) -> None:
    for email in (COORD, MINISTER):
        accounts.set_password(rt, email, PASSWORD)
    services.drafts.add_draft(rt, nap_plan, io.BytesIO(V1), 'NAP "final".md', COORD)
    log_in(http, COORD)
    page = http.get(f"/plans/{nap_plan}").text
    assert "v1: NAP &#34;final&#34;.md" in page or "v1: NAP &quot;final&quot;.md" in page
    assert hashlib.sha256(V1).hexdigest() in page
    assert 'name="draft" value="1"' in page
    saved = http.get(f"/plans/{nap_plan}/drafts/1")
    assert saved.status_code == 200 and saved.content == V1
    assert saved.headers["content-disposition"].startswith('attachment; filename="NAP__final_.md"')
    assert "sandbox" in saved.headers["content-security-policy"]
    done = http.post(
        f"/plans/{nap_plan}/advance",
        data={"csrf": csrf_of(http), "trigger": "submit_for_review", "draft": "1"},
    )
    assert done.status_code == 303
    moved = [r for r in services.plan_history(rt, nap_plan).records if r.kind == "transition"]
    assert (moved[-1].trigger, moved[-1].detail) == ("submit_for_review", "on draft v1")
    assert http.get(f"/plans/{nap_plan}/drafts/9").status_code == 404
    assert http.get(f"/plans/{nap_plan}/drafts/{10**20}").status_code == 404
    http.post("/logout", data={"csrf": csrf_of(http)})
    accounts.set_password(rt, "outsider@example.org", PASSWORD)
    log_in(http, "outsider@example.org")  # registered, on no role of the plan
    hidden = http.get(f"/plans/{nap_plan}/drafts/1")
    missing = http.get("/plans/ZZZ-0/drafts/1")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace(nap_plan, "K") == missing.text.replace("ZZZ-0", "K")


def test_an_approve_form_opened_on_one_draft_is_refused_after_a_newer_one(
    rt: Runtime, nap_plan: str, http: TestClient
) -> None:
    services.drafts.add_draft(rt, nap_plan, io.BytesIO(V1), "nap.md", COORD)
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    for member in MEMBERS:
        services.advance_plan(rt, nap_plan, "endorse", member)
    services.advance_plan(rt, nap_plan, "send_to_experts", CHAIR)
    services.advance_plan(rt, nap_plan, "endorse", EXPERT)
    services.advance_plan(rt, nap_plan, "submit_for_approval", COORD)
    accounts.set_password(rt, MINISTER, PASSWORD)
    log_in(http, MINISTER)
    form = http.get(f"/plans/{nap_plan}").text  # the minister opens the page on v1...
    assert 'name="draft" value="1"' in form and 'value="approve"' in form
    services.drafts.add_draft(rt, nap_plan, io.BytesIO(V2), "nap.md", COORD, "Annex fixed")
    before = services.show_plan(rt, nap_plan)
    refused = http.post(  # ...and approves after v2 was added
        f"/plans/{nap_plan}/advance",
        data={
            "csrf": csrf_of(http),
            "trigger": "approve",
            "draft": "1",
        },
    )
    assert refused.status_code == 409
    assert "A newer draft, v2, was added after you opened the page (you read v1)" in refused.text
    after = services.show_plan(rt, nap_plan)
    assert (after.state, after.version) == ("submitted", before.version)  # nothing written
    approved = services.advance_plan(rt, nap_plan, "approve", MINISTER, draft=2)
    assert approved.to_state == "approved"
    last = [r for r in services.plan_history(rt, nap_plan).records if r.trigger == "approve"]
    assert last[0].payload["draft"] == {  # type: ignore[index]
        "version": 2,
        "sha256": hashlib.sha256(V2).hexdigest(),
    }

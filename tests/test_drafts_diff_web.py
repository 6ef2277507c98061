"""What changed in the draft, on the web: since the version a person last acted on.

Both engines, through the real app (TestClient), each person logged in with a session of
their own: the plan page's notice, the changes link's redirect, the marked text.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from helpers import CAST, PASSWORD, log_in, web_client

from napflow import services
from napflow.runtime import Runtime
from napflow.services import accounts

COORD = CAST["coordinator"][0]
MEMBER, OTHER_MEMBER = CAST["wg_member"]
OUTSIDER = "outsider@example.org"
V1 = b"# National Action Plan\n\nExport controls: the list of 2014.\n"
V2 = b"# National Action Plan\n\nExport controls: the list of 2015 and 2016.\n"
V3 = V2.replace(b"2016.", b"2016. <script>alert(1)</script>")


@contextmanager
def logged_in(rt: Runtime, email: str) -> Iterator[TestClient]:
    """A client of the web app with ``email`` logged in."""
    accounts.set_password(rt, email, PASSWORD)
    with web_client(rt) as client:
        log_in(client, email)
        yield client


def add(rt: Runtime, key: str, data: bytes, name: str = "nap.md") -> None:
    services.drafts.add_draft(rt, key, io.BytesIO(data), name, actor=COORD)


def endorsed_v1_then_v2(rt: Runtime, key: str) -> None:
    """v1 submitted and endorsed by one member; then v2, which starts the round again."""
    add(rt, key, V1)
    services.advance_plan(rt, key, "submit_for_review", COORD)
    services.advance_plan(rt, key, "endorse", MEMBER)
    add(rt, key, V2)


def marked(page: str) -> str:
    """Return the marked text of a diff page."""
    found = re.search(r'<div class="compared">(.*?)</div>', page, re.DOTALL)
    assert found is not None, page
    return found.group(1)


def test_a_member_who_endorsed_v1_is_told_v2_changed_and_sees_what(
    rt: Runtime, nap_plan: str
) -> None:
    endorsed_v1_then_v2(rt, nap_plan)
    assert services.drafts.last_acted_version(rt, nap_plan, viewer=MEMBER) == 1
    assert services.drafts.last_acted_version(rt, nap_plan, viewer=OTHER_MEMBER) is None
    diff_link = f'href="/plans/{nap_plan}/drafts/1/diff/2"'
    with logged_in(rt, MEMBER) as http:
        page = http.get(f"/plans/{nap_plan}").text
        assert "Changed since you last acted on it:" in page
        assert "you last acted on v1; the current draft is v2." in page
        assert f"{diff_link}>See what changed</a>" in page
        assert f"{diff_link}>Compare with the previous version (v1)</a>" in page
        changes = http.get(f"/plans/{nap_plan}/changes")
        assert changes.status_code == 303
        assert changes.headers["location"] == f"/plans/{nap_plan}/drafts/1/diff/2"
        shown = http.get(changes.headers["location"])
    assert shown.status_code == 200
    assert "What changed from v1 to v2" in shown.text
    assert "3 words inserted, 1 deleted." in shown.text
    assert marked(shown.text) == (
        "# National Action Plan\n\nExport controls: the list of "
        "<del>2014.</del><ins>2015 and 2016.</ins>\n"
    )
    for version in (1, 2):  # both versions named, with their downloads
        assert f'<a href="/plans/{nap_plan}/drafts/{version}" download>v{version}: nap.md</a>' in (
            shown.text
        )
    with logged_in(rt, OTHER_MEMBER) as http:  # never acted: no notice, the link stays
        page = http.get(f"/plans/{nap_plan}").text
        assert "Changed since you last acted on it" not in page
        assert f"{diff_link}>Compare with the previous version (v1)</a>" in page
    services.advance_plan(rt, nap_plan, "endorse", MEMBER, draft=2)
    with logged_in(rt, MEMBER) as http:  # acted on the current draft: no notice any more
        assert "Changed since you last acted on it" not in http.get(f"/plans/{nap_plan}").text


def test_changes_goes_from_the_version_last_acted_on_else_the_one_before(
    rt: Runtime, nap_plan: str
) -> None:
    endorsed_v1_then_v2(rt, nap_plan)
    services.advance_plan(rt, nap_plan, "endorse", OTHER_MEMBER, draft=2)
    add(rt, nap_plan, V3)
    with logged_in(rt, MEMBER) as http:  # endorsed v1: from v1 to the current v3
        assert http.get(f"/plans/{nap_plan}/changes").headers["location"].endswith("/1/diff/3")
        chosen = http.get(f"/plans/{nap_plan}/changes", params={"from": 2, "to": 3})
        assert chosen.headers["location"] == f"/plans/{nap_plan}/drafts/2/diff/3"
        upto = http.get(f"/plans/{nap_plan}/changes", params={"to": 2})
        assert upto.headers["location"] == f"/plans/{nap_plan}/drafts/1/diff/2"
        bad = http.get(f"/plans/{nap_plan}/changes", params={"from": "two"})
        assert bad.status_code == 400
    with logged_in(rt, OTHER_MEMBER) as http:  # endorsed v2
        answer = http.get(f"/plans/{nap_plan}/changes")
        assert answer.headers["location"] == f"/plans/{nap_plan}/drafts/2/diff/3"
        assert (
            "you last acted on v2; the current draft is v3." in http.get(f"/plans/{nap_plan}").text
        )
    with logged_in(rt, COORD) as http:  # acted on v1 only, then added v2 and v3
        answer = http.get(f"/plans/{nap_plan.lower()}/changes")
        assert answer.headers["location"] == f"/plans/{nap_plan}/drafts/1/diff/3"
        # who added the current draft is not told it changed since they acted
        own = http.get(f"/plans/{nap_plan}").text
        assert "Changed since you last acted on it" not in own
        assert "Compare with the previous version (v2)" in own


def test_with_fewer_than_two_drafts_there_is_nothing_to_compare(rt: Runtime, nap_plan: str) -> None:
    with logged_in(rt, MEMBER) as http:
        none = http.get(f"/plans/{nap_plan}/changes")
        assert none.status_code == 200
        assert f"{nap_plan} has no draft yet: there is nothing to compare." in none.text
        add(rt, nap_plan, V1)
        one = http.get(f"/plans/{nap_plan}/changes")
        assert one.status_code == 200
        assert f"{nap_plan} has one draft so far, v1: there is nothing to compare yet." in one.text
        page = http.get(f"/plans/{nap_plan}").text
        assert "Compare with the previous version" not in page
        assert "/diff/" not in page
        itself = http.get(f"/plans/{nap_plan}/drafts/1/diff/1")
        assert itself.status_code == 200
        assert "This compares v1 with itself: nothing changed." in itself.text
        assert '<div class="compared">' not in itself.text


def test_text_typed_in_a_draft_is_shown_as_text_never_as_markup(rt: Runtime, nap_plan: str) -> None:
    add(rt, nap_plan, V2, "v2 <b>bold<b>.md")
    add(rt, nap_plan, V3, "v3.md")
    with logged_in(rt, MEMBER) as http:
        shown = http.get(f"/plans/{nap_plan}/drafts/1/diff/2")
    assert shown.status_code == 200
    assert "<script>" not in shown.text and "<b>" not in shown.text
    assert "<ins>&lt;script&gt;alert(1)&lt;/script&gt;</ins>" in marked(shown.text)
    assert "v1: v2 &lt;b&gt;bold&lt;b&gt;.md" in shown.text
    assert "1 word inserted, 0 deleted." in shown.text
    assert "script-src 'none'" in shown.headers["content-security-policy"]


def test_drafts_without_text_are_said_so_instead_of_compared(rt: Runtime, nap_plan: str) -> None:
    from pypdf import PdfWriter

    for n, (width, height) in enumerate(((595, 842), (612, 792)), start=1):
        writer, out = PdfWriter(), io.BytesIO()
        writer.add_blank_page(width, height)  # a page with no text, as a scan has
        writer.write(out)
        add(rt, nap_plan, out.getvalue(), f"scan{n}.pdf")
    with logged_in(rt, MEMBER) as http:
        shown = http.get(f"/plans/{nap_plan}/changes", follow_redirects=True)
    assert shown.status_code == 200
    assert "What changed from v1 to v2" in shown.text
    assert "v1 (scan1.pdf) cannot be compared word by word: it holds no text" in shown.text
    assert "Download the two versions above to compare them yourself." in shown.text
    assert '<div class="compared">' not in shown.text
    assert f'<a href="/plans/{nap_plan}/drafts/2" download>v2: scan2.pdf</a>' in shown.text


def test_a_hidden_plan_answers_as_a_missing_one_and_pages_need_a_login(
    rt: Runtime, nap_plan: str
) -> None:
    add(rt, nap_plan, V1)
    add(rt, nap_plan, V2)
    with web_client(rt) as anonymous:
        for path in ("/drafts/1/diff/2", "/changes"):
            answer = anonymous.get(f"/plans/{nap_plan}{path}")
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login?next=")
    with logged_in(rt, OUTSIDER) as http:  # registered, on no role of the plan
        for path in ("/drafts/1/diff/2", "/changes", "/changes?from=1&to=2"):
            hidden = http.get(f"/plans/{nap_plan}{path}")
            missing = http.get(f"/plans/ZZZ-0{path}")
            assert hidden.status_code == missing.status_code == 404
            assert hidden.text.replace(nap_plan, "K") == missing.text.replace("ZZZ-0", "K")
            assert "2014" not in hidden.text
    with logged_in(rt, MEMBER) as http:  # a version the plan does not have
        for path in ("/drafts/1/diff/9", f"/drafts/{10**20}/diff/2", "/drafts/-1/diff/2"):
            answer = http.get(f"/plans/{nap_plan}{path}")
            assert answer.status_code == 404, path
            assert f"{nap_plan} has no draft v" in answer.text
        assert http.get(f"/plans/{nap_plan}/changes?from=1&to=9").headers["location"] == (
            f"/plans/{nap_plan}/drafts/1/diff/9"
        )

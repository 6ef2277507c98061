"""The pictures: a plan's journey in time, and the portfolio of plans by country and state.

Plans are moved through the services on the virtual clock; the pictures are read back as
XML (an SVG that does not parse, or shows a title unescaped, fails here) and measured:
where a band, a deadline or today's line stands is checked against where the moments
fall between the plan's creation and now.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import CAST, EVERYONE, START, hostile_workflow, log_in, web_client
from sqlalchemy import event, insert, select
from sqlalchemy.engine import Engine

from napflow import services
from napflow.clock import VirtualClock
from napflow.i18n import use_locale
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services import accounts, journey, portfolio
from napflow.storage.schema import Status, deadlines, plans
from napflow.web.pages import templates
from napflow.web.svg_portfolio import portfolio_svg
from napflow.web.svg_timeline import draw_journey, journey_svg

SVG = "{http://www.w3.org/2000/svg}"
PASSWORD = "a long enough password"
COORD, CHAIR = CAST["coordinator"][0], CAST["wg_chair"][0]
DAY = timedelta(days=1)


def svg_of(markup: str, index: int = 0) -> ET.Element:
    """Return the ``index``-th SVG element of a page or fragment, parsed as XML."""
    found = re.findall(r"<svg\b.*?</svg>", str(markup), flags=re.S)
    return ET.fromstring(found[index])


def by_class(root: ET.Element, name: str) -> list[ET.Element]:
    """Return the elements of class ``name`` that stand for something (not the legend's)."""
    legend = {id(e) for g in root.iter() if "jn-legend" in (g.get("class") or "") for e in g.iter()}
    return [
        e for e in root.iter() if name in (e.get("class") or "").split() and id(e) not in legend
    ]


def text_of(element: ET.Element) -> str:
    return "".join(element.itertext())


def lines_of(element: ET.Element) -> str:
    """Return a text of several lines (tspans) as one, its words one space apart."""
    return " ".join(" ".join(element.itertext()).split())


def band_rects(root: ET.Element) -> list[tuple[str, float, float, str]]:
    """Return each band as (state, x, width, its tooltip)."""
    found = []
    for band in by_class(root, "jn-band"):
        rect = band.find(f"{SVG}rect")
        tip = band.find(f"{SVG}title")
        assert rect is not None and tip is not None
        found.append(
            (
                band.get("data-state") or "",
                float(rect.get("x") or 0),
                float(rect.get("width") or 0),
                text_of(tip),
            )
        )
    return found


def today_x(root: ET.Element) -> float:
    (today,) = by_class(root, "jn-today")
    line = today.find(f"{SVG}line")
    assert line is not None and line.get("x1") == line.get("x2")
    return float(line.get("x1") or 0)


# --- a plan's journey ---------------------------------------------------------------------


@pytest.fixture
def travelled(rt: Runtime, nap_plan: str, clock: VirtualClock) -> str:
    """TJK-T: 10 days drafting, 20 in working-group review, returned, 5 drafting, and back in
    review for 35 days now; a ministerial approval due 1 September 2015 (missed by now) and
    a follow-up session on 8-9 October 2015 in Vienna.
    """
    services.add_deadline(rt, nap_plan, "approval", "2015-09-01")
    services.add_deadline(
        rt,
        nap_plan,
        "follow_up_session",
        "2015-10-08",
        end="2015-10-09",
        timezone="Europe/Vienna",
        location="Vienna",
    )
    clock.set(START + 10 * DAY)
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    clock.set(START + 30 * DAY)
    services.advance_plan(rt, nap_plan, "request_changes", CHAIR, "Section 3 needs the customs law")
    clock.set(START + 35 * DAY)
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    clock.set(START + 70 * DAY)
    return nap_plan


def test_the_journey_is_read_from_the_history_periods_returns_and_deadlines(
    rt: Runtime, travelled: str
) -> None:
    found = journey.plan_journey(rt, travelled, viewer=COORD)
    assert [(p.state, round(p.days, 3), p.returned, p.ongoing) for p in found.periods] == [
        ("drafting", 10, False, False),
        ("working_group_review", 20, False, False),
        ("drafting", 5, True, False),
        ("working_group_review", 35, False, True),
    ]
    assert [(s, t) for s, t in found.states] == [
        ("drafting", "Drafting"),
        ("working_group_review", "Working-group review"),
    ]
    (back,) = found.returns
    assert back.title == "Return the draft for changes" and back.at == START + 30 * DAY
    assert found.periods[2].entered_by == "Return the draft for changes"
    assert found.ended_at is None and found.created == START and found.now == START + 70 * DAY
    by_title = {d.title: d for d in found.deadlines}
    approval = by_title["Ministerial approval"]
    assert approval.missed and approval.end is None and approval.status_text == "missed"
    session = by_title["Follow-up session"]
    assert not session.missed and session.end is not None
    # the session runs from the start of its first day to the end of its last, in Vienna
    assert session.start == datetime.fromisoformat("2015-10-07T22:00:00+00:00")
    assert session.end == datetime.fromisoformat("2015-10-09T22:00:00+00:00")
    # the review windows the workflow opened (relative deadlines): the first met on leaving
    windows = [d for d in found.deadlines if d.title == "Working-group review"]
    assert [d.status for d in windows] == ["met", "missed"]


def test_the_timeline_bands_are_as_wide_as_the_time_in_each_state(
    rt: Runtime, travelled: str
) -> None:
    plan = services.show_plan(rt, travelled, COORD)
    history = services.plan_history(rt, travelled, viewer=COORD)
    root = svg_of(journey_svg(rt, plan, history.records, services.list_deadlines(rt, travelled)))
    bands = band_rects(root)
    assert [b[0] for b in bands] == [
        "drafting",
        "working_group_review",
        "drafting",
        "working_group_review",
    ]
    days = [10, 20, 5, 35]
    per_day = bands[0][2] / days[0]
    for (_state, _x, width, _tip), length in zip(bands, days, strict=True):
        assert width == pytest.approx(per_day * length, rel=0.01)
    # one after the other: each band starts where the one before ended
    for before, after in itertools.pairwise(bands):
        assert after[1] == pytest.approx(before[1] + before[2], abs=0.02)
    # each says its state and how long; the current one, so far
    assert bands[1][3].startswith("Working-group review \u00b7 20 days (")
    assert bands[3][3].startswith("Working-group review \u00b7 35 days so far (")
    # the band of the current state reaches today's line
    assert bands[3][1] + bands[3][2] == pytest.approx(today_x(root), abs=0.02)
    # the two drafting bands stand in one lane, the review bands in the next
    ys = [float(band.find(f"{SVG}rect").get("y")) for band in by_class(root, "jn-band")]  # type: ignore[union-attr]
    assert ys[0] == ys[2] < ys[1] == ys[3]


def test_a_return_is_marked_where_the_plan_went_back(rt: Runtime, travelled: str) -> None:
    found = journey.plan_journey(rt, travelled)
    root = svg_of(draw_journey(found))
    bands = band_rects(root)
    (mark,) = by_class(root, "jn-return")
    line = mark.find(f"{SVG}line")
    assert line is not None
    assert float(line.get("x1") or 0) == pytest.approx(
        bands[2][1], abs=0.02
    )  # where drafting began again
    assert "\u21a9" in text_of(mark)  # a symbol, not only a colour
    tip = mark.find(f"{SVG}title")
    assert tip is not None and text_of(tip).startswith(
        "Returned for revision: Return the draft for changes, "
    )
    # forward moves are plain lines, two of them
    assert len(by_class(root, "jn-move")) == 2
    assert "Returned for revision 1 time." in text_of(root.find(f"{SVG}desc"))  # type: ignore[arg-type]


def test_deadlines_stand_at_their_dates_and_a_session_spans_its_days(
    rt: Runtime, travelled: str
) -> None:
    found = journey.plan_journey(rt, travelled)
    root = svg_of(draw_journey(found))
    start_x = band_rects(root)[0][1]  # the plan's creation
    now_x = today_x(root)

    def x_of(when: datetime) -> float:
        share = (when - found.created) / (found.now - found.created)
        return start_x + share * (now_x - start_x)

    marks = {
        text_of(g).split(" \u00b7 ")[0]: g
        for g in by_class(root, "jn-deadline")
        if g.get("data-deadline")
    }
    approval = marks["! Ministerial approval"]  # missed: said with "!" and in words
    assert "jn-missed" in (approval.get("class") or "")
    assert text_of(approval).endswith("\u00b7 1 Sept 2015 \u00b7 missed") or text_of(
        approval
    ).endswith("\u00b7 1 Sep 2015 \u00b7 missed")
    diamond = approval.find(f"{SVG}path")
    assert diamond is not None
    tip_x = float(re.match(r"M([\d.]+) ", diamond.get("d") or "").group(1))  # type: ignore[union-attr]
    due = next(d for d in found.deadlines if d.title == "Ministerial approval").start
    assert tip_x == pytest.approx(x_of(due), abs=0.05)
    session = marks["Follow-up session"]
    bar = session.find(f"{SVG}rect")
    assert bar is not None
    starts = datetime.fromisoformat("2015-10-07T22:00:00+00:00")
    ends = datetime.fromisoformat("2015-10-09T22:00:00+00:00")
    assert float(bar.get("x") or 0) == pytest.approx(x_of(starts), abs=0.05)
    assert float(bar.get("width") or 0) == pytest.approx(x_of(ends) - x_of(starts), abs=0.05)
    assert "Vienna" in text_of(session.find(f"{SVG}title"))  # type: ignore[arg-type]
    # the session is after today: the picture reaches it, and today's line stands before
    assert now_x < float(bar.get("x") or 0)


def test_today_is_a_line_at_now_and_an_ended_plan_has_a_flag_instead(
    rt: Runtime, travelled: str, clock: VirtualClock
) -> None:
    root = svg_of(draw_journey(journey.plan_journey(rt, travelled)))
    (today,) = by_class(root, "jn-today")
    assert today.get("data-at") == (START + 70 * DAY).isoformat()
    assert "Today, 9 Sept 2015" in text_of(today) or "Today, 9 Sep 2015" in text_of(today)
    services.advance_plan(rt, travelled, "withdraw", COORD, "Replaced by the 2016 plan")
    clock.set(START + 80 * DAY)
    ended = journey.plan_journey(rt, travelled)
    assert ended.ended_at == START + 70 * DAY and ended.final_state == "withdrawn"
    assert not ended.periods[-1].ongoing
    root = svg_of(draw_journey(ended))
    assert by_class(root, "jn-today") == []
    (flag,) = by_class(root, "jn-end")
    assert text_of(flag).startswith("Withdrawn, ")
    assert "Ended in the state Withdrawn on " in text_of(root.find(f"{SVG}desc"))  # type: ignore[arg-type]


def test_a_plan_just_created_is_one_band_up_to_today(rt: Runtime, nap_plan: str) -> None:
    found = journey.plan_journey(rt, nap_plan)
    assert [(p.state, p.days, p.ongoing) for p in found.periods] == [("drafting", 0, True)]
    root = svg_of(draw_journey(found))
    ((state, x, width, tip),) = band_rects(root)
    assert state == "drafting" and tip.startswith("Drafting \u00b7 less than an hour so far (")
    assert x == pytest.approx(today_x(root), abs=2.01) and width == 2  # seen, though no time
    legend = " ".join(lines_of(t) for t in root.iter(f"{SVG}text") if t.get("class") == "jn-small")
    assert "today" in legend and "returned for revision" not in legend and "deadline" not in legend


def test_the_journey_partial_renders_the_picture_and_its_table(rt: Runtime, travelled: str) -> None:
    plan = services.show_plan(rt, travelled, COORD)
    history = services.plan_history(rt, travelled, viewer=COORD)
    picture = journey_svg(
        rt, plan, list(reversed(history.records)), services.list_deadlines(rt, travelled)
    )
    page = templates.env.get_template("_journey.html").render(journey_svg=picture)
    root = svg_of(page)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "journey-TJK-T-title journey-TJK-T-desc"
    assert text_of(root.find(f"{SVG}title")) == "Journey of TJK-T"  # type: ignore[arg-type]
    table = page.split("<table>", 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 5  # its head and four periods
    assert "Return the draft for changes (returned for revision)" in table
    assert "35 days so far" in table and "now" in table
    assert templates.env.get_template("_journey.html").render(journey_svg="").strip() == ""


def test_the_journey_in_russian_titles_and_dates(rt: Runtime, travelled: str) -> None:
    with use_locale("ru"):
        found = journey.plan_journey(rt, travelled)
        svg = draw_journey(found)
    root = svg_of(svg)
    tips = [b[3] for b in band_rects(root)]
    assert tips[0].startswith("Подготовка проекта \u00b7 ")
    assert tips[1].startswith("Рассмотрение рабочей группой \u00b7 ")
    assert "сент. 2015\u202fг." in text_of(root)  # the deadline's day, as Russian writes it
    assert "Утверждение на министерском уровне" in text_of(root)  # the deadline kind's title
    labels = [text_of(t) for t in root.iter(f"{SVG}text") if "jn-muted" in (t.get("class") or "")]
    assert "Август 2015\u202fг." in labels  # the axis's months


# --- the portfolio ------------------------------------------------------------------------


def people(rt: Runtime) -> None:
    for email in EVERYONE:
        services.add_person(rt, email, email.split("@")[0].title())


@pytest.fixture
def several(rt: Runtime, clock: VirtualClock) -> Runtime:
    """Plans in three countries and two workflows; TJK-A overdue; coord@ on TJK-A alone."""
    people(rt)
    services.create_plan(rt, "TJK", "Tajik plan", key="TJK-A")
    services.create_plan(rt, "TJK", "Tajik plan two", key="TJK-B")
    services.create_plan(rt, "KGZ", "Kyrgyz plan", key="KGZ-A")
    services.create_plan(rt, "UZB", "Uzbek report", workflow="national_report", key="UZB-R")
    services.grant_role(rt, "TJK-A", COORD, "coordinator")
    services.grant_role(rt, "KGZ-A", COORD, "coordinator")
    services.advance_plan(rt, "KGZ-A", "submit_for_review", COORD)
    services.revoke_role(rt, "KGZ-A", COORD, "coordinator")
    services.grant_role(rt, "TJK-A", CHAIR, "wg_chair")
    services.add_deadline(rt, "TJK-A", "approval", "2015-07-10")
    services.add_deadline(rt, "TJK-B", "follow_up_session", "2015-07-10")  # took place: not late
    clock.set(START + 15 * DAY)
    return rt


def test_the_portfolio_counts_plans_by_country_and_state_per_workflow(several: Runtime) -> None:
    found = portfolio.portfolio(several)
    assert found.detailed and found.count == 4 and found.overdue == 1
    assert found.countries == ["KGZ", "TJK", "UZB"]
    nap, report = found.workflows
    assert (nap.workflow, report.workflow) == ("nap", "national_report")
    assert [s.name for s in nap.states][:3] == ["drafting", "working_group_review", "expert_review"]
    assert [r.name for r in nap.rows] == ["Kyrgyzstan", "Tajikistan"]
    tjk = nap.rows[1]
    assert tjk.cells["drafting"].count == 2 and tjk.cells["drafting"].overdue == 1
    assert [(p.key, p.overdue) for p in tjk.cells["drafting"].plans] == [
        ("TJK-A", True),
        ("TJK-B", False),
    ]
    assert nap.rows[0].cells["working_group_review"].count == 1
    drafting = nap.states[0]
    assert (drafting.title, drafting.count, drafting.overdue) == ("Drafting", 2, 1)
    assert [(r.name, r.count) for r in report.rows] == [("Uzbekistan", 1)]
    # the same plans as the plans list's overdue filter
    assert [p.key for p in services.list_plans(several, overdue=True)] == ["TJK-A"]


def test_the_portfolio_picture_marks_each_plan_and_the_overdue_ones(several: Runtime) -> None:
    found = portfolio.portfolio(several)
    root = svg_of(portfolio_svg(found.workflows[0], found.detailed))
    links = {a.get("href"): a for a in root.iter(f"{SVG}a")}
    late = links["/plans/TJK-A"]
    assert text_of(late).endswith("! TJK-A")  # a symbol beside the colour
    assert late.get("aria-label") == "TJK-A: Tajik plan (overdue)"
    assert "pf-late" in (late.find(f"{SVG}rect").get("class") or "")  # type: ignore[union-attr]
    assert links["/plans/TJK-B"].get("aria-label") == "TJK-B: Tajik plan two"
    assert "/plans/UZB-R" not in links  # the other workflow has its own picture
    # the states' and countries' titles and totals lead to the list filtered to them
    said: dict[str, list[str]] = {}
    for a in root.iter(f"{SVG}a"):
        said.setdefault(a.get("href") or "", []).append(a.get("aria-label") or "")
    assert said["/plans?state=drafting"] == ["Drafting: 2 plans, 1 overdue", "Drafting: 2 plans"]
    assert said["/plans?state=drafting&overdue=1"] == ["Drafting: 1 overdue"]
    assert said["/plans?country=TJK"] == ["Tajikistan: 2 plans, 1 overdue", "Tajikistan: 2 plans"]
    assert said["/plans?country=TJK&overdue=1"] == ["Tajikistan: 1 overdue"]
    assert "/plans?state=expert_review" not in said  # none there: nothing to list
    assert root.get("role") == "group" and root.get("aria-labelledby") == "pf-nap-title pf-nap-desc"


def test_many_plans_are_counted_per_country_and_state_not_drawn_one_by_one(
    several: Runtime,
) -> None:
    found = portfolio.portfolio(several, detail_plans=3)
    assert not found.detailed
    assert all(c.plans == () for w in found.workflows for r in w.rows for c in r.cells.values())
    root = svg_of(portfolio_svg(found.workflows[0], found.detailed))
    links = {a.get("href"): a for a in root.iter(f"{SVG}a")}
    assert not any(re.fullmatch(r"/plans/[A-Z].*", h or "") for h in links)
    cell = links["/plans?country=TJK&state=drafting"]
    count, late = [text_of(t) for t in cell.iter(f"{SVG}text")]
    assert (count, late) == ("2", "! 1")  # overdue: a symbol beside the colour
    assert cell.get("aria-label") == "Tajikistan, Drafting: 2 plans, 1 overdue"
    assert links["/plans?country=TJK&overdue=1"].get("aria-label") == "Tajikistan: 1 overdue"
    # each count's bar is as long as its count is to the largest
    bars = {
        a.get("href"): float(a.find(f"{SVG}rect").get("width") or 0)  # type: ignore[union-attr]
        for a in root.iter(f"{SVG}a")
        if a.find(f"{SVG}rect") is not None
    }
    one = bars["/plans?country=KGZ&state=working_group_review"]
    assert bars["/plans?country=TJK&state=drafting"] > one
    # one plan in a cell of its own also counts, past the limit on one cell
    assert not portfolio.portfolio(several, detail_cell=1).detailed


def test_a_person_sees_only_their_plans_countries(several: Runtime) -> None:
    mine = portfolio.portfolio(several, viewer=COORD)
    assert mine.countries == ["TJK"] and mine.count == 1
    (nap,) = mine.workflows
    assert [p.key for r in nap.rows for c in r.cells.values() for p in c.plans] == ["TJK-A"]
    assert portfolio.portfolio(several, viewer="outsider@example.org").workflows == []
    services.access.grant_access(several, "outsider@example.org", "reader", ["KGZ"])
    theirs = portfolio.portfolio(several, viewer="outsider@example.org")
    assert theirs.countries == ["KGZ"] and theirs.overdue == 0


@contextlib.contextmanager
def count_queries(rt: Runtime) -> Iterator[list[str]]:
    """Collect the SELECTs run inside the block."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)  # whichever engine runs them
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


COUNTRIES = [
    "AFG",
    "ALB",
    "DZA",
    "AND",
    "AGO",
    "ARG",
    "ARM",
    "AUS",
    "AUT",
    "AZE",
    "BHS",
    "BHR",
    "BGD",
    "BRB",
    "BLR",
    "BEL",
    "BLZ",
    "BEN",
    "BTN",
    "BOL",
    "BIH",
    "BWA",
    "BRA",
    "BRN",
    "BGR",
    "BFA",
    "BDI",
    "CPV",
    "KHM",
    "CMR",
    "CAN",
    "CAF",
    "TCD",
    "CHL",
    "CHN",
    "COL",
    "COM",
    "COG",
    "CRI",
    "CIV",
    "HRV",
    "CUB",
    "CYP",
    "CZE",
    "PRK",
    "COD",
    "DNK",
    "DJI",
    "DMA",
    "DOM",
    "ECU",
    "EGY",
    "SLV",
    "GNQ",
    "ERI",
    "EST",
    "SWZ",
    "ETH",
    "FJI",
    "FIN",
    "FRA",
    "GAB",
    "GMB",
    "GEO",
    "DEU",
    "GHA",
    "GRC",
    "GRD",
    "GTM",
    "GIN",
    "GNB",
    "GUY",
    "HTI",
    "HND",
    "HUN",
    "ISL",
    "IND",
    "IDN",
    "IRN",
    "IRQ",
    "IRL",
    "ISR",
    "ITA",
    "JAM",
    "JPN",
    "JOR",
    "KAZ",
    "KEN",
    "KIR",
    "KWT",
    "KGZ",
    "LAO",
    "LVA",
    "LBN",
    "LSO",
    "LBR",
    "LBY",
    "LIE",
    "LTU",
    "LUX",
    "MDG",
    "MWI",
    "MYS",
    "MDV",
    "MLI",
    "MLT",
    "MHL",
    "MRT",
    "MUS",
    "MEX",
    "FSM",
    "MCO",
    "MNG",
    "MNE",
    "MAR",
    "MOZ",
    "MMR",
    "NAM",
    "NRU",
    "NPL",
    "NLD",
    "NZL",
    "NIC",
    "NER",
    "NGA",
    "MKD",
    "NOR",
    "OMN",
    "PAK",
    "PLW",
    "PAN",
    "PNG",
    "PRY",
    "PER",
    "PHL",
    "POL",
    "PRT",
    "QAT",
    "KOR",
    "MDA",
    "ROU",
    "RUS",
    "RWA",
    "KNA",
    "LCA",
    "VCT",
    "WSM",
    "SMR",
    "STP",
    "SAU",
    "SEN",
    "SRB",
    "SYC",
    "SLE",
    "SGP",
    "SVK",
    "SVN",
    "SLB",
    "SOM",
    "ZAF",
    "SSD",
    "ESP",
    "LKA",
    "SDN",
    "SUR",
    "SWE",
    "CHE",
    "SYR",
    "TJK",
    "THA",
    "TLS",
    "TGO",
    "TON",
    "TTO",
    "TUN",
    "TUR",
    "TKM",
    "TUV",
    "UGA",
    "UKR",
    "ARE",
    "GBR",
    "TZA",
    "USA",
    "URY",
    "UZB",
    "VUT",
    "VEN",
    "VNM",
    "YEM",
    "ZMB",
    "ZWE",
]


def bulk_plans(rt: Runtime, count: int, first: int = 0) -> None:
    """``count`` plan rows across the COUNTRIES and the NAP's states, every 7th overdue.

    Written straight to the tables (through the services, 10,000 plans take minutes): the
    portfolio reads the plans and their deadlines, which is what these rows are.
    """
    states = [
        "drafting",
        "working_group_review",
        "expert_review",
        "submitted",
        "approved",
        "withdrawn",
    ]
    rows = [
        {
            "key": f"BULK-{first + n}",
            "country": COUNTRIES[n % len(COUNTRIES)],
            "title": f"Plan {n}",
            "workflow": "nap",
            "workflow_version": 1,
            "state": states[n // len(COUNTRIES) % len(states)],
            "version": 1,
            "seq": 1,
            "head_hash": "",
            "entered_seq": 1,
            "timezone": "UTC",
            "created_at": START,
            "updated_at": START,
        }
        for n in range(count)
    ]
    with rt.db.write() as conn:
        conn.execute(insert(plans), rows)
        ids = (
            conn.execute(select(plans.c.id).where(plans.c.key.like("BULK-%")).order_by(plans.c.id))
            .scalars()
            .all()[first:]
        )
        conn.execute(
            insert(deadlines),
            [
                {
                    "plan_id": plan_id,
                    "kind": "approval",
                    "title": "Ministerial approval",
                    "due_on": START.date(),
                    "timezone": "UTC",
                    "due_at": START,
                    "status": Status.PENDING,
                    "sequence": 0,
                    "created_at": START,
                    "updated_at": START,
                }
                for plan_id in ids[::7]
            ],
        )


def test_ten_thousand_plans_are_counted_in_one_query_into_a_picture_of_cells(
    rt: Runtime, clock: VirtualClock
) -> None:
    people(rt)
    clock.set(START + 2 * DAY)
    bulk_plans(rt, 2 * len(COUNTRIES) * 6)  # two in every country and state
    fewer = str(portfolio_svg(portfolio.portfolio(rt).workflows[0], detailed=False))
    bulk_plans(rt, 10_000 - 2 * len(COUNTRIES) * 6, first=2 * len(COUNTRIES) * 6)
    with count_queries(rt) as queries:
        found = portfolio.portfolio(rt)
    assert len(queries) == 1  # the counts: the operator needs no lookup, so many no rows
    assert not found.detailed and found.count == 10_000
    assert found.overdue == len(range(0, 2304, 7)) + len(range(0, 10_000 - 2304, 7))
    (nap,) = found.workflows
    assert len(nap.rows) == len(COUNTRIES)
    tjk = next(r for r in nap.rows if r.country == "TJK")
    assert sum(c.count for c in tjk.cells.values()) == tjk.count
    assert sum(r.count for r in nap.rows) == sum(s.count for s in nap.states) == 10_000
    svg = str(portfolio_svg(nap, found.detailed))
    svg_of(svg)  # well-formed
    # a count per country and state, not a mark per plan: four times the plans, about the
    # same size (an overdue count beside more of the counts now, and longer numbers)
    assert len(svg) <= len(fewer) * 1.2 and len(svg) < 450_000
    assert svg.count("<a ") <= len(COUNTRIES) * (6 + 3) + 6 * 3
    assert not re.search(r'href="/plans/', svg)
    # a person on one plan: two more queries, who they are and their grants; then their plan
    services.grant_role(rt, "BULK-5", COORD, "observer")
    with count_queries(rt) as queries:
        theirs = portfolio.portfolio(rt, viewer=COORD)
    assert theirs.count == 1 and theirs.detailed
    assert len(queries) == 4  # the person, their grants, the counts, their plan


# --- the page -----------------------------------------------------------------------------


@pytest.fixture
def http(several: Runtime) -> Iterator[TestClient]:
    for email in (COORD, "outsider@example.org"):
        accounts.set_password(several, email, PASSWORD)
    with web_client(several) as client:
        yield client


def test_the_portfolio_page_shows_the_logged_in_person_their_plans(http: TestClient) -> None:
    assert http.get("/portfolio").headers["location"] == "/login?next=/portfolio"
    log_in(http, COORD, PASSWORD)
    page = http.get("/portfolio")
    assert page.status_code == 200
    assert 'href="/portfolio" aria-current="page"' in page.text  # in the menu
    root = svg_of(page.text)
    hrefs = {a.get("href") for a in root.iter(f"{SVG}a")}
    assert "/plans/TJK-A" in hrefs and "/plans/TJK-B" not in hrefs and "/plans/KGZ-A" not in hrefs
    assert "Kyrgyzstan" not in page.text and "Uzbekistan" not in page.text
    assert "<script" not in page.text
    # the table beside it says the same in words
    table = page.text.split("<table>", 1)[1].split("</table>", 1)[0]
    assert '<a href="/plans/TJK-A">TJK-A</a> <span class="overdue">(overdue)</span>' in table
    assert '<th scope="row"><a href="/plans?country=TJK">Tajikistan</a></th>' in table


def test_someone_on_no_plan_is_told_there_are_none(http: TestClient) -> None:
    log_in(http, "outsider@example.org", PASSWORD)
    page = http.get("/portfolio")
    assert page.status_code == 200 and "No plans." in page.text and "<svg" not in page.text


def test_the_portfolio_page_in_russian(several: Runtime, http: TestClient) -> None:
    services.people.edit_person(several, COORD, locale="ru")
    log_in(http, COORD, PASSWORD)
    page = http.get("/portfolio").text
    assert '<html lang="ru">' in page
    root = svg_of(page)
    heads = " ".join(
        lines_of(t) for t in root.iter(f"{SVG}text") if "pf-head" in (t.get("class") or "")
    )
    assert "Подготовка проекта" in heads and "Рассмотрение рабочей группой" in heads
    assert "Таджикистан" in text_of(root)  # the country's name in Russian
    assert "Национальный план действий по осуществлению резолюции 1540" in page


def test_hostile_titles_are_escaped_in_both_pictures(
    db_url: str, clock: VirtualClock, tmp_path: Path
) -> None:
    folder = hostile_workflow(
        tmp_path / "workflows", lambda old: f'<b onmouseover="x()">{old}</b>&amp;'
    )
    rt = build_runtime(Settings(database_url=db_url, workflow_dirs=(folder,)), clock=clock)
    services.init_database(rt)
    try:
        people(rt)
        hostile = '<script>alert("plan")</script> & <svg onload=x()>'
        services.create_plan(rt, "TJK", hostile, workflow="hostile", key="TJK-H")
        services.grant_role(rt, "TJK-H", COORD, "coordinator")
        services.add_deadline(
            rt,
            "TJK-H",
            "follow_up_session",
            "2015-07-20",
            title="</text><script>x()</script>",
            location='"><a href="javascript:x()">',
        )
        clock.set(START + 3 * DAY)
        services.advance_plan(rt, "TJK-H", "submit_for_review", COORD)
        clock.set(START + 9 * DAY)
        accounts.set_password(rt, COORD, PASSWORD)
        with web_client(rt) as client:
            log_in(client, COORD, PASSWORD)
            page = client.get("/portfolio").text
        plan = services.show_plan(rt, "TJK-H", COORD)
        history = services.plan_history(rt, "TJK-H")
        timeline = str(journey_svg(rt, plan, history.records, services.list_deadlines(rt, "TJK-H")))
    finally:
        rt.db.dispose()
    for markup in (page, timeline):
        assert "<script" not in markup and "<b " not in markup and "<svg onload" not in markup
        assert 'href="javascript:' not in markup
    root = svg_of(page)
    link = next(a for a in root.iter(f"{SVG}a") if a.get("href") == "/plans/TJK-H")
    assert link.get("aria-label") == f"TJK-H: {hostile}"  # whole, as text
    tips = [text_of(t) for t in root.iter(f"{SVG}title")]
    assert '<b onmouseover="x()">Drafting</b>&amp;' in tips  # the state's title, as text
    tl = svg_of(timeline)
    labels = {text_of(g.find(f"{SVG}text")): g for g in by_class(tl, "jn-deadline")}  # type: ignore[arg-type]
    session = next(
        g for t, g in labels.items() if t.startswith("</text><script>x()</script> \u00b7 ")
    )
    assert '"><a href="javascript:x()">' in text_of(session.find(f"{SVG}title"))  # type: ignore[arg-type]
    assert list(tl.iter(f"{SVG}a")) == []  # no link came in with the text
    assert any(lines_of(t).startswith("<b") for t in tl.iter(f"{SVG}text"))  # a lane's title

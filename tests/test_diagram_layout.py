"""The workflow diagram's geometry: no arc crosses a label, labels and states keep apart.

Each diagram is read back as a browser would get it (xml.etree on the SVG text): every
arc's path (curves sampled), every label's box (``data-box``, checked against where its
text really is), every state's box. Run on the shipped workflows and on a branching one
made for this (tests/workflows/branching.toml: a fork that rejoins, returns, loops, a long
jump, a way out from every state). The checker is tried on diagrams spoiled on purpose,
so a layout that lets an arc run through a label fails here.
"""

from __future__ import annotations

import json
import random
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import browsing
import pytest
from helpers import REPO
from playwright.sync_api import Browser

from napflow.errors import InvalidDefinition
from napflow.i18n import use_locale
from napflow.workflow.definition import WorkflowDefinition, load_definition, parse_definition
from napflow.workflow.diagram_svg import workflow_svg

SVG = "{http://www.w3.org/2000/svg}"
BRANCHING = Path(__file__).parent / "workflows" / "branching.toml"
#: workflow file, the state to mark current, the reader's language
CASES = {
    "nap": (REPO / "workflows" / "nap.toml", "working_group_review", "en"),
    "nap-ru": (REPO / "workflows" / "nap.toml", "submitted", "ru"),
    "national_report": (REPO / "workflows" / "national_report.toml", "clearance", "en"),
    "branching": (BRANCHING, "consolidation", "en"),
}

Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    def holds(self, p: Point) -> bool:
        return self.x <= p[0] <= self.x + self.w and self.y <= p[1] <= self.y + self.h

    def overlaps(self, other: Box) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )

    def shrunk(self, by: float) -> Box:
        return Box(self.x + by, self.y + by, self.w - 2 * by, self.h - 2 * by)


@dataclass(frozen=True)
class Arc:
    what: str  # trigger from -> to, for messages
    ends: frozenset[str]  # the states it joins
    points: tuple[Point, ...]  # the path, curves sampled
    label: Box
    label_text: str
    #: where the label's lines are written (x, y of each tspan)
    text_at: tuple[Point, ...]


@dataclass(frozen=True)
class State:
    name: str
    box: Box
    title: str
    text_at: tuple[Point, ...]


@dataclass(frozen=True)
class Diagram:
    root: ET.Element
    arcs: tuple[Arc, ...]
    states: tuple[State, ...]


def path_points(d: str, samples: int = 24) -> list[Point]:
    """Return the points along path ``d`` (M, L and C, absolute), each curve sampled."""
    tokens = re.findall(r"[A-Za-z]|-?\d+(?:\.\d+)?", d)
    points: list[Point] = []
    i = 0
    while i < len(tokens):
        command = tokens[i]
        assert command in "MLC", f"path command {command!r} not understood in {d!r}"
        count = {"M": 2, "L": 2, "C": 6}[command]
        values = [float(v) for v in tokens[i + 1 : i + 1 + count]]
        i += 1 + count
        if command in "ML":
            points.append((values[0], values[1]))
            continue
        (x0, y0), (x1, y1, x2, y2, x3, y3) = points[-1], values
        for k in range(1, samples + 1):
            t = k / samples
            a, b, c, e = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
            points.append((a * x0 + b * x1 + c * x2 + e * x3, a * y0 + b * y1 + c * y2 + e * y3))
    return points


def spans(text: ET.Element) -> tuple[str, tuple[Point, ...]]:
    """Return a <text>'s words (its lines joined) and where each line is written."""
    lines = text.findall(f"{SVG}tspan") or [text]
    words = " ".join((t.text or "").strip() for t in lines)
    return words, tuple((float(t.get("x", "nan")), float(t.get("y", "nan"))) for t in lines)


def read(svg: str) -> Diagram:
    root = ET.fromstring(svg)
    arcs = []
    for group in root.iter(f"{SVG}g"):
        css = (group.get("class") or "").split()
        if "arc" not in css:
            continue
        path = group.find(f"{SVG}path")
        label = group.find(f"{SVG}g[@class='label']")
        assert path is not None and label is not None, ET.tostring(group)
        x, y, w, h = (float(v) for v in label.get("data-box", "").split())
        text = label.find(f"{SVG}text")
        assert text is not None
        words, at = spans(text)
        ends = {group.get("data-from"), group.get("data-to")} - {None}
        arcs.append(
            Arc(
                f"{group.get('data-trigger')} {group.get('data-from')} -> {group.get('data-to')}",
                frozenset(str(e) for e in ends),
                tuple(path_points(path.get("d", ""))),
                Box(x, y, w, h),
                words,
                at,
            )
        )
    states = []
    for group in root.iter(f"{SVG}g"):
        if "state" not in (group.get("class") or "").split():
            continue
        rect = group.find(f"{SVG}rect")
        title = group.find(f"{SVG}text[@class='title']")
        assert rect is not None and title is not None
        words, at = spans(title)
        box = Box(*(float(rect.get(k, "nan")) for k in ("x", "y", "width", "height")))
        states.append(State(str(group.get("data-state")), box, words, at))
    return Diagram(root, tuple(arcs), tuple(states))


def crosses(a: Point, b: Point, box: Box) -> bool:
    """Tell whether segment a-b enters ``box`` (Liang-Barsky clipping)."""
    t0, t1 = 0.0, 1.0
    dx, dy = b[0] - a[0], b[1] - a[1]
    for p, q in (
        (-dx, a[0] - box.x),
        (dx, box.x + box.w - a[0]),
        (-dy, a[1] - box.y),
        (dy, box.y + box.h - a[1]),
    ):
        if p == 0:
            if q < 0:
                return False
        else:
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return False
    return True


def problems(diagram: Diagram) -> list[str]:
    """Return everything wrong with the diagram's geometry, in words (none: all is well)."""
    found = []
    arcs, states = diagram.arcs, diagram.states
    for arc in arcs:
        if not all(arc.label.holds(p) for p in arc.text_at):
            found.append(f"{arc.what}: its text is not in its label's box")
    for state in states:
        if not all(state.box.holds(p) for p in state.text_at):
            found.append(f"{state.name}: its title is not in its box")
    # half a pixel of slack: an arc ends on its state's edge
    labels = [(arc, arc.label.shrunk(0.5)) for arc in arcs]
    boxes = [(state, state.box.shrunk(0.5)) for state in states]
    for arc in arcs:
        segments = list(zip(arc.points, arc.points[1:], strict=False))
        for other, box in labels:
            if any(crosses(a, b, box) for a, b in segments):
                whose = "its own" if other is arc else f"the label of {other.what}"
                found.append(f"{arc.what} crosses {whose}")
        for state, box in boxes:
            if state.name not in arc.ends and any(crosses(a, b, box) for a, b in segments):
                found.append(f"{arc.what} runs through state {state.name}")
    for i, (arc, box) in enumerate(labels):
        found.extend(
            f"the labels of {arc.what} and {other.what} overlap"
            for other, other_box in labels[i + 1 :]
            if box.overlaps(other_box)
        )
        found.extend(
            f"the label of {arc.what} overlaps state {state.name}"
            for state, state_box in boxes
            if box.overlaps(state_box)
        )
    for i, (state, box) in enumerate(boxes):
        found.extend(
            f"states {state.name} and {other.name} overlap"
            for other, other_box in boxes[i + 1 :]
            if box.overlaps(other_box)
        )
    width, height = float(diagram.root.get("width", 0)), float(diagram.root.get("height", 0))
    frame = Box(0, 0, width, height)
    if diagram.root.get("viewBox") != f"0 0 {width:.0f} {height:.0f}":
        found.append("the viewBox is not the diagram's own width and height")
    for arc in arcs:
        corners = (
            (arc.label.x, arc.label.y),
            (arc.label.x + arc.label.w, arc.label.y + arc.label.h),
        )
        if not all(frame.holds(p) for p in (*arc.points, *corners)):
            found.append(f"{arc.what} is outside the drawing")
    for state in states:
        corners = (
            (state.box.x, state.box.y),
            (state.box.x + state.box.w, state.box.y + state.box.h),
        )
        if not all(frame.holds(p) for p in corners):
            found.append(f"state {state.name} is outside the drawing")
    return found


def drawn(case: str) -> tuple[WorkflowDefinition, str, str, str]:
    path, current, locale = CASES[case]
    definition = load_definition(path)
    with use_locale(locale):
        return definition, workflow_svg(definition, current), current, locale


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_arc_crosses_a_label_or_a_state_it_does_not_join(case: str) -> None:
    _definition, svg, _current, _locale = drawn(case)
    diagram = read(svg)
    assert diagram.arcs and diagram.states
    assert problems(diagram) == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_state_and_action_is_named_in_the_readers_language(case: str) -> None:
    definition, svg, current, locale = drawn(case)
    diagram = read(svg)
    with use_locale(locale):
        titles = {s.name: s.title_in() for s in definition.states}
        actions = {
            definition.action_title(t.trigger, src)
            for t in definition.transitions
            for src in t.sources
        }
        workflow = definition.title_in()
    assert {s.name: s.title for s in diagram.states} == titles
    shown = " | ".join(arc.label_text for arc in diagram.arcs)
    missing = [a for a in actions if a not in {arc.label_text for arc in diagram.arcs}]
    # an action open from every state is one note: "Withdraw the plan (from any state)"
    assert all(a in shown for a in missing), missing
    # what a screen reader says: the workflow and the current state, then the states in order
    assert diagram.root.get("role") == "img"
    label = str(diagram.root.get("aria-label"))
    assert workflow in label and titles[current] in label
    assert diagram.root.findtext(f"{SVG}title") == label
    desc = str(diagram.root.findtext(f"{SVG}desc"))
    positions = [desc.index(titles[s.name]) for s in definition.states]
    assert positions == sorted(positions)
    current_groups = [
        g.get("data-state")
        for g in diagram.root.iter(f"{SVG}g")
        if "current" in (g.get("class") or "").split()
    ]
    assert current_groups == [current]


def test_returns_are_dashed_loops_stay_and_from_any_state_is_one_note() -> None:
    _definition, svg, _current, _locale = drawn("branching")
    root = ET.fromstring(svg)

    def kinds(trigger: str) -> list[str]:
        return [
            " ".join(sorted(set((g.get("class") or "").split()) - {"arc"})) or "forward"
            for g in root.iter(f"{SVG}g")
            if g.get("data-trigger") == trigger
        ]

    assert kinds("send_legal") == ["forward"]
    assert kinds("fast_track") == ["forward"]
    assert kinds("query") == ["back", "back"]  # from both reviews back to triage
    assert kinds("reopen") == ["back"] and kinds("start_over") == ["back"]
    assert kinds("reserve") == ["loop"] and kinds("postpone") == ["loop"]
    assert kinds("withdraw") == ["note"]
    back = root.find(f".//{SVG}g[@data-trigger='reopen']/{SVG}path")
    assert back is not None and back.get("class") == "edge back"
    style = str(root.findtext(f"{SVG}style"))
    assert ".edge.back{stroke:#b3261e;stroke-dasharray" in style
    # the hostile-looking title is text, not markup
    assert "&lt;form&gt;" in svg and "<form>" not in svg


def test_a_page_view_only_recolours_the_cached_layout() -> None:
    definition = load_definition(REPO / "workflows" / "nap.toml")
    with use_locale("en"):
        workflow_svg(definition, "drafting")
        started = time.perf_counter()
        views = [workflow_svg(definition, s) for s in definition.state_names]
        per_view = (time.perf_counter() - started) / len(views)
    unmarked = {v.replace(" current", "").split("<title>")[1].split("</title>")[1] for v in views}
    assert len(unmarked) == 1  # the same drawing, only the current state differs
    assert per_view < 0.002, f"{per_view * 1000:.2f} ms per view: the layout is not cached"
    # another language is another layout (the cache is per language)
    with use_locale("ru"):
        russian = workflow_svg(definition, "drafting")
    assert "Подготовка проекта" in russian and "Подготовка проекта" not in views[0]
    # an edited file (another digest) is laid out again
    edited = replace(
        definition,
        digest="0" * 64,
        states=(
            *definition.states[:-1],
            replace(definition.states[-1], title="Withdrawn for good"),
        ),
    )
    with use_locale("en"):
        assert "Withdrawn for good" in workflow_svg(edited, "drafting")


# --- any valid workflow -----------------------------------------------------------------------

WORDS = [
    "the",
    "draft",
    "plan",
    "review",
    "send",
    "back",
    "approve",
    "working",
    "group",
    "expert",
    "ministerial",
    "<b>&amp;",
    "Межведомственноесогласованиепроекта",
    "Направить",
    "1540",
    "WWMM",
    "iill",
    "審査",
    "報告書",
]


def random_workflow(seed: int) -> str:
    """Return a workflow file of 2-16 states, made at random but valid (reachable, no dead end).

    Forward jumps, returns, loops (stay), a way out from every state, several final states,
    titles from one word to ten, some of them long words, markup or CJK.
    """
    rnd = random.Random(seed)

    def title() -> str:
        return json.dumps(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 10))))

    names = [f"s{i}" for i in range(rnd.randint(2, 16))]
    finals = set(rnd.sample(names[1:], rnd.randint(1, max(1, len(names) // 3))))
    open_states = [n for n in names if n not in finals]
    pairs = [
        (rnd.choice([n for n in names[:i] if n not in finals]), names[i])
        for i in range(1, len(names))
    ]
    pairs += [(n, rnd.choice(names)) for n in open_states if all(a != n for a, _b in pairs)]
    pairs += [
        (rnd.choice(open_states), rnd.choice(names)) for _ in range(rnd.randint(0, 2 * len(names)))
    ]
    lines = ["[workflow]", 'name = "random"', "version = 1", 'initial = "s0"', "[roles]", 'r = "x"']
    for n in names:
        lines += [f"[states.{n}]", f"title = {title()}", f"final = {str(n in finals).lower()}"]
    for k, (a, b) in enumerate(pairs):
        way = "stay = true" if a == b or rnd.random() < 0.1 else f'dest = "{b}"'
        lines += ["[[transitions]]", f'trigger = "t{k}"', f"title = {title()}", f'source = "{a}"']
        lines += [way, 'roles = ["r"]']
    if rnd.random() < 0.5:
        lines += ["[[transitions]]", 'trigger = "out"', f"title = {title()}", 'source = "*"']
        lines += [f'dest = "{sorted(finals)[0]}"', 'roles = ["r"]']
    return "\n".join(lines)


def test_any_valid_workflow_is_drawn_without_a_crossing() -> None:
    found = {}
    for seed in range(60):
        try:
            definition = parse_definition(random_workflow(seed).encode(), Path("random.toml"))
        except InvalidDefinition:
            continue  # a trigger defined twice from one state: not a valid file
        with use_locale("en"):
            trouble = problems(read(workflow_svg(definition, "s0")))
        if trouble:
            found[seed] = trouble[:3]
    assert found == {}


# --- the checker catches what it looks for ---------------------------------------------------


def spoiled(svg: str, trigger: str, onto: str) -> Diagram:
    """Return the diagram with ``trigger``'s label (box and text) moved onto arc ``onto``."""
    diagram = read(svg)
    arc = next(a for a in diagram.arcs if a.what.startswith(f"{trigger} "))
    target = next(a for a in diagram.arcs if a.what.startswith(f"{onto} "))
    (x0, y0), (x1, y1) = target.points[len(target.points) // 2 - 1 : len(target.points) // 2 + 1]
    dx = (x0 + x1) / 2 - arc.label.x - arc.label.w / 2
    dy = (y0 + y1) / 2 - arc.label.y - arc.label.h / 2
    moved = replace(
        arc,
        label=Box(arc.label.x + dx, arc.label.y + dy, arc.label.w, arc.label.h),
        text_at=tuple((x + dx, y + dy) for x, y in arc.text_at),
    )
    arcs = tuple(moved if a is arc else a for a in diagram.arcs)
    return replace(diagram, arcs=arcs)


def test_the_checker_finds_a_label_on_an_arc_and_a_dishonest_box() -> None:
    _definition, svg, _current, _locale = drawn("branching")
    found = problems(spoiled(svg, "refer", "fast_track"))
    assert any("fast_track" in p and "crosses the label of refer" in p for p in found), found
    diagram = read(svg)
    arc = diagram.arcs[0]
    liar = replace(arc, label=replace(arc.label, x=arc.label.x + arc.label.w))
    found = problems(replace(diagram, arcs=(liar, *diagram.arcs[1:])))
    assert f"{arc.what}: its text is not in its label's box" in found
    state = diagram.states[0]
    elsewhere = replace(state, box=replace(state.box, y=state.box.y + 400))
    found = problems(replace(diagram, states=(elsewhere, *diagram.states[1:])))
    assert f"{state.name}: its title is not in its box" in found


# --- in a browser: real fonts, and a phone's width ------------------------------------------

#: for each label and state title: its text's box as the browser drew it, and its box
MEASURE = """() => [...document.querySelectorAll('svg.diagram g.label, svg.diagram g.state')]
  .map(g => {
    const text = g.querySelector(g.matches('.label') ? 'text' : 'text.title');
    const b = text.getBBox();
    const box = g.matches('.label') ? g.dataset.box.split(' ').map(Number)
      : ['x', 'y', 'width', 'height'].map(k => g.querySelector('rect')[k].baseVal.value);
    return {what: text.textContent, text: [b.x, b.y, b.width, b.height], box};
  })"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Chromium for the module."""
    with browsing.chromium() as browser:
        yield browser


@pytest.mark.parametrize("case", ["nap-ru", "branching"])
def test_in_a_browser_the_text_fits_its_boxes_and_a_phone_scrolls_the_diagram(
    chromium: Browser, case: str
) -> None:
    _definition, svg, _current, _locale = drawn(case)
    css = (REPO / "napflow" / "web" / "static" / "napflow.css").read_text()
    page = chromium.new_page(viewport={"width": 390, "height": 800})
    try:
        page.set_content(
            f"<!doctype html><html><head><style>{css}</style></head><body><main>"
            f'<section class="card diagram-card"><h2>Workflow</h2>{svg}</section>'
            "</main></body></html>"
        )
        drawn_boxes = page.evaluate(MEASURE)
        assert len(drawn_boxes) >= len(read(svg).arcs) + len(read(svg).states)
        for item in drawn_boxes:
            tx, ty, tw, th = item["text"]
            bx, by, bw, bh = item["box"]
            assert bx - 0.5 <= tx and tx + tw <= bx + bw + 0.5, item  # the text fits across
            # and down: the glyphs' box is the font's full line, a little taller than a line
            assert by - 3 <= ty and ty + th <= by + bh + 3, item
        # on a phone the diagram keeps its size and its card scrolls sideways
        width = float(str(read(svg).root.get("width")))
        shown = page.evaluate("document.querySelector('svg.diagram').getBoundingClientRect().width")
        assert shown == pytest.approx(width, abs=0.5)
        scroll, client = page.evaluate(
            "(c => [c.scrollWidth, c.clientWidth])(document.querySelector('.diagram-card'))"
        )
        assert scroll > client
    finally:
        page.close()

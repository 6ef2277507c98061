"""The workflow diagram as SVG, drawn on the server from the workflow definition.

States are boxes titled in the reader's language, laid out in layers from top to bottom
by grandalf's Sugiyama layout. Each transition is an arc labelled with its action's title:
a way forward is a solid grey arc, a return to an earlier state (one that closes a cycle)
a dashed red one. An action that leaves the plan where it is (endorse) is a loop on the
right of its state; an action open from every state (withdraw) is one note, with an
arrow, on the left of its target. The plan's current state is filled. Every text is
escaped; the result can be inlined in a page.

How the arcs keep off the labels: every arc u -> v is laid out as u -> L -> v, where L is
a node the size of the arc's label, so the layout keeps labels apart from each other and
from the states. grandalf puts every node of a layer in one horizontal band, never two in
the same column, and adds a point in each band a long arc crosses. An arc runs straight
down through each band inside its own column (beside its label, in the label's column)
and changes column only in the gaps between bands, where there are no boxes. So an arc
can cross another arc, but never a label or a state box that is not its own end.

The layout (the slow part, a few milliseconds) is cached per workflow file (its digest)
and language; a page view only marks the current state.
"""

from __future__ import annotations

import functools
import itertools
import math
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from typing import Any

from napflow.i18n import _, current_locale, format_list
from napflow.workflow.definition import TransitionDef, WorkflowDefinition

#: font sizes and line heights (pixels) of a state's title, its name and the arcs' labels
TITLE_PX, TITLE_LINE = 13, 16
SUB_PX, SUB_LINE = 11, 14
LABEL_PX, LABEL_LINE = 11, 13
#: the widest a state's title and a label may be before they wrap
TITLE_WRAP, LABEL_WRAP = 180, 140
#: padding inside a state's box and around a label's text
BOX_PAD, LABEL_PAD = 8, 3
BOX_MIN_W = 120
#: a label's column: the arc runs down ``LANE_X`` in from its left, the text starts at ``LANE``
LANE, LANE_X = 14, 5
#: how far a loop reaches out of its state, and the gap from a note's text to its arrow
LOOP_REACH, NOTE_ARROW = 26, 22
#: the least height of a loop, from where it leaves its state to where it comes back
LOOP_MIN_H = 24
#: space between neighbours in a layer, between layers, and around the drawing
XSPACE, YSPACE, MARGIN = 22, 26, 14
#: a point of a long arc, as grandalf places it in the bands the arc crosses
DUMMY_W, DUMMY_H = 10, 4


# --- measuring and wrapping text ------------------------------------------------------------

_NARROW = frozenset("ijlI.,:;'!|()[]{}`")
_SEMI = frozenset('frtJ-/"')
_WIDE = frozenset("mwMWШЩЖЮЫшщжюыМм@%Фф")


def _text_width(text: str, px: float) -> float:
    """Return how wide ``text`` is at ``px`` pixels, estimated on the side of too wide.

    No font is at hand on the server; the widths (in ems) are a little over DejaVu Sans',
    the widest of the sans-serif fonts a browser is likely to pick.
    """
    ems = 0.0
    for ch in text:
        if unicodedata.east_asian_width(ch) in "WF":
            ems += 1.05
        elif ch == " ":
            ems += 0.33
        elif ch in _NARROW:
            ems += 0.32
        elif ch in _SEMI:
            ems += 0.44
        elif ch in _WIDE:
            ems += 1.0
        elif ch.isupper() or ch.isdigit():
            ems += 0.74
        else:
            ems += 0.64
    return ems * px


def _wrap(text: str, px: float, limit: float) -> list[str]:
    """Return ``text`` in lines no wider than ``limit`` (a longer word keeps a line of its own)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if line and _text_width(candidate, px) > limit:
            lines.append(line)
            line = word
        else:
            line = candidate
    return [*lines, line] if line else [""]


@dataclass(frozen=True)
class _Text:
    """A text wrapped in lines, with the size of the box that holds it."""

    lines: tuple[str, ...]
    line: float
    w: float
    h: float

    @classmethod
    def of(cls, text: str, px: float, line: float, limit: float, pad: float) -> _Text:
        """Return ``text`` at ``px`` pixels wrapped at ``limit``, in a box padded by ``pad``."""
        lines = tuple(_wrap(text, px, limit))
        width = max(_text_width(x, px) for x in lines)
        return cls(lines, line, width + 2 * pad, len(lines) * line + 2 * pad)

    def svg(self, x: float, y: float, pad: float) -> str:
        """Return a ``<text>`` of the lines, left-aligned in the box at (x, y)."""
        spans = "".join(
            f'<tspan x="{x + pad:.1f}" y="{y + pad + (i + 1) * self.line - 3:.1f}">'
            f"{escape(text)}</tspan>"
            for i, text in enumerate(self.lines)
        )
        return f"<text>{spans}</text>"


# --- what is drawn --------------------------------------------------------------------------


@dataclass(eq=False)
class _Node:
    """Something grandalf places: a state (with its loops and notes) or an arc's label.

    grandalf reads ``w`` and ``h`` and sets ``xy``, the centre.
    """

    w: float
    h: float
    xy: tuple[float, float] = (0.0, 0.0)
    #: for a state: the left of its box within the node and the box's size
    box_dx: float = 0.0
    box_w: float = 0.0
    box_h: float = 0.0
    #: set once laid out: the band of the node's layer, top and bottom
    top: float = 0.0
    bottom: float = 0.0

    @property
    def left(self) -> float:
        return self.xy[0] - self.w / 2

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Return a state's box: x, y, width, height."""
        return (
            self.left + self.box_dx,
            self.xy[1] - self.box_h / 2,
            self.box_w,
            self.box_h,
        )


@dataclass
class _Arc:
    """A transition from one state to another, as drawn: one arc with its label."""

    trigger: str
    source: str
    dest: str
    label: _Text
    back: bool = False
    node: _Node = field(default_factory=lambda: _Node(0, 0))
    #: the points it runs through, from its source to its destination, once laid out
    points: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class _Side:
    """An action drawn beside a state: a loop on the right or a note on the left."""

    trigger: str
    label: _Text


@dataclass(frozen=True)
class _Drawing:
    """A workflow laid out and drawn, all but which state is current."""

    width: float
    height: float
    #: each state: name, its classes besides ``current``, the inside of its group
    states: tuple[tuple[str, str, str], ...]
    arcs: str
    desc: str


# --- layout ---------------------------------------------------------------------------------


def _from_any_state(definition: WorkflowDefinition, t: TransitionDef) -> bool:
    """Tell whether ``t`` is open from every state but its target (withdraw): one note."""
    if t.dest is None or len(t.sources) < 3:
        return False
    others = {s.name for s in definition.states if not s.final} - {t.dest}
    return others <= set(t.sources)


def _mark_returns(definition: WorkflowDefinition, arcs: list[_Arc]) -> None:
    """Mark the arcs that close a cycle (returns), walking depth-first from the initial state.

    The arcs left form no cycle, which a layered layout needs; they point down the page.
    """
    out: dict[str, list[_Arc]] = {s.name: [] for s in definition.states}
    for arc in arcs:
        out[arc.source].append(arc)
    seen: dict[str, int] = {}  # 1: on the path walked now, 2: done
    starts = [definition.initial, *(s.name for s in definition.states)]
    for start in starts:
        if start in seen:
            continue
        seen[start] = 1
        stack: list[tuple[str, Iterator[_Arc]]] = [(start, iter(out[start]))]
        while stack:
            state, todo = stack[-1]
            step = next(todo, None)
            if step is None:
                seen[state] = 2
                stack.pop()
            elif seen.get(step.dest) == 1:
                step.back = True
            elif step.dest not in seen:
                seen[step.dest] = 1
                stack.append((step.dest, iter(out[step.dest])))


def _slot(side: _Side) -> float:
    """Return the height a loop or a note takes beside its state."""
    return max(side.label.h, LOOP_MIN_H) + 4


def _state_node(title: _Text, sub: _Text, loops: list[_Side], notes: list[_Side]) -> _Node:
    """Return a state's node: its box, its loops to the right and its notes to the left."""
    box_w = max(BOX_MIN_W, title.w, sub.w)
    box_h = max(title.h + SUB_LINE, sum(_slot(loop) for loop in loops) + 8)
    right = max((LOOP_REACH + 6 + loop.label.w for loop in loops), default=0.0)
    left = max((n.label.w + NOTE_ARROW for n in notes), default=0.0)
    notes_h = sum(_slot(n) for n in notes)
    return _Node(left + box_w + right, max(box_h, notes_h), box_dx=left, box_w=box_w, box_h=box_h)


def _lay_out(states: dict[str, _Node], arcs: list[_Arc], initial: str) -> None:
    """Place the states and labels with grandalf (arcs u -> L -> v, returns pointing down)."""
    # A layered layout (Sugiyama's, as Graphviz's dot) rather than one written here: it
    # orders each layer to cut crossings and reserves room for long arcs, which a
    # hand-made placement got wrong as soon as a workflow branched. grandalf is pure
    # Python (no Graphviz to install) and small enough to read.
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout

    vertex = {id(n): Vertex(n) for n in [*states.values(), *(a.node for a in arcs)]}
    for v in vertex.values():
        v.view = v.data
    edges: list[Any] = []
    for arc in arcs:
        label = vertex[id(arc.node)]
        upper, lower = _ends(arc)
        edges.append(Edge(vertex[id(states[upper])], label))
        edges.append(Edge(label, vertex[id(states[lower])]))
    graph = Graph(list(vertex.values()), edges)
    placed: list[tuple[set[_Node], float, float, float, float]] = []
    for part in graph.C:
        layout = SugiyamaLayout(part)
        layout.xspace, layout.yspace = XSPACE, YSPACE
        layout.init_all(inverted_edges=[])
        for layer in layout.layers:
            for v in layer:
                if layout.grx[v].dummy:
                    v.view.w, v.view.h = DUMMY_W, DUMMY_H
        layout.draw(N=3.5)
        _bands(layout)
        _route(layout, states, arcs, vertex)
        members = {v.data for v in part.sV}
        # the points of long arcs count too: one may pass outside every node
        views = [v.view for layer in layout.layers for v in layer]
        lefts = [view.xy[0] - view.w / 2 for view in views]
        rights = [view.xy[0] + view.w / 2 for view in views]
        tops = [n.top for n in members]
        bottoms = [n.bottom for n in members]
        placed.append((members, min(lefts), max(rights), min(tops), max(bottoms)))
    # The part with the initial state first; the others (states reached only through a
    # note: withdrawn) to its right, level with its last layers.
    placed.sort(key=lambda p: states[initial] not in p[0])
    x = float(MARGIN)
    full = placed[0][4] - placed[0][3]
    for members, left, right, high, low in placed:
        dx = x - left
        dy = MARGIN - high + max(0.0, full - (low - high))
        for node in members:
            node.xy = (node.xy[0] + dx, node.xy[1] + dy)
            node.top += dy
            node.bottom += dy
        for arc in arcs:
            if arc.node in members:
                arc.points = [(px + dx, py + dy) for px, py in arc.points]
        x += right - left + XSPACE * 2


def _ends(arc: _Arc) -> tuple[str, str]:
    """Return the states an arc joins, the upper first (a return runs up the page)."""
    return (arc.dest, arc.source) if arc.back else (arc.source, arc.dest)


def _bands(layout: Any) -> None:
    """Give every node its layer's band; keep nodes of a layer apart (grandalf should)."""
    for layer in layout.layers:
        views = sorted((v.view for v in layer), key=lambda view: view.xy[0])
        half = max(view.h for view in views) / 2
        for view in views:
            view.top = float(view.xy[1] - half)
            view.bottom = float(view.xy[1] + half)
        for before, view in itertools.pairwise(views):
            least = before.xy[0] + (before.w + view.w) / 2 + XSPACE / 2
            if view.xy[0] < least:
                view.xy = (least, view.xy[1])


def _route(layout: Any, states: dict[str, _Node], arcs: list[_Arc], vertex: dict[int, Any]) -> None:
    """Give each arc of this part its points: straight down each band, across each gap."""
    mine = [a for a in arcs if id(a.node) in vertex and vertex[id(a.node)] in layout.grx]
    # the columns each arc runs down, top to bottom: its top state, points, label, ...
    columns: dict[int, list[tuple[float, float, float]]] = {}
    ports: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for arc in mine:
        top, bottom = _ends(arc)
        label = vertex[id(arc.node)]
        runs: list[tuple[float, float, float]] = []
        for edge in (label.e_in()[0], label.e_out()[0]):
            ctrl = layout.ctrls.get(edge, {})
            for rank in sorted(ctrl)[1:-1]:
                view = ctrl[rank].view
                runs.append((view.xy[0], float(view.top), float(view.bottom)))
            if edge is label.e_in()[0]:
                lane = arc.node.left + LANE_X
                runs.append((lane, arc.node.top, arc.node.bottom))
        columns[id(arc)] = runs
        first, last = runs[0][0], runs[-1][0]
        ports.setdefault((top, "bottom"), []).append((first, id(arc)))
        ports.setdefault((bottom, "top"), []).append((last, id(arc)))
    port_x: dict[tuple[int, str], float] = {}
    for (state, side), wanted in ports.items():
        x, _y, w, _h = states[state].box
        for i, (_toward, arc_id) in enumerate(sorted(wanted)):
            port_x[(arc_id, side)] = x + w * (i + 1) / (len(wanted) + 1)
    for arc in mine:
        top, bottom = _ends(arc)
        upper, lower = states[top], states[bottom]
        _ux, uy, _uw, uh = upper.box
        _lx, ly, _lw, _lh = lower.box
        start = port_x[(id(arc), "bottom")]
        end = port_x[(id(arc), "top")]
        runs = [(start, uy + uh, upper.bottom), *columns[id(arc)], (end, lower.top, ly)]
        points: list[tuple[float, float]] = []
        for x, y1, y2 in runs:
            for point in ((x, y1), (x, y2)):
                if not points or points[-1] != point:
                    points.append(point)
        arc.points = points[::-1] if arc.back else points


# --- SVG ------------------------------------------------------------------------------------


def _path(points: list[tuple[float, float]]) -> str:
    """Return the path through ``points``: lines down the bands, curves across the gaps.

    A gap is crossed where two points differ in x; its curve has both control points
    inside the gap, so it stays there.
    """
    (x0, y0), *rest = points
    parts = [f"M {x0:.1f} {y0:.1f}"]
    px, py = x0, y0
    for x, y in rest:
        if x == px:
            parts.append(f"L {x:.1f} {y:.1f}")
        else:
            mid = (py + y) / 2
            parts.append(f"C {px:.1f} {mid:.1f}, {x:.1f} {mid:.1f}, {x:.1f} {y:.1f}")
        px, py = x, y
    return " ".join(parts)


def _label(text: _Text, x: float, y: float) -> str:
    """Return a label's group: its box (``data-box``: x y width height) and its text."""
    return (
        f'<g class="label" data-box="{x:.1f} {y:.1f} {text.w:.1f} {text.h:.1f}">'
        f"{text.svg(x, y, LABEL_PAD)}</g>"
    )


def _arc_group(css: str, trigger: str, source: str | None, dest: str, inner: str) -> str:
    where = f' data-from="{escape(source)}"' if source is not None else ""
    return (
        f'<g class="{css}" data-trigger="{escape(trigger)}"{where} '
        f'data-to="{escape(dest)}">{inner}</g>'
    )


def _state_inside(
    node: _Node, title: _Text, name: str, loops: list[_Side], notes: list[_Side]
) -> tuple[str, str]:
    """Return a state's box and titles, and its loops and notes (drawn with the arcs)."""
    x, y, w, h = node.box
    centre = x + w / 2
    top = y + (h - (title.h + SUB_LINE)) / 2
    spans = "".join(
        f'<tspan x="{centre:.1f}" y="{top + BOX_PAD + (i + 1) * TITLE_LINE - 4:.1f}">'
        f"{escape(line)}</tspan>"
        for i, line in enumerate(title.lines)
    )
    sub_y = top + BOX_PAD + len(title.lines) * TITLE_LINE + SUB_LINE - 3
    inside = (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="8"/>'
        f'<text class="title" text-anchor="middle">{spans}</text>'
        f'<text class="sub" x="{centre:.1f}" y="{sub_y:.1f}" text-anchor="middle">'
        f"{escape(name)}</text>"
    )
    sides = []
    # loops on the right: each leaves the box and comes back to it, its label beyond it
    slot = y + (h - sum(_slot(loop) for loop in loops)) / 2
    right = x + w
    for loop in loops:
        y1, y2 = slot + 6, slot + _slot(loop) - 6
        reach = right + LOOP_REACH / 0.75  # a cubic reaches 3/4 of its control points
        path = (
            f'<path class="edge loop" d="M {right:.1f} {y1:.1f} C {reach:.1f} {y1:.1f}, '
            f'{reach:.1f} {y2:.1f}, {right:.1f} {y2:.1f}" marker-end="url(#wf-arrow)"/>'
        )
        label_y = slot + (_slot(loop) - loop.label.h) / 2
        label = _label(loop.label, right + LOOP_REACH + 6, label_y)
        sides.append(_arc_group("arc loop", loop.trigger, name, name, path + label))
        slot += _slot(loop)
    # notes on the left, each with an arrow into the box
    slot = y + (h - sum(_slot(n) for n in notes)) / 2
    for note in notes:
        mid = slot + _slot(note) / 2
        path = (
            f'<path class="edge note" d="M {x - NOTE_ARROW + 4:.1f} {mid:.1f} '
            f'L {x:.1f} {mid:.1f}" marker-end="url(#wf-arrow-back)"/>'
        )
        label = _label(note.label, x - NOTE_ARROW - note.label.w, mid - note.label.h / 2)
        sides.append(_arc_group("arc note", note.trigger, None, name, path + label))
        slot += _slot(note)
    return inside, "".join(sides)


@functools.lru_cache(maxsize=64)
def _cached(key: _Key) -> _Drawing:
    return _drawing(key.definition)


class _Key:
    """A workflow for the cache: the same file (digest) in the same language is one key."""

    __slots__ = ("definition", "key")

    def __init__(self, definition: WorkflowDefinition) -> None:
        self.definition = definition
        self.key = (definition.name, definition.version, definition.digest, current_locale())

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and other.key == self.key


def _drawing(definition: WorkflowDefinition) -> _Drawing:
    """Lay ``definition`` out and draw it, in the reader's language, with no state current."""
    loops: dict[str, list[_Side]] = {s.name: [] for s in definition.states}
    notes: dict[str, list[_Side]] = {s.name: [] for s in definition.states}
    arcs: list[_Arc] = []
    for t in definition.transitions:
        if _from_any_state(definition, t):
            text = _("%(action)s (from any state)") % {"action": t.title_in()}
            label = _Text.of(text, LABEL_PX, LABEL_LINE, LABEL_WRAP, LABEL_PAD)
            notes[str(t.dest)].append(_Side(t.trigger, label))
            continue
        for src in t.sources:
            title = definition.action_title(t.trigger, src)
            label = _Text.of(title, LABEL_PX, LABEL_LINE, LABEL_WRAP, LABEL_PAD)
            if t.dest is None or t.dest == src:
                loops[src].append(_Side(t.trigger, label))
            else:
                arcs.append(_Arc(t.trigger, src, t.dest, label))
    _mark_returns(definition, arcs)
    titles = {
        s.name: _Text.of(s.title_in(), TITLE_PX, TITLE_LINE, TITLE_WRAP, BOX_PAD)
        for s in definition.states
    }
    nodes = {
        s.name: _state_node(
            titles[s.name],
            _Text.of(s.name, SUB_PX, SUB_LINE, 10_000, BOX_PAD),
            loops[s.name],
            notes[s.name],
        )
        for s in definition.states
    }
    for arc in arcs:
        arc.node = _Node(LANE + arc.label.w, arc.label.h)
    _lay_out(nodes, arcs, definition.initial)
    parts = []
    for arc in arcs:
        css = "edge back" if arc.back else "edge"
        marker = "wf-arrow-back" if arc.back else "wf-arrow"
        path = f'<path class="{css}" d="{_path(arc.points)}" marker-end="url(#{marker})"/>'
        text = _label(arc.label, arc.node.left + LANE, arc.node.xy[1] - arc.label.h / 2)
        group = "arc back" if arc.back else "arc"
        parts.append(_arc_group(group, arc.trigger, arc.source, arc.dest, path + text))
    states = []
    for s in definition.states:
        node = nodes[s.name]
        inside, sides = _state_inside(node, titles[s.name], s.name, loops[s.name], notes[s.name])
        states.append((s.name, " final" if s.final else "", inside))
        parts.append(sides)
    every = [*nodes.values(), *(a.node for a in arcs)]
    width = max([n.left + n.w for n in every] + [x for a in arcs for x, _y in a.points]) + MARGIN
    height = max(n.bottom for n in every) + MARGIN
    shown = [
        _("%(state)s (final)") % {"state": s.title_in()} if s.final else s.title_in()
        for s in definition.states
    ]
    desc = _("States, in order: %(states)s.") % {"states": format_list(shown)}
    return _Drawing(width, height, tuple(states), "".join(parts), desc)


#: the diagram's own style; an SVG inlined in a page shares the page's style sheet, so every
#: rule is scoped to the diagram
STYLE = "".join(
    f".workflow-diagram {rule}"
    for rule in (
        "text{font:13px system-ui,sans-serif;fill:#1d2433}",
        ".state rect{fill:#fff;stroke:#1f5fa8;stroke-width:1.5}",
        ".state.final rect{stroke-dasharray:4 3}",
        ".state.current rect{fill:#1f5fa8}",
        ".state.current text{fill:#fff}",
        ".sub{font-size:11px;fill:#5b6475}",
        ".edge{fill:none;stroke:#5b6475;stroke-width:1.3}",
        ".edge.back{stroke:#b3261e;stroke-dasharray:6 4}",
        ".edge.note{stroke:#b3261e}",
        ".label text{font-size:11px;fill:#5b6475}",
        ".back .label text,.workflow-diagram .note .label text{fill:#b3261e}",
    )
)


def workflow_svg(definition: WorkflowDefinition, current: str | None = None) -> str:
    """Return an SVG document of ``definition``, with ``current`` highlighted."""
    drawing = _cached(_Key(definition))
    title = definition.title_in()
    if current is None:
        label = _("Workflow %(title)s") % {"title": title}
    else:
        label = _("Workflow %(title)s: current state %(state)s") % {
            "title": title,
            "state": definition.state_title(current),
        }
    states = "".join(
        f'<g class="state{" current" if name == current else ""}{final}" '
        f'data-state="{escape(name)}">{inside}</g>'
        for name, final, inside in drawing.states
    )
    width, height = math.ceil(drawing.width), math.ceil(drawing.height)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram workflow-diagram" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title><desc>{escape(drawing.desc)}</desc>"
        f"<style>{STYLE}</style>"
        '<defs><marker id="wf-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#5b6475"/></marker>'
        '<marker id="wf-arrow-back" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="#b3261e"/></marker></defs>{drawing.arcs}{states}</svg>'
    )

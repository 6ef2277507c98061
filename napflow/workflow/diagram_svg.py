"""The workflow diagram as SVG, drawn on the server from the workflow definition.

States stand in a column in file order. A transition to a later state is an arc on the
right, a return to an earlier one an arc on the left, each labelled with its trigger; a
trigger that fires from most states (withdraw) is one note beside its target, and actions
that leave the state (endorse) are listed under the state. The plan's current state is
filled. Every text is escaped; the result can be inlined in a page.
"""

from __future__ import annotations

from html import escape

from napflow.i18n import _
from napflow.workflow.definition import WorkflowDefinition

BOX_W, BOX_H, GAP = 250, 44, 34
LEFT = 190  # room for the return arcs
ROW = BOX_H + GAP
ARC = 26  # how far each arc reaches out per row it spans


def _arc(x: float, y1: float, y2: float, reach: float) -> str:
    return f"M {x} {y1} C {x + reach} {y1}, {x + reach} {y2}, {x} {y2}"


def workflow_svg(definition: WorkflowDefinition, current: str | None = None) -> str:
    """Return an SVG document of ``definition``, with ``current`` highlighted."""
    names = list(definition.state_names)
    row = {name: i for i, name in enumerate(names)}
    top = {name: 20 + i * ROW for i, name in enumerate(names)}
    stays: dict[str, list[str]] = {}
    edges: list[tuple[str, str, str]] = []
    notes: dict[str, list[str]] = {}
    non_final = [s.name for s in definition.states if not s.final]
    for t in definition.transitions:
        if t.dest is None:
            for src in t.sources:
                stays.setdefault(src, []).append(t.trigger)
        elif len(t.sources) >= 3 and len(t.sources) >= len(non_final) - 1:
            notes.setdefault(t.dest, []).append(
                _("%(trigger)s (from any state)") % {"trigger": t.trigger}
            )
        else:
            edges.extend((src, t.dest, t.trigger) for src in t.sources)
    right = LEFT + BOX_W
    parts: list[str] = []
    widest = 0.0
    for i, (src, dest, trigger) in enumerate(edges):
        span = row[dest] - row[src]
        y1 = top[src] + BOX_H / 2 + (4 if span > 0 else -4)
        y2 = top[dest] + BOX_H / 2
        forward = span > 0
        reach = (ARC + ARC * abs(span) + 6 * (i % 3)) * (1 if forward else -1)
        x = right if forward else LEFT
        widest = max(widest, abs(reach))
        parts.append(
            f'<path class="edge{" back" if not forward else ""}" d="{_arc(x, y1, y2, reach)}" '
            'marker-end="url(#arrow)"/>'
        )
        lx = x + reach * 0.75 + (4 if forward else -4)
        anchor = "start" if forward else "end"
        parts.append(
            f'<text class="label" x="{lx:.0f}" y="{(y1 + y2) / 2:.0f}" '
            f'text-anchor="{anchor}">{escape(trigger)}</text>'
        )
    for name in names:
        state = definition.state(name)
        y = top[name]
        classes = (
            "state" + (" current" if name == current else "") + (" final" if state.final else "")
        )
        parts.append(
            f'<g class="{classes}" data-state="{escape(name)}">'
            f'<rect x="{LEFT}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8"/>'
            f'<text x="{LEFT + BOX_W / 2}" y="{y + 19}" text-anchor="middle">'
            f"{escape(state.title_in())}</text>"
            f'<text class="sub" x="{LEFT + BOX_W / 2}" y="{y + 35}" text-anchor="middle">'
            f"{escape(', '.join(stays.get(name, [])) or name)}</text></g>"
        )
        for k, note in enumerate(notes.get(name, [])):
            parts.append(
                f'<text class="note" x="{right + 8}" y="{y + 16 + 14 * k}">{escape(note)}</text>'
            )
    width = right + max(widest, 150) + 170
    height = 20 + len(names) * ROW
    style = (
        ".state rect{fill:#fff;stroke:#1f5fa8;stroke-width:1.5}"
        ".state.final rect{stroke-dasharray:4 3}"
        ".state.current rect{fill:#1f5fa8}.state.current text{fill:#fff}"
        "text{font:13px system-ui,sans-serif;fill:#1d2433}.sub{font-size:11px;fill:#5b6475}"
        ".edge{fill:none;stroke:#5b6475;stroke-width:1.3}.edge.back{stroke:#b3261e}"
        ".label{font-size:11px;fill:#5b6475}.note{font-size:11px;fill:#b3261e}"
    )
    label = _("Workflow %(title)s") % {"title": definition.title_in()}
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram" width="{width:.0f}" '
        f'height="{height}" viewBox="0 0 {width:.0f} {height}" role="img" '
        f'aria-label="{escape(label)}">'
        f"<style>{style}</style>"
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#5b6475"/></marker></defs>' + "".join(parts) + "</svg>"
    )

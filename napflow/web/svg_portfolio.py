"""The portfolio as a picture: a workflow's plans, countries down, states across.

Drawn on the server as SVG (napflow.services.portfolio has the data), one picture per
workflow. Few plans: each is a mark with its key in its country's row and its state's
column, linking to its page, an overdue one red and marked "!". Many: each country and
state is a count on a bar as long as how many, linking to the plans list filtered to them
(``/plans?country=TJK&state=drafting``), with how many of them are overdue ("! 3"). Each
row and column is counted too, its overdue ones linking to the list of those alone. Every
text is escaped; the links say in words what they lead to (``aria-label``), and the page
has the same as a table.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from markupsafe import Markup

from napflow.i18n import _, format_number, ngettext
from napflow.services.portfolio import Cell, CountryRow, PortfolioPlan, WorkflowPortfolio
from napflow.web.svg import esc, fit, num, text_width, wrap

LEFT = 220  # the countries' names
COLUMN = 128
TOTAL = 100
FONT, SMALL = 12.0, 11.0
TITLE_LINES = 4
ROW = 28  # a row of counts
#: the bar behind a count: as long as the count is to the largest cell's (and shaded so);
#: the overdue count beside it stays on the page's white
BAR, BAR_MAX = 28, COLUMN - 46
PILL_H, PILL_GAP = 18, 4
LATE = "#b3261e"  # 6.5:1 on white; white on it too
STYLE = (
    ".pf text{font:12px system-ui,sans-serif;fill:#1d2433}"
    ".pf .pf-small{font-size:11px}.pf .pf-head{font-weight:600}"
    ".pf .pf-stripe{fill:#f6f7f9}.pf .pf-rule{stroke:#d8dde6}"
    ".pf .pf-plan{fill:#dbe7f6;stroke:#1f5fa8}"
    f".pf .pf-plan.pf-late{{fill:{LATE};stroke:{LATE}}}"
    ".pf .pf-late-key{fill:#fff;font-weight:600}"
    f".pf .pf-late{{fill:{LATE};font-weight:600}}"
    ".pf .pf-count{font-weight:600;font-size:13px}"
    ".pf .pf-l1{fill:#eef3fa}.pf .pf-l2{fill:#dbe7f6}.pf .pf-l3{fill:#c2d6ef}"
    ".pf .pf-l4{fill:#a9c4e7}"
    ".pf a:focus rect,.pf a:hover rect{stroke:#1d2433;stroke-width:2}"
)


def plans_link(country: str | None = None, state: str | None = None, overdue: bool = False) -> str:
    """Return the address of the plans list filtered to ``country``, ``state``, overdue."""
    query = {"country": country, "state": state, "overdue": "1" if overdue else None}
    shown = {name: value for name, value in query.items() if value}
    return "/plans" + (f"?{urlencode(shown)}" if shown else "")


def plan_link(key: str) -> str:
    """Return the address of plan ``key``'s page."""
    return f"/plans/{quote(key)}"


def _plans(count: int) -> str:
    return ngettext("%(count)s plan", "%(count)s plans", count) % {"count": format_number(count)}


def _overdue(count: int) -> str:
    return ngettext("%(count)s overdue", "%(count)s overdue", count) % {
        "count": format_number(count)
    }


def counted(count: int, overdue: int) -> str:
    """Return a count in words: "42 plans", "42 plans, 3 overdue"."""
    return f"{_plans(count)}, {_overdue(overdue)}" if overdue else _plans(count)


def portfolio_svg(portfolio: WorkflowPortfolio, detailed: bool) -> Markup:
    """Return the SVG of one workflow's portfolio (every text escaped)."""
    states = portfolio.states
    width = LEFT + len(states) * COLUMN + TOTAL + 8
    titles = [wrap(s.title, COLUMN - 12, FONT, TITLE_LINES) for s in states]
    head = 10 + max((len(t) for t in titles), default=1) * 15 + 8
    per_line = _per_line(portfolio) if detailed else 1
    parts: list[str] = []
    for i, (state, lines) in enumerate(zip(states, titles, strict=True)):
        x = LEFT + i * COLUMN
        # a space ends each line but the last: the title reads "Working-group review", not
        # "Working-groupreview"
        texts = "".join(
            f'<tspan x="{x + 6}" y="{22 + 15 * k}">{esc(line)}{" " if k < len(lines) - 1 else ""}'
            "</tspan>"
            for k, line in enumerate(lines)
        )
        head_text = f'<title>{esc(state.title)}</title><text class="pf-head">{texts}</text>'
        if state.count:  # none: nothing to list
            label = f"{state.title}: {counted(state.count, state.overdue)}"
            head_text = (
                f'<a href="{esc(plans_link(state=state.name))}" aria-label="{esc(label)}">'
                f"{head_text}</a>"
            )
        parts.append(head_text if state.count else f"<g>{head_text}</g>")
    every_state = esc(_("All states"))
    parts.append(
        f'<text class="pf-head" x="{LEFT + len(states) * COLUMN + 6}" y="22">{every_state}</text>'
    )
    y = head
    peak = max((c.count for row in portfolio.rows for c in row.cells.values()), default=1)
    for n, row in enumerate(portfolio.rows):
        height = _row_height(row, per_line) if detailed else ROW
        parts.append(_row(portfolio, row, y, height, n, detailed, per_line, peak))
        y += height
    totals = y
    every_country = esc(_("All countries"))
    parts.append(
        f'<line class="pf-rule" x1="0" y1="{totals}" x2="{width}" y2="{totals}"/>'
        f'<text class="pf-head" x="8" y="{totals + 19}">{every_country}</text>'
    )
    for i, state in enumerate(states):
        parts.append(
            _count(
                LEFT + i * COLUMN,
                totals,
                state.count,
                state.overdue,
                plans_link(state=state.name),
                plans_link(state=state.name, overdue=True),
                f"{state.title}: ",
            )
        )
    parts.append(  # every plan of this workflow: no list shows them alone
        f'<text class="pf-count" x="{LEFT + len(states) * COLUMN + 10}" y="{totals + 19}">'
        f"{esc(format_number(portfolio.count))}</text>"
    )
    for i in range(len(states) + 1):
        x = LEFT + i * COLUMN
        parts.append(f'<line class="pf-rule" x1="{x}" y1="6" x2="{x}" y2="{totals + ROW}"/>')
    legend, legend_end = _legend(totals + ROW + 22, detailed, width)
    parts.append(legend)
    full = legend_end + 10
    ident = f"pf-{esc(portfolio.workflow)}"
    title = _("Plans of %(workflow)s by country and state") % {"workflow": portfolio.title}
    desc = _("Plans: %(plans)s. Countries: %(countries)s. Each state and country is counted.") % {
        "plans": counted(portfolio.count, portfolio.overdue),
        "countries": format_number(len(portfolio.rows)),
    }
    return Markup(  # noqa: S704 - every text is escaped
        f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram pf" width="{width}" '
        f'height="{num(full)}" viewBox="0 0 {width} {num(full)}" role="group" '
        f'aria-labelledby="{ident}-title {ident}-desc">'
        f'<title id="{ident}-title">{esc(title)}</title><desc id="{ident}-desc">{esc(desc)}'
        f"</desc><style>{STYLE}</style>" + "".join(parts) + "</svg>"
    )


def _per_line(portfolio: WorkflowPortfolio) -> int:
    """Return how many plan marks stand side by side in a cell: two if every key fits."""
    keys = [p.key for row in portfolio.rows for c in row.cells.values() for p in c.plans]
    widest = max((text_width(f"! {k}", SMALL) for k in keys), default=0)
    return 2 if widest + 10 <= (COLUMN - 12 - PILL_GAP) / 2 else 1


def _row_height(row: CountryRow, per_line: int) -> int:
    lines = max((-(-len(c.plans) // per_line) for c in row.cells.values()), default=1)
    return max(ROW, 6 + lines * (PILL_H + PILL_GAP))


def _row(
    portfolio: WorkflowPortfolio,
    row: CountryRow,
    y: float,
    height: float,
    n: int,
    detailed: bool,
    per_line: int,
    peak: int,
) -> str:
    """Return one country's row: its name, its cells, its total."""
    width = LEFT + len(portfolio.states) * COLUMN + TOTAL + 8
    parts = (
        [f'<rect class="pf-stripe" x="0" y="0" width="{width}" height="{height}"/>']
        if n % 2
        else []
    )
    name = fit(row.name, LEFT - 16, FONT)
    parts.append(
        f'<a href="{esc(plans_link(country=row.country))}" '
        f'aria-label="{esc(row.name)}: {esc(counted(row.count, row.overdue))}">'
        f'<title>{esc(row.name)}</title><text x="8" y="18">{esc(name)}</text></a>'
    )
    for i, state in enumerate(portfolio.states):
        cell = row.cells.get(state.name)
        if cell is None:
            continue
        x = LEFT + i * COLUMN
        if detailed:
            parts.extend(_pill(plan, x, k, per_line) for k, plan in enumerate(cell.plans))
        else:
            parts.append(_cell(row, state.name, state.title, cell, x, peak))
    parts.append(
        _count(
            LEFT + len(portfolio.states) * COLUMN,
            0,
            row.count,
            row.overdue,
            plans_link(country=row.country),
            plans_link(country=row.country, overdue=True),
            f"{row.name}: ",
        )
    )
    return f'<g transform="translate(0,{num(y)})">' + "".join(parts) + "</g>"


def _pill(plan: PortfolioPlan, x: float, k: int, per_line: int) -> str:
    """Return the mark of one plan: its key, linking to its page; red and "!" if overdue."""
    wide = (COLUMN - 12 - PILL_GAP * (per_line - 1)) / per_line
    px = x + 6 + (k % per_line) * (wide + PILL_GAP)
    py = 5 + (k // per_line) * (PILL_H + PILL_GAP)
    shown = fit(f"! {plan.key}" if plan.overdue else plan.key, wide - 8, SMALL)
    said = f"{plan.key}: {plan.title}"
    if plan.overdue:
        said = _("%(plan)s (overdue)") % {"plan": said}
    classes = "pf-plan pf-late" if plan.overdue else "pf-plan"
    key_class = ' class="pf-small pf-late-key"' if plan.overdue else ' class="pf-small"'
    return (
        f'<a href="{esc(plan_link(plan.key))}" aria-label="{esc(said)}"><title>{esc(said)}</title>'
        f'<rect class="{classes}" x="{num(px)}" y="{num(py)}" width="{num(wide)}" '
        f'height="{PILL_H}" rx="9"/><text{key_class} x="{num(px + 6)}" y="{num(py + 13)}">'
        f"{esc(shown)}</text></a>"
    )


def _cell(row: CountryRow, state: str, title: str, cell: Cell, x: float, peak: int) -> str:
    """Return one country and state as a count on a bar as long as how many, to the list.

    How many are overdue stands beside the count ("! 3"), in the same link: one link a
    cell keeps the picture of thousands of plans small (the table links to those alone).
    """
    share = cell.count / max(peak, 1)
    level = 1 + min(3, int(4 * share - 0.001))
    said = f"{row.name}, {title}: {counted(cell.count, cell.overdue)}"
    late = (
        f'<text class="pf-late" x="{x + COLUMN - 10}" y="19" text-anchor="end">'
        f"! {esc(format_number(cell.overdue))}</text>"
        if cell.overdue
        else ""
    )
    return (
        f'<a href="{esc(plans_link(row.country, state))}" aria-label="{esc(said)}">'
        f'<rect class="pf-l{level}" x="{x + 3}" y="3" width="{num(BAR + (BAR_MAX - BAR) * share)}" '
        f'height="{ROW - 6}" rx="3"/>'
        f'<text class="pf-count" x="{x + 10}" y="19">{esc(format_number(cell.count))}</text>'
        f"{late}</a>"
    )


def _count(
    x: float, y: float, count: int, overdue: int, link: str, late_link: str, where: str
) -> str:
    """Return a total: how many, and how many overdue, each linking to the list of them."""
    found = (
        f'<text class="pf-count" x="{x + 10}" y="{num(y + 19)}">{esc(format_number(count))}</text>'
    )
    if count:  # none: nothing to list
        found = f'<a href="{esc(link)}" aria-label="{esc(where + _plans(count))}">{found}</a>'

    if overdue:
        found += (
            f'<a href="{esc(late_link)}" aria-label="{esc(where + _overdue(overdue))}">'
            f'<text class="pf-late" x="{x + 10 + text_width(format_number(count), 13) + 8}" '
            f'y="{num(y + 19)}">! {esc(format_number(overdue))}</text></a>'
        )
    return found


def _legend(y: float, detailed: bool, width: float) -> tuple[str, float]:
    """Return the key to the marks, in words, and its last line's y."""
    if detailed:
        items = [
            (
                '<rect class="pf-plan" x="0" y="-12" width="40" height="16" rx="8"/>',
                _("a plan, by its key (a link to it)"),
            ),
            (
                '<rect class="pf-plan pf-late" x="0" y="-12" width="40" height="16" rx="8"/>'
                '<text class="pf-small pf-late-key" x="6" y="0">!</text>',
                _("an overdue plan: a deadline was missed"),
            ),
        ]
    else:
        items = [
            (
                '<rect class="pf-l2" x="0" y="-12" width="40" height="16" rx="3"/>'
                '<text class="pf-count" x="6" y="0">42</text>',
                _("how many plans (a link to them)"),
            ),
            (
                '<text class="pf-late" x="6" y="0">! 3</text>',
                _("how many of them are overdue: a deadline was missed"),
            ),
        ]
    x, parts = 8.0, []
    for mark, words in items:
        wide = 48 + text_width(words, SMALL) + 24
        if x + wide > width and x > 8:  # on to the next line
            x, y = 8.0, y + 22
        parts.append(
            f'<g transform="translate({num(x)},{num(y)})">{mark}'
            f'<text class="pf-small" x="48" y="0">{esc(words)}</text></g>'
        )
        x += wide
    return "".join(parts), y

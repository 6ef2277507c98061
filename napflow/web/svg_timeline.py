"""A plan's journey as a picture: time across, a lane per state, its deadlines below.

Drawn on the server as SVG (napflow.services.journey has the data): a band for each period
the plan spent in a state, in that state's lane, labelled with the state's title and how
long; a line where the plan moved on, red and marked ↩ where it went back to an earlier
state (a return for revision); a final state as a flag where the plan ended. Below, the
deadlines on the same axis: a diamond at the moment one falls due, a bar from the first
day to the last for a session, a missed one red and said so in words. A dashed line is
today. Times are the plan's time zone, dates the reader's language. The picture is a
``role="img"`` with its title and a summary; a table beside it says the same for screen
readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup

from napflow.i18n import _, format_date, format_datetime, format_month, ngettext
from napflow.runtime import Runtime
from napflow.services import DeadlineView, HistoryRecord, PlanView
from napflow.services.journey import Journey, JourneyDeadline, Period, journey_of
from napflow.timezones import to_local
from napflow.web.svg import esc, num, text_width, wrap

WIDTH = 960
LEFT = 230  # the lanes' titles
RIGHT = 16
PLOT = WIDTH - LEFT - RIGHT
TOP = 30  # room for today's label
LANE, BAND = 34, 22
DEADLINE_ROW = 24
LEGEND_LINE = 20
FONT, SMALL = 12.0, 11.0
#: the fill and edge of each lane's bands, by lane (dark text reads on every fill)
COLOURS = (
    ("#dbe7f6", "#1f5fa8"),
    ("#e3f1e6", "#1e6b35"),
    ("#fbeed5", "#8a5a00"),
    ("#ece4f6", "#5b3a8c"),
    ("#dff0f2", "#16646e"),
    ("#f6e1e7", "#8c2f4b"),
)
RETURN = "#b3261e"  # also a missed deadline: 6.5:1 on white
STYLE = (
    ".jn text{font:12px system-ui,sans-serif;fill:#1d2433}"
    ".jn .jn-small{font-size:11px}.jn .jn-muted{fill:#4a5261}"
    ".jn .jn-lane{fill:#f6f7f9}.jn .jn-axis{stroke:#5b6475}"
    ".jn .jn-grid{stroke:#d8dde6}"
    ".jn .jn-ongoing rect{stroke-dasharray:5 3}"
    ".jn .jn-move{stroke:#5b6475;stroke-width:1.2}"
    f".jn .jn-return line{{stroke:{RETURN};stroke-width:2;stroke-dasharray:4 2}}"
    f".jn .jn-return circle{{fill:#fff;stroke:{RETURN};stroke-width:1.5}}"
    f".jn .jn-return text,.jn .jn-missed text{{fill:{RETURN};font-weight:600}}"
    ".jn .jn-today line{stroke:#1d2433;stroke-width:1.5;stroke-dasharray:6 4}"
    ".jn .jn-deadline .jn-mark{fill:#fff;stroke:#1f5fa8;stroke-width:1.5}"
    f".jn .jn-missed .jn-mark{{fill:{RETURN};stroke:{RETURN}}}"
    ".jn .jn-met .jn-mark{fill:#1e6b35;stroke:#1e6b35}"
    ".jn .jn-passed .jn-mark{fill:#5b6475;stroke:#5b6475}"
    ".jn .jn-final{fill:#1d2433}"
)


def journey_svg(
    rt: Runtime,
    plan: PlanView,
    records: list[HistoryRecord],
    deadlines: list[DeadlineView],
) -> Markup:
    """Return the journey of ``plan`` as inline SVG with a table beside it, for its page.

    ``records`` and ``deadlines`` are what the page loaded already (its whole history,
    any order; its deadlines): no query is made.
    """
    journey = journey_of(
        rt, plan.key, plan.workflow, plan.workflow_version, plan.timezone, records, deadlines
    )
    return Markup(draw_journey(journey) + journey_table(journey))  # noqa: S704 - escaped


@dataclass(frozen=True)
class Scale:
    """Where a moment falls across the picture: ``first`` at the lanes' left edge."""

    first: datetime
    last: datetime

    @property
    def seconds(self) -> float:
        """Return how many seconds the picture spans."""
        return (self.last - self.first).total_seconds()

    def x(self, when: datetime) -> float:
        """Return the x of ``when``."""
        return LEFT + (when - self.first).total_seconds() / self.seconds * PLOT


def scale_of(journey: Journey) -> Scale:
    """Return the picture's scale: from the first moment shown to the last, and a little."""
    first, last = journey.first, journey.last
    span = max(last - first, timedelta(days=1))
    return Scale(first, first + span * 1.03)


def duration(days: float) -> str:
    """Return a period's length in words: "12 days", "5 hours", "less than an hour"."""
    if days >= 1:
        count = round(days)
        return ngettext("%(count)d day", "%(count)d days", count) % {"count": count}
    hours = round(days * 24)
    if hours < 1:
        return _("less than an hour")
    return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}


def period_label(period: Period) -> str:
    """Return what a band says: its state's title and how long ("Drafting · 12 days")."""
    length = duration(period.days)
    if period.ongoing:
        length = _("%(duration)s so far") % {"duration": length}
    return f"{period.title} \u00b7 {length}"


def _day(when: datetime, zone: str) -> str:
    return format_date(to_local(when, zone).date(), "medium")


def draw_journey(journey: Journey) -> str:
    """Return the SVG of ``journey`` (every text escaped)."""
    scale = scale_of(journey)
    zone = journey.timezone
    lane = {state: i for i, (state, _title) in enumerate(journey.states)}
    lanes_bottom = TOP + len(journey.states) * LANE
    axis_y = lanes_bottom + 8
    rows, placed = _deadline_rows(journey.deadlines, scale)
    deadlines_top = axis_y + 40
    bottom = deadlines_top + (rows * DEADLINE_ROW if rows else 0)
    legend, legend_end = _legend(journey, bottom + 26)
    height = legend_end + 12
    parts: list[str] = []

    def lane_y(state: str) -> float:
        return TOP + lane[state] * LANE

    for state, title in journey.states:
        y = lane_y(state)
        lines = wrap(title, LEFT - 16, FONT, 2)
        parts.append(
            f'<rect class="jn-lane" x="{LEFT}" y="{y + 2}" width="{PLOT}" height="{LANE - 4}"/>'
        )
        first = y + LANE / 2 + 4 - (len(lines) - 1) * 7
        texts = "".join(
            f'<tspan x="{LEFT - 8}" y="{num(first + 14 * k)}">{esc(line)}</tspan>'
            for k, line in enumerate(lines)
        )
        parts.append(
            f'<text text-anchor="end" data-lane="{esc(state)}"><title>{esc(title)}</title>'
            f"{texts}</text>"
        )
    parts.extend(_ticks(scale, zone, axis_y, TOP, bottom))
    for period in journey.periods:
        parts.append(_band(period, scale, lane_y(period.state), lane[period.state], zone))
    for move in journey.moves:
        if move.from_state not in lane or move.to_state not in lane:
            continue
        x = scale.x(move.at)
        y1, y2 = lane_y(move.from_state) + LANE / 2, lane_y(move.to_state) + LANE / 2
        said = f"{move.title}, {format_datetime(move.at, zone, 'medium')}"
        if move.is_return:
            told = _("Returned for revision: %(action)s") % {"action": said}
            parts.append(
                f'<g class="jn-return" data-at="{esc(move.at.isoformat())}"><title>{esc(told)}'
                f'</title><line x1="{num(x)}" y1="{num(y1)}" x2="{num(x)}" '
                f'y2="{num(y2)}"/><circle cx="{num(x)}" cy="{num(y2)}" r="8"/>'
                f'<text x="{num(x)}" y="{num(y2 + 4)}" text-anchor="middle">\u21a9</text></g>'
            )
        else:
            parts.append(
                f'<line class="jn-move" x1="{num(x)}" y1="{num(y1)}" x2="{num(x)}" '
                f'y2="{num(y2)}"><title>{esc(said)}</title></line>'
            )
    if journey.final_state and journey.ended_at and journey.final_state in lane:
        parts.append(_flag(journey, scale, lane_y(journey.final_state)))
    if rows:
        heading = esc(_("Deadlines"))
        parts.append(
            f'<text x="{LEFT - 8}" y="{deadlines_top + 16}" text-anchor="end">{heading}</text>'
        )
    parts.extend(
        placed_deadline(d, scale, deadlines_top + row * DEADLINE_ROW, side)
        for d, row, side in placed
    )
    if journey.ended_at is None and scale.first <= journey.now <= scale.last:
        parts.append(_today(journey.now, scale, zone, bottom))
    parts.append(legend)
    title, desc = _("Journey of %(key)s") % {"key": journey.key}, summary(journey)
    ident = f"journey-{esc(journey.key)}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram jn" width="{WIDTH}" '
        f'height="{num(height)}" viewBox="0 0 {WIDTH} {num(height)}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc">'
        f'<title id="{ident}-title">{esc(title)}</title><desc id="{ident}-desc">{esc(desc)}'
        f"</desc><style>{STYLE}</style>" + "".join(parts) + "</svg>"
    )


def _band(period: Period, scale: Scale, y: float, index: int, zone: str) -> str:
    """Return the band of one period in its lane, labelled inside when the label fits."""
    x1, x2 = scale.x(period.start), scale.x(period.end)
    width = max(x2 - x1, 2.0)
    fill, edge = COLOURS[index % len(COLOURS)]
    label = period_label(period)
    short = label.rsplit(" \u00b7 ", 1)[-1]
    inset = 14 if period.returned else 5  # clear of the return's mark
    room = width - inset - 5
    shown = label if text_width(label, FONT) <= room else short
    text = ""
    if text_width(shown, FONT) <= room:
        text = f'<text x="{num(x1 + inset)}" y="{num(y + LANE / 2 + 4)}">{esc(shown)}</text>'
    until = _("now") if period.ongoing else format_datetime(period.end, zone, "medium")
    tip = f"{label} ({format_datetime(period.start, zone, 'medium')} \u2013 {until})"
    classes = "jn-band" + (" jn-ongoing" if period.ongoing else "")
    classes += " jn-returned" if period.returned else ""
    return (
        f'<g class="{classes}" data-state="{esc(period.state)}" '
        f'data-start="{esc(period.start.isoformat())}" data-end="{esc(period.end.isoformat())}">'
        f"<title>{esc(tip)}</title>"
        f'<rect x="{num(x1)}" y="{num(y + (LANE - BAND) / 2)}" width="{num(width)}" '
        f'height="{BAND}" rx="3" fill="{fill}" stroke="{edge}"/>{text}</g>'
    )


def _flag(journey: Journey, scale: Scale, y: float) -> str:
    """Return the flag where the plan ended: its final state and the day."""
    assert journey.ended_at is not None and journey.final_title is not None
    x = scale.x(journey.ended_at)
    label = f"{journey.final_title}, {_day(journey.ended_at, journey.timezone)}"
    right = x + 14 + text_width(label, FONT) <= WIDTH - RIGHT
    tx, anchor = (x + 12, "start") if right else (x - 12, "end")
    top, mid = y + (LANE - BAND) / 2, y + LANE / 2
    return (
        f'<g class="jn-end" data-at="{esc(journey.ended_at.isoformat())}">'
        f"<title>{esc(label)}</title>"
        f'<path class="jn-final" d="M{num(x)} {num(top)}v{BAND}M{num(x)} {num(top)}'
        f'h9l-3 5 3 5h-9z" stroke="#1d2433" stroke-width="1.5"/>'
        f'<text x="{num(tx)}" y="{num(mid + 4)}" text-anchor="{anchor}">{esc(label)}</text></g>'
    )


def _deadline_label(deadline: JourneyDeadline) -> str:
    """Return what a deadline says beside its mark: title, day(s), status."""
    day = format_date(deadline.due_on, "medium")
    if deadline.ends_on is not None and deadline.ends_on != deadline.due_on:
        day = f"{day} \u2013 {format_date(deadline.ends_on, 'medium')}"
    label = f"{deadline.title} \u00b7 {day} \u00b7 {deadline.status_text}"
    return f"! {label}" if deadline.missed else label


def _deadline_rows(
    deadlines: list[JourneyDeadline], scale: Scale
) -> tuple[int, list[tuple[JourneyDeadline, int, str]]]:
    """Put each deadline in the first row where it and its label overlap no other.

    Returns how many rows, and each deadline with its row and the side of its label.
    """
    ends: list[float] = []  # each row's rightmost x taken
    placed = []
    for deadline in sorted(deadlines, key=lambda d: (d.start, d.id)):
        x1 = scale.x(deadline.start)
        x2 = scale.x(deadline.end) if deadline.end else x1
        width = text_width(_deadline_label(deadline), FONT)
        if x2 + 10 + width <= WIDTH - RIGHT:
            side, start, end = "right", x1 - 8, x2 + 10 + width
        else:
            side, start, end = "left", x1 - 10 - width, x2 + 8
        row = next((i for i, taken in enumerate(ends) if taken < start), len(ends))
        if row == len(ends):
            ends.append(end)
        else:
            ends[row] = end
        placed.append((deadline, row, side))
    return len(ends), placed


def placed_deadline(
    deadline: JourneyDeadline, scale: Scale, top: float, side: str = "right"
) -> str:
    """Return one deadline: a diamond at its due moment, or a bar over a session's days."""
    y = top + DEADLINE_ROW / 2
    x1 = scale.x(deadline.start)
    if deadline.end is not None:
        x2 = max(scale.x(deadline.end), x1 + 3)
        mark = (
            f'<rect class="jn-mark" x="{num(x1)}" y="{num(y - 6)}" width="{num(x2 - x1)}" '
            'height="12" rx="2"/>'
        )
    else:
        x2 = x1
        mark = f'<path class="jn-mark" d="M{num(x1)} {num(y - 7)}l7 7-7 7-7-7z"/>'
    label = _deadline_label(deadline)
    tx, anchor = (x2 + 10, "start") if side == "right" else (x1 - 10, "end")
    tip = label if not deadline.location else f"{label} ({deadline.location})"
    return (
        f'<g class="jn-deadline jn-{esc(deadline.status)}" data-deadline="{deadline.id}" '
        f'data-start="{esc(deadline.start.isoformat())}"'
        + (f' data-end="{esc(deadline.end.isoformat())}"' if deadline.end else "")
        + f"><title>{esc(tip)}</title>{mark}"
        f'<text x="{num(tx)}" y="{num(y + 4)}" text-anchor="{anchor}">{esc(label)}</text></g>'
    )


def _today(now: datetime, scale: Scale, zone: str, bottom: float) -> str:
    """Return the dashed line of today, labelled with the day."""
    x = scale.x(now)
    label = _("Today, %(date)s") % {"date": _day(now, zone)}
    half = text_width(label, SMALL) / 2
    anchor, tx = "middle", x
    if x + half > WIDTH - RIGHT:
        anchor, tx = "end", WIDTH - RIGHT
    return (
        f'<g class="jn-today" data-at="{esc(now.isoformat())}"><line x1="{num(x)}" '
        f'y1="{TOP - 6}" x2="{num(x)}" y2="{num(bottom)}"/>'
        f'<text class="jn-small" x="{num(tx)}" y="{TOP - 10}" text-anchor="{anchor}">'
        f"{esc(label)}</text></g>"
    )


def _ticks(scale: Scale, zone: str, y: float, top: float, bottom: float) -> list[str]:
    """Return the time axis: a line, and days, months or years as many as fit, labelled."""
    parts = [f'<line class="jn-axis" x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}"/>']
    for when, label in axis_ticks(scale, zone):
        at = scale.x(when)
        x, half = num(at), text_width(label, SMALL) / 2
        tx, anchor = (at, "middle") if at + half <= WIDTH else (WIDTH - 2, "end")
        parts.append(
            f'<line class="jn-grid" x1="{x}" y1="{top}" x2="{x}" y2="{bottom}"/>'
            f'<line class="jn-axis" x1="{x}" y1="{y}" x2="{x}" y2="{y + 5}"/>'
            f'<text class="jn-small jn-muted" x="{num(tx)}" y="{y + 18}" '
            f'text-anchor="{anchor}">{esc(label)}</text>'
        )
    return parts


#: the steps an axis may mark: every n days, every n months, every n years
_STEPS = [("day", n) for n in (1, 2, 7, 14)] + [("month", n) for n in (1, 2, 3, 6)]
_STEPS += [("year", n) for n in (1, 2, 5, 10, 20, 50, 100)]


def axis_ticks(scale: Scale, zone: str) -> list[tuple[datetime, str]]:
    """Return the moments the axis marks (local midnights) and their labels.

    The finest step whose labels all fit side by side: days, months, then years.
    """
    first = to_local(scale.first, zone).date()
    last = to_local(scale.last, zone).date()
    ticks: list[tuple[datetime, str]] = []
    for unit, step in _STEPS:
        days = _tick_days(first, last, unit, step)
        if len(days) > PLOT / 40:
            continue
        ticks = [(_midnight(day, zone), _tick_label(day, unit)) for day in days]
        ticks = [(when, label) for when, label in ticks if scale.first <= when <= scale.last]
        widest = max((text_width(label, SMALL) for _when, label in ticks), default=0)
        if len(ticks) * (widest + 14) <= PLOT:
            return ticks
    return ticks


def _tick_days(first: date, last: date, unit: str, step: int) -> list[date]:
    if unit == "day":
        count = (last - first).days + 1
        return [first + timedelta(days=n) for n in range(0, count, step)]
    if unit == "month":
        months = range(first.year * 12 + first.month - 1, last.year * 12 + last.month)
        return [date(m // 12, m % 12 + 1, 1) for m in months if (m % 12) % step == 0]
    return [date(y, 1, 1) for y in range(first.year, last.year + 1) if y % step == 0]


def _tick_label(day: date, unit: str) -> str:
    if unit == "day":
        return format_date(day, "medium")
    if unit == "month":
        return format_month(day)
    return str(day.year)


def _midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _legend(journey: Journey, y: float) -> tuple[str, float]:
    """Return the key to the marks the picture has, each said in words, and its last y."""
    deadlines = journey.deadlines
    diamond = '<path class="jn-mark" d="M8 -10l6 6-6 6-6-6z"/>'
    shown = [
        (
            True,
            f'<rect x="0" y="-9" width="18" height="11" rx="2" fill="{COLOURS[0][0]}" '
            f'stroke="{COLOURS[0][1]}"/>',
            _("time in a state"),
        ),
        (
            bool(journey.returns),
            '<g class="jn-return"><circle cx="8" cy="-4" r="7"/><text x="8" y="0" '
            'text-anchor="middle">\u21a9</text></g>',
            _("returned for revision"),
        ),
        (
            any(d.end is None for d in deadlines),
            f'<g class="jn-deadline">{diamond}</g>',
            _("deadline"),
        ),
        (
            any(d.end is not None for d in deadlines),
            '<g class="jn-deadline"><rect class="jn-mark" x="0" y="-9" width="18" height="10" '
            'rx="2"/></g>',
            _("session, first to last day"),
        ),
        (
            any(d.missed for d in deadlines),
            f'<g class="jn-deadline jn-missed">{diamond}</g>',
            _("! missed"),
        ),
        (
            journey.ended_at is None,
            '<g class="jn-today"><line x1="8" y1="-12" x2="8" y2="4"/></g>',
            _("today"),
        ),
    ]
    items = [(mark, words) for wanted, mark, words in shown if wanted]
    x, parts = 8.0, []
    for mark, words in items:
        wide = 24 + text_width(words, SMALL) + 18
        if x + wide > WIDTH and x > 8:  # on to the next line
            x, y = 8.0, y + LEGEND_LINE
        parts.append(
            f'<g transform="translate({num(x)},{num(y)})">{mark}'
            f'<text class="jn-small" x="24" y="0">{esc(words)}</text></g>'
        )
        x += wide
    return '<g class="jn-legend">' + "".join(parts) + "</g>", y


def summary(journey: Journey) -> str:
    """Return the picture in a few sentences (its description for screen readers)."""
    zone = journey.timezone
    said = [_("Created on %(date)s.") % {"date": _day(journey.created, zone)}]
    if journey.ended_at is not None and journey.final_title is not None:
        said.append(
            _("Ended in the state %(state)s on %(date)s.")
            % {"state": journey.final_title, "date": _day(journey.ended_at, zone)}
        )
    elif journey.periods:
        current = journey.periods[-1]
        said.append(
            _("In the state %(state)s for %(duration)s.")
            % {"state": current.title, "duration": duration(current.days)}
        )
    returns = len(journey.returns)
    if returns:
        said.append(
            ngettext(
                "Returned for revision %(count)d time.",
                "Returned for revision %(count)d times.",
                returns,
            )
            % {"count": returns}
        )
    if journey.deadlines:
        missed = sum(1 for d in journey.deadlines if d.missed)
        said.append(
            ngettext("%(count)d deadline", "%(count)d deadlines", len(journey.deadlines))
            % {"count": len(journey.deadlines)}
            + "; "
            + _("missed: %(count)d.") % {"count": missed}
        )
    return " ".join(said)


def journey_table(journey: Journey) -> str:
    """Return the periods as an HTML table (folded), what the picture shows said in rows."""
    zone = journey.timezone
    rows = []
    for period in journey.periods:
        until = _("now") if period.ongoing else format_datetime(period.end, zone, "medium")
        how = esc(period.entered_by or _("the plan was created"))
        if period.returned:
            returned = esc(_("returned for revision"))
            how = f"\u21a9 {how} ({returned})"
        length = duration(period.days)
        if period.ongoing:
            length = _("%(duration)s so far") % {"duration": length}
        rows.append(
            f"<tr><td>{esc(period.title)}</td>"
            f"<td>{esc(format_datetime(period.start, zone, 'medium'))}</td>"
            f"<td>{esc(until)}</td><td>{esc(length)}</td><td>{how}</td></tr>"
        )
    if journey.ended_at is not None and journey.final_title is not None:
        ended = esc(_("the plan ended here"))
        rows.append(
            f"<tr><td>{esc(journey.final_title)}</td>"
            f"<td>{esc(format_datetime(journey.ended_at, zone, 'medium'))}</td>"
            f"<td>\u2014</td><td>{ended}</td><td></td></tr>"
        )
    head = "".join(
        f'<th scope="col">{esc(h)}</th>'
        for h in (_("State"), _("From"), _("Until"), _("How long"), _("Entered by"))
    )
    summary_text = esc(_("The journey as a table"))
    return (
        f'<details class="journey-table"><summary>{summary_text}</summary>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></details>"
    )

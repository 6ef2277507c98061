"""The portfolio: the plans a person sees, counted by country and state, per workflow.

Two queries whatever the number of plans (besides the viewer's own lookup): the counts per
workflow, country and state with how many are overdue, grouped by the database; then, only
when there are few enough to show one by one (:data:`DETAIL_PLANS` in all, no more than
:data:`DETAIL_CELL` in one country and state), the plans themselves. A plan is overdue when
it has a deadline missed (due, still open, and not a session: as the dashboard and the
plans list's ``overdue`` filter say).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import case, func, select

from napflow import inputs
from napflow.runtime import Runtime
from napflow.services._visibility import load_viewer, visible_clause
from napflow.services.plans import _missed
from napflow.storage.schema import plans

#: at most this many plans are shown one by one; beyond, each country and state is a count
DETAIL_PLANS = 300
#: ... and at most this many in one country and state
DETAIL_CELL = 24


@dataclass(frozen=True)
class PortfolioPlan:
    """One plan, as a mark in its country's row and its state's column."""

    key: str
    title: str
    overdue: bool


@dataclass(frozen=True)
class Cell:
    """The plans of one country in one state: how many, how many overdue (and which)."""

    count: int
    overdue: int
    #: the plans themselves, when the portfolio is detailed (else empty)
    plans: tuple[PortfolioPlan, ...] = ()


@dataclass(frozen=True)
class CountryRow:
    """One country's plans of a workflow, by state."""

    country: str
    #: the country's name in the reader's language
    name: str
    cells: dict[str, Cell]

    @property
    def count(self) -> int:
        """Return how many plans the country has in the workflow."""
        return sum(c.count for c in self.cells.values())

    @property
    def overdue(self) -> int:
        """Return how many of them are overdue."""
        return sum(c.overdue for c in self.cells.values())


@dataclass(frozen=True)
class StateColumn:
    """One state of a workflow, with its plans counted across countries."""

    name: str
    title: str
    final: bool
    count: int
    overdue: int


@dataclass(frozen=True)
class WorkflowPortfolio:
    """The plans of one workflow: its states (in its order) and the countries (by name)."""

    workflow: str
    title: str
    states: list[StateColumn]
    rows: list[CountryRow]

    @property
    def count(self) -> int:
        """Return how many plans follow the workflow."""
        return sum(s.count for s in self.states)

    @property
    def overdue(self) -> int:
        """Return how many of them are overdue."""
        return sum(s.overdue for s in self.states)


@dataclass(frozen=True)
class Portfolio:
    """Every workflow's portfolio; ``detailed`` when its cells list their plans."""

    workflows: list[WorkflowPortfolio]
    detailed: bool
    countries: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Return how many plans there are in all."""
        return sum(w.count for w in self.workflows)

    @property
    def overdue(self) -> int:
        """Return how many of them are overdue."""
        return sum(w.overdue for w in self.workflows)


def portfolio(
    rt: Runtime,
    *,
    viewer: str | None = None,
    detail_plans: int = DETAIL_PLANS,
    detail_cell: int = DETAIL_CELL,
) -> Portfolio:
    """Return the plans ``viewer`` sees (None: the operator, every plan) by country and state.

    Listed one by one when there are at most ``detail_plans`` in all and ``detail_cell`` in
    any one country and state; counted only, beyond.
    """
    late = plans.c.id.in_(_missed(rt))
    with rt.db.read() as conn:
        visible = visible_clause(load_viewer(conn, viewer))
        counted = conn.execute(
            select(
                plans.c.workflow,
                plans.c.country,
                plans.c.state,
                func.count().label("plans"),
                func.sum(case((late, 1), else_=0)).label("overdue"),
            )
            .where(visible)
            .group_by(plans.c.workflow, plans.c.country, plans.c.state)
        ).all()
        total = sum(r.plans for r in counted)
        detailed = total <= detail_plans and all(r.plans <= detail_cell for r in counted)
        listed: dict[tuple[str, str, str], list[PortfolioPlan]] = defaultdict(list)
        if detailed and counted:
            query = (
                select(
                    plans.c.key,
                    plans.c.title,
                    plans.c.workflow,
                    plans.c.country,
                    plans.c.state,
                    late.label("overdue"),
                )
                .where(visible)
                .order_by(plans.c.key)
            )
            for row in conn.execute(query):
                where = (row.workflow, row.country, row.state)
                listed[where].append(PortfolioPlan(row.key, row.title, bool(row.overdue)))
    cells: dict[str, dict[str, dict[str, Cell]]] = defaultdict(lambda: defaultdict(dict))
    for r in counted:
        where = (r.workflow, r.country, r.state)
        cells[r.workflow][r.country][r.state] = Cell(
            int(r.plans), int(r.overdue or 0), tuple(listed.get(where, ()))
        )
    found = [_workflow(rt, name, by_country) for name, by_country in cells.items()]
    order = {name: i for i, name in enumerate(rt.catalog.names())}
    found.sort(key=lambda w: (order.get(w.workflow, len(order)), w.workflow))
    countries = sorted({r.country for r in counted})
    return Portfolio(found, detailed, countries)


def _workflow(rt: Runtime, name: str, by_country: dict[str, dict[str, Cell]]) -> WorkflowPortfolio:
    """Return one workflow's portfolio: its states in its order, countries by name."""
    present = {state for row in by_country.values() for state in row}
    if name in rt.catalog.names():
        definition = rt.catalog.get(name)
        title = definition.title_in()
        known = [(s.name, s.title_in(), s.final) for s in definition.states]
    else:  # a workflow napflow no longer has: its plans still count, by state name
        title, known = name, []
    names = {s for s, _t, _f in known}
    known += [(s, s, False) for s in sorted(present - names)]
    states = [
        StateColumn(
            state,
            state_title,
            final,
            sum(row[state].count for row in by_country.values() if state in row),
            sum(row[state].overdue for row in by_country.values() if state in row),
        )
        for state, state_title, final in known
    ]
    rows = [
        CountryRow(country, inputs.country_name(country), dict(row))
        for country, row in by_country.items()
    ]
    rows.sort(key=lambda r: (r.name.casefold(), r.country))
    return WorkflowPortfolio(name, title, states, rows)

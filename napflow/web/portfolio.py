"""The portfolio page: the plans a person sees as a picture, countries by state.

One picture per workflow (napflow.web.svg_portfolio), with the same counts as a table
beside it; only the plans the logged-in person sees (napflow.services.portfolio).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from napflow.services import portfolio
from napflow.web.pages import _render, _rt, _to_login, _user
from napflow.web.svg_portfolio import plan_link, plans_link, portfolio_svg

router = APIRouter(include_in_schema=False)


@router.get("/portfolio", response_class=HTMLResponse)
def portfolio_page(request: Request) -> Response:
    """Show the plans the person sees by country and state, per workflow, overdue marked."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    found = portfolio.portfolio(_rt(request), viewer=user.email)
    pictures = [(w, portfolio_svg(w, found.detailed)) for w in found.workflows]
    return _render(
        request,
        "portfolio.html",
        user,
        portfolio=found,
        pictures=pictures,
        plans_link=plans_link,
        plan_link=plan_link,
    )

"""Rendering messages from the Jinja2 templates in ``notifications/templates``.

Two environments, both StrictUndefined so a missing value is an error, never an empty
hole: HTML bodies are autoescaped (a comment with ``<script>`` shows as text), plain-text
bodies and subjects are not (``&`` stays ``&``). Subjects are folded to one line.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napflow.notifications.mailer import Rendered

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"


class JinjaRenderer:
    """Renders ``<kind>.subject.txt``, ``<kind>.txt`` and ``<kind>.html``.

    The Jinja2 environments are made on the first render, so a command that sends nothing
    does not load Jinja2. Templates are read once per process (auto_reload off): a
    dispatcher renders thousands of messages and must not stat three files for each.
    """

    def __init__(self, directory: Path = TEMPLATES) -> None:
        self.directory = directory

    @cached_property
    def text(self) -> Environment:
        """The environment of subjects and plain-text bodies: never escaped.

        Plain text is not HTML: escaping would turn "&" into "&amp;" in the mail.
        """
        from jinja2 import Environment, FileSystemLoader, StrictUndefined

        return Environment(
            loader=FileSystemLoader(self.directory),
            autoescape=False,  # noqa: S701
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            auto_reload=False,
        )

    @cached_property
    def html(self) -> Environment:
        """The environment of HTML bodies: every value autoescaped."""
        from jinja2 import Environment, FileSystemLoader, StrictUndefined

        return Environment(
            loader=FileSystemLoader(self.directory),
            autoescape=True,
            undefined=StrictUndefined,
            auto_reload=False,
        )

    def render(self, kind: str, context: dict[str, Any]) -> Rendered:
        """Render the three templates of ``kind``."""
        subject = self.text.get_template(f"{kind}.subject.txt").render(context)
        return Rendered(
            subject=" ".join(subject.split()),  # no CR/LF can reach the header
            text=self.text.get_template(f"{kind}.txt").render(context),
            html=self.html.get_template(f"{kind}.html").render(context),
        )

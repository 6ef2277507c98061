"""Rendering messages from the Jinja2 templates in ``notifications/templates``.

Two environments per template folder, both StrictUndefined so a missing value is an error,
never an empty hole: HTML bodies are autoescaped (a comment with ``<script>`` shows as
text), plain-text bodies and subjects are not (``&`` stays ``&``). Subjects are folded to
one line. Templates speak the reader's language through Jinja2's i18n extension
(napflow.i18n.jinja): the caller renders inside ``use_locale``.

A workflow may have a folder of its own (``[mail] templates``): each template is looked
for there first, then among the defaults, so a workflow can replace one message and keep
the rest.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napflow.notifications.mailer import Rendered

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment(folders: tuple[Path, ...], html: bool) -> Environment:
    """Return the environment of ``folders`` (searched in order) for HTML or plain text.

    Made on the first render, so a command that sends nothing does not load Jinja2.
    Templates are read once per process (auto_reload off): a dispatcher renders thousands
    of messages and must not stat three files for each. Plain text is not HTML: escaping
    would turn "&" into "&amp;" in the mail.
    """
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from napflow.i18n.jinja import install

    env = Environment(
        loader=FileSystemLoader([str(f) for f in folders]),
        autoescape=html,  # noqa: S701 - plain text is not HTML (see above)
        undefined=StrictUndefined,
        keep_trailing_newline=not html,
        auto_reload=False,
    )
    return install(env)


class JinjaRenderer:
    """Renders ``<kind>.subject.txt``, ``<kind>.txt`` and ``<kind>.html``."""

    def __init__(self, directory: Path = TEMPLATES) -> None:
        self.directory = directory

    def subject(self, kind: str, context: dict[str, Any], folder: Path | None = None) -> str:
        """Render only the subject of ``kind`` (a digest lists its messages by their subjects)."""
        folders = (folder, self.directory) if folder is not None else (self.directory,)
        text = _environment(folders, html=False).get_template(f"{kind}.subject.txt")
        return " ".join(text.render(context).split())

    def render(self, kind: str, context: dict[str, Any], folder: Path | None = None) -> Rendered:
        """Render the three templates of ``kind``, from ``folder`` first if given."""
        folders = (folder, self.directory) if folder is not None else (self.directory,)
        text = _environment(folders, html=False)
        return Rendered(
            subject=self.subject(kind, context, folder),  # one line: no CR/LF in the header
            text=text.get_template(f"{kind}.txt").render(context),
            html=_environment(folders, html=True).get_template(f"{kind}.html").render(context),
        )

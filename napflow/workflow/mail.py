"""What a workflow file says about its mails: its own templates and its signature.

::

    [mail]
    templates = "templates/committee"     # relative to the workflow file
    signature = "The 1540 Committee secretariat"
    signatures = { ru = "Секретариат Комитета 1540" }

A folder of templates replaces napflow's defaults template by template: a message whose
template the folder lacks is written with the default one. The signature closes every
mail about a plan of this workflow, in the reader's language, unless the site's
configuration gives one (``[mail] signature``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napflow.workflow.titles import Titles, load_titles, localized
from napflow.workflow.toml_checks import Problems, unknown_keys

_MAIL_KEYS = {"templates", "signature", "signatures"}


@dataclass(frozen=True)
class MailDef:
    """A workflow's own mail templates (a folder, or None) and signature."""

    templates: Path | None = None
    signature: str | None = None
    signatures: Titles = ()

    def signature_in(self, locale: str | None = None) -> str | None:
        """Return the signature in ``locale`` (default: the reader's), None if none is set."""
        if self.signature is None:
            return None
        return localized(self.signature, self.signatures, locale)


def load_mail(
    data: dict[str, Any], problems: Problems, path: Path, missing_ok: bool = False
) -> MailDef:
    """Validate the ``[mail]`` table of the workflow file at ``path``.

    ``missing_ok``: a templates folder that is not there is no problem (napflow's default
    templates serve), for a stored version whose file has moved on.
    """
    spec = data.get("mail")
    if spec is None:
        return MailDef()
    if not isinstance(spec, dict):
        problems.add("mail", "must be a table with templates, signature and signatures")
        return MailDef()
    unknown_keys(problems, "mail", spec, _MAIL_KEYS)
    folder = None
    templates = spec.get("templates")
    if templates is not None:
        if not isinstance(templates, str) or not templates.strip():
            problems.add("mail.templates", "must name a folder, relative to the workflow file")
        else:
            folder = (path.parent / templates).resolve()
            if not folder.is_dir():
                if not missing_ok:
                    problems.add(
                        "mail.templates", f"{templates!r} is not a folder next to {path.name}"
                    )
                folder = None
    signature = spec.get("signature")
    if signature is not None and (not isinstance(signature, str) or not signature.strip()):
        problems.add("mail.signature", "must be text that is not empty")
        signature = None
    signatures = load_titles(spec, "mail", problems, key="signatures")
    if signatures and signature is None:
        problems.add("mail.signatures", "translate a signature: give mail.signature too")
    return MailDef(folder, signature, signatures)

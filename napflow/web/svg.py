"""What the pictures drawn on the server share: escaping, numbers, and text fitted to a width.

The pictures (napflow.web.svg_timeline, napflow.web.svg_portfolio) are inline SVG in the
page, with no script. Every text goes through :func:`esc`; widths of text are estimated
(the server has no fonts to measure with), generously, so a label fits the space given
it or is cut with an ellipsis and said whole in a tooltip.
"""

from __future__ import annotations

from html import escape

#: the average width of a character, as a share of the font size (system sans-serif;
#: Cyrillic and capitals are wider than Latin lower case: this errs on the wide side)
CHAR_WIDTH = 0.6
ELLIPSIS = "\u2026"


def esc(text: object) -> str:
    """Return ``text`` escaped for SVG text and attribute values (quotes included)."""
    return escape(str(text), quote=True)


def num(value: float) -> str:
    """Return a coordinate: two decimals at most, no trailing zeros ("12.5", "40")."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def text_width(text: str, size: float) -> float:
    """Return about how wide ``text`` is at font ``size`` (pixels)."""
    return len(text) * size * CHAR_WIDTH


def fit(text: str, width: float, size: float) -> str:
    """Return ``text``, cut with an ellipsis if it is wider than ``width`` at ``size``."""
    most = int(width / (size * CHAR_WIDTH))
    if len(text) <= most:
        return text
    return text[: max(most - 1, 0)].rstrip() + ELLIPSIS if most > 0 else ""


def wrap(text: str, width: float, size: float, lines: int) -> list[str]:
    """Return ``text`` broken at spaces into at most ``lines`` lines of ``width``.

    A word wider than a line is cut; what does not fit in the last line ends in an ellipsis.
    """
    most = max(int(width / (size * CHAR_WIDTH)), 1)
    found: list[str] = []
    line = ""
    words = text.split()
    for i, word in enumerate(words):
        joined = f"{line} {word}" if line else word
        if len(joined) <= most:
            line = joined
            continue
        if line:
            found.append(line)
        line = word
        if len(found) == lines - 1:
            line = " ".join(words[i:])
            break
    if line:
        found.append(line)
    return [fit(part, width, size) for part in found[:lines]]

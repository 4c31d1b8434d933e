"""Hand-written SVG: escaping, elements and number formats shared by the tree and the plots.

Everything returns strings; `document()` wraps a body into a standalone `<svg>` that is
also valid inline in HTML. Text from generated content goes through `escape()` only.
"""

from __future__ import annotations

import html
import math
import re

SVG_NS = "http://www.w3.org/2000/svg"
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"

# Characters XML 1.0 forbids even when escaped; generated titles may carry them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def escape(value: object) -> str:
    """Text or attribute value, safe inside XML and HTML."""
    return html.escape(_NOT_XML.sub("\ufffd", str(value)), quote=True)


def number(x: float) -> str:
    """A coordinate, short and stable: 12.0 -> '12', 3.14159 -> '3.1'."""
    return f"{x:.1f}".removesuffix(".0")


def element(tag: str, content: str = "", **attrs: object) -> str:
    """`<tag a="..">content</tag>`; `class_` -> class, `stroke_width` -> stroke-width, None is left out."""
    parts = [tag]
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        text = number(value) if isinstance(value, float) else escape(value)
        parts.append(f'{name}="{text}"')
    head = " ".join(parts)
    return f"<{head}>{content}</{tag}>" if content else f"<{head}/>"


def text(x: float, y: float, value: object, **attrs: object) -> str:
    return element("text", escape(value), x=float(x), y=float(y), **attrs)


def title(value: object) -> str:
    """A tooltip for the enclosing element."""
    return element("title", escape(value))


def document(width: float, height: float, body: str, label: str, css_class: str = "") -> str:
    width, height = math.ceil(width), math.ceil(height)
    return element(
        "svg",
        title(label) + body,
        xmlns=SVG_NS,
        width=width,
        height=height,
        viewBox=f"0 0 {width} {height}",
        role="img",
        aria_label=label,
        class_=css_class or None,
        font_family=FONT,
        font_size=11,
    )


def shorten(value: str, limit: int) -> str:
    """Fit a label into a box; the full text goes into the tooltip."""
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def format_fitness(value: float | None) -> str:
    if value is None:
        return "\u2014"
    return f"{value:.3f}" if math.isfinite(value) else str(value)


def format_count(value: float) -> str:
    """Parameter counts and axis ticks: 1234567 -> '1.23M'."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"

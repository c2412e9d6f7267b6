"""The model card as pages that carry their own figures, so they show in both UIs.

Relative `plots/*.png` links in markdown resolve only beside the downloaded artifacts: the
MLflow UI shows a markdown artifact as text and the Prefect UI cannot reach the run's files.
So the card goes out three ways: `model_card.md` with relative links (for a checkout of the
artifacts), `model_card.html` with the figures inlined (the MLflow UI renders HTML artifacts),
and a Prefect markdown artifact with the figures as data URIs.
"""

from __future__ import annotations

import base64
import html
import io
import re

import markdown as markdown_lib
from matplotlib.figure import Figure

_IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
    "img{max-width:100%;height:auto}code{background:#f4f4f4}"
)


def render_png(figure: Figure) -> bytes:
    """A figure as PNG bytes (Agg canvas; no pyplot state)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def to_data_uri(png: bytes) -> str:
    """PNG bytes as a `data:` URI an image tag can show without any server."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def embed_figures(markdown: str, images: dict[str, bytes]) -> str:
    """The markdown with each `![caption](path.png)` whose path is in `images` inlined."""

    def inline(match: re.Match[str]) -> str:
        caption, path = match.group(1), match.group(2)
        if path not in images:
            return match.group(0)
        return f"![{caption}]({to_data_uri(images[path])})"

    return _IMAGE_LINK.sub(inline, markdown)


def render_html_page(markdown: str, title: str) -> str:
    """A self-contained HTML page (inline style, no scripts or remote assets) of the markdown."""
    body = markdown_lib.markdown(markdown, extensions=["tables"])
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )

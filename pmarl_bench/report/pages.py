"""The report's pages: sections of text, figures, GIFs and tables as HTML and Markdown."""

from __future__ import annotations

import html
import re
import urllib.parse
from dataclasses import dataclass

import pandas as pd


@dataclass
class Section:
    title: str
    text: str = ""
    figures: tuple[str, ...] = ()
    table: pd.DataFrame | None = None
    gifs: tuple[tuple[str, str], ...] = ()  # (caption, file)


def markdown_page(sections: list[Section]) -> str:
    parts = ["# Benchmark report", ""]
    for s in sections:
        parts += [f"## {s.title}", ""]
        if s.text:
            parts += [s.text, ""]
        parts += [f"![{name}]({urllib.parse.quote(name)}.png)" for name in s.figures]
        if s.figures:
            parts.append("")
        for caption, file in s.gifs:
            parts += [f"{caption}", "", f"![{caption}]({urllib.parse.quote(file)})", ""]
        if s.table is not None and not s.table.empty:
            parts += [s.table.to_markdown(index=False, floatfmt=".4g"), ""]
    parts += [
        "CSV summaries and `marl_eval.json` (marl-eval's raw-data layout) are beside this page.",
        "",
    ]
    return "\n".join(parts)


#: the page's content width in CSS pixels (``max-width`` less the padding): a figure at most
#: this wide (``files.FIGURE_DPI``) shows at full size, its text as large as it was drawn
PAGE_WIDTH_PX = 1068

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
img{max-width:100%;height:auto}.figs{display:flex;flex-wrap:wrap;gap:8px}
table{border-collapse:collapse;font-size:0.85em;margin:0.8em 0;display:block;overflow-x:auto;
max-width:100%}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}th{background:#f3f3f3}
li{margin:0.2em 0}
"""


def anchor(title: str) -> str:
    """A section title as a page anchor: 'Aggregate over tasks' -> 'aggregate-over-tasks'."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def html_page(sections: list[Section]) -> str:
    body = ["<h1>Benchmark report</h1>"]
    for s in sections:
        # each section linkable: index.html#aggregate-over-tasks
        body.append(f'<h2 id="{anchor(s.title)}">{html.escape(s.title)}</h2>')
        if s.text:
            body.append(_text_html(s.text))
        if s.figures:
            imgs = "".join(
                f'<a href="{_url(n + ".svg")}"><img src="{_url(n + ".png")}" '
                f'alt="{html.escape(n)}"></a>'
                for n in s.figures
            )
            body.append(f'<div class="figs">{imgs}</div>')
        if s.gifs:
            cells = "".join(
                f'<figure><img src="{_url(f)}" alt="{html.escape(c)}"><figcaption>{html.escape(c)}'
                "</figcaption></figure>"
                for c, f in s.gifs
            )
            body.append(f'<div class="figs">{cells}</div>')
        if s.table is not None and not s.table.empty:
            body.append(s.table.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0))
    body.append(
        "<p>CSV summaries and <code>marl_eval.json</code> (marl-eval's raw-data layout) are "
        "beside this page.</p>"
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Benchmark report</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _url(name: str) -> str:
    """A file name beside the page as a relative URL, escaped for an attribute: names come
    from results folders (agent and env names), which a page must never run as markup."""
    return html.escape(urllib.parse.quote(name), quote=True)


def _text_html(text: str) -> str:
    out, items = [], []
    for line in text.split("\n"):
        if line.startswith("- "):
            items.append(f"<li>{html.escape(line[2:])}</li>")
            continue
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    if items:
        out.append("<ul>" + "".join(items) + "</ul>")
    return "\n".join(out)

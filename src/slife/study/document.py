"""A small report document (headings, paragraphs, lists, tables, images) written as Markdown and as
one self-contained HTML file (images embedded), from the same blocks, so the two never disagree.
Inline markup in text: ``**bold**`` and backticks for code."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from slife.evaluate.report import table


@dataclass
class Document:
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(("ul", list(items)))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", list(header), [list(r) for r in rows]))

    def image(self, alt: str, path: str) -> None:
        """``path`` relative to the folder the document is written to."""
        self.blocks.append(("img", alt, path))

    def markdown(self) -> str:
        out: list[str] = []
        for b in self.blocks:
            if b[0] == "h":
                out += ["#" * b[1] + " " + b[2], ""]
            elif b[0] == "p":
                out += [b[1], ""]
            elif b[0] == "ul":
                out += [f"- {item}" for item in b[1]] + [""]
            elif b[0] == "table":
                out += [table(b[1], b[2]), ""]
            elif b[0] == "img":
                out += [f"![{b[1]}]({b[2]})", ""]
        return "\n".join(out)

    def html(self, base: Path, title: str) -> str:
        parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
                 f"<style>{_CSS}</style></head><body>"]  # fmt: skip
        for b in self.blocks:
            if b[0] == "h":
                parts.append(f"<h{b[1]}>{_inline(b[2])}</h{b[1]}>")
            elif b[0] == "p":
                parts.append(f"<p>{_inline(b[1])}</p>")
            elif b[0] == "ul":
                parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
            elif b[0] == "table":
                head = "".join(f"<th>{_inline(h)}</th>" for h in b[1])
                rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in b[2])
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif b[0] == "img":
                path = base / b[2]
                if path.is_file():
                    data = base64.b64encode(path.read_bytes()).decode("ascii")
                    parts.append(f"<p><img alt='{html.escape(b[1])}' src='data:image/png;base64,{data}'></p>")
                else:
                    parts.append(f"<p><em>(missing figure {html.escape(b[2])})</em></p>")
        parts.append("</body></html>")
        return "\n".join(parts)


_CSS = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.2em .5em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}code{background:#eee}")  # fmt: skip


def _inline(text: str) -> str:
    s = html.escape(text)
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", s)

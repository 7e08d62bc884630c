"""The HTML of ``report.html``: one self-contained page, no JavaScript, no network.

Plain string templates (``string.Template``) and a small stylesheet: the text column is
at most 60 rem wide, figures scale to the column, wide tables scroll inside their own box
(``div.table-wrap``) so that nothing overflows the page at 400 px, and long words
(paths, configs) break anywhere rather than widen their box.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from string import Template

CSS = """
:root { --fg: #1b1b1b; --muted: #555; --rule: #d0d0d0; --band: #f4f4f1; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
       font: 16px/1.5 Georgia, "Times New Roman", serif; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem 1.25rem 4rem; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 1rem 0 0.25rem; }
h2 { font-size: 1.3rem; border-top: 2px solid var(--fg); padding-top: 0.6rem;
     margin-top: 2.5rem; }
h3, h4, h5, h6 { font-size: 1.05rem; margin: 1.4rem 0 0.4rem; }
p, li, figcaption, dd, dt, summary, h1, h2, h3, h4, h5, h6 {
     overflow-wrap: anywhere; }
.lede { color: var(--muted); }
nav ol { padding-left: 1.4rem; columns: 16rem; }
code { font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 0.85em; }
.table-wrap { overflow-x: auto; max-width: 100%; margin: 0.6rem 0 1rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border-bottom: 1px solid var(--rule); padding: 0.25rem 0.5rem;
         text-align: left; vertical-align: top; }
th { background: var(--band); }
table.headline { width: 100%; min-width: 36rem; }
table.headline td { font-variant-numeric: tabular-nums; }
figure { margin: 1.2rem 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { font-size: 0.9rem; color: var(--muted); margin-top: 0.35rem; }
figcaption b { color: var(--fg); }
details { margin: 1rem 0; border-left: 3px solid var(--rule); padding-left: 0.8rem; }
summary { cursor: pointer; font-weight: bold; }
.status-failed { color: #a00; font-weight: bold; }
.files { font-size: 0.9rem; }
"""

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
<main>
<h1>$title</h1>
<p class="lede">$lede</p>
<section id="headline">
<h2>Headline results</h2>
$headline
</section>
$nav
$sections
</main>
</body>
</html>
""")


def esc(text: object) -> str:
    """HTML-escape ``text`` (quotes included)."""
    return html.escape(str(text), quote=True)


def table(header: list[str], rows: list[list[str]], *, cls: str = "",
          raw: bool = False, widths: list[str] | None = None) -> str:
    """A ``<table>`` in a scrolling box; cells are text, escaped here, unless ``raw``: then
    each is a ready ``<td>…</td>`` (a row may hold fewer cells, under a ``rowspan``)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    cols = ("<colgroup>" + "".join(f'<col style="width: {w}">' for w in widths)
            + "</colgroup>") if widths else ""
    body = "\n".join("<tr>" + "".join(r if raw else (f"<td>{esc(v)}</td>" for v in r))
                     + "</tr>" for r in rows)
    klass = f' class="{esc(cls)}"' if cls else ""
    return (f'<div class="table-wrap"><table{klass}>{cols}<thead><tr>{head}</tr></thead>'
            f"<tbody>\n{body}\n</tbody></table></div>")


def image_data_uri(path: Path) -> str:
    """``data:image/png;base64,...`` of a PNG file (figures are embedded, not linked)."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def figure(path: Path, caption: str, alt: str) -> str:
    """An embedded figure with its caption (``caption`` is trusted HTML-free text)."""
    return (f'<figure><img src="{image_data_uri(path)}" alt="{esc(alt)}">'
            f"<figcaption><b>{esc(path.name)}.</b> {esc(caption)}</figcaption></figure>")


def page(title: str, lede: str, headline: str, nav: str, sections: str) -> str:
    """The whole document."""
    return PAGE.substitute(title=esc(title), lede=lede, headline=headline, nav=nav,
                           sections=sections, css=CSS)

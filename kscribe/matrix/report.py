"""The matrix report: a suite × architecture grid as one self-contained HTML page, the same
as Markdown (for a CI step summary) and as JUnit XML (for GitLab's merge request widget).

Every cell shows its build's and its boot's status in words and colours, the kernel
release, the compiler, the durations, the warning and error counts, the first error line
and links to the files it came from. The output is sorted and has no timestamp, so that two
reports of the same results are the same bytes.
"""

from __future__ import annotations

import html
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from kscribe.matrix.results import STATUSES, CellResult, Outcome, counts, last_line
from kscribe.util import atomic

COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "ERROR": "#8250df", "SKIP": "#6e7781",
           "MISS": "#9a6700"}
MEANING = {"PASS": "worked", "FAIL": "our code failed", "ERROR": "the infrastructure failed",
           "SKIP": "not attempted (its build did not pass)", "MISS": "expected, never came"}
CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1f2328; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: .5em .7em; vertical-align: top; }
th { background: #f6f8fa; }
td.none { background: #f6f8fa; }
.step { display: flex; gap: .4em; align-items: baseline; margin: .15em 0; }
.badge { color: #fff; font-weight: 600; border-radius: .3em; padding: 0 .4em;
         min-width: 3.6em; text-align: center; }
.kind { min-width: 2.6em; color: #59636e; }
.detail { color: #59636e; font-size: 12px; }
code.line { display: block; max-width: 28em; white-space: pre-wrap; overflow-wrap: anywhere;
            font-size: 12px; background: #fff1f0; padding: .2em .3em; margin: .2em 0; }
.links a { margin-right: .5em; font-size: 12px; }
.legend span.badge { display: inline-block; margin-right: .3em; }
"""


def _number(value: float | int | None, unit: str = "") -> str:
    if value is None:
        return ""
    return f"{value:.1f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def _code(text: str) -> str:
    """``text`` as Markdown inline code, also when it holds backticks."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _links(o: Outcome, base: Path) -> list[tuple[str, str]]:
    return [(name, os.path.relpath(path, base)) for name, path in sorted(o.files.items())]


def _grid(results: list[CellResult]) -> tuple[list[str], list[str],
                                              dict[tuple[str, str], CellResult]]:
    suites = list(dict.fromkeys(r.cell.suite for r in results))
    arches = list(dict.fromkeys(r.cell.arch for r in results))
    return suites, arches, {(r.cell.suite, r.cell.arch): r for r in results}


def _html_step(kind: str, o: Outcome, base: Path) -> str:
    numbers = " · ".join(x for x in (
        _number(o.duration_s, " s"),
        f"{o.warnings} warnings" if o.warnings is not None else "",
        f"{o.errors} errors" if o.errors is not None else "") if x)
    out = [f'<div class="step" data-kind="{kind}" data-status="{o.status}">'
           f'<span class="kind">{kind}</span><span class="badge" style="background:'
           f'{COLOURS[o.status]}" title="{html.escape(MEANING[o.status])}">{o.status}</span>'
           f'<span class="detail">{html.escape(numbers)}</span></div>']
    if o.line and o.status in ("FAIL", "ERROR"):
        out.append(f'<code class="line">{html.escape(o.line)}</code>')
    elif o.line:
        out.append(f'<div class="detail">{html.escape(o.line)}</div>')
    links = _links(o, base)
    if links:
        out.append('<div class="links">' + "".join(
            f'<a href="{html.escape(href)}">{html.escape(name)}</a>' for name, href in links)
            + "</div>")
    return "".join(out)


def render_html(results: list[CellResult], base: Path, title: str = "kscribe matrix") -> str:
    """The page; links are relative to ``base``, the folder it is written to."""
    suites, arches, at = _grid(results)
    n = counts(results)
    rows = ["<tr><th></th>" + "".join(f"<th>{html.escape(a)}</th>" for a in arches) + "</tr>"]
    for suite in suites:
        cells = []
        for arch in arches:
            r = at.get((suite, arch))
            if r is None:
                cells.append('<td class="none">—</td>')
                continue
            body = "".join(_html_step(k, o, base) for k, o in r.outcomes())
            facts = " · ".join(x for x in (r.kernel, r.toolchain) if x)
            cells.append(f'<td id="{html.escape(r.cell.slug)}">{body}'
                         f'<div class="detail">{html.escape(facts)}</div></td>')
        rows.append(f"<tr><th>{html.escape(suite)}</th>{''.join(cells)}</tr>")
    legend = " ".join(f'<span class="badge" style="background:{COLOURS[s]}">{s}</span>'
                      f'{html.escape(MEANING[s])} ({n[s]})' for s in STATUSES)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class=\"legend\">{legend}</p>"
            f"<table>{''.join(rows)}</table>"
            f'<p id="summary">{html.escape(last_line(results))}</p></body></html>\n')


def render_markdown(results: list[CellResult], base: Path,
                    title: str = "kscribe matrix") -> str:
    """The grid as a Markdown table, with the failures listed under it."""
    suites, arches, at = _grid(results)
    lines = [f"## {title}", "", "| | " + " | ".join(arches) + " |",
             "|---|" + "---|" * len(arches)]
    for suite in suites:
        row = []
        for arch in arches:
            r = at.get((suite, arch))
            row.append("—" if r is None else "<br>".join(
                f"{k} **{o.status}**" + (f" {o.duration_s:.0f} s" if o.duration_s else "")
                for k, o in r.outcomes()) + (f"<br>{r.kernel}" if r.kernel else ""))
        lines.append(f"| **{suite}** | " + " | ".join(row) + " |")
    problems = [(r, k, o) for r in results for k, o in r.outcomes()
                if o.status not in ("PASS", "SKIP")]
    if problems:
        lines += ["", "### Not passed", ""]
        for r, k, o in problems:
            log = next((href for name, href in _links(o, base)
                        if name in ("build.log", "console.log")), "")
            lines.append(f"- {r.cell.target} {k}: **{o.status}**"
                         + (f": {_code(o.line)}" if o.line else "")
                         + (f" ([log]({log}))" if log else ""))
    lines += ["", last_line(results), ""]
    return "\n".join(lines)


def render_junit(results: list[CellResult]) -> str:
    """One test case per step of a cell (class ``build`` or ``boot``, name the target)."""
    n = counts(results)
    total = sum(n.values())
    suite = ET.Element("testsuite", name="kscribe matrix", tests=str(total),
                       failures=str(n["FAIL"]), errors=str(n["ERROR"] + n["MISS"]),
                       skipped=str(n["SKIP"]))
    for r in results:
        for kind, o in r.outcomes():
            case = ET.SubElement(suite, "testcase", classname=kind, name=r.cell.target,
                                 time=f"{o.duration_s or 0:.1f}")
            tag = {"FAIL": "failure", "ERROR": "error", "MISS": "error",
                   "SKIP": "skipped"}.get(o.status)
            if tag:
                ET.SubElement(case, tag, message=f"{o.status}: {o.line}"[:500])
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, "unicode") + "\n"


def _copied(results: list[CellResult], dest: Path) -> None:
    """Point every link at a copy under ``dest/cells/<slug>/`` (a report that travels)."""
    for r in results:
        for kind, o in r.outcomes():
            for name, path in list(o.files.items()):
                copy = dest / "cells" / r.cell.slug / kind / name
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy)
                o.files[name] = copy


def write(results: list[CellResult], dest: Path, copy: bool = False) -> str:
    """``report.html``, ``report.md`` and ``junit.xml`` in ``dest``; with ``copy`` the files
    they link to are copied in. Returns the last line, ``N passed, N failed``."""
    dest.mkdir(parents=True, exist_ok=True)
    if copy:
        _copied(results, dest)
    atomic.write_text(dest / "report.html", render_html(results, dest))
    atomic.write_text(dest / "report.md", render_markdown(results, dest))
    atomic.write_text(dest / "junit.xml", render_junit(results))
    return last_line(results)

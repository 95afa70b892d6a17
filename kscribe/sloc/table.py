"""The size table as the RFC printed it (``SLOC path``), as text, JSON or Markdown; with a
second tree (the stripped one) its SLOC and the change stand beside the first's."""

from __future__ import annotations

from typing import Any

from kscribe.sloc.facets import Row

FORMATS = ("text", "json", "markdown")


def _totals(rows: list[Row], n: int) -> list[int]:
    return [sum(r.sloc[i] for r in rows) for i in range(n)]


def _change(before: int, after: int) -> str:
    if not before:
        return "-"
    return f"{(after - before) / before * 100:+.1f}%"


def text(rows: list[Row], labels: list[str]) -> str:
    """``SLOC path`` lines, sloccount's way; with two trees, ``before after change path``."""
    n = len(labels)
    total = _totals(rows, n)
    width = max([len(f"{v:,}") for r in rows for v in r.sloc] + [len(f"{t:,}") for t in total]
                + [4 if n == 1 else 6])
    if n == 1:
        lines = [f"{'SLOC':>{width}}  path"]
        lines += [f"{r.sloc[0]:>{width},}  {r.facet}" for r in rows]
        lines.append(f"{total[0]:>{width},}  total")
    else:
        lines = [f"{'before':>{width}}  {'after':>{width}}  {'change':>7}  path"]
        lines += [f"{r.sloc[0]:>{width},}  {r.sloc[1]:>{width},}  "
                  f"{_change(r.sloc[0], r.sloc[1]):>7}  {r.facet}" for r in rows]
        lines.append(f"{total[0]:>{width},}  {total[1]:>{width},}  "
                     f"{_change(total[0], total[1]):>7}  total")
    return "\n".join(lines) + "\n"


def markdown(rows: list[Row], labels: list[str]) -> str:
    n = len(labels)
    total = _totals(rows, n)
    if n == 1:
        head = "| SLOC | path |\n|---:|---|\n"
        body = "".join(f"| {r.sloc[0]:,} | {r.facet} |\n" for r in rows)
        return head + body + f"| **{total[0]:,}** | **total** |\n"
    head = f"| {labels[0]} | {labels[1]} | change | path |\n|---:|---:|---:|---|\n"
    body = "".join(f"| {r.sloc[0]:,} | {r.sloc[1]:,} | {_change(r.sloc[0], r.sloc[1])} | "
                   f"{r.facet} |\n" for r in rows)
    return head + body + (f"| **{total[0]:,}** | **{total[1]:,}** | "
                          f"**{_change(total[0], total[1])}** | **total** |\n")


def as_json(rows: list[Row], labels: list[str]) -> dict[str, Any]:
    return {"trees": labels,
            "facets": [{"facet": r.facet, "sloc": r.sloc, "files": r.files} for r in rows],
            "total": _totals(rows, len(labels))}

"""SLOC by facet: the files of a tree grouped by a facets file, or by sloccount's own groups.

A facets file is YAML: each facet a name and the folders (``core/``) and globs
(``probes/*_syscalls.*``, ``*`` crosses ``/``) of its files, relative to the tree; a file
belongs to the first facet that names it. Without one, the facets are sloccount's file
lists (one per subfolder), so the table is the one ``sloccount TREE`` prints.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kscribe.errors import KscribeError
from kscribe.sloc.count import count, groups


@dataclass(frozen=True)
class Facet:
    name: str
    patterns: tuple[str, ...]

    def matches(self, rel: str) -> bool:
        return any(rel.startswith(p) if p.endswith("/") else fnmatch.fnmatchcase(rel, p)
                   for p in self.patterns)


@dataclass
class Row:
    """One facet's SLOC (and files counted) in each tree measured."""

    facet: str
    sloc: list[int] = field(default_factory=list)
    files: list[int] = field(default_factory=list)


def load(path: Path) -> list[Facet]:
    """The facets of a facets file; errors name the file and what to fix."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise KscribeError(f"{path}: cannot read the facets file: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise KscribeError(f"{path}: not valid YAML: {e}".replace("\n", " ")) from None
    if not isinstance(data, dict) or not isinstance(data.get("facets"), dict):
        raise KscribeError(f"{path}: expected `facets:` mapping each facet to its folders "
                           "and globs")
    out = []
    for name, patterns in data["facets"].items():
        if not isinstance(patterns, list) or not patterns or \
                not all(isinstance(p, str) and p for p in patterns):
            raise KscribeError(f"{path}: facet {name!r}: a list of folders and globs expected")
        out.append(Facet(str(name), tuple(patterns)))
    return out


def measure(trees: list[Path], facets: list[Facet] | None, autogen: bool = False
            ) -> list[Row]:
    """SLOC of C per facet in each of ``trees`` (e.g. before and after a strip), one row
    per facet in the facets file's order, or per sloccount file list by size. With facets,
    only their files are read (a kernel tree holding a series is measured in a second);
    ``autogen`` counts generated files too, as sloccount --autogen does."""
    rows: dict[str, Row] = {}
    for i, tree in enumerate(trees):
        if not tree.is_dir():
            raise KscribeError(f"{tree}: no such folder (give the tree to measure)")
        names: dict[Path, str] = {}
        if facets is None:
            for group, files in groups(tree).items():
                names.update({f: group for f in files})
        def named(p: Path, tree: Path = tree) -> bool:
            rel = str(p.relative_to(tree))
            return any(f.matches(rel) for f in facets or ())

        for c in count(tree, named if facets is not None else None, autogen):
            if c.kind != "ansic":
                continue
            rel = str(c.path.relative_to(tree))
            name: str | None = names.get(c.path) if facets is None else \
                next((f.name for f in facets if f.matches(rel)), None)
            if name is None:
                continue
            row = rows.setdefault(name, Row(name))
            while len(row.sloc) <= i:
                row.sloc.append(0)
                row.files.append(0)
            row.sloc[i] += c.sloc
            row.files[i] += 1
    for row in rows.values():
        row.sloc += [0] * (len(trees) - len(row.sloc))
        row.files += [0] * (len(trees) - len(row.files))
    if facets is not None:
        order = [f.name for f in facets]
        return [rows.get(n, Row(n, [0] * len(trees), [0] * len(trees))) for n in order]
    return sorted(rows.values(), key=lambda r: (-r.sloc[0], r.facet))

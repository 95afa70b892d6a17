"""The names a target decides in each file of a tree, found by evaluating the tree itself.

The target decides the kernel's and the distribution's macros (:mod:`kscribe.strip.target`)
and the ``-D`` flags the tree's Makefiles always give. From these the tree's own macros
follow, in rounds until nothing changes:

- a macro with definitions only where the target is sure to read them (every condition
  around them decided true, or an include guard) is decided there, with its body: a
  wrapper such as ``#define AT_LEAST(a, b, c) (LINUX_VERSION_CODE >= KERNEL_VERSION(a, b,
  c))`` then evaluates, and so does a flag set in a decided branch;
- a macro whose every definition is in a dead branch is undefined, if the kernel's headers
  do not define it either (without headers at hand it stays undecided);
- a macro with a definition or ``#undef`` the target does not decide stays undecided.

A decided definition is seen after its line in its own file, in the files that include
it (transitively, by a live ``#include``) before the line asking, and everywhere if a
Makefile force-includes it (``-include``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.strip.expr import UNDEFINED, Lookup, Macro
from kscribe.strip.groups import Group, Item
from kscribe.strip.rewrite import ConditionError, Scope, status
from kscribe.strip.source import Line
from kscribe.util import proc

_DEFINE = re.compile(r"^([A-Za-z_]\w*)(\(([^)]*)\))?\s*(.*)$", re.S)
_INCLUDE = re.compile(r'^\s*(?:"([^"]+)"|<([^>]+)>)')
ROUNDS = 20


class FileError(Exception):
    """A ConditionError in one file of the tree."""

    def __init__(self, rel: str, error: ConditionError) -> None:
        super().__init__(f"{rel}:{error.line}: {error}")
        self.rel = rel
        self.error = error


@dataclass
class CFile:
    """A C source of the tree, parsed."""

    rel: str
    text: str
    items: list[Item]
    guard: Group | None


@dataclass(frozen=True)
class Definition:
    file: str
    line: int
    macro: Macro


@dataclass
class Sites:
    """Where each name is defined, by what the target makes of the conditions around."""

    live: dict[str, list[Definition]] = field(default_factory=dict)
    doubtful: dict[str, str] = field(default_factory=dict)      # name -> file:line
    undecided: dict[str, list[Definition]] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)
    includes: dict[str, list[tuple[int, str]]] = field(default_factory=dict)


def definition(line: Line, rel: str) -> Macro | None:
    """The macro a ``#define`` line defines."""
    m = _DEFINE.match(line.arg)
    if not m:
        return None
    params = None
    if m[2] is not None and line.arg[len(m[1])] == "(":
        params = tuple(p.strip() for p in m[3].split(",") if p.strip())
        body = m[4]
    else:
        body = line.arg[len(m[1]):]
    return Macro(m[1], params, " ".join(body.split()), f"{rel}:{line.number}")


class Tree:
    """The files of a tree and the names the target decides in them."""

    def __init__(self, files: dict[str, CFile], base: dict[str, Macro],
                 flags: dict[str, Macro | None], forced: list[str],
                 kernel_defines: Kernel, evaluate: frozenset[str] = frozenset()) -> None:
        self.files = files
        self.base = {**base, **{k: v for k, v in flags.items() if v is not None}}
        self.undecided_flags = {k for k, v in flags.items() if v is None}
        self.forced = [f for f in forced if f in files]
        self.kernel = kernel_defines
        self.evaluate = evaluate
        self.decided: dict[str, list[Definition] | Macro] = {}
        self.why: dict[str, str] = {}
        self.sites = Sites()
        self._closures: dict[str, frozenset[str]] = {}
        self.rounds = 0
        self.by_name: dict[str, list[str]] = {}
        for rel in files:
            self.by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)

    # ---- scopes ----

    def scope(self, rel: str) -> Scope:
        """The names decided at each line of ``rel``."""
        def at(line: int) -> Lookup:
            return lambda name: self.lookup(rel, line, name)
        return at

    def lookup(self, rel: str, line: int, name: str) -> Macro | None:
        if name in self.undecided_flags:
            return None
        d = self.decided.get(name)
        if isinstance(d, Macro):
            return d
        if d is not None:
            seen = [x for x in d if self.visible(x, rel, line)]
            if len({(x.macro.params, x.macro.body) for x in seen}) == 1:
                return seen[-1].macro
            if seen:
                return None
        if name in self.sites.doubtful and name not in self.decided:
            return None
        return self.base.get(name)

    def visible(self, d: Definition, rel: str, line: int) -> bool:
        if d.file == rel:
            return d.line < line
        start = [*self.forced, *(f for n, f in self.sites.includes.get(rel, []) if n < line)]
        return any(d.file == f or d.file in self.closure(f) for f in start)

    def closure(self, rel: str) -> frozenset[str]:
        """Every file ``rel`` includes, directly or not."""
        if rel not in self._closures:
            seen: set[str] = set()
            todo = [f for _, f in self.sites.includes.get(rel, [])]
            while todo:
                f = todo.pop()
                if f not in seen:
                    seen.add(f)
                    todo += [g for _, g in self.sites.includes.get(f, [])]
            self._closures[rel] = frozenset(seen)
        return self._closures[rel]

    # ---- rounds ----

    def settle(self) -> None:
        """Decide the tree's own macros, round after round, until nothing changes."""
        for self.rounds in range(1, ROUNDS + 1):
            self.sites = self.collect()
            self._closures = {}
            decided = self.decide(self.sites)
            if decided == self.decided:
                return
            self.decided = decided

    def collect(self) -> Sites:
        sites = Sites()

        def visit_in(f: CFile):
            def visit(line: Line, state: bool | None) -> None:
                if line.directive == "define":
                    mac = definition(line, f.rel)
                    if mac is None:
                        return
                    if state is True:
                        sites.live.setdefault(mac.name, []).append(
                            Definition(f.rel, line.number, mac))
                    elif state is None:
                        sites.doubtful.setdefault(mac.name, f"{f.rel}:{line.number}")
                        sites.undecided.setdefault(mac.name, []).append(
                            Definition(f.rel, line.number, mac))
                    else:
                        sites.dead.add(mac.name)
                elif line.directive == "undef":
                    name = line.arg.split()[0] if line.arg.split() else ""
                    if state is not False and name:
                        sites.doubtful.setdefault(name, f"{f.rel}:{line.number} (#undef)")
                elif line.directive == "include" and state is True:
                    target = self.resolve(f.rel, line.arg)
                    if target:
                        sites.includes.setdefault(f.rel, []).append((line.number, target))
            return visit

        for f in self.files.values():
            try:
                status(f.items, self.scope(f.rel), True, visit_in(f), f.guard)
            except ConditionError as e:
                raise FileError(f.rel, e) from None
        return sites

    def resolve(self, rel: str, arg: str) -> str | None:
        """The tree's file an ``#include`` names, if it is one of the tree's."""
        m = _INCLUDE.match(arg)
        if not m:
            return None
        wanted = m[1] or m[2]
        if m[1]:
            here = str(Path(rel).parent / wanted) if "/" in rel else wanted
            here = str(Path(here))
            if here in self.files:
                return here
        hits = self.by_name.get(wanted.rsplit("/", 1)[-1], [])
        hits = [r for r in hits if r == wanted or r.endswith("/" + wanted)]
        return hits[0] if len(hits) == 1 else None

    def decide(self, sites: Sites) -> dict[str, list[Definition] | Macro]:
        out: dict[str, list[Definition] | Macro] = {}
        self.why = {}
        for name, where in sites.doubtful.items():
            self.why[name] = f"defined at {where} under a condition the target does not decide"
        for name, defs in sites.live.items():
            if name not in sites.doubtful:
                out[name] = defs
        # what a rules file asks to evaluate: its one definition, whatever the conditions
        # around it (an undef is still a doubt)
        for name in self.evaluate & set(sites.undecided):
            defs = sites.live.get(name, []) + sites.undecided[name]
            if len({(d.macro.params, d.macro.body) for d in defs}) == 1 and \
                    "(#undef)" not in sites.doubtful[name]:
                out[name] = defs
                self.why.pop(name, None)
        dead_only = [n for n in sites.dead if n not in sites.live and n not in sites.doubtful
                     and n not in self.base and n not in self.undecided_flags]
        known = self.kernel.defines(dead_only)
        for name in dead_only:
            if known is None:
                self.why[name] = ("defined only in dead branches; without the kernel's "
                                  "headers (--target) it is not known whether the kernel "
                                  "defines it")
            elif name in known:
                self.why[name] = "defined only in dead branches, and by the kernel's headers"
            else:
                out[name] = UNDEFINED
        return out


class Kernel:
    """Which names a kernel's headers ``#define`` (asked once per name)."""

    def __init__(self, headers: Iterable[Path]) -> None:
        self.headers = [h for h in headers if h.is_dir()]
        self.cache: dict[str, bool] = {}

    def defines(self, names: list[str]) -> set[str] | None:
        if not self.headers:
            return None
        todo = [n for n in names if n not in self.cache]
        for i in range(0, len(todo), 200):
            chunk = todo[i:i + 200]
            found = _grep(self.headers, chunk)
            self.cache.update({n: n in found for n in chunk})
        return {n for n in names if self.cache.get(n)}


def _grep(headers: list[Path], names: list[str]) -> set[str]:
    pattern = r"^\s*#\s*define\s+(" + "|".join(re.escape(n) for n in names) + r")\b"
    dirs = [str(d) for h in headers for d in (h / "include", h / "arch") if d.is_dir()]
    done = proc.run(["grep", "-rhoE", "--include=*.h", pattern, *dirs], check=False,
                    why="to tell which names the kernel's headers define")
    return {m.group(1) for m in re.finditer(r"define\s+(\w+)", done.stdout)}

"""Rewrite one file's conditional groups for a target: dead branches out, live ones
unwrapped, the rest reduced to what the target leaves undecided.

For each group the branches are taken in order. A branch whose condition is false goes,
body and all, unevaluated. The first branch that is true ends the group: if no undecided
branch came before it, its body takes the group's place (the directives go); otherwise it
becomes the group's ``#else``. An undecided branch stays, its condition reduced to its
residue; if it was an ``#elif`` and every branch before it went, it becomes the ``#if``.
A condition that no target-decided name takes part in (``#if 0``, include guards,
``#ifdef CONFIG_X``) is kept as written. A directive line that goes but opens a comment
that goes on leaves that comment behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kscribe.strip.expr import ExprError, Lookup, Result, evaluate
from kscribe.strip.groups import Branch, Group, Item
from kscribe.strip.source import Line, SourceError

# an #elif-family directive as the first of a group, and an #ifdef-family after another
AS_FIRST = {"elif": "if", "elifdef": "ifdef", "elifndef": "ifndef"}
AS_LATER = {"if": "elif", "ifdef": "elifdef", "ifndef": "elifndef"}


class ConditionError(SourceError):
    """A condition that cannot be parsed or computed."""


@dataclass(frozen=True)
class Site:
    """A condition the target takes part in but does not decide."""

    line: int
    text: str
    why: str


@dataclass
class Counts:
    """What a rewrite did, in conditional groups and lines."""

    removed: int = 0
    rewritten: int = 0
    kept: int = 0
    undecided: list[Site] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        self.removed += other.removed
        self.rewritten += other.rewritten
        self.kept += other.kept
        self.undecided += other.undecided


Scope = Callable[[int], Lookup]     # the names decided at a line of the file


def condition(head: Line, lookup: Lookup) -> Result:
    """The value of a branch's condition, or its residue; ``#else`` is true."""
    kind = head.directive
    try:
        if kind == "else":
            # true once the branches before it are decided (and kept as #else if not)
            return Result(1, used=True)
        if kind in ("ifdef", "ifndef", "elifdef", "elifndef"):
            words = head.arg.split()
            if len(words) != 1:
                raise ExprError(f"#{kind} takes one macro name, not {head.arg!r}")
            r = evaluate(f"defined {words[0]}", lookup)
            if r.decided and kind.endswith("ndef"):
                r.value = int(not r.value)
            if not r.decided:
                r.text = words[0]
            return r
        return evaluate(head.arg, lookup)
    except ExprError as e:
        raise ConditionError(head.number, f"#{kind} {head.arg}: {e}") from None


def decided(r: Result) -> bool:
    """Whether the target decides ``r``: a value that a target-decided name took part in
    (``#if 0`` and ``#if 1`` are the author's, and stay)."""
    return r.decided and r.used


def status(items: list[Item], scope: Scope, live: bool | None,
           visit: Callable[[Line, bool | None], None], guard: Group | None = None) -> None:
    """Walk ``items`` and call ``visit(line, state)`` for each directive that is not a
    conditional: state True when every condition around it is true, False when one is
    false, None when one is undecided. The include guard ``guard`` counts as true."""
    for item in items:
        if isinstance(item, Line):
            if item.directive is not None:
                visit(item, live)
            continue
        if item is guard:
            status(item.branches[0].body, scope, live, visit)
            continue
        taken: bool | None = False      # a branch before is taken: no, maybe (None), yes
        for b in item.branches:
            if live is False or taken is True:
                status(b.body, scope, False, visit)
                continue
            r = condition(b.head, scope(b.head.number))
            if decided(r) and not r.value:
                status(b.body, scope, False, visit)
                continue
            if decided(r):
                state: bool | None = live if taken is False else None
                taken = True
            else:
                state, taken = None, None
            status(b.body, scope, state, visit)


def rewrite(items: list[Item], scope: Scope, counts: Counts) -> list[str]:
    """The text of ``items`` for the target, as a list of pieces."""
    out: list[str] = []
    for item in items:
        if isinstance(item, Line):
            out.append(item.text)
        else:
            out += _group(item, scope, counts)
    return out


def _group(g: Group, scope: Scope, counts: Counts) -> list[str]:
    kept: list[tuple[str, Branch, Result]] = []     # directive to write, branch, condition
    unwrapped: Branch | None = None
    changed = False
    for b in g.branches:
        r = condition(b.head, scope(b.head.number))
        if not decided(r) and r.kept_decided:
            why = ", ".join(dict.fromkeys(r.unknown)) or "the expression"
            counts.undecided.append(Site(b.head.number, f"#{b.kind} {b.head.arg}",
                                         f"depends on {why}, which the target does not "
                                         f"decide"))
        if decided(r) and not r.value:
            changed = True
            continue
        if decided(r):
            if kept:
                kept.append(("else", b, r))
                changed = changed or b.kind != "else"
            else:
                unwrapped = b
            changed = changed or b is not g.branches[-1]
            break
        kind = b.kind if not kept else AS_LATER.get(b.kind, b.kind)
        if not kept:
            kind = AS_FIRST.get(kind, kind)
        changed = changed or kind != b.kind or r.changed
        kept.append((kind, b, r))
    if unwrapped is not None and not kept:
        counts.removed += 1
        return [unwrapped.head.comment_tail(), *rewrite(unwrapped.body, scope, counts),
                g.end.comment_tail()]
    if not kept:
        counts.removed += 1
        return [g.end.comment_tail()]
    if changed:
        counts.rewritten += 1
    else:
        counts.kept += 1
    out: list[str] = []
    for kind, b, r in kept:
        out.append(_head(b.head, kind, r))
        out += rewrite(b.body, scope, counts)
    out.append(g.end.text)
    return out


def _head(head: Line, kind: str, r: Result) -> str:
    """The directive line of a kept branch, as ``kind`` with ``r``'s residue."""
    if kind == "else":
        return head.text if head.directive == "else" else head.with_arg("", "else")
    same_family = (head.directive or "").endswith(("def", "ndef")) == kind.endswith("def")
    if kind == head.directive and not r.changed:
        return head.text
    if same_family and not r.changed:
        return head.with_arg(head.arg_text, kind)
    return head.with_arg(r.text, kind)

"""A C file as a tree of conditional groups: ``#if``/``#elif``/``#else``/``#endif``.

Each :class:`Group` holds its branches in order, each branch its directive line and its
body (lines and nested groups). Unbalanced directives are errors that name the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kscribe.strip.source import Line, SourceError, logical_lines

OPENERS = ("if", "ifdef", "ifndef")
MIDDLES = ("elif", "elifdef", "elifndef", "else")


class StructureError(SourceError):
    """Unbalanced conditionals."""


@dataclass
class Branch:
    head: Line                      # #if, #ifdef, #ifndef, #elif..., #else
    body: list[Item] = field(default_factory=list)

    @property
    def kind(self) -> str:
        assert self.head.directive is not None
        return self.head.directive


@dataclass
class Group:
    branches: list[Branch]
    end: Line                       # the #endif


Item = Line | Group


def parse(text: str) -> list[Item]:
    """The items of a file: lines and groups; StructureError when unbalanced."""
    root: list[Item] = []
    stack: list[tuple[list[Branch], list[Item]]] = []   # open groups: branches, outer body
    body = root
    for line in logical_lines(text):
        d = line.directive
        if d in OPENERS:
            stack.append(([Branch(line)], body))
            body = stack[-1][0][0].body
        elif d in MIDDLES:
            if not stack:
                raise StructureError(line.number, f"#{d} without #if")
            branches = stack[-1][0]
            if branches[-1].kind == "else":
                raise StructureError(line.number, f"#{d} after #else (line "
                                     f"{branches[-1].head.number})")
            branches.append(Branch(line))
            body = branches[-1].body
        elif d == "endif":
            if not stack:
                raise StructureError(line.number, "#endif without #if")
            branches, outer = stack.pop()
            outer.append(Group(branches, line))
            body = outer
        else:
            body.append(line)
    if stack:
        first = stack[-1][0][0].head
        raise StructureError(first.number, f"#{first.directive} without #endif")
    return root


def guard(items: list[Item]) -> Group | None:
    """The file's include guard: an ``#ifndef X`` (or ``#if !defined X``) around all the
    code, whose body starts with ``#define X``."""
    groups = [i for i in items if isinstance(i, Group)]
    code = [i for i in items if isinstance(i, Line) and i.code]
    if len(groups) != 1 or code or len(groups[0].branches) != 1:
        return None
    g = groups[0]
    name = _guarded_name(g.branches[0].head)
    first = next((i for i in g.branches[0].body if not isinstance(i, Line) or i.code), None)
    if name and isinstance(first, Line) and first.directive == "define" and \
            first.arg.split(None, 1)[:1] == [name]:
        return g
    return None


def _guarded_name(head: Line) -> str | None:
    if head.directive == "ifndef":
        return head.arg.split()[0] if head.arg.split() else None
    if head.directive == "if":
        words = head.arg.replace("(", " ").replace(")", " ").split()
        if words[:1] == ["!defined"] and len(words) == 2 or \
                words[:2] == ["!", "defined"] and len(words) == 3:
            return words[-1]
    return None

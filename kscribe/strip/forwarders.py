"""Forwarders: wrappers that stripping leaves as a one-line rename of a kernel function.

``static inline int compat_foo(int a, void *b) { return foo(a, b); }`` (or the macro
``#define compat_foo(a, b) foo(a, b)``) only renames ``foo`` once the versions it chose
between are gone. Each is listed with a Coccinelle semantic patch that calls ``foo``
where ``compat_foo`` was called and removes the wrapper's definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kscribe.util.ctext import COMMENT

_FUNCTION = re.compile(
    r"^[ \t]*static\s+(?:(?:inline|__always_inline|notrace)\s+)+(?P<ret>[\w\s*]+?)\s*"
    r"\b(?P<name>[A-Za-z_]\w*)\s*\((?P<params>[^()]*)\)\s*\{\s*(?:return\s+)?"
    r"(?P<callee>[A-Za-z_]\w*)\s*\((?P<args>[^();{}]*)\)\s*;\s*\}", re.M)
_MACRO = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(?P<name>[A-Za-z_]\w*)\((?P<params>[^()]*)\)"
                    r"[ \t]+(?P<callee>[A-Za-z_]\w*)\((?P<args>[^()]*)\)[ \t]*$", re.M)
KEYWORDS = {"return", "sizeof", "if", "while", "for", "switch", "do", "typeof", "void",
            "int", "long", "unsigned", "char", "const", "volatile", "struct", "union"}


@dataclass(frozen=True)
class Forwarder:
    file: str
    line: int
    name: str
    callee: str
    kind: str          # "function" or "macro"

    def cocci(self) -> str:
        """A semantic patch that calls the callee directly and drops the wrapper."""
        head = f"// {self.name}() ({self.file}:{self.line}) forwards to {self.callee}()\n"
        rename = (f"@@\nexpression list args;\n@@\n- {self.name}(args)\n"
                  f"+ {self.callee}(args)\n")
        if self.kind == "macro":
            return head + rename + f"// and delete the #define at {self.file}:{self.line}\n"
        return head + rename + f"\n@@\ntype T;\n@@\n- T {self.name}(...) {{ ... }}\n"


def _names(params: str) -> list[str] | None:
    params = params.strip()
    if params in ("", "void"):
        return []
    out = []
    for p in params.split(","):
        m = re.search(r"([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*$", p.strip())
        if not m or m[1] in KEYWORDS or p.strip() == "...":
            return None
        out.append(m[1])
    return out


def _args(args: str) -> list[str]:
    return [a.strip() for a in args.split(",")] if args.strip() else []


def find(rel: str, text: str) -> list[Forwarder]:
    """The forwarders defined in ``text`` (a file of the tree at ``rel``)."""
    plain = COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    out = []
    for m in _FUNCTION.finditer(plain):
        params = _names(m["params"])
        if params is None or m["callee"] in KEYWORDS or m["callee"] == m["name"]:
            continue
        if _args(m["args"]) == params:
            line = plain.count("\n", 0, m.start("name")) + 1
            out.append(Forwarder(rel, line, m["name"], m["callee"], "function"))
    for m in _MACRO.finditer(plain):
        if m["callee"] in KEYWORDS or m["callee"] == m["name"]:
            continue
        params = _names(m["params"])
        if params is not None and _args(m["args"]) == params:
            line = plain.count("\n", 0, m.start()) + 1
            out.append(Forwarder(rel, line, m["name"], m["callee"], "macro"))
    return out


def became(rel: str, before: str, after: str) -> list[Forwarder]:
    """The forwarders of ``after`` (a file stripped) that stripping made: each was not one
    before, or was one of several definitions the conditionals chose between."""
    was = {f.name for f in find(rel, before)}
    out = []
    for f in find(rel, after):
        defs = len(re.findall(rf"^[ \t]*#[ \t]*define[ \t]+{f.name}\b|\b{f.name}[ \t]*\([^;{{}}()]*"
                              rf"\)[ \t\n]*\{{", before, re.M))
        if f.name not in was or defs > 1:
            out.append(f)
    return out


def semantic_patch(forwarders: list[Forwarder]) -> str:
    """One .cocci file for all of them (``spatch --sp-file F --dir TREE``)."""
    head = ("// The forwarders left by `kscribe strip`: each wrapper's callers call the "
            "kernel\n// function directly, and the wrapper goes.\n")
    return head + "".join("\n" + f.cocci() for f in forwarders)

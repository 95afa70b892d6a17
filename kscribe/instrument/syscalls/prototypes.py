"""C declarations read from preprocessed kernel headers: prototypes, typedefs, struct fields.

The input is ``gcc -E`` output of the target's own headers with ``__user`` kept visible (it is
redefined to the marker ``__kscribe_user``), so pointer arguments keep their address space.
Only what syscall prototypes need is parsed: function declarations whose name contains
``sys``, ``typedef``s, and named fields of a few structs.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

from kscribe.util.ctext import closing, split_top_level

USER = "__kscribe_user"

_ATTR = re.compile(r"__attribute__\s*\(\(")
# a declaration `... name(params);` whose name contains "sys"; params hold at most one level
# of nested parentheses (function pointer arguments)
# (searched from a literal so that the scan is fast, then matched from the word's start)
_SYS = re.compile(r"sys\w*\s*\(")
_DECL = re.compile(r"(\w*sys\w*)\s*\(([^(){};]*(?:\([^(){};]*\)[^(){};]*)*)\)\s*"
                   r"(?:__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)\s*)*;")
_TYPEDEF_WORD = re.compile(r"typedef\s")
_TYPEDEF = re.compile(r"typedef\s+([^;{}()]+?)\s*\b(\w+)\s*;")
_TYPEDEF_BODY = re.compile(r"typedef\s+(struct|union|enum)\s*(\w*)\s*\{")
_TOKEN = re.compile(r"\w+|\*|\[|\]|\(|\)|,|\.\.\.")
_SYSCALL_DEFINE = re.compile(r"\b(COMPAT_)?SYSCALL(?:32)?_DEFINE(\d)\s*\(\s*(\w+)\s*((?:,[^()]*"
                             r"(?:\([^()]*\)[^()]*)*)?)\)", re.S)

KEYWORDS = {"const", "volatile", "restrict", "__restrict", "register", "signed", "unsigned",
            "__signed__", "char", "short", "int", "long", "_Bool", "void", "struct", "union",
            "enum", "float", "double", "__int128", USER}


@dataclass(frozen=True)
class Param:
    """One parameter as declared: the C type (``__user`` restored) and the name (may be '')."""

    ctype: str
    name: str
    tokens: tuple[str, ...]  # the type's tokens with the __user marker


@dataclass(frozen=True)
class Prototype:
    """A function declaration: name, parameters, and where it was found."""

    name: str
    params: tuple[Param, ...]
    origin: str


def strip_attributes(text: str) -> str:
    """``text`` without ``__attribute__((...))`` groups (balanced parentheses)."""
    out, pos = [], 0
    for m in _ATTR.finditer(text):
        if m.start() < pos:
            continue
        out.append(text[pos:m.start()])
        try:
            pos = closing(text, m.end(), depth=2)
        except ValueError:
            pos = len(text)
    out.append(text[pos:])
    return "".join(out)


def render_ctype(tokens: list[str] | tuple[str, ...]) -> str:
    """Tokens back to C text: ``const char __user *``."""
    out = ""
    for t in tokens:
        t = "__user" if t == USER else t
        if not out:
            out = t
        elif t in ("*", "[", "]", ")") or out.endswith(("(", "[")):
            out += t if t != "*" or out.endswith("*") else " *"
        else:
            out += " " + t
    return out.replace("* *", "**")


def parse_param(text: str) -> Param | None:
    """A parameter declaration; None for ``void`` (no parameters) and ``...``."""
    tokens = _TOKEN.findall(strip_attributes(text))
    if not tokens or tokens == ["void"] or tokens == ["..."]:
        return None
    name = ""
    if "(" in tokens:  # function pointer: `void (*fn)(int)`
        i = tokens.index("(")
        inner = [t for t in tokens[i + 1:tokens.index(")")] if re.match(r"\w", t)]
        name = inner[-1] if inner else ""
        type_tokens = [t for t in tokens if t != name] if name else tokens
        return Param(render_ctype(type_tokens), name, tuple(type_tokens))
    if "[" in tokens:  # `int fds[2]` is `int *fds`
        i = tokens.index("[")
        if i > 1 and re.match(r"\w", tokens[i - 1]) and tokens[i - 1] not in KEYWORDS:
            name = tokens[i - 1]
            tokens = tokens[:i - 1] + ["*"]
    else:
        last = tokens[-1]
        prev = tokens[-2] if len(tokens) > 1 else ""
        if (len(tokens) > 1 and re.match(r"\w", last) and last not in KEYWORDS
                and prev not in ("struct", "union", "enum")):
            name = last
            tokens = tokens[:-1]
    return Param(render_ctype(tokens), name, tuple(tokens))


class Origins:
    """Which file (and, with ``lines``, which line: ``fs/open.c:1450``) each position of
    ``gcc -E`` output (with linemarkers) came from."""

    _MARK = re.compile(r'^# (\d+) "([^"]+)"[^\n]*\n?', re.M)

    def __init__(self, text: str, roots: tuple[str, ...] = (), lines: bool = False) -> None:
        self.text = text
        self.lines = lines
        self.pos: list[int] = []
        self.ends: list[int] = []
        self.numbers: list[int] = []
        self.files: list[str] = []
        for m in self._MARK.finditer(text):
            self.pos.append(m.start())
            self.ends.append(m.end())
            self.numbers.append(int(m.group(1)))
            self.files.append(m.group(2))
        self.roots = tuple(r.rstrip("/") + "/" for r in roots)

    def __call__(self, at: int) -> str:
        i = bisect.bisect_right(self.pos, at) - 1
        path = self.files[i] if i >= 0 else "<input>"
        for r in self.roots:
            if path.startswith(r):
                path = path[len(r):]
                break
        if self.lines and i >= 0:
            path += f":{self.numbers[i] + self.text.count(chr(10), self.ends[i], at)}"
        return path


def prototypes(text: str, origin: Callable[[int], str]) -> dict[str, Prototype]:
    """Every declaration of a function whose name contains ``sys``, first one kept.

    ``origin`` maps a position of ``text`` to the file it came from. A later declaration
    replaces an earlier one only when it names parameters the earlier one left unnamed.
    """
    found: dict[str, Prototype] = {}
    last = -1
    for hit in _SYS.finditer(text):
        start = hit.start()
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
            start -= 1
        if start <= last:
            continue
        m = _DECL.match(text, start)
        if m is None:
            continue
        last = start
        name, params_text = m.group(1), m.group(2)
        # a call or macro left in the output is preceded by an operator, not a type
        before = text[max(0, m.start() - 40):m.start()].rstrip()
        if not before or before[-1] in "=(,!&|+-?:" or before.endswith("return"):
            continue
        params = tuple(p for p in (parse_param(s) for s in split_top_level(params_text)) if p)
        old = found.get(name)
        if old is None or (any(not p.name for p in old.params) and len(old.params)
                           == len(params) and all(p.name for p in params)):
            found[name] = Prototype(name, params, origin(m.start()))
    return found


def typedefs(text: str) -> dict[str, tuple[str, ...]]:
    """typedef name -> the tokens of its type (struct/union/enum bodies left out)."""
    out: dict[str, tuple[str, ...]] = {}
    bodies = []
    for hit in _TYPEDEF_WORD.finditer(text):
        at = hit.start()
        if at and (text[at - 1].isalnum() or text[at - 1] == "_"):
            continue
        m = _TYPEDEF.match(text, at)
        if m is None:
            m = _TYPEDEF_BODY.match(text, at)
            if m:
                bodies.append(m)
            continue
        body = m.group(1)
        if "typedef" in body:
            continue
        out.setdefault(m.group(2), tuple(_TOKEN.findall(strip_attributes(body))))
    for m in bodies:
        try:
            i = closing(text, m.end(), depth=1)
        except ValueError:
            continue
        end = text.find(";", i)
        if end < 0:
            continue
        decl = _TOKEN.findall(strip_attributes(text[i:end]))
        if not decl or not re.match(r"\w", decl[-1]):
            continue
        tag = m.group(2) or f"<anonymous@{m.start()}>"
        out.setdefault(decl[-1], (m.group(1), tag, *decl[:-1]))
    return out


def struct_fields(text: str, tag: str, wanted: tuple[str, ...]) -> dict[str, Param]:
    """The declarations of the ``wanted`` fields of ``struct tag``'s definition in ``text``."""
    m = re.search(rf"\bstruct\s+{re.escape(tag)}\s*\{{", text)
    if m is None:
        return {}
    try:
        i = closing(text, m.end(), depth=1)
    except ValueError:
        i = len(text) + 1
    body = strip_attributes(text[m.end():i - 1])
    out = {}
    for f in wanted:
        fm = re.search(rf"(?:^|[;{{}}])\s*([\w\s\*]+?)\b{re.escape(f)}\s*(\[\s*(\d*)\s*\])?\s*;",
                       body)
        if fm:
            tokens = _TOKEN.findall(fm.group(1))
            count = fm.group(3)
            out[f] = Param(render_ctype(tokens) + (f"[{count}]" if count else ""), f,
                           tuple(tokens) + (("[", count or "0", "]") if fm.group(2) else ()))
    return out


def syscall_defines(text: str, origin: Callable[[int], str]) -> dict[str, Prototype]:
    """``SYSCALL_DEFINE<n>(name, type, arg, ...)`` definitions of kernel C source.

    The key is the symbol the definition makes: ``sys_<name>`` or ``compat_sys_<name>``.
    """
    out: dict[str, Prototype] = {}
    for m in _SYSCALL_DEFINE.finditer(text):
        compat, n, name, rest = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        items = [s.strip() for s in split_top_level(rest.lstrip(","))] if n else []
        if len(items) != 2 * n:
            continue
        params = []
        for i in range(n):
            p = parse_param(f"{items[2 * i]} {items[2 * i + 1]}".replace("__user", USER))
            if p:
                params.append(p)
        sym = f"{'compat_' if compat else ''}sys_{name}"
        out.setdefault(sym, Prototype(sym, tuple(params), origin(m.start())))
    return out

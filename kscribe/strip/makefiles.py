"""A tree's Makefiles and Kbuild files: the ``-D`` and ``-include`` flags they give the
compiler, and their version probes (``ifeq ($(VERSION),5)``, ``$(wildcard
$(srctree)/include/linux/x.h)``), decided and rewritten where the target decides them.

A conditional is decided when its test, once the kernel's ``VERSION``, ``PATCHLEVEL`` and
``SUBLEVEL`` and the ``$(wildcard ...)`` of a path in the kernel's headers are replaced by
their values, compares two plain texts. ``$(shell ...)`` probes and anything that reads the
build machine are reported as undecided.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.strip.rewrite import Counts, Site
from kscribe.strip.source import SourceError

NAMES = ("Makefile", "Kbuild", "GNUmakefile")
_COND = re.compile(r"^(?P<lead>[ ]*)(?P<else>else\s+)?(?P<kw>ifeq|ifneq|ifdef|ifndef)\b"
                   r"(?P<arg>.*)$")
_ELSE = re.compile(r"^[ ]*else\s*(?:#.*)?$")
_ENDIF = re.compile(r"^[ ]*endif\b")
_DEFINE = re.compile(r"(?<![\w-])-D\s*([A-Za-z_]\w*)(?:=(\S*))?")
_FORCED = re.compile(r"(?<![\w-])-include\s+(\S+)")
# variables that name the kernel's tree in out-of-tree Makefiles
KERNEL_DIRS = ("srctree", "objtree", "KERNEL_SRC", "KERNELDIR", "KERNEL_DIR", "KDIR",
               "KSRC", "KERNEL_SOURCE", "kernel_source_dir", "KBUILD_SRC", "LINUX_DIR")
VERSION_VARS = ("VERSION", "PATCHLEVEL", "SUBLEVEL")
# a $(shell ...) that reads the kernel's version or the distribution it runs on
_VERSIONISH = re.compile(r"uname|VERSION|PATCHLEVEL|SUBLEVEL|KERNELRELEASE|/include/|"
                         r"\.config|release|os-release|redhat|suse|ubuntu|debian", re.I)
_PROBE = re.compile(r"\$\((?:VERSION|PATCHLEVEL|SUBLEVEL|KERNELVERSION)\)|"
                    r"\$\((?:wildcard|shell)\b")


def is_makefile(path: Path) -> bool:
    return path.name in NAMES or path.name.startswith("Makefile.") or path.suffix == ".mk"


@dataclass(frozen=True)
class Flag:
    """A ``-D`` of a Makefile: its value (None: computed), where, and whether it always
    applies (True), never (False) or the target does not decide (None)."""

    name: str
    value: str | None
    file: str
    line: int
    state: bool | None


@dataclass
class Makefile:
    rel: str
    text: str
    flags: list[Flag] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)     # -include arguments
    output: str = ""
    counts: Counts = field(default_factory=Counts)
    probes: list[Site] = field(default_factory=list)


@dataclass
class _Branch:
    line: int
    head: str
    body: list[object]


@dataclass
class _Group:
    branches: list[_Branch]
    end: str
    end_line: int


def _lines(text: str) -> list[tuple[int, str]]:
    """Logical lines (backslash continuations joined in the text kept)."""
    out: list[tuple[int, str]] = []
    phys = text.splitlines(keepends=True)
    i = 0
    while i < len(phys):
        start, chunk = i, phys[i]
        while chunk.rstrip("\n").endswith("\\") and i + 1 < len(phys):
            i += 1
            chunk += phys[i]
        out.append((start + 1, chunk))
        i += 1
    return out


def _parse(text: str) -> list[object]:
    root: list[object] = []
    stack: list[tuple[_Group, list[object]]] = []
    body = root
    for number, line in _lines(text):
        plain = line.rstrip("\n")
        if plain.startswith("\t"):
            body.append((number, line))
            continue
        m = _COND.match(plain)
        if m and not m["else"]:
            g = _Group([_Branch(number, line, [])], "", 0)
            stack.append((g, body))
            body = g.branches[0].body
        elif m or _ELSE.match(plain):
            if not stack:
                raise MakeError(number, "else without a conditional")
            g = stack[-1][0]
            g.branches.append(_Branch(number, line, []))
            body = g.branches[-1].body
        elif _ENDIF.match(plain):
            if not stack:
                raise MakeError(number, "endif without a conditional")
            g, outer = stack.pop()
            g.end, g.end_line = line, number
            outer.append(g)
            body = outer
        else:
            body.append((number, line))
    if stack:
        raise MakeError(stack[-1][0].branches[0].line, "conditional without endif")
    return root


class MakeError(SourceError):
    """Unbalanced Makefile conditionals."""


@dataclass(frozen=True)
class Facts:
    """What the target says to a Makefile's tests."""

    kernel: tuple[int, int, int]
    headers: tuple[Path, ...]

    def substitute(self, text: str) -> str:
        for name, value in zip(VERSION_VARS, self.kernel, strict=True):
            text = re.sub(rf"\$[({{]{name}[)}}]", str(value), text)
        out, pos = [], 0
        for m in re.finditer(r"\$\(wildcard\s+", text):
            if m.start() < pos:
                continue
            end = _closing(text, m.end())
            if end < 0:
                break
            out += [text[pos:m.start()], self._wildcard(text[m.end():end], text[m.start():end + 1])]
            pos = end + 1
        return "".join(out) + text[pos:]

    def _wildcard(self, words: str, whole: str) -> str:
        """What ``$(wildcard words)`` gives for paths in the kernel's tree, or ``whole`` as
        it was when a word is not such a path."""
        found = []
        for word in words.split():
            k = re.match(r"\$[({](\w+)[)}]/(\S+)$", word)
            if not k or k[1] not in KERNEL_DIRS or not self.headers:
                return whole
            if any((h / k[2]).exists() for h in self.headers):
                found.append(word)
        return " ".join(found)


def _closing(text: str, start: int) -> int:
    """The index of the ``)`` that closes the ``$(`` before ``start``, or -1."""
    depth = 1
    for i in range(start, len(text)):
        depth += text[i] == "("
        depth -= text[i] == ")"
        if depth == 0:
            return i
    return -1


def _test(head: str, facts: Facts) -> tuple[bool | None, bool]:
    """A conditional's value (None: undecided) and whether it is a version probe."""
    m = _COND.match(head.rstrip("\n"))
    if m is None:
        return True, False               # a plain else
    kw, arg = m["kw"], m["arg"].split("#", 1)[0].strip()
    probe = bool(_PROBE.search(arg))
    if kw in ("ifdef", "ifndef"):
        return None, probe
    text = facts.substitute(arg)
    sides = _sides(text)
    if sides is None or any("$" in s for s in sides):
        return None, probe
    equal = sides[0].strip() == sides[1].strip()
    return (equal if kw == "ifeq" else not equal), probe


def _sides(arg: str) -> tuple[str, str] | None:
    if arg.startswith("(") and arg.endswith(")"):
        inner, depth = arg[1:-1], 0
        for i, c in enumerate(inner):
            depth += c == "("
            depth -= c == ")"
            if c == "," and depth == 0:
                return inner[:i], inner[i + 1:]
        return None
    m = re.match(r"""^(["'])(.*?)\1\s+(["'])(.*?)\3$""", arg)
    return (m[2], m[4]) if m else None


def read(path: Path, rel: str, facts: Facts) -> Makefile:
    """A Makefile read and rewritten for ``facts``; MakeError when unbalanced."""
    text = path.read_text(errors="surrogateescape")
    mk = Makefile(rel, text)
    items = _parse(text)
    mk.output = "".join(_rewrite(items, facts, mk, True))
    return mk


def _scan(mk: Makefile, number: int, line: str, state: bool | None) -> None:
    code = line.split("#", 1)[0] if not line.lstrip().startswith("\t") else line
    if state is not False and "$(shell" in code and _VERSIONISH.search(code) and \
            not line.startswith("\t"):
        mk.probes.append(Site(number, " ".join(code.split()), "undecided: it runs a command "
                              "of the build machine when make reads the file"))
    lhs = code.split("=", 1)[0] if "=" in code else ""
    conditional_target = "$(" in lhs         # ccflags-$(CONFIG_X) += -DY
    for m in _DEFINE.finditer(code):
        value = m[2] if m[2] is not None else ""
        computed = "$" in value
        mk.flags.append(Flag(m[1], None if computed else value, mk.rel, number,
                             None if conditional_target else state))
    if state is not False:
        mk.forced += [m[1] for m in _FORCED.finditer(code)]


def _rewrite(items: list[object], facts: Facts, mk: Makefile, live: bool | None
             ) -> list[str]:
    out: list[str] = []
    for item in items:
        if isinstance(item, tuple):
            number, line = item
            _scan(mk, number, line, live)
            out.append(line)
            continue
        assert isinstance(item, _Group)
        out += _group(item, facts, mk, live)
    return out


def _group(g: _Group, facts: Facts, mk: Makefile, live: bool | None) -> list[str]:
    kept: list[tuple[_Branch, bool | None]] = []
    unwrapped = None
    changed = False
    for b in g.branches:
        value, probe = _test(b.head, facts)
        if probe:
            said = "undecided" if value is None else ("true" if value else "false")
            why = "" if value is not None else \
                ": it reads the build machine or a variable the target does not give"
            mk.probes.append(Site(b.line, b.head.strip(), f"{said}{why}"))
        if value is None or live is None:
            kept.append((b, None))
            continue
        if not value:
            changed = True
            _rewrite(b.body, facts, mk, False)
            continue
        if kept:
            kept.append((b, True))
        else:
            unwrapped = b
        changed = changed or b is not g.branches[-1]
        break
    if unwrapped is not None and not kept:
        mk.counts.removed += 1
        return _rewrite(unwrapped.body, facts, mk, live)
    if not kept:
        mk.counts.removed += 1
        return []
    if changed:
        mk.counts.rewritten += 1
    else:
        mk.counts.kept += 1
    out: list[str] = []
    for i, (b, value) in enumerate(kept):
        head = b.head
        if i == 0 and head.lstrip().startswith("else"):
            head = re.sub(r"^([ ]*)else\s+", r"\1", head)
        elif value is True and i > 0:
            head = re.sub(r"^([ ]*)else.*", r"\1else", head.rstrip("\n")) + "\n"
        out.append(head)
        out += _rewrite(b.body, facts, mk, None if value is None else live)
    out.append(g.end)
    return out

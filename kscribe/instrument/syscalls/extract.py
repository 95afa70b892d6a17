"""Numbers, names and entries of each ABI's syscall table, from the target's headers.

For one ABI the preprocessor reads, in one run, the generated table header with the table
macros defined to print ``@KS@(nr|symbol)`` and the uapi ``asm/unistd*.h`` with ``-dD`` (so
the ``__NR_*`` definitions come out too). Names come from ``__NR_<name>``, entry symbols from
the table, numbers from both (they must agree on which numbers exist).
"""

from __future__ import annotations

import ast
import fnmatch
import re
from dataclasses import dataclass

from kscribe.config.arches import AbiSpec, TableVariant
from kscribe.errors import KscribeError
from kscribe.instrument.syscalls import abis
from kscribe.kernel.cpp import Job, Preprocessor

_ROW = re.compile(r"@KS@\s*\(\s*([^|@]*?)\s*\|\s*(\w+)\s*\)")
_LEFTOVER = re.compile(r"\b(__SYSCALL\w*|__SC_\w+|SYSCALL|NATIVE|COMPAT)\s*\(")
_DEFINE = re.compile(r"^#define (\w+)(\(?)[ \t]*(.*)$", re.M)
_UNDEF = re.compile(r"^#undef (\w+)", re.M)
NI = "sys_ni_syscall"


@dataclass(frozen=True)
class RawTable:
    """One ABI as the headers give it, before prototypes."""

    abi: AbiSpec
    table: dict[int, str]  # __NR_ value -> symbol of the table
    names: dict[int, list[str]]  # __NR_ value -> names, primary first
    sources: tuple[str, ...]


def evaluate(expr: str, macros: dict[str, str], depth: int = 0) -> int:
    """An integer constant expression of object-like macros (``(__NR_Linux + 5)``)."""
    if depth > 20:
        raise ValueError(f"macro recursion in {expr!r}")
    expanded = re.sub(r"\b[A-Za-z_]\w*\b",
                      lambda m: f"({evaluate(macros[m.group(0)], macros, depth + 1)})"
                      if m.group(0) in macros else m.group(0), expr)
    expanded = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expanded)
    return _eval(ast.parse(expanded.strip(), mode="eval").body)


_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
        ast.Mult: lambda a, b: a * b, ast.BitOr: lambda a, b: a | b,
        ast.LShift: lambda a, b: a << b, ast.BitAnd: lambda a, b: a & b}


def _eval(node: ast.AST) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand)
    raise ValueError("not an integer constant expression")


def _excluded(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) for pat in abis.types()["names"]["exclude"])


def pick_table(cpp: Preprocessor, abi: AbiSpec) -> TableVariant:
    """The first of the ABI's table headers that the kernel tree has."""
    for t in abi.tables:
        if cpp.find(t.header):
            return t
    raise KscribeError(f"ABI {abi.name}: none of its table headers "
                       f"({', '.join(t.header for t in abi.tables)}) is in the kernel headers "
                       f"({', '.join(map(str, cpp.trees))}); add the new name to "
                       "the arch's kscribe/data/arches/*.toml")


def pick_numbers(cpp: Preprocessor, abi: AbiSpec) -> tuple[str, ...]:
    """The first of the ABI's sets of ``__NR_`` headers that the kernel tree has."""
    for group in abi.numbers:
        if all(cpp.find(h) for h in group):
            return group
    raise KscribeError(f"ABI {abi.name}: none of its __NR_ headers ("
                       f"{'; '.join(' '.join(g) for g in abi.numbers)}) is in the kernel headers")


def source(abi: AbiSpec, table: TableVariant, numbers: tuple[str, ...]) -> str:
    """The C text preprocessed for one ABI."""
    lines = []
    for macro, shape in table.macros:
        if shape == "nr sym":
            lines.append(f"#define {macro}(nr, sym, ...) @KS@(nr|sym)")
        elif shape == "nr native compat":
            lines.append(f"#define {macro}(nr, native, compat) "
                         f"@KS@(nr|{'compat' if abi.compat else 'native'})")
        else:  # "native compat": positional
            lines.append(f"#define {macro}(native, compat) "
                         f"@KS@(?|{'compat' if abi.compat else 'native'})")
    lines += [f"#define {m}(...)" for m in table.ignore]
    lines += ["@KSBEGIN@", f"#include <{table.header}>", "@KSEND@"]
    lines += [f"#include <{h}>" for h in numbers]
    return "\n".join(lines) + "\n"


def start(cpp: Preprocessor, abi: AbiSpec) -> tuple[TableVariant, tuple[str, ...], Job]:
    """Start preprocessing one ABI's table and numbers headers."""
    table = pick_table(cpp, abi)
    numbers = pick_numbers(cpp, abi)
    job = cpp.start(source(abi, table, numbers), extra=(*abi.cppflags, "-P", "-dD"))
    return table, numbers, job


def macros_of(text: str) -> dict[str, str]:
    """Object-like macros of ``-dD`` output (last definition wins)."""
    macros: dict[str, str] = {}
    events = sorted([(m.start(), "d", m) for m in _DEFINE.finditer(text)]
                    + [(m.start(), "u", m) for m in _UNDEF.finditer(text)],
                    key=lambda e: e[0])
    for _, kind, m in events:
        if kind == "u":
            macros.pop(m.group(1), None)
        elif not m.group(2):
            macros[m.group(1)] = m.group(3).strip()
        else:
            macros.pop(m.group(1), None)
    return macros


def parse(cpp: Preprocessor, abi: AbiSpec, table: TableVariant, numbers: tuple[str, ...],
          text: str) -> RawTable:
    """The table and names of one ABI from its preprocessor output."""
    try:
        region = text[text.index("@KSBEGIN@"):text.index("@KSEND@")]
    except ValueError:
        raise KscribeError(f"ABI {abi.name}: preprocessor output lost its markers") from None
    region = re.sub(r"^#.*$", "", region, flags=re.M)  # -dD's own lines
    left = _LEFTOVER.search(region)
    if left:
        raise KscribeError(f"{table.header}: table macro {left.group(1)} is not handled for "
                           f"ABI {abi.name}; add it to its macros or ignore list in "
                           "the arch's kscribe/data/arches/*.toml")
    macros = macros_of(text)
    try:
        base = evaluate(abi.table_base, macros) if abi.table_base else 0
    except (ValueError, SyntaxError, KeyError):
        raise KscribeError(f"ABI {abi.name}: table_base {abi.table_base!r} is not a constant "
                           "of its numbers headers") from None
    rows: dict[int, str] = {}
    index = 0
    for m in _ROW.finditer(region):
        nr_text, sym = m.group(1), m.group(2)
        if nr_text == "?":
            nr = index
        else:
            try:
                nr = evaluate(nr_text, macros)
            except (ValueError, SyntaxError):
                raise KscribeError(f"{table.header}: syscall number {nr_text!r} of {sym} is "
                                   "not a constant") from None
        index = nr + 1
        rows[base + nr] = sym
    if not rows:
        raise KscribeError(f"{table.header}: no syscall found for ABI {abi.name} (are its "
                           "macros in its kscribe/data/arches/*.toml right?)")
    by_nr: dict[int, list[tuple[bool, str]]] = {}
    for name, body in macros.items():
        if not name.startswith("__NR_"):
            continue
        short = name[5:]
        if _excluded(short):
            continue
        try:
            nr = evaluate(body, macros)
        except (ValueError, SyntaxError):
            continue
        alias = re.fullmatch(r"\(?\s*__NR_\w+\s*\)?", body) is not None
        by_nr.setdefault(nr, []).append((alias, short))
    names = {nr: [n for _, n in sorted(v, key=lambda x: x[0])] for nr, v in by_nr.items()}
    found = [str(cpp.find(table.header))] + [str(cpp.find(h)) for h in numbers]
    return RawTable(abi=abi, table=rows, names=names, sources=tuple(dict.fromkeys(found)))

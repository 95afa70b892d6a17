"""Formatting generated C the way the kernel's coding style and checkpatch want it."""

from __future__ import annotations

from kscribe.util.ctext import closing, split_top_level

TAB = 8
PREFERRED, MAX = 80, 100


def width(text: str) -> int:
    """Display width of a line, tabs expanded."""
    return len(text.expandtabs(TAB))


def indent_to(column: int) -> str:
    """Tabs then spaces that reach ``column``."""
    return "\t" * (column // TAB) + " " * (column % TAB)


def _fill(head: str, params: list[str], close: str, limit: int) -> list[str] | None:
    col = width(head)
    if any(col + len(p) + 1 > limit for p in params):
        return None
    lines, cur = [], head
    for i, p in enumerate(params):
        text = p + (close if i == len(params) - 1 else ",")
        if cur is head or cur.endswith("("):
            cur += text
        elif width(cur) + 1 + len(text) <= limit:
            cur += " " + text
        else:
            lines.append(cur)
            cur = indent_to(col) + text
    lines.append(cur)
    return lines


def wrap_call(head: str, params: list[str], close: str = ")") -> list[str]:
    """``head(p1, p2, ...)`` wrapped with continuation lines aligned on the parenthesis.

    ``head`` ends with ``(``. Lines stay within 80 columns when they can, else 100; when
    even that fails, a ``static void name(`` head is split after its return type.
    """
    for limit in (PREFERRED, MAX):
        lines = _fill(head, params, close, limit)
        if lines:
            return lines
    ret, _, name = head.rpartition(" ")
    lines = _fill(name, params, close, MAX) or [name + ", ".join(params) + close]
    return [ret, *lines]


def c_string(text: str) -> str:
    """A C string literal of ``text``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def wrap_statement(statement: str, indent: str = "\t") -> list[str]:
    """A statement at ``indent``, its widest call's arguments wrapped if the line is too long.

    The call split is the outermost one whose arguments reach the end of the statement
    (``x = f(a, b);``, ``if (!f(a, b))``), aligned on its parenthesis.
    """
    line = indent + statement
    if width(line) <= MAX:
        return [line]
    for i, c in enumerate(statement):
        if c != "(" or i == 0 or not (statement[i - 1].isalnum() or statement[i - 1] == "_"):
            continue
        try:
            j = closing(statement, i) - 1
        except ValueError:
            break
        close = statement[j:]
        if close.strip(");") == "":
            args = split_top_level(statement[i + 1:j])
            return wrap_call(indent + statement[:i + 1], args, close)
    return [line]

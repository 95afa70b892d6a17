"""Scanning C text without a C parser: balanced brackets, top-level commas, comments.

Kernel headers, preprocessor output and babeltrace2's field lists are read at the level of
balanced brackets; these are the scanners every reader shares.
"""

from __future__ import annotations

import re

# block and line comments, for blanking out before scanning
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_PAIRS = {"(": ")", "[": "]", "{": "}"}


def closing(text: str, start: int, depth: int = 0) -> int:
    """The index just past the bracket that closes the one at ``text[start]``.

    With ``depth`` > 0 the scan starts inside that many open brackets (of the kind at
    ``text[start - 1]``). Raises ValueError when the text ends first.
    """
    if depth:
        opener = text[start - 1]
        i = start
    else:
        opener = text[start]
        i, depth = start + 1, 1
    closer = _PAIRS[opener]
    while i < len(text):
        c = text[i]
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced {opener!r}")


def split_top_level(text: str) -> list[str]:
    """Split ``text`` on the commas outside brackets and string literals, parts stripped.

    Serves C argument lists (``f(a, g(b, c))``) and babeltrace2's field lists alike.
    """
    parts, cur, depth, quoted, escaped = [], [], 0, False, False
    for c in text:
        cur.append(c)
        if quoted:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                quoted = False
            continue
        if c == '"':
            quoted = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            cur.pop()
            parts.append("".join(cur).strip())
            cur = []
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def param(ctype: str, name: str) -> str:
    """A parameter as C writes it: ``struct task_struct *prev``, ``int cpu``."""
    return f"{ctype} {name}".replace("* ", "*")

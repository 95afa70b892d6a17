"""Tracepoint prototypes read from a target's own ``include/trace/events/*.h``.

The prototype of a tracepoint changes inside stable series (``hrtimer_start`` gained
``was_armed`` in a 6.1 stable update), so kscribe never keeps prototypes: it reads the
``TP_PROTO`` of every event from the exact headers it builds against. This parses the event
macros the kernel uses (``TRACE_EVENT*``, ``DECLARE_EVENT_CLASS`` + ``DEFINE_EVENT*``,
``DECLARE_TRACE*``) at the level of balanced parentheses; it does not preprocess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kscribe.util.ctext import COMMENT, closing, param, split_top_level

# macro -> (position of the event name, position of the class name or None)
_EVENT_MACROS = {
    "TRACE_EVENT": (0, None),
    "TRACE_EVENT_CONDITION": (0, None),
    "TRACE_EVENT_FN": (0, None),
    "TRACE_EVENT_FN_COND": (0, None),
    "DECLARE_TRACE": (0, None),
    "DECLARE_TRACE_CONDITION": (0, None),
    "DECLARE_TRACE_EVENT": (0, None),
    "DECLARE_TRACE_SYSCALL": (0, None),
    "TRACE_EVENT_SYSCALL": (0, None),
    "DEFINE_EVENT": (1, 0),
    "DEFINE_EVENT_FN": (1, 0),
    "DEFINE_EVENT_PRINT": (1, 0),
    "DEFINE_EVENT_CONDITION": (1, 0),
}
_CLASS_MACRO = "DECLARE_EVENT_CLASS"
_MACRO_RE = re.compile(r"^[ \t]*(" + "|".join([_CLASS_MACRO, *_EVENT_MACROS]) + r")\s*\(",
                       re.M)
_IDENT_RE = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Arg:
    """One tracepoint argument: its C type and name."""

    type: str
    name: str


@dataclass(frozen=True)
class Tracepoint:
    """A tracepoint of a trace header: name, prototype and where it is defined."""

    name: str
    args: tuple[Arg, ...]
    header: Path
    line: int

    def prototype(self) -> str:
        """The prototype as the header writes it, for error messages."""
        return f"{self.name}({', '.join(param(a.type, a.name) for a in self.args)})"


def _parse_proto(text: str) -> tuple[Arg, ...]:
    """``TP_PROTO(a, b)`` -> Args; ``void`` is no argument."""
    inner = text[text.index("(") + 1:text.rindex(")")]
    args = []
    for decl in split_top_level(" ".join(inner.split())):
        if decl == "void":
            continue
        names = _IDENT_RE.findall(decl)
        if not names:
            raise ValueError(f"cannot read argument {decl!r}")
        name = names[-1]
        ctype = decl[:decl.rindex(name)].strip()
        args.append(Arg(type=ctype.replace(" *", " *").replace("  ", " "), name=name))
    return tuple(args)


def parse_header(path: Path) -> dict[str, Tracepoint]:
    """Every tracepoint a trace header defines, by name."""
    raw = path.read_text(errors="replace")
    # blank comments out but keep newlines so offsets still give line numbers
    text = COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), raw)
    classes: dict[str, tuple[Arg, ...]] = {}
    events: dict[str, Tracepoint] = {}
    for m in _MACRO_RE.finditer(text):
        macro = m.group(1)
        open_at = m.end() - 1
        try:
            body = text[open_at + 1:closing(text, open_at) - 1]
        except ValueError:
            continue
        parts = split_top_level(body)
        proto = next((p for p in parts if p.startswith("TP_PROTO")), None)
        line = text.count("\n", 0, m.start()) + 1
        if macro == _CLASS_MACRO:
            if proto:
                classes[parts[0]] = _parse_proto(proto)
            continue
        name_at, class_at = _EVENT_MACROS[macro]
        if len(parts) <= name_at:
            continue
        if proto:
            args = _parse_proto(proto)
        elif class_at is not None and parts[class_at] in classes:
            args = classes[parts[class_at]]
        else:
            continue
        events[parts[name_at]] = Tracepoint(parts[name_at], args, path, line)
    return events

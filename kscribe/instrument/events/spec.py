"""Instrumentation specs: ``instrumentation/events/<subsystem>.yaml``, read with line numbers.

A spec names the tracepoints of one subsystem to instrument. Prototypes are never in a spec:
they come from the target's headers (see :mod:`kscribe.tracepoints`). Every error names the
spec file and line.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from kscribe.errors import KscribeError
from kscribe.util import yamlspec
from kscribe.util.yamlspec import compose


@dataclass(frozen=True)
class ExprCase:
    """``expr`` of a field for targets whose prototype has argument ``when`` (or always)."""

    expr: str
    when: str


@dataclass(frozen=True)
class FieldSpec:
    """A field as the spec writes it; typed and checked against a target in kscribe.events."""

    name: str
    type: str
    cases: tuple[ExprCase, ...]
    line: int
    optional: bool = False
    base: int | None = None
    enum: tuple[tuple[str, int], ...] = ()
    max: int | None = None
    length: str = ""


@dataclass(frozen=True)
class EventSpec:
    """One event of a spec: the kernel tracepoint it attaches to and the fields recorded."""

    tracepoint: str
    line: int
    fields: tuple[FieldSpec, ...] = ()


@dataclass(frozen=True)
class SubsystemSpec:
    """The spec of one subsystem's events."""

    path: Path
    subsystem: str
    title: str                      # what its probe records, e.g. "timers and hrtimers"
    header: str
    events: tuple[EventSpec, ...]
    requires: tuple[str, ...] = ()  # Kconfig symbols: the `depends on` of its probe
    includes: tuple[str, ...] = ()


def _err(path: Path, node: yaml.Node | None, msg: str) -> KscribeError:
    return yamlspec.error(path, node, msg)


def _mapping(path: Path, node: yaml.Node, what: str) -> dict[str, yaml.Node]:
    return {k.value: v for k, v in yamlspec.items(path, node, what)}


def _string(path: Path, node: yaml.Node, what: str) -> str:
    return yamlspec.scalar(path, node, what, "string")


def _only(path: Path, keys: dict[str, yaml.Node], allowed: set[str], what: str) -> None:
    for k, v in keys.items():
        if k not in allowed:
            raise _err(path, v, f"{what}: unknown key {k!r} (allowed: "
                                f"{', '.join(sorted(allowed))})")


_FIELD_KEYS = {"name", "type", "expr", "optional", "base", "enum", "max", "length"}
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _int(path: Path, node: yaml.Node, what: str) -> int:
    text = _string(path, node, what)
    try:
        return int(text, 0)
    except ValueError:
        raise _err(path, node, f"{what} must be an integer, not {text!r}") from None


def _cases(path: Path, node: yaml.Node) -> tuple[ExprCase, ...]:
    """``expr: C`` or ``expr: [{if: "<type> <arg>", expr: C}, ...]``."""
    if isinstance(node, yaml.ScalarNode):
        return (ExprCase(_string(path, node, "expr"), ""),)
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise _err(path, node, "expr must be a C expression or a list of {if, expr} cases")
    out = []
    for item in node.value:
        keys = _mapping(path, item, "expr case")
        _only(path, keys, {"if", "expr"}, "expr case")
        if "expr" not in keys:
            raise _err(path, item, "expr case: missing key 'expr'")
        when = " ".join(_string(path, keys["if"], "if").split()) if "if" in keys else ""
        out.append(ExprCase(_string(path, keys["expr"], "expr"), when))
    return tuple(out)


def _field(path: Path, node: yaml.Node) -> FieldSpec:
    keys = _mapping(path, node, "field")
    _only(path, keys, _FIELD_KEYS, "field")
    for need in ("name", "type", "expr"):
        if need not in keys:
            raise _err(path, node, f"field: missing key {need!r}")
    name = _string(path, keys["name"], "name")
    if not _NAME.match(name):
        raise _err(path, keys["name"], f"field name {name!r}: use lower case, digits, _")
    enum: tuple[tuple[str, int], ...] = ()
    if "enum" in keys:
        labels = _mapping(path, keys["enum"], "enum")
        enum = tuple((k, _int(path, v, f"enum label {k!r}")) for k, v in labels.items())
    optional = keys.get("optional")
    if optional is not None and _string(path, optional, "optional") not in ("true", "false"):
        raise _err(path, optional, "optional must be true or false")
    return FieldSpec(
        name=name, type=_string(path, keys["type"], "type"), cases=_cases(path, keys["expr"]),
        line=node.start_mark.line + 1,
        optional=optional is not None and optional.value == "true",
        base=_int(path, keys["base"], "base") if "base" in keys else None, enum=enum,
        max=_int(path, keys["max"], "max") if "max" in keys else None,
        length=_string(path, keys["length"], "length") if "length" in keys else "")


def _strings(path: Path, top: dict[str, yaml.Node], key: str, what: str) -> tuple[str, ...]:
    node = top.get(key)
    if node is None:
        return ()
    if not isinstance(node, yaml.SequenceNode):
        raise _err(path, node, f"{key} must be {what}")
    return tuple(_string(path, n, key) for n in node.value)


def _event(path: Path, item: yaml.Node) -> EventSpec:
    keys = _mapping(path, item, "event")
    _only(path, keys, {"tracepoint", "fields"}, "event")
    if "tracepoint" not in keys:
        raise _err(path, item, "event: missing key 'tracepoint'")
    fields = []
    if "fields" in keys:
        if not isinstance(keys["fields"], yaml.SequenceNode):
            raise _err(path, keys["fields"], "fields must be a list")
        fields = [_field(path, f) for f in keys["fields"].value]
        seen: set[str] = set()
        for f in fields:
            if f.name in seen:
                raise KscribeError(f"{path}:{f.line}: field {f.name!r} given twice")
            seen.add(f.name)
    return EventSpec(tracepoint=_string(path, keys["tracepoint"], "tracepoint"),
                     line=keys["tracepoint"].start_mark.line + 1, fields=tuple(fields))


def load(path: Path) -> SubsystemSpec:
    """Read and check one spec file (structure only; prototypes are checked per target)."""
    root = compose(path)
    top = _mapping(path, root, "spec")
    _only(path, top, {"subsystem", "title", "header", "requires", "includes", "events"},
          "spec")
    for key in ("subsystem", "title"):
        if key not in top:
            raise _err(path, root, f"spec: missing key {key!r}")
    subsystem = _string(path, top["subsystem"], "subsystem")
    if path.stem != subsystem:
        raise _err(path, top["subsystem"], f"subsystem {subsystem!r} must match the file "
                                           f"name {path.name!r}")
    header = (_string(path, top["header"], "header") if "header" in top
              else f"trace/events/{subsystem}.h")
    requires = _strings(path, top, "requires", "a list of Kconfig symbols")
    includes = _strings(path, top, "includes", "a list of headers the fields need")
    events_node = top.get("events")
    if not isinstance(events_node, yaml.SequenceNode) or not events_node.value:
        raise _err(path, events_node or root, "spec: 'events' must be a non-empty list")
    events, seen = [], set()
    for item in events_node.value:
        ev = _event(path, item)
        if ev.tracepoint in seen:
            raise KscribeError(f"{path}:{ev.line}: tracepoint {ev.tracepoint!r} listed twice")
        seen.add(ev.tracepoint)
        events.append(ev)
    return SubsystemSpec(path=path, subsystem=subsystem,
                         title=_string(path, top["title"], "title"), header=header,
                         events=tuple(events),
                         requires=requires, includes=includes)


def load_all(folder: Path) -> list[SubsystemSpec]:
    """Every spec of ``folder`` (``*.yaml``), sorted by subsystem."""
    specs = [load(p) for p in sorted(folder.glob("*.yaml"))]
    if not specs:
        raise KscribeError(f"{folder}: no instrumentation specs (*.yaml)")
    return specs


@functools.cache
def project_specs() -> tuple[SubsystemSpec, ...]:
    """The project's own event specs (``instrumentation/events/``), read once per process:
    the upstream plan and every commit of a series read them."""
    from kscribe.config import paths

    return tuple(load_all(paths.INSTRUMENTATION / "events"))

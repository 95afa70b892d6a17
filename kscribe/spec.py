"""Instrumentation specs: ``instrumentation/events/<subsystem>.yaml``, read with line numbers.

A spec names the tracepoints of one subsystem to instrument. Prototypes are never in a spec:
they come from the target's headers (see :mod:`kscribe.tracepoints`). Every error names the
spec file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from kscribe.errors import KscribeError


@dataclass(frozen=True)
class EventSpec:
    """One event of a spec: the kernel tracepoint it attaches to."""

    tracepoint: str
    line: int


@dataclass(frozen=True)
class SubsystemSpec:
    """The spec of one subsystem's events."""

    path: Path
    subsystem: str
    header: str
    events: tuple[EventSpec, ...]


def _err(path: Path, node: yaml.Node | None, msg: str) -> KscribeError:
    line = node.start_mark.line + 1 if node is not None else 1
    return KscribeError(f"{path}:{line}: {msg}")


def _mapping(path: Path, node: yaml.Node, what: str) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise _err(path, node, f"{what} must be a mapping")
    out: dict[str, yaml.Node] = {}
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode):
            raise _err(path, k, f"{what}: keys must be names")
        if k.value in out:
            raise _err(path, k, f"{what}: key {k.value!r} given twice")
        out[k.value] = v
    return out


def _string(path: Path, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or not node.value.strip():
        raise _err(path, node, f"{what} must be a non-empty string")
    return node.value.strip()


def _only(path: Path, keys: dict[str, yaml.Node], allowed: set[str], what: str) -> None:
    for k, v in keys.items():
        if k not in allowed:
            raise _err(path, v, f"{what}: unknown key {k!r} (allowed: "
                                f"{', '.join(sorted(allowed))})")


def load(path: Path) -> SubsystemSpec:
    """Read and check one spec file."""
    try:
        root = yaml.compose(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise KscribeError(f"{path}:{line}: YAML syntax error: "
                           f"{getattr(e, 'problem', None) or e}") from None
    if root is None:
        raise KscribeError(f"{path}:1: empty spec")
    top = _mapping(path, root, "spec")
    _only(path, top, {"subsystem", "header", "events"}, "spec")
    if "subsystem" not in top:
        raise _err(path, root, "spec: missing key 'subsystem'")
    subsystem = _string(path, top["subsystem"], "subsystem")
    if path.stem != subsystem:
        raise _err(path, top["subsystem"], f"subsystem {subsystem!r} must match the file "
                                           f"name {path.name!r}")
    header = (_string(path, top["header"], "header") if "header" in top
              else f"trace/events/{subsystem}.h")
    events_node = top.get("events")
    if not isinstance(events_node, yaml.SequenceNode) or not events_node.value:
        raise _err(path, events_node or root, "spec: 'events' must be a non-empty list")
    events, seen = [], set()
    for item in events_node.value:
        keys = _mapping(path, item, "event")
        _only(path, keys, {"tracepoint"}, "event")
        if "tracepoint" not in keys:
            raise _err(path, item, "event: missing key 'tracepoint'")
        name = _string(path, keys["tracepoint"], "tracepoint")
        if name in seen:
            raise _err(path, keys["tracepoint"], f"tracepoint {name!r} listed twice")
        seen.add(name)
        events.append(EventSpec(tracepoint=name, line=keys["tracepoint"].start_mark.line + 1))
    return SubsystemSpec(path=path, subsystem=subsystem, header=header, events=tuple(events))


def load_all(folder: Path) -> list[SubsystemSpec]:
    """Every spec of ``folder`` (``*.yaml``), sorted by subsystem."""
    specs = [load(p) for p in sorted(folder.glob("*.yaml"))]
    if not specs:
        raise KscribeError(f"{folder}: no instrumentation specs (*.yaml)")
    return specs

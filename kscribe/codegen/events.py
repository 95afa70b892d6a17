"""The template context of a tracepoint probe module: events, prototypes, payload C, CTF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kscribe.codegen.cformat import c_string, wrap_call
from kscribe.codegen.payload import layout_c, payload_c
from kscribe.instrument.events.resolve import Subsystem
from kscribe.kernel.tracepoints import parse_header
from kscribe.util.ctext import param


def _forward_tags(header: Path) -> list[str]:
    """``struct``/``union`` tags of every prototype in a trace header: some headers use
    them undeclared (``trace/events/irq.h``: ``struct tasklet_struct``)."""
    tags = set()
    for tp in parse_header(header).values():
        for arg in tp.args:
            words = arg.type.replace("*", " ").split()
            pairs = zip(words, words[1:], strict=False)
            tags |= {f"{w} {n}" for w, n in pairs if w in ("struct", "union")}
    return sorted(tags)


def probe_context(sub: Subsystem, include_dir: Path) -> dict[str, Any]:
    """The template context of one probe module: events with prototypes and payload C."""
    events: list[dict[str, Any]] = []
    for ev in sub.events:
        params = ["void *data"] + [param(a.type, a.name) for a in ev.tracepoint.args]
        pc = payload_c(ev)
        events.append({
            "name": ev.name, "payload": pc,
            "prototype": wrap_call(f"static void kscribe_probe_{ev.name}(", params),
            "fields": [c_string(line + "\n") for line in ev.tsdl()],
            "layout": layout_c(ev),
            "uses_tail": any(s.startswith(pc.var["tail"]) for s in pc.stores),
        })
    uses_strings = any("strscpy" in s or "memcpy" in s or "strnlen" in s
                       for e in events for s in e["payload"].stores + e["payload"].prepare)
    return {"subsystem": sub.spec.subsystem, "trace_header": sub.spec.header,
            "includes": list(sub.spec.includes), "uses_strings": uses_strings,
            "forward": _forward_tags(include_dir / sub.spec.header), "events": events,
            "description": f"kscribe probes for {sub.spec.subsystem} tracepoints"}

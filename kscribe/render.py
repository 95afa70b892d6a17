"""Render the module sources of a build folder from templates, specs and the target's headers.

The output is the complete input of one ``make M=``: the hand-written core, the uapi header,
one generated probe module per instrumentation spec and the Kbuild file. Files are written
only when their content changes, so kbuild's own up-to-date checks stay quiet.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jinja2

from kscribe import atomic, paths
from kscribe.errors import KscribeError
from kscribe.cformat import c_string, wrap_call, wrap_statement
from kscribe.events import Subsystem, resolve
from kscribe.kconfig import KernelTree
from kscribe.payload import payload_c
from kscribe.spec import load_all
from kscribe.syscall_probes import recorders
from kscribe.syscalls import SyscallTable
from kscribe.tracepoints import parse_header

CORE_FILES = {
    "core/kscribe_core.c": "kscribe_core.c",
    "core/kscribe_core.h": "kscribe_core.h",
    "include/uapi/linux/kscribe.h": "include/uapi/linux/kscribe.h",
}


def environment() -> jinja2.Environment:
    """The Jinja environment of ``templates/``: strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths.TEMPLATES),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    # "{{ statement | statement }}": one tab in, wrapped the kernel way when too long
    env.filters["statement"] = lambda text, depth=1: "\n".join(wrap_statement(text,
                                                                             "\t" * depth))
    return env


def _put(dest: Path, text: str) -> None:
    if dest.is_file() and dest.read_text() == text:
        return
    atomic.write_text(dest, text)


def _forward_tags(header: Path) -> list[str]:
    """``struct``/``union`` tags of every prototype in a trace header: some headers use
    them undeclared (``trace/events/irq.h``: ``struct tasklet_struct``)."""
    tags = set()
    for tp in parse_header(header).values():
        for arg in tp.args:
            words = arg.type.replace("*", " ").split()
            tags |= {f"{w} {n}" for w, n in zip(words, words[1:]) if w in ("struct", "union")}
    return sorted(tags)


def probe_context(sub: Subsystem, include_dir: Path) -> dict:
    """The template context of one probe module: events with prototypes and payload C."""
    events = []
    for ev in sub.events:
        params = ["void *data"] + [f"{a.type} {a.name}".replace("* ", "*")
                                   for a in ev.tracepoint.args]
        pc = payload_c(ev)
        events.append({
            "name": ev.name, "payload": pc,
            "prototype": wrap_call(f"static void kscribe_probe_{ev.name}(", params),
            "fields": [c_string(line + "\n") for line in ev.tsdl()],
            "uses_tail": any(s.startswith(pc.var["tail"]) for s in pc.stores),
        })
    uses_strings = any("strscpy" in s or "memcpy" in s or "strnlen" in s
                       for e in events for s in e["payload"].stores + e["payload"].prepare)
    return {"subsystem": sub.spec.subsystem, "trace_header": sub.spec.header,
            "includes": list(sub.spec.includes), "uses_strings": uses_strings,
            "forward": _forward_tags(include_dir / sub.spec.header), "events": events,
            "description": f"kscribe probes for {sub.spec.subsystem} tracepoints"}


def syscall_context(tree: KernelTree, target: str, arch: str,
                    tables: list[SyscallTable]) -> dict:
    """The template context of the syscall probe module."""
    ctx = recorders(tables, arch, 64 if tree.enabled("64BIT") else 32)
    header = tree.srctree / "include/trace/events/syscalls.h"
    hooks = parse_header(header)
    protos = {}
    for name in ("sys_enter", "sys_exit"):
        if name not in hooks:
            raise KscribeError(f"{header}: no {name} tracepoint found; its macros are not "
                               "ones kscribe.tracepoints knows")
        params = ["void *data"] + [f"{a.type} {a.name}".replace("* ", "*")
                                   for a in hooks[name].args]
        protos[name] = wrap_call(f"static void kscribe_{name}(", params)
    uses_u32 = any("kscribe_user_u32" in line for f in ctx["functions"]
                   for line in f.payload.prepare)
    return {**ctx, "target": target, "enter_prototype": protos["sys_enter"],
            "exit_prototype": protos["sys_exit"], "uses_user_u32": uses_u32}


def render_sources(tree: KernelTree, dest: Path, *, target: str = "", arch: str = "",
                   syscalls: list[SyscallTable] | None = None) -> list[str]:
    """Write the build folder's sources for ``tree`` into ``dest``; return the module names.

    A subsystem the target cannot have (its configuration, its headers) is left out with a
    note on stderr, as is an optional field its prototype lacks. ``syscalls`` (the
    target's tables, every ABI) adds the syscall probe module.
    """
    env = environment()
    dest.mkdir(parents=True, exist_ok=True)
    for src, rel in CORE_FILES.items():
        _put(dest / rel, (paths.KERNEL_MODULE / src).read_text())
    modules = ["kscribe_core"]
    wanted = set(CORE_FILES.values()) | {"Kbuild"}
    for spec in load_all(paths.INSTRUMENTATION / "events"):
        sub = resolve(spec, tree)
        for note in (sub.left_out, *sub.notes):
            if note:
                print(f"  note: {note}", file=sys.stderr)
        if sub.left_out:
            continue
        name = f"kscribe_probe_{spec.subsystem}"
        context = probe_context(sub, tree.srctree / "include")
        _put(dest / f"{name}.c", env.get_template("probe.c.j2").render(**context))
        modules.append(name)
        wanted.add(f"{name}.c")
    if syscalls:
        if not tree.enabled("HAVE_SYSCALL_TRACEPOINTS"):
            print("  note: syscalls: left out, the target has no syscall tracepoints",
                  file=sys.stderr)
        else:
            context = syscall_context(tree, target, arch, syscalls)
            _put(dest / "kscribe_probe_syscalls.c",
                 env.get_template("syscalls.c.j2").render(**context))
            modules.append("kscribe_probe_syscalls")
            wanted.add("kscribe_probe_syscalls.c")
    _put(dest / "Kbuild", env.get_template("Kbuild.j2").render(modules=modules))
    # a spec removed since the last render must not leave its module behind
    for stale in generated_sources(dest):
        if stale.name not in wanted:
            stale.unlink()
    return modules


def generated_sources(src: Path) -> list[Path]:
    """The probe modules' C files rendered into a build folder (not kbuild's ``*.mod.c``)."""
    return sorted(p for p in src.glob("kscribe_probe_*.c") if not p.name.endswith(".mod.c"))

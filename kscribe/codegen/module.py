"""Render the module sources of a build folder from templates, specs and the target's headers.

The output is the complete input of one ``make M=``: the hand-written core, the uapi header,
one generated probe module per instrumentation spec and the Kbuild file. Files are written
only when their content changes, so kbuild's own up-to-date checks stay quiet.
"""

from __future__ import annotations

from pathlib import Path

from kscribe.codegen.env import environment
from kscribe.codegen.events import probe_context
from kscribe.codegen.syscalls import syscall_context
from kscribe.config import paths
from kscribe.config.arches import Arch
from kscribe.instrument.events.resolve import resolve
from kscribe.instrument.events.spec import load_all
from kscribe.instrument.syscalls import SyscallTable
from kscribe.kernel.tree import KernelTree
from kscribe.util import atomic, log

CORE_FILES = {
    "core/kscribe_core.c": "kscribe_core.c",
    "core/kscribe_core.h": "kscribe_core.h",
    "include/uapi/linux/kscribe.h": "include/uapi/linux/kscribe.h",
}


def _put(dest: Path, text: str) -> None:
    if dest.is_file() and dest.read_text() == text:
        return
    atomic.write_text(dest, text)


def render_sources(tree: KernelTree, dest: Path, *, target: str = "",
                   arch: Arch | None = None, syscalls: list[SyscallTable] | None = None
                   ) -> list[str]:
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
                log.note(note)
        if sub.left_out:
            continue
        name = f"kscribe_probe_{spec.subsystem}"
        context = probe_context(sub, tree.srctree / "include")
        _put(dest / f"{name}.c", env.get_template("module/probe.c.j2").render(**context))
        modules.append(name)
        wanted.add(f"{name}.c")
    if syscalls and arch is not None:
        if not tree.enabled("HAVE_SYSCALL_TRACEPOINTS"):
            log.note("syscalls: left out, the target has no syscall tracepoints")
        else:
            context = syscall_context(tree, target, arch, syscalls)
            _put(dest / "kscribe_probe_syscalls.c",
                 env.get_template("module/syscalls.c.j2").render(**context))
            modules.append("kscribe_probe_syscalls")
            wanted.add("kscribe_probe_syscalls.c")
    _put(dest / "Kbuild", env.get_template("module/Kbuild.j2").render(modules=modules))
    # a spec removed since the last render must not leave its module behind
    for stale in generated_sources(dest):
        if stale.name not in wanted:
            stale.unlink()
    return modules


def generated_sources(src: Path) -> list[Path]:
    """The probe modules' C files rendered into a build folder (not kbuild's ``*.mod.c``)."""
    return sorted(p for p in src.glob("kscribe_probe_*.c") if not p.name.endswith(".mod.c"))

"""Render the module sources of a build folder from templates, specs and the target's headers.

The output is the complete input of one ``make M=``: the hand-written core, the uapi header,
one generated probe module per instrumentation spec, the syscall probe (hand-written
interpreter, generated tables) and the Kbuild file. Files are written
only when their content changes, so kbuild's own up-to-date checks stay quiet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kscribe.codegen import kconfig
from kscribe.codegen.env import environment
from kscribe.codegen.events import probe_context
from kscribe.codegen.kconfig import CORE_MODULE, SYSCALL_MODULE
from kscribe.codegen.syscalls import syscall_context
from kscribe.config import paths
from kscribe.config.arches import Arch
from kscribe.errors import KscribeError
from kscribe.instrument.events.resolve import Subsystem, resolve
from kscribe.instrument.events.spec import load_all
from kscribe.instrument.syscalls import SyscallTable
from kscribe.kernel.tree import KernelTree
from kscribe.util import atomic, log

CORE_FILES = {
    "core/kscribe_core.c": "kscribe_core.c",
    "core/kscribe_core.h": "kscribe_core.h",
    "include/uapi/linux/kscribe.h": "include/uapi/linux/kscribe.h",
}
# the syscall probe: the hand-written interpreter, and the generated tables it reads
SYSCALL_FILES = {
    "probes/kscribe_syscalls.c": "kscribe_syscalls.c",
    "probes/kscribe_syscalls.h": "kscribe_syscalls.h",
}
SYSCALL_TABLES = "kscribe_syscall_tables.c"


def _put(dest: Path, text: str) -> None:
    if dest.is_file() and dest.read_text() == text:
        return
    atomic.write_text(dest, text)


@dataclass(frozen=True)
class Choice:
    """The modules a kernel tree gets: the probe modules (name, resolved spec) and whether
    the syscall probe is one of them."""

    probes: list[tuple[str, Subsystem]]
    syscalls: bool

    @property
    def modules(self) -> list[str]:
        return [CORE_MODULE, *(n for n, _ in self.probes),
                *([SYSCALL_MODULE] if self.syscalls else [])]


def choose(tree: KernelTree, syscalls: bool) -> Choice:
    """The modules for ``tree``: the probe modules whose option in the tracer's Kconfig can
    be ``m`` with the target's ``.config`` (:func:`kscribe.codegen.kconfig.choose`) and whose
    tracepoint header the tree has, and the syscall probe when ``syscalls`` and its option
    allow. What is left out, and an optional field a prototype lacks, is a note on stderr."""
    specs = load_all(paths.INSTRUMENTATION / "events")
    options = kconfig.options(specs, syscalls=syscalls)
    chosen = kconfig.choose(kconfig.render(options), tree.config)
    if chosen[kconfig.SYMBOL] != "m":
        raise KscribeError(f"{tree.path}/.config: the tracer cannot be built for this kernel: "
                           f"{kconfig.SYMBOL} depends on TRACEPOINTS")
    why = {o.module: f"depends on {' && '.join([kconfig.SYMBOL, *o.requires])}"
           for o in options}
    probes = []
    for spec in specs:
        name = f"kscribe_probe_{spec.subsystem}"
        if chosen[kconfig.symbol(name)] != "m":
            log.note(f"{spec.subsystem}: left out, {kconfig.symbol(name)} cannot be m with "
                     f"the target's .config ({why[name]})")
            continue
        sub = resolve(spec, tree)
        for note in (sub.left_out, *sub.notes):
            if note:
                log.note(note)
        if not sub.left_out:
            probes.append((name, sub))
    with_syscalls = syscalls and chosen[kconfig.symbol(SYSCALL_MODULE)] == "m"
    if syscalls and not with_syscalls:
        log.note(f"syscalls: left out, {kconfig.symbol(SYSCALL_MODULE)} cannot be m with "
                 f"the target's .config ({why[SYSCALL_MODULE]})")
    return Choice(probes, with_syscalls)


def render_sources(tree: KernelTree, dest: Path, *, target: str = "",
                   arch: Arch | None = None, syscalls: list[SyscallTable] | None = None
                   ) -> list[str]:
    """Write the build folder's sources for ``tree`` into ``dest``; return the module names
    (those of :func:`choose`; ``syscalls``, the target's tables of every ABI, adds the
    syscall probe)."""
    env = environment()
    dest.mkdir(parents=True, exist_ok=True)
    for src, rel in CORE_FILES.items():
        _put(dest / rel, (paths.KERNEL_MODULE / src).read_text())
    wanted = set(CORE_FILES.values()) | {"Kbuild"}
    choice = choose(tree, bool(syscalls and arch is not None))
    for name, sub in choice.probes:
        context = probe_context(sub, tree.srctree / "include")
        _put(dest / f"{name}.c", env.get_template("module/probe.c.j2").render(**context))
        wanted.add(f"{name}.c")
    parts: dict[str, list[str]] = {}
    if choice.syscalls and syscalls and arch is not None:
        for src, rel in SYSCALL_FILES.items():
            _put(dest / rel, (paths.KERNEL_MODULE / src).read_text())
        context = syscall_context(target, arch, tree.word_bits, syscalls)
        _put(dest / SYSCALL_TABLES,
             env.get_template("module/syscall_tables.c.j2").render(**context))
        parts[SYSCALL_MODULE] = [f"{Path(f).stem}.o" for f in (*SYSCALL_FILES.values(),
                                                               SYSCALL_TABLES)
                                 if f.endswith(".c")]
        wanted |= {*SYSCALL_FILES.values(), SYSCALL_TABLES}
    modules = choice.modules
    _put(dest / "Kbuild", env.get_template("module/Kbuild.j2").render(modules=modules,
                                                                       parts=parts))
    # a spec removed since the last render must not leave its module behind
    for stale in [*generated_sources(dest), *(dest / f for f in SYSCALL_FILES.values())]:
        if stale.name not in wanted and stale.is_file():
            stale.unlink()
    return modules


def generated_sources(src: Path) -> list[Path]:
    """The C files rendered into a build folder from templates (not kbuild's ``*.mod.c``)."""
    probes = [p for p in src.glob("kscribe_probe_*.c") if not p.name.endswith(".mod.c")]
    return sorted([*probes, *src.glob(SYSCALL_TABLES)])

"""The tracer's Kconfig, written once from the instrumentation specs.

In a kernel tree it is the tracer's Kconfig (``kscribe upstream``). Out of tree, kconfiglib
evaluates the same text against a target's ``.config`` to choose the probe modules of a
build: a probe is built when its option can be ``m`` there. So the rule of which subsystem a
kernel can have is written once, as the ``requires`` of its spec, which become the ``depends
on`` of its option.

The symbols the Kconfig uses and does not define (``TRACEPOINTS``, ``BLOCK``...) are declared
for kconfiglib with the target's values, so it evaluates the tracer's own rules and nothing
of the kernel's Kconfig, which a headers package does not ship.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

import kconfiglib

from kscribe.codegen.env import environment
from kscribe.errors import KscribeError
from kscribe.instrument.events.spec import SubsystemSpec

SYMBOL = "KSCRIBE"
CORE_MODULE = "kscribe_core"
SYSCALL_MODULE = "kscribe_probe_syscalls"
SYSCALL_TITLE = "system calls, entry and exit with their arguments,"
SYSCALL_REQUIRES = ("HAVE_SYSCALL_TRACEPOINTS",)


@dataclass(frozen=True)
class Option:
    """The Kconfig option of one probe module."""

    module: str
    symbol: str
    title: str
    requires: tuple[str, ...]
    events: tuple[str, ...]


def symbol(module: str) -> str:
    """The option of a module: ``KSCRIBE`` for the core, ``KSCRIBE_PROBE_SCHED``..."""
    return SYMBOL if module == CORE_MODULE else \
        f"{SYMBOL}_{module.removeprefix('kscribe_').upper()}"


def options(specs: Iterable[SubsystemSpec], syscalls: bool) -> list[Option]:
    """The probe options of ``specs`` (in their order), then the syscall probe's."""
    out = [Option(module=f"kscribe_probe_{s.subsystem}",
                  symbol=symbol(f"kscribe_probe_{s.subsystem}"), title=s.title,
                  requires=s.requires, events=tuple(e.tracepoint for e in s.events))
           for s in specs]
    if syscalls:
        out.append(Option(module=SYSCALL_MODULE, symbol=symbol(SYSCALL_MODULE),
                          title="system calls", requires=SYSCALL_REQUIRES,
                          events=("sys_enter", "sys_exit")))
    return out


def _help(o: Option) -> list[str]:
    what = SYSCALL_TITLE if o.module == SYSCALL_MODULE else o.title
    return [*textwrap.wrap(f"Records {what} in kscribe recordings, from these tracepoints: "
                           f"{', '.join(o.events)}.", 64), "",
            *textwrap.wrap("To compile this as a module, choose M here: the module will be "
                           f"called {o.module}.", 64)]


def render(opts: Iterable[Option]) -> str:
    """The Kconfig text: the core's option, then one per probe module."""
    probes = [{"symbol": o.symbol, "title": o.title, "requires": list(o.requires),
               "help": _help(o)} for o in opts]
    return environment().get_template("module/Kconfig.j2").render(symbol=SYMBOL,
                                                                   probes=probes)


def _declarations(names: Iterable[str], config: dict[str, str]) -> str:
    """Kconfig declarations of the kernel's symbols ``names``, with the target's values."""
    out = []
    for name in sorted(names):
        value = config.get(f"CONFIG_{name}", "n")
        kind = "tristate" if value == "m" else "bool"
        lines = [f"config {name}", f"\t{kind}"]
        if value in ("y", "m"):
            lines.append(f"\tdefault {value}")
        if name == "MODULES":
            lines.append("\toption modules")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def _parse(text: str, where: str) -> kconfiglib.Kconfig:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="kscribe-kconfig-") as tmp:
        path = Path(tmp) / "Kconfig"
        path.write_text(text)
        try:
            kconf = kconfiglib.Kconfig(str(path), warn_to_stderr=False)
        except kconfiglib.KconfigError as e:
            raise KscribeError(f"{where}: {str(e).splitlines()[0]}") from None
    return kconf


def choose(text: str, config: dict[str, str], where: str = "the tracer's Kconfig"
           ) -> dict[str, str]:
    """Each option of ``text`` -> ``m`` if it can be a module with the target's ``config``
    (``CONFIG_X`` -> ``y``/``m``), else ``n``; the core's option first."""
    ours = _parse(text, where)
    defined = {n for n, s in ours.syms.items() if s.nodes}
    kernel = {n for n, s in ours.syms.items() if not s.nodes and n not in ("y", "m", "n")}
    kernel.add("MODULES")
    kconf = _parse(_declarations(kernel, config) + "\n" + text, where)
    if kconf.warnings:
        raise KscribeError(f"{where}: {kconf.warnings[0].splitlines()[0]}")
    out = {}
    for name in [n for n in kconf.syms if n in defined]:
        sym = kconf.syms[name]
        sym.set_value("m")
        out[name] = sym.str_value if sym.str_value == "m" else "n"
    return out

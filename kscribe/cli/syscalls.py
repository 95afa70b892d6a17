"""``kscribe syscalls``: a target's syscall tables (all ABIs), and their typed coverage."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from kscribe.config.settings import Settings
from kscribe.errors import KscribeError
from kscribe.util import log


def cmd_syscalls(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.instrument.syscalls import assemble, report
    from kscribe.pipeline import prepare

    p = prepare(args.target, settings)
    res = assemble.result(p, settings, use_source=not args.headers_only)
    tables = res.tables
    if args.abi:
        want = args.abi
        if want == "native":
            tables = [t for t in tables if t.native]
        else:
            tables = [t for t in tables if t.abi == want]
        if not tables:
            raise KscribeError(f"{p.target}: no ABI {want!r}; its ABIs are "
                               f"{', '.join(t.abi for t in res.tables)} (or 'native')")
    if args.coverage:
        print(report.coverage_json(tables) if args.json else report.coverage_text(tables))
    else:
        print(report.as_json(tables) if args.json else report.text(tables))
    for n in res.notes:
        log.debug(f"note: {n}")
    log.debug("took " + ", ".join(f"{k} {v:.3f} s" for k, v in res.timings.items()))
    return 0


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the syscall subcommands with ``kscribe.cli``'s ``add(name, func, help)``."""
    sp = add("syscalls", cmd_syscalls, "print a target's syscall tables (every ABI its kernel "
             "has), read from its own headers, or their typed coverage")
    sp.add_argument("target", help="SUITE/ARCH[/FLAVOUR], e.g. bookworm/amd64")
    sp.add_argument("--abi", help="only this ABI (e.g. x86_64, ia32, x32, arm32, o32, or "
                    "'native')")
    sp.add_argument("--json", action="store_true", help="print JSON")
    sp.add_argument("--coverage", action="store_true", help="per ABI: how many syscalls "
                    "have typed arguments, and which have the generic record and why")
    sp.add_argument("--headers-only", action="store_true", help="do not use the "
                    "linux-source package (the prototypes the headers lack, and the argument "
                    "names of the SYSCALL_DEFINE definitions that tracefs shows)")

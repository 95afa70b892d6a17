"""The tracer's build folder for the kernel tree at hand: what a -dkms package runs on the
user's machine, where there is no archive, no network and no cache, only the installed
``linux-headers``.

The probes are generated from the tree's own tracepoint headers, the syscall tables from
its own headers (numbers, prototypes); a syscall the headers declare no prototype for is
recorded with generic arguments, and the build log says which and why. The machine's
architecture is the kernel's: dkms builds for the kernels installed on it.

``python3 -m kscribe.build.local generate --kdir DIR --out DIR`` writes the sources and
their Kbuild; ``modules --kdir DIR`` prints the module names, one a line (dkms.conf's list).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from kscribe.codegen.module import choose, render_sources
from kscribe.config.arches import Arch, host_arch
from kscribe.errors import KscribeError
from kscribe.instrument.syscalls import SyscallTable
from kscribe.instrument.syscalls.assemble import build_tree
from kscribe.kernel.tree import KernelTree, read_tree
from kscribe.util import log

VERSION_H = "include/generated/uapi/linux/version.h"


def kernel_version(tree: KernelTree) -> str:
    """The kernel's version (6.1.192) from its ``version.h``, the sublevel unclamped."""
    for base in (tree.path, tree.srctree):
        h = base / VERSION_H
        if h.is_file():
            text = h.read_text()
            parts = [re.search(rf"#define LINUX_VERSION_{k} (\d+)", text)
                     for k in ("MAJOR", "PATCHLEVEL", "SUBLEVEL")]
            if all(parts):
                return ".".join(m.group(1) for m in parts if m)
            code = re.search(r"#define LINUX_VERSION_CODE (\d+)", text)
            if code:
                c = int(code.group(1))
                return f"{c >> 16}.{(c >> 8) & 255}.{c & 255}"
    raise KscribeError(f"{tree.path}: no {VERSION_H}; is it a prepared kernel tree "
                       "(linux-headers)?")


def syscall_tables(tree: KernelTree, arch: Arch) -> list[SyscallTable]:
    """The tree's syscall tables from its headers alone; each syscall recorded generically
    is said on stderr, with why."""
    result = build_tree(tree, arch, f"local:{tree.release}", kernel_version(tree), None)
    for table in result.tables:
        generic = [s for s in table.syscalls if not s.typed and s.implemented]
        if generic:
            log.note(f"syscalls: {len(generic)} of {len(table.syscalls)} in the {table.abi} "
                     "ABI are recorded with generic arguments (arg0..arg5):")
            for s in generic:
                log.note(f"  {s.name}: {s.reason}")
    return result.tables


def generate(kdir: Path, out: Path, arch: Arch | None = None) -> list[str]:
    """Write the build folder of ``kdir`` into ``out``; the module names."""
    tree = read_tree(kdir)
    arch = arch or host_arch()
    tables = syscall_tables(tree, arch)
    modules = render_sources(tree, out, target=f"local:{tree.release}", arch=arch,
                             syscalls=tables)
    log.progress(f"{tree.release}: generated {len(modules)} modules in {out}")
    return modules


def modules(kdir: Path) -> list[str]:
    """The modules a build of ``kdir`` makes, without generating them."""
    return choose(read_tree(kdir), syscalls=True).modules


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m kscribe.build.local",
                                 description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write the build folder's sources and Kbuild")
    g.add_argument("--kdir", type=Path, required=True, help="the kernel tree (headers)")
    g.add_argument("--out", type=Path, required=True, help="the build folder")
    m = sub.add_parser("modules", help="print the modules a build makes, one a line")
    m.add_argument("--kdir", type=Path, required=True, help="the kernel tree (headers)")
    args = ap.parse_args(argv)
    log.setup(-1 if args.command == "modules" else 0)
    try:
        if args.command == "generate":
            generate(args.kdir, args.out)
        else:
            print("\n".join(modules(args.kdir)))
    except KscribeError as e:
        print(f"kscribe: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

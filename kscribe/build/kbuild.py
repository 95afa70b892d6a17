"""Build the tracer's modules for one kernel tree and record what was built.

A build folder (``out/<target>/``) holds ``src/`` (the rendered sources, also kbuild's output
folder), the built ``*.ko`` and guest programs, ``build.log`` and ``metadata.json``
(:mod:`kscribe.build.metadata`).

Builds are reproducible wherever the checkout and the cache live: the environment is fixed
(:data:`REPRODUCIBLE_ENV`) and the compiler maps the build folder to ``/usr/src/kscribe`` and
the cached kernel headers to where Debian installs them, so no absolute path of this machine
reaches the modules' debug info.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kscribe.build import guest_programs, metadata
from kscribe.codegen.module import render_sources
from kscribe.config.arches import Arch
from kscribe.errors import KscribeError
from kscribe.instrument.syscalls import SyscallTable
from kscribe.kernel.diagnostics import count_diagnostics
from kscribe.kernel.tree import KernelTree
from kscribe.toolchain.select import Toolchain
from kscribe.util import atomic, log, proc
from kscribe.util.digest import sha256_file

# Environment of every build: fixed so that two builds give the same bytes.
REPRODUCIBLE_ENV = {
    "LC_ALL": "C",
    "KBUILD_BUILD_TIMESTAMP": "1970-01-01",
    "KBUILD_BUILD_USER": "kscribe",
    "KBUILD_BUILD_HOST": "kscribe",
    "SOURCE_DATE_EPOCH": "0",
}
# where the build folder appears in debug info
SOURCE_PATH = "/usr/src/kscribe"


@dataclass(frozen=True)
class BuildResult:
    """What a build produced."""

    outdir: Path
    modules: list[Path]
    metadata: dict[str, Any]


def make_argv(tree: KernelTree, arch: Arch, src: Path, tc: Toolchain,
              tree_prefix: Path | None = None) -> list[str]:
    """The kbuild command line of an external-module build with ``W=1``.

    ``tree_prefix`` is the folder that stands for ``/`` in the kernel tree's paths (the
    cache's extracted packages); it and ``src`` are mapped away in the output.
    """
    maps = [f"-ffile-prefix-map={src}={SOURCE_PATH}"]
    if tree_prefix is not None:
        maps.append(f"-ffile-prefix-map={tree_prefix}/=/")
    argv = ["make", "-C", str(tree.path), f"M={src}", f"ARCH={arch.kbuild_arch}", "W=1",
            f"-j{os.cpu_count() or 1}", f"KCFLAGS={' '.join(maps)}"]
    if tc.cross_compile:
        argv.append(f"CROSS_COMPILE={tc.cross_compile}")
    return argv + ["modules"]


def _first_message(log_text: str) -> str:
    """The first line of a failed build that is neither make's nor kbuild's progress."""
    for line in log_text.splitlines():
        if line.strip() and not re.match(r"^(make(\[\d+\])?: |\s+[A-Z]+(\s\[M\])?\s)", line):
            return line.strip()
    return "no message (see the log)"


def build(*, tree: KernelTree, arch: Arch, toolchain: Toolchain, outdir: Path,
          target: str, packages: dict[str, str] | None = None, binds: tuple[Path, ...] = (),
          tree_prefix: Path | None = None, syscalls: list[SyscallTable] | None = None,
          clean: bool = False) -> BuildResult:
    """Render the sources, run kbuild, collect artifacts and write ``metadata.json``.

    ``binds`` are the folders a chroot toolchain must see (the kernel tree's prefix);
    ``syscalls`` the target's syscall tables, for the syscall probe module.
    """
    proc.require("make", why="to run kbuild")
    src = (outdir / "src").resolve()
    if clean and src.exists():
        shutil.rmtree(src)
    modules = render_sources(tree, src, target=target, arch=arch, syscalls=syscalls)
    argv = make_argv(tree, arch, src, toolchain, tree_prefix)
    if toolchain.chroot is not None:
        toolchain.chroot.ensure()
        toolchain.binds = [*binds, outdir.resolve()]
    cc_version = toolchain.version(src)
    cmd, _ = toolchain.command(argv, src, REPRODUCIBLE_ENV)
    meta: dict[str, Any] = {
        "target": target,
        "kernel_release": tree.release,
        "kdir": str(tree.path),
        "arch": arch.name,
        "packages": packages or {},
        "toolchain": {**toolchain.identity(), "version": cc_version, "kernel_cc": tree.cc_text},
        "make": shlex.join(argv),
        "reproducer": " ".join(f"{k}={shlex.quote(v)}" for k, v in REPRODUCIBLE_ENV.items())
                      + " " + shlex.join(cmd),
        "modules": modules,
        "status": "running",
    }
    metadata.write(outdir, meta)
    started = time.monotonic()
    done = toolchain.run(argv, src, REPRODUCIBLE_ENV)
    log_text = done.stdout + done.stderr
    atomic.write_text(outdir / "build.log", f"$ {meta['reproducer']}\n{log_text}")
    warnings, errors, first = count_diagnostics(log_text)
    first = [f for f in first if not f.startswith("make")] or first
    meta.update(duration_s=round(time.monotonic() - started, 3), warnings=warnings,
                errors=errors)
    if done.returncode != 0:
        meta["status"] = "failed"
        metadata.write(outdir, meta)
        cause = first[0] if first else _first_message(log_text)
        raise KscribeError(f"{target}: build failed: {cause} (log: {outdir / 'build.log'})")
    built = []
    for name in modules:
        ko = src / f"{name}.ko"
        if not ko.is_file():
            raise KscribeError(f"{target}: make succeeded but {ko.name} is missing")
        dest = outdir / ko.name
        with atomic.atomic_path(dest) as tmp:
            shutil.copyfile(ko, tmp)
        built.append(dest)
    tools = guest_programs.build_all(arch, outdir)
    meta["artifacts"] = {p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
                         for p in [*built, *tools]}
    meta["status"] = "ok"
    metadata.write(outdir, meta)
    log.progress(f"{target}: built {', '.join(p.name for p in built)} with {toolchain.cc} "
                 f"({toolchain.kind}) in {meta['duration_s']:.1f} s, {warnings} warnings")
    return BuildResult(outdir=outdir, modules=built, metadata=meta)

"""Build the tracer's modules for one kernel tree and record what was built.

A build folder (``out/<target>/``) holds ``src/`` (the rendered sources, also kbuild's output
folder), the built ``*.ko`` and ``kscribectl``, ``build.log`` and ``metadata.json``:
target, packages, compiler, the make command line as a reproducer, duration, warning and
error counts, and every artifact with size and SHA256. ``metadata.json`` is written when the
build starts and again when it ends, so a killed build still says what it was doing.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kscribe import atomic, paths
from kscribe.download import sha256_file
from kscribe.errors import KscribeError
from kscribe.hosttools import require
from kscribe.kconfig import KernelTree
from kscribe.render import render_sources
from kscribe.tables import Arch
from kscribe.toolchain import HOST_ARCH, Toolchain

_DIAG = re.compile(r"^(?P<loc>[^\s:]+:\d+(?::\d+)?): (?P<kind>warning|error|fatal error): ", re.M)
_KBUILD_WARN = re.compile(r"^WARNING: ", re.M)
_KBUILD_ERR = re.compile(r"^(?:ERROR: |make(?:\[\d+\])?: \*\*\* )", re.M)

# Static programs for the guest, built with the modules: the control tool and the workload
# whose trace the end-to-end test checks.
GUEST_PROGRAMS = {
    "kscribectl": paths.KERNEL_MODULE / "tools/kscribectl.c",
    "kscribe-workload": paths.ROOT / "tests/guest/workload.c",
    "kscribe-loop": paths.ROOT / "tests/guest/syscall-loop.c",
    "kscribe-fuzz": paths.ROOT / "tests/guest/ioctl-fuzz.c",
}

# Environment of every build: fixed so that two builds give the same bytes.
REPRODUCIBLE_ENV = {
    "LC_ALL": "C",
    "KBUILD_BUILD_TIMESTAMP": "1970-01-01",
    "KBUILD_BUILD_USER": "kscribe",
    "KBUILD_BUILD_HOST": "kscribe",
    "SOURCE_DATE_EPOCH": "0",
}


@dataclass(frozen=True)
class BuildResult:
    """What a build produced."""

    outdir: Path
    modules: list[Path]
    metadata: dict


def make_argv(tree: KernelTree, arch: Arch, src: Path, tc: Toolchain) -> list[str]:
    """The kbuild command line of an external-module build with ``W=1``."""
    argv = ["make", "-C", str(tree.path), f"M={src}", f"ARCH={arch.kbuild_arch}", "W=1",
            f"-j{os.cpu_count() or 1}"]
    if tc.cross_compile:
        argv.append(f"CROSS_COMPILE={tc.cross_compile}")
    return argv + ["modules"]


def count_diagnostics(log: str) -> tuple[int, int, list[str]]:
    """(warnings, errors, first error lines) of a build log."""
    warnings = errors = 0
    first: list[str] = []
    for m in _DIAG.finditer(log):
        if m.group("kind") == "warning":
            warnings += 1
        else:
            errors += 1
            first.append(log[m.start():log.find("\n", m.start())])
    warnings += len(_KBUILD_WARN.findall(log))
    kb_errors = [log[m.start():log.find("\n", m.start())] for m in _KBUILD_ERR.finditer(log)]
    if not errors:
        errors += len([e for e in kb_errors if not e.startswith("make")])
        first += kb_errors
    return warnings, errors, first


def _first_message(log: str) -> str:
    """The first line of a failed build that is neither make's nor kbuild's progress."""
    for line in log.splitlines():
        if line.strip() and not re.match(r"^(make(\[\d+\])?: |\s+[A-Z]+(\s\[M\])?\s)", line):
            return line.strip()
    return "no message (see the log)"


def _userspace_cc(arch: Arch) -> str:
    """The host compiler for kscribectl: any gcc of the target arch (static, plain libc)."""
    if arch.name == HOST_ARCH:
        return require("gcc", "gcc", "to build kscribectl")
    return require(f"{arch.triplet}-gcc", f"gcc-{arch.package_suffix}",
                   f"to build kscribectl for {arch.name}")


def build_userspace(arch: Arch, name: str, source: Path, dest: Path) -> Path:
    """Build the static guest program ``name`` from ``source`` for ``arch`` into ``dest``."""
    cc = _userspace_cc(arch)
    out = dest / name
    with atomic.atomic_path(out) as tmp:
        proc = subprocess.run(
            [cc, "-static", "-Os", "-Wall", "-Wextra", "-Werror",
             f"-ffile-prefix-map={paths.ROOT}=.", "-Wl,--build-id=none",
             "-I", str(paths.KERNEL_MODULE / "include"), "-o", str(tmp), str(source)],
            capture_output=True, text=True)
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["?"])[0]
            raise KscribeError(f"{source.name} for {arch.name} does not build: {first}")
    return out


def build(*, tree: KernelTree, arch: Arch, toolchain: Toolchain, outdir: Path,
          target: str, packages: dict | None = None, binds: tuple[Path, ...] = (),
          syscalls: list | None = None, clean: bool = False) -> BuildResult:
    """Render the sources, run kbuild, collect artifacts and write ``metadata.json``.

    ``binds`` are the folders a chroot toolchain must see (the kernel tree's prefix);
    ``syscalls`` the target's syscall tables, for the syscall probe module.
    """
    require("make", why="to run kbuild")
    src = outdir / "src"
    if clean and src.exists():
        shutil.rmtree(src)
    modules = render_sources(tree, src, target=target, arch=arch.name, syscalls=syscalls)
    argv = make_argv(tree, arch, src, toolchain)
    if toolchain.chroot is not None:
        toolchain.chroot.ensure()
        toolchain.binds = [*binds, outdir.resolve()]
    cc_version = toolchain.version(src)
    cmd, _ = toolchain.command(argv, src, REPRODUCIBLE_ENV)
    meta = {
        "target": target,
        "kernel_release": tree.release,
        "kdir": str(tree.path),
        "arch": arch.name,
        "packages": packages or {},
        "toolchain": {"kind": toolchain.kind, "cc": toolchain.cc, "version": cc_version,
                      "kernel_cc": tree.cc_text, "packages": toolchain.packages,
                      "chroot": toolchain.chroot.name if toolchain.chroot else None},
        "make": shlex.join(argv),
        "reproducer": " ".join(f"{k}={shlex.quote(v)}" for k, v in REPRODUCIBLE_ENV.items())
                      + " " + shlex.join(cmd),
        "modules": modules,
        "status": "running",
    }
    atomic.write_json(outdir / "metadata.json", meta)
    started = time.monotonic()
    proc = toolchain.run(argv, src, REPRODUCIBLE_ENV, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    atomic.write_text(outdir / "build.log", f"$ {meta['reproducer']}\n{log}")
    warnings, errors, first = count_diagnostics(log)
    first = [f for f in first if not f.startswith("make")] or first
    meta.update(duration_s=round(time.monotonic() - started, 3), warnings=warnings,
                errors=errors)
    if proc.returncode != 0:
        meta["status"] = "failed"
        atomic.write_json(outdir / "metadata.json", meta)
        cause = first[0] if first else _first_message(log)
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
    tools = [build_userspace(arch, name, src, outdir) for name, src in GUEST_PROGRAMS.items()]
    meta["artifacts"] = {p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
                         for p in [*built, *tools]}
    meta["status"] = "ok"
    atomic.write_json(outdir / "metadata.json", meta)
    print(f"  {target}: built {', '.join(p.name for p in built)} with {toolchain.cc} "
          f"({toolchain.kind}) in {meta['duration_s']:.1f} s, {warnings} warnings",
          file=sys.stderr)
    return BuildResult(outdir=outdir, modules=built, metadata=meta)


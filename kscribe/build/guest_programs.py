"""The static programs the guest runs beside the modules: the control tool and the workloads.

They are plain userspace C built with any gcc of the target architecture (static, so the
guest's busybox initramfs needs no libraries) and with the checkout's path mapped away, so
two checkouts give the same bytes.
"""

from __future__ import annotations

import re
from pathlib import Path

from kscribe.config import paths
from kscribe.config.arches import Arch, get_arch, host_arch
from kscribe.errors import KscribeError
from kscribe.util import atomic, proc

# name in the guest's /bin -> source
PROGRAMS = {
    "kscribectl": paths.KERNEL_MODULE / "tools/kscribectl.c",
    "kscribe-workload": paths.GUEST_SOURCES / "workload.c",
    "kscribe-loop": paths.GUEST_SOURCES / "syscall-loop.c",
    "kscribe-fuzz": paths.GUEST_SOURCES / "ioctl-fuzz.c",
    "kscribe-abi-check": paths.GUEST_SOURCES / "abi-check.c",
    "kscribe-threads": paths.GUEST_SOURCES / "threads.c",
}
# the workload built for the arch's compat_guest, where it has one
COMPAT_WORKLOAD = "kscribe-workload32"


def programs(arch: Arch) -> dict[str, tuple[Arch, Path]]:
    """The guest programs of ``arch``: name -> (the architecture built for, source)."""
    out = {name: (arch, src) for name, src in PROGRAMS.items()}
    if arch.compat_guest:
        out[COMPAT_WORKLOAD] = (get_arch(arch.compat_guest), PROGRAMS["kscribe-workload"])
    return out


def compiler(arch: Arch) -> str:
    """The host's gcc for ``arch``: its own when native, the cross gcc otherwise."""
    if arch.name == host_arch().name:
        return "gcc"
    return f"{arch.triplet}-gcc"


def build_program(arch: Arch, name: str, source: Path, dest: Path,
                  include: Path = paths.KERNEL_MODULE / "include") -> Path:
    """Build the static guest program ``name`` from ``source`` for ``arch`` into ``dest``,
    with the uapi header of ``include`` (the tracer's own by default)."""
    cc = compiler(arch)
    out = dest / name
    with atomic.atomic_path(out) as tmp:
        done = proc.run([cc, "-static", "-O2", "-Wall", "-Wextra", "-Werror",
                         f"-ffile-prefix-map={paths.ROOT}=.", "-Wl,--build-id=none",
                         "-I", include, "-o", tmp, source],
                        check=False, why=f"to build the guest programs for {arch.name}")
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["?"])[0]
            raise KscribeError(f"{source.name} for {arch.name} does not build: {first}")
    return out


def build_all(arch: Arch, dest: Path, include: Path = paths.KERNEL_MODULE / "include"
              ) -> list[Path]:
    """Every guest program for ``arch``, into ``dest``, with the uapi header of ``include``."""
    return [build_program(built_for, name, src, dest, include)
            for name, (built_for, src) in programs(arch).items()]


def build_tool(arch: Arch, dest: Path) -> Path:
    """kscribectl as a distribution ships it: linked against the C library, with Debian's
    hardening flags (``dpkg-buildflags`` for ``arch``), stripped; for a package, not the
    guest."""
    cc = compiler(arch)
    env = {"DEB_HOST_ARCH": arch.name, "DEB_BUILD_MAINT_OPTIONS": "hardening=+all",
           "PATH": "/usr/bin:/bin"}
    flags = {k: proc.run(["dpkg-buildflags", "--get", k], env=env,
                         why="to build kscribectl with Debian's flags").stdout.split()
             for k in ("CPPFLAGS", "CFLAGS", "LDFLAGS")}
    out = dest / "kscribectl"
    dest.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(out) as tmp:
        done = proc.run([cc, *flags["CPPFLAGS"], *flags["CFLAGS"], "-Wall", "-Wextra",
                         "-Werror", f"-ffile-prefix-map={paths.ROOT}=.", *flags["LDFLAGS"],
                         "-I", paths.KERNEL_MODULE / "include", "-o", tmp,
                         PROGRAMS["kscribectl"]], check=False,
                        why=f"to build kscribectl for {arch.name}")
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["?"])[0]
            raise KscribeError(f"kscribectl for {arch.name} does not build: {first}")
        strip = "strip" if arch.name == host_arch().name else f"{arch.triplet}-strip"
        proc.run([strip, "--strip-unneeded", "--remove-section=.comment",
                  "--remove-section=.note", tmp], why="to strip kscribectl")
        tmp.chmod(0o755)
    return out


def libc_version(binary: Path) -> str:
    """The newest GLIBC symbol version ``binary`` needs (what dpkg-shlibdeps would find)."""
    text = proc.run(["readelf", "-W", "--dyn-syms", binary], why="to read kscribectl's "
                    "symbols").stdout
    versions = {tuple(int(x) for x in v.split(".")) for v in
                re.findall(r"@GLIBC_(\d+(?:\.\d+)+)", text)}
    if not versions:
        raise KscribeError(f"{binary}: no GLIBC symbol versions: is it linked dynamically?")
    return ".".join(map(str, max(versions)))

"""Pick the compiler a target kernel needs: the host's when it matches, else a chroot's.

kbuild does not probe the compiler again for external modules: the flags were fixed when the
kernel was configured, so a module must be built by the same gcc major version, and the
tree's ``linux-kbuild`` programs must be able to run (they need their suite's glibc).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kscribe.config.arches import Arch, host_arch
from kscribe.config.settings import Settings
from kscribe.debian.archive import Deb
from kscribe.errors import KscribeError
from kscribe.kernel.tree import KernelTree
from kscribe.toolchain.chroot import Chroot
from kscribe.toolchain.host import host_codename, kbuild_runs
from kscribe.util import hosttools, proc

MODES = ("auto", "host", "chroot")


@dataclass
class Toolchain:
    """How to run kbuild for one tree: directly on the host, or inside a chroot."""

    kind: str
    cc: str
    cross_compile: str
    packages: list[str]
    chroot: Chroot | None = None
    binds: list[Path] = field(default_factory=list)

    def command(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None
                ) -> tuple[list[str], dict[str, str] | None]:
        """The argv (and environment) that runs ``argv`` with this toolchain."""
        if self.chroot is None:
            return argv, ({**os.environ, **env} if env else None)
        return self.chroot.command(argv, cwd, self.binds, env), None

    def run(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
        """Run ``argv`` with this toolchain, output captured, exit status not checked."""
        cmd, full_env = self.command(argv, cwd, env)
        return proc.run(cmd, cwd=cwd, env=full_env, check=False)

    def version(self, cwd: Path) -> str:
        """The compiler's ``--version`` first line."""
        out = self.run([self.cc, "--version"], cwd)
        return out.stdout.splitlines()[0] if out.returncode == 0 and out.stdout else ""

    def identity(self) -> dict[str, Any]:
        """What a build's output depends on besides its sources: the toolchain's kind,
        compiler and (for a chroot) the chroot's name."""
        return {"kind": self.kind, "cc": self.cc, "packages": sorted(self.packages),
                "chroot": self.chroot.name if self.chroot else None}


def select(settings: Settings, tree: KernelTree, arch: Arch, codename: str | None,
           kbuild: Deb | None, mode: str = "auto", extra: tuple[str, ...] = ()) -> Toolchain:
    """The toolchain for ``tree`` (built for ``arch``, from suite ``codename``).

    ``mode`` "host" insists on the host, "chroot" on a chroot of ``codename``; "auto" takes
    the host when it has the kernel's gcc major version and can run the tree's kbuild
    programs, and a chroot otherwise. A host that should have the compiler (same Debian
    release as the kernel) but lacks it gets an error with the install command. ``extra``
    packages go into a chroot besides the compiler's (a kernel source tree needs more).
    """
    if mode not in MODES:
        raise KscribeError(f"unknown toolchain mode {mode!r}: use one of {', '.join(MODES)}")
    major = tree.gcc_major
    if major is None:
        raise KscribeError(f"{tree.path}/.config: kernel not built with gcc "
                           f"({tree.cc_text or 'no CONFIG_CC_VERSION_TEXT'}); unsupported")
    native = arch.name == host_arch().name
    package = f"gcc-{major}" if native else f"gcc-{major}-{arch.package_suffix}"
    host_cc = f"{'' if native else arch.triplet + '-'}gcc-{major}"
    host_ok = shutil.which(host_cc) is not None and kbuild_runs(tree)
    same_release = codename in (None, host_codename())
    if mode == "host" or (mode == "auto" and (host_ok or same_release)):
        return _host(tree, arch, native, host_cc, package)
    if codename is None:
        raise KscribeError("a chroot toolchain needs a Debian target, not --kdir")
    # perl: W=1 runs scripts/kernel-doc, which needs more than minbase's perl-base;
    # the kbuild package's own dependencies are the libraries its programs link to
    packages = ["make", "perl", package, *extra]
    packages += [d for d in (kbuild.depends if kbuild else ()) if not d.startswith("libc6")]
    if tree.enabled("DEBUG_INFO_BTF_MODULES"):
        packages.append(hosttools.package_of("pahole"))
    # 6.12+ .kernelvariables force CROSS_COMPILE=<triplet>- even for native builds, and
    # every gcc package installs <triplet>-gcc-N
    cross = f"{arch.triplet}-"
    return Toolchain(kind="chroot", cc=f"{cross}gcc-{major}", cross_compile=cross,
                     packages=packages, chroot=Chroot(settings, codename, packages))


def _host(tree: KernelTree, arch: Arch, native: bool, cc: str, package: str) -> Toolchain:
    """The host toolchain, or an error saying what to install or to use instead."""
    hosttools.require(cc, package, f"by kbuild: the kernel was built with {tree.cc_text!r}")
    if not kbuild_runs(tree):
        raise KscribeError(f"{tree.path}/scripts: the kernel's kbuild programs do not run "
                           "on this host (glibc too old); use --toolchain chroot")
    return Toolchain(kind="host", cc=cc, cross_compile="" if native else f"{arch.triplet}-",
                     packages=[package])

"""Facts of the machine kscribe runs on: its Debian release, and whether a kernel tree's
prebuilt kbuild programs run here."""

from __future__ import annotations

from pathlib import Path

from kscribe.kernel.tree import KernelTree
from kscribe.util import proc

OS_RELEASE = Path("/etc/os-release")


def host_codename() -> str:
    """The host's Debian codename, '' when it is not Debian."""
    try:
        for line in OS_RELEASE.read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return ""


def kbuild_runs(tree: KernelTree) -> bool:
    """True when the tree's prebuilt kbuild programs run here (glibc new enough)."""
    fixdep = tree.path / "scripts/basic/fixdep"
    if not fixdep.exists():
        return True
    out = proc.run([fixdep], check=False)
    return "GLIBC" not in out.stderr and out.returncode != 127

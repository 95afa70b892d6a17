"""The target's cross preprocessor over its own headers, with kbuild's include paths.

kbuild compiles with ``-nostdinc``, the arch's include folders before the generic ones
(``arch/<arch>/include``, ``.../generated``, ``include``, then the uapi folders), and forces
``linux/kconfig.h`` (the ``.config`` as macros) into every file. Debian splits a kernel tree
in two: the flavour tree holds the generated folders, the ``-common`` tree the rest; both are
searched, flavour first.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

from kscribe.errors import KscribeError
from kscribe.util import proc

# kbuild's order of include folders ("{a}" is the kernel's ARCH)
INCLUDE_DIRS = ("arch/{a}/include", "arch/{a}/include/generated", "include",
                "arch/{a}/include/uapi", "arch/{a}/include/generated/uapi", "include/uapi",
                "include/generated/uapi")


@dataclass(frozen=True)
class Preprocessor:
    """How to run ``<triplet>-gcc -E`` for one kernel tree."""

    cc: str
    trees: tuple[Path, ...]  # flavour tree, then the -common tree
    kbuild_arch: str
    flags: tuple[str, ...]

    @functools.cached_property
    def include_dirs(self) -> list[Path]:
        out = []
        for rel in INCLUDE_DIRS:
            for t in self.trees:
                p = t / rel.format(a=self.kbuild_arch)
                if p.is_dir() and p not in out:
                    out.append(p)
        return out

    def find(self, header: str) -> Path | None:
        """The file ``#include <header>`` would open, None if there is none."""
        for d in self.include_dirs:
            if (d / header).is_file():
                return d / header
        return None

    def argv(self, extra: tuple[str, ...] = (), types: bool = False) -> list[str]:
        """The command line; ``types`` adds ``compiler_types.h`` as kbuild does for C."""
        srctree = self.trees[-1]
        argv = [self.cc, "-E", "-nostdinc", "-isystem", _gcc_include(self.cc)]
        for d in self.include_dirs:
            argv += ["-I", str(d)]
        argv += ["-include", str(srctree / "include/linux/kconfig.h")]
        if types:
            argv += ["-include", str(srctree / "include/linux/compiler_types.h")]
        argv += ["-D__KERNEL__", *self.flags, *extra, "-x", "c", "-"]
        return argv

    def start(self, source: str, extra: tuple[str, ...] = (), types: bool = False
              ) -> Job:
        """Start preprocessing ``source`` (several jobs run at once); ``Job.result()``."""
        return Job(proc.start(self.argv(extra, types), source, why=WHY))


class Job:
    """One running preprocessor."""

    def __init__(self, job: proc.Job) -> None:
        self.job = job

    def result(self, lenient: bool = False) -> str:
        """The output; ``lenient`` accepts it despite errors (in unrelated conditionals)."""
        done = self.job.wait()
        if done.returncode != 0 and not (lenient and done.stdout):
            err = done.stderr
            first = next((ln for ln in err.splitlines() if "error" in ln), err.strip()[:300])
            raise KscribeError(f"{self.job.args[0]} -E failed over the kernel headers: {first}")
        return done.stdout


WHY = "to preprocess the target's syscall headers"


@functools.cache
def _gcc_include(cc: str) -> str:
    return proc.run([cc, "-print-file-name=include"], why=WHY).stdout.strip()


def preprocessor(kdir: Path, srctree: Path, triplet: str, kbuild_arch: str,
                 flags: tuple[str, ...]) -> Preprocessor:
    """The preprocessor of ``<triplet>-gcc`` for a kernel tree, or an error to install it;
    where only the kernel's own versioned gcc is installed (a machine with just the
    kernel's headers, which depend on it), that one."""
    cc = f"{triplet}-gcc"
    if shutil.which(cc) is None:
        from kscribe.kernel.tree import read_tree

        major = read_tree(kdir).gcc_major
        if major is not None and shutil.which(f"{cc}-{major}"):
            cc = f"{cc}-{major}"
    proc.require(cc, why=WHY)
    trees = (kdir,) if kdir == srctree else (kdir, srctree)
    return Preprocessor(cc=cc, trees=trees, kbuild_arch=kbuild_arch, flags=tuple(flags))

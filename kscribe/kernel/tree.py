"""A prepared kernel tree: its ``.config``, Debian's ``.kernelvariables``, its include folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kscribe.errors import KscribeError

_LINE = re.compile(r"^(CONFIG_\w+)=(.*)$")


@dataclass(frozen=True)
class KernelTree:
    """A prepared kernel build or headers tree (what ``make -C`` is pointed at)."""

    path: Path
    config: dict[str, str]

    @property
    def release(self) -> str:
        """The kernel release (``uname -r``) the tree builds modules for.

        Debian's headers set it in ``.kernelvariables``; other trees in
        ``include/config/kernel.release``.
        """
        kv = self.path / ".kernelvariables"
        if kv.is_file():
            m = re.search(r"^override KERNELRELEASE = (\S+)", kv.read_text(), re.M)
            if m:
                return m.group(1)
        rel = self.path / "include/config/kernel.release"
        return rel.read_text().strip() if rel.is_file() else ""

    @property
    def srctree(self) -> Path:
        """The folder holding the kernel's ``include/``: the tree itself, or for Debian's
        flavour headers the ``-common`` tree its Makefile includes."""
        if (self.path / "include/linux").is_dir():
            return self.path
        mk = (self.path / "Makefile").read_text(errors="replace")
        m = re.search(r"^include\s+(\S+)/Makefile\s*$", mk, re.M)
        if m and (Path(m.group(1)) / "include/linux").is_dir():
            return Path(m.group(1))
        raise KscribeError(f"{self.path}: cannot find the kernel's include/ folder")

    @property
    def gcc_major(self) -> int | None:
        """The major version of the gcc that built the kernel, None if not gcc."""
        v = self.config.get("CONFIG_GCC_VERSION", "0")
        return int(v) // 10000 or None

    @property
    def cc_text(self) -> str:
        """The compiler the kernel was configured with, as ``CONFIG_CC_VERSION_TEXT`` says."""
        return self.config.get("CONFIG_CC_VERSION_TEXT", "").strip('"')

    @property
    def word_bits(self) -> int:
        """The kernel's word (long and pointer) size in bits."""
        return 64 if self.enabled("64BIT") else 32

    def enabled(self, symbol: str) -> bool:
        """True when ``CONFIG_<symbol>`` is y or m."""
        return self.config.get(f"CONFIG_{symbol}") in ("y", "m")


def read_tree(path: Path) -> KernelTree:
    """Check that ``path`` is a prepared kernel tree and read its ``.config``.

    A tree kbuild can build external modules against has a Makefile, a ``.config`` and the
    generated ``include/generated/autoconf.h``; anything else is refused with the reason.
    """
    if not path.is_dir():
        raise KscribeError(f"{path}: no such directory; give a kernel build or headers tree, "
                           "e.g. /lib/modules/$(uname -r)/build")
    for need in ("Makefile", ".config", "include/generated/autoconf.h"):
        if not (path / need).exists():
            raise KscribeError(f"{path} is not a prepared kernel tree: {need} is missing "
                               "(run `make modules_prepare` there, or point at "
                               "/lib/modules/$(uname -r)/build)")
    config = {}
    for line in (path / ".config").read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if m:
            config[m.group(1)] = m.group(2)
    return KernelTree(path=path, config=config)

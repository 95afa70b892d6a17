"""Host tools kscribe runs, and the exact command that installs each one when it is absent."""

from __future__ import annotations

import shutil

from kscribe.errors import KscribeError

# program -> Debian package that provides it (on a Debian host)
PACKAGES = {
    "make": "make",
    "gpgv": "gpgv",
    "dpkg-deb": "dpkg",
    "debootstrap": "debootstrap",
    "unshare": "util-linux",
    "zstd": "zstd",
    "pahole": "dwarves",
    "babeltrace2": "babeltrace2",
}


def require(program: str, package: str | None = None, why: str = "") -> str:
    """The path of ``program``, or an error naming the package and the install command."""
    path = shutil.which(program)
    if path:
        return path
    pkg = package or PACKAGES.get(program, program)
    reason = f" (needed {why})" if why else ""
    raise KscribeError(f"{program} not found{reason}: install it with "
                       f"`apt-get install {pkg}`")

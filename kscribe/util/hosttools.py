"""The host programs kscribe runs and the Debian package of each: ``data/host-tools.toml``.

``./setup`` installs the packages of that table and a missing program's error names its
package from it, so the two cannot drift. This module needs nothing beyond the standard
library, so that ``./setup`` can ask it before any virtual environment exists::

    python3 -m kscribe.util.hosttools            # the packages, one a line
    python3 -m kscribe.util.hosttools --missing  # only those dpkg does not have
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass

from kscribe.errors import KscribeError, ToolMissing
from kscribe.util import tomldata

TABLE = "host-tools.toml"


@dataclass(frozen=True)
class Tool:
    """A program on PATH (or, with ``program`` empty, a package needed for its files)."""

    program: str
    package: str
    why: str


@functools.cache
def tools() -> dict[str, Tool]:
    """Every program of the table by name, and every package-only row by package name."""
    data = tomldata.load(TABLE)
    out: dict[str, Tool] = {}
    for name, row in tomldata.table(data, TABLE, "programs").items():
        r = tomldata.Row(TABLE, f"programs.{name}", row)
        out[name] = Tool(name, r.text("package"), r.text("why"))
    for package, why in tomldata.table(data, TABLE, "packages").items():
        if not isinstance(why, str):
            raise KscribeError(f"kscribe/data/{TABLE}: [packages] {package}: the value "
                               "must be a string saying why the package is needed")
        out[f"package:{package}"] = Tool("", package, why)
    return out


def packages() -> list[str]:
    """Every Debian package of the table, sorted."""
    return sorted({t.package for t in tools().values()})


def package_of(program: str) -> str:
    """The Debian package that provides ``program`` (the name itself when unlisted)."""
    tool = tools().get(program)
    return tool.package if tool else program


def require(program: str, package: str | None = None, why: str = "") -> str:
    """The path of ``program``, or a ToolMissing naming the package that provides it.

    ``package`` overrides the table (a versioned compiler such as ``gcc-12-<triplet>``);
    ``why`` the table's reason.
    """
    path = shutil.which(program)
    if path:
        return path
    tool = tools().get(program)
    raise ToolMissing(program, package or (tool.package if tool else program),
                      why or (tool.why if tool else ""))


def _installed(package: str) -> bool:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                          capture_output=True, text=True)
    return proc.returncode == 0 and proc.stdout.strip() == "install ok installed"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m kscribe.util.hosttools",
                                 description="The Debian packages of kscribe's host tools.")
    ap.add_argument("--missing", action="store_true", help="only those not installed")
    ap.add_argument("--why", action="store_true", help="with the reason for each")
    args = ap.parse_args(argv)
    try:
        rows = {t.package: t.why for t in tools().values()}
    except KscribeError as e:
        print(f"kscribe: error: {e}", file=sys.stderr)
        return 2
    for package in packages():
        if args.missing and _installed(package):
            continue
        print(f"{package}\t{rows[package]}" if args.why else package)
    return 0


if __name__ == "__main__":
    sys.exit(main())

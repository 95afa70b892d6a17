"""``kscribe-dkms``: the tracer as a source package that dkms builds on the user's machine.

The probes are generated from the target kernel's own headers, so the package carries the
generator, not generated C: kscribe's Python package with its templates, event and
syscall specs and the hand-written C, under ``/usr/src/kscribe-<version>/``. dkms runs its
``Makefile``, which generates the build folder for ``$kernel_source_dir``
(:mod:`kscribe.build.local`, no network) and runs kbuild there. ``dkms.conf`` asks the
same generator which modules this kernel's ``.config`` and headers get, so its list is
exactly what the build makes; a kernel without tracepoints or older than the tracer
supports is skipped (dkms's exit 77), never an apt failure.

The .deb is made by debhelper with ``dh-sequence-dkms`` (``dpkg-buildpackage -b``),
so the maintainer scripts are dkms's own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from kscribe import __version__
from kscribe.config import paths
from kscribe.errors import KscribeError
from kscribe.package import deb
from kscribe.util import atomic, log, proc
from kscribe.util.git import Identity

NAME = "kscribe"
PACKAGE = f"{NAME}-dkms"
# what the generator needs on the user's machine, from Debian
DEPENDS = ("python3 (>= 3.11)", "python3-jinja2", "python3-yaml", "python3-kconfiglib",
           "python3-debian")
# the oldest kernel the tracer supports, as dkms's BUILD_EXCLUSIVE_KERNEL regex
KERNELS = r"^(5\.(1[0-9]|[2-9][0-9])|[6-9]\.|[1-9][0-9]+\.)"
# the source tree: what of the project the generator reads (package data, less the rest)
SOURCES = ("templates/module", "instrumentation", "kernel_module/core",
           "kernel_module/probes", "kernel_module/include")
SKIP = ("__pycache__", "*.pyc", "_source")

MAKEFILE = """\
# dkms runs this Makefile with KERNELRELEASE (and KDIR, the kernel's headers): the probes are
# generated for exactly that kernel, then built with its kbuild.
KDIR ?= /lib/modules/$(KERNELRELEASE)/build

all:
\tpython3 -m kscribe.build.local generate --kdir $(KDIR) --out $(CURDIR)/build
\t$(MAKE) -C $(KDIR) M=$(CURDIR)/build modules

clean:
\trm -rf build

.PHONY: all clean
"""

DKMS_CONF = """\
PACKAGE_NAME="{name}"
PACKAGE_VERSION="#MODULE_VERSION#"
MAKE[0]="make KDIR=$kernel_source_dir"
CLEAN="true"
AUTOINSTALL="yes"
# a kernel without tracepoints, or older than the tracer supports, is skipped (exit 77)
BUILD_EXCLUSIVE_CONFIG="CONFIG_TRACEPOINTS CONFIG_MODULES"
BUILD_EXCLUSIVE_KERNEL="{kernels}"

# The modules this kernel gets, as the build itself decides them: the tracer's Kconfig
# against the kernel's .config, and the tracepoint headers it has.
kscribe_modules=$(cd "$source_tree/$PACKAGE_NAME-$PACKAGE_VERSION" 2>/dev/null &&
\tpython3 -m kscribe.build.local modules --kdir "$kernel_source_dir" 2>/dev/null) ||
\tkscribe_modules=kscribe_core
kscribe_i=0
for kscribe_m in $kscribe_modules; do
\tBUILT_MODULE_NAME[$kscribe_i]="$kscribe_m"
\tBUILT_MODULE_LOCATION[$kscribe_i]="build/"
\tDEST_MODULE_LOCATION[$kscribe_i]="/updates/dkms"
\tkscribe_i=$((kscribe_i + 1))
done
unset kscribe_i kscribe_m kscribe_modules
"""

CONTROL = """\
Source: {name}
Section: kernel
Priority: optional
Maintainer: {maintainer}
Build-Depends: debhelper-compat (= 13), dh-sequence-dkms
Standards-Version: 4.6.2
Rules-Requires-Root: no

Package: {package}
Architecture: all
Depends: ${{misc:Depends}}, {depends}
Description: kscribe kernel tracer (DKMS source)
 kscribe records kernel tracepoints and system calls into the kernel's own
 ring buffer and hands them to userspace as a self-describing trace (CTF),
 read with babeltrace2.
 .
 This package holds the tracer's source and the generator of its probes:
 dkms builds the modules for each installed kernel, generating the probes
 from that kernel's own headers. kscribectl, the recording tool, is in the
 kscribectl package.
"""

RULES = """\
#!/usr/bin/make -f

%:
\tdh $@

override_dh_dkms:
\tdh_dkms -V
"""


def _copy(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*SKIP))


def source_tree(dest: Path) -> Path:
    """The files of ``/usr/src/kscribe-<version>/`` (less dkms.conf) in ``dest``."""
    _copy(paths.PACKAGE, dest / "kscribe")
    for rel in SOURCES:
        _copy(paths.ROOT / rel, dest / rel)
    (dest / "Makefile").write_text(MAKEFILE)
    return dest


def debian_dir(dest: Path, maintainer: Identity) -> None:
    """The ``debian/`` folder debhelper builds the package from."""
    d = dest / "debian"
    (d / "source").mkdir(parents=True)
    (d / "source/format").write_text("3.0 (native)\n")
    (d / "control").write_text(CONTROL.format(name=NAME, package=PACKAGE,
                                              maintainer=maintainer.line,
                                              depends=", ".join(DEPENDS)))
    (d / "rules").write_text(RULES)
    (d / "rules").chmod(0o755)
    (d / "changelog").write_text(deb.changelog_text(
        NAME, __version__, maintainer, "The tracer's DKMS source, made by kscribe package."))
    (d / "copyright").write_text(deb.copyright_text(maintainer))
    (d / f"{PACKAGE}.dkms").write_text(DKMS_CONF.format(name=NAME, kernels=KERNELS))
    (d / f"{PACKAGE}.install").write_text(f"src/* usr/src/{NAME}-{__version__}/\n")


def build(out_dir: Path, maintainer: Identity) -> Path:
    """``kscribe-dkms_<version>_all.deb`` in ``out_dir``; its path."""
    for tool in ("dpkg-buildpackage", "dh", "dh_dkms"):
        proc.require(tool, why="to build the -dkms package (debhelper, dh-dkms)")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".dkms.", dir=out_dir) as tmp:
        top = Path(tmp) / f"{NAME}-{__version__}"
        source_tree(top / "src")
        debian_dir(top, maintainer)
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(deb.epoch()), "LC_ALL": "C.UTF-8"}
        unmet = proc.run(["dpkg-checkbuilddeps"], cwd=top, check=False)
        if unmet.returncode != 0:
            said = (unmet.stderr or unmet.stdout).strip().splitlines()
            what = said[-1] if said else f"exit status {unmet.returncode}"
            what = what.removeprefix("dpkg-checkbuilddeps: ").removeprefix("error: ")
            raise KscribeError(f"{PACKAGE}: {what}: install them with apt (./setup does)")
        log.progress(f"{PACKAGE}: dpkg-buildpackage -b in {top}")
        proc.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=top, env=env,
                 why="to build the -dkms package")
        name = f"{PACKAGE}_{__version__}_all.deb"
        dest = out_dir / name
        with atomic.atomic_path(dest) as t:
            shutil.copyfile(Path(tmp) / name, t)
    return dest

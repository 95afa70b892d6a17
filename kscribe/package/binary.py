"""The binary packages of one built cell: the prebuilt modules of a kernel ABI, and
kscribectl.

``kscribe-modules-<abi>`` holds the modules the pipeline built (and, with a key, signed)
for exactly one kernel, in ``/lib/modules/<abi>/updates/kscribe/``, and depends on that
kernel's image (signed or not); depmod runs when it is installed and removed.
``kscribectl`` is the recording tool, statically linked, for the cell's architecture.
"""

from __future__ import annotations

from pathlib import Path

from kscribe.package import deb
from kscribe.package.dkms import PACKAGE as DKMS_PACKAGE
from kscribe.util.git import Identity

MODULES_DIR = "lib/modules/{abi}/updates/kscribe"
# depmod with the kernel's System.map where there is one (as dh_installmodules does)
DEPMOD = """\
if [ -e /boot/System.map-{abi} ]; then
	depmod -a -F /boot/System.map-{abi} {abi} || true
elif [ -d /lib/modules/{abi} ]; then
	depmod -a {abi} || true
fi"""
POSTINST = "if [ \"$1\" = configure ]; then\n{depmod}\nfi"
POSTRM = "if [ \"$1\" = remove ] || [ \"$1\" = purge ]; then\n{depmod}\nfi"


def modules_package(modules: list[Path], abi: str, arch: str, maintainer: Identity,
                    out_dir: Path, signed_by: str = "") -> Path:
    """``kscribe-modules-<abi>_<version>_<arch>.deb`` of ``modules`` (built for ``abi``)."""
    tree = deb.Tree()
    for ko in modules:
        tree.add(f"{MODULES_DIR.format(abi=abi)}/{ko.name}", ko.read_bytes())
    name = f"kscribe-modules-{abi}"
    deb.docs(tree, name, maintainer, f"The tracer's modules built for {abi}.")
    signed = f"\n .\n The modules are signed by {signed_by}." if signed_by else ""
    control = deb.Control(
        package=name, architecture=arch, maintainer=maintainer,
        summary=f"kscribe kernel tracer modules for Linux {abi}",
        description=("kscribe records kernel tracepoints and system calls into the kernel's\n"
                     "own ring buffer and hands them to userspace as a self-describing\n"
                     f"trace (CTF). These are its modules, built for Linux {abi} only;\n"
                     f"{DKMS_PACKAGE} builds them for any kernel instead.{signed}"),
        depends=f"linux-image-{abi} | linux-image-{abi}-unsigned",
        provides="kscribe-modules", conflicts=DKMS_PACKAGE)
    depmod = DEPMOD.format(abi=abi)
    scripts = {"postinst": deb.maintainer_script(POSTINST.format(depmod=depmod)),
               "postrm": deb.maintainer_script(POSTRM.format(depmod=depmod))}
    return deb.build(control, tree, out_dir, scripts)


def tools_package(kscribectl: Path, manpage: str, arch: str, depends: str,
                  maintainer: Identity, out_dir: Path) -> Path:
    """``kscribectl_<version>_<arch>.deb``: the recording tool and its manual."""
    tree = deb.Tree()
    tree.add("usr/bin/kscribectl", kscribectl.read_bytes(), executable=True)
    tree.add("usr/share/man/man1/kscribectl.1.gz", deb.gzip_bytes(manpage.encode()))
    deb.docs(tree, "kscribectl", maintainer, "kscribectl, made by kscribe package.")
    control = deb.Control(
        package="kscribectl", architecture=arch, maintainer=maintainer, section="devel",
        summary="record traces with the kscribe kernel tracer",
        description=("kscribectl selects events, contexts and filters, starts and stops a\n"
                     "recording through /dev/kscribe and writes the trace as CTF, for\n"
                     "babeltrace2. It needs the tracer's modules: kscribe-dkms, or the\n"
                     "kscribe-modules package of the running kernel."),
        depends=depends)
    return deb.build(control, tree, out_dir)


def manual(help_text: str, when: str) -> str:
    """kscribectl(1): its ``--help``, the one description of its commands, as a manual."""
    def escape(line: str) -> str:
        line = line.replace("\\", "\\e").replace("-", "\\-")
        return f"\\&{line}" if line.startswith((".", "'")) else line

    body = "\n".join(escape(ln) for ln in help_text.rstrip().splitlines())
    return (f'.TH KSCRIBECTL 1 "{when}" "kscribe" "User Commands"\n'
            ".SH NAME\nkscribectl \\- record traces with the kscribe kernel tracer\n"
            ".SH SYNOPSIS\n.B kscribectl\n.I COMMAND\n.RI [ ARGS ]\n"
            f".SH DESCRIPTION\n.nf\n{body}\n.fi\n"
            ".SH FILES\n.TP\n.I /dev/kscribe\nthe tracer's control device (root only)\n"
            ".SH SEE ALSO\n.BR babeltrace2 (1)\n")

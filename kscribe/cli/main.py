"""The ``kscribe`` command: one subcommand per step, each with ``--help``.

Every failure is one line on stderr, ``kscribe: error: <what and what to do>``, with exit
status 2; a failed boot or check exits 1. An unexpected exception is a bug: it is reported
in one line too, and ``-v`` (or ``KSCRIBE_DEBUG=1``) shows its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from kscribe import __version__
from kscribe.cli import commands
from kscribe.cli.syscalls import add_commands as add_syscall_commands
from kscribe.config.settings import Settings
from kscribe.config.target import DEFAULT_TARGET
from kscribe.errors import KscribeError
from kscribe.guest.stress import CYCLES
from kscribe.util import log

ENV_HELP = """environment:
  KSCRIBE_CACHE            cache folder (default ~/.cache/kscribe)
  KSCRIBE_OUT              build folders (default ./out)
  KSCRIBE_LOCK             lock file of resolved targets (default ./kscribe.lock)
  KSCRIBE_MIRROR           Debian archive mirror (default: from /etc/apt/sources.list*)
  KSCRIBE_SECURITY_MIRROR  Debian security mirror (default: from apt's sources)
  KSCRIBE_KEYRING          keyring for Release signatures (default: Debian's archive keyring)
  KSCRIBE_MATRIX           the CI matrix of `doit matrix` and `kscribe ci` (ci/matrix.toml)
"""
TARGET_HELP = "SUITE/ARCH[/FLAVOUR], e.g. bookworm/amd64 (see `kscribe targets`)"
Command = Callable[[argparse.Namespace, Settings], int]


def parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    noise = common.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_const", const=-1, dest="verbosity",
                       help="only errors and results")
    noise.add_argument("-v", "--verbose", action="store_const", const=1, dest="verbosity",
                       help="also timings and details (and tracebacks of bugs)")
    p = argparse.ArgumentParser(
        prog="kscribe", description="Build, boot-test and upstream the kscribe tracer for "
        "real Debian kernels.", epilog=ENV_HELP, parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"kscribe {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Command, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help, epilog=ENV_HELP,
                            parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.set_defaults(func=func)
        return sp

    add("targets", commands.targets, "list the known targets and what each is pinned to")
    sp = add("resolve", commands.resolve, "resolve a target to exact packages and pin it")
    sp.add_argument("target", help=TARGET_HELP)
    sp.add_argument("--refresh", action="store_true", help="ask the archive again (also "
                    "repairs a damaged lock file)")
    sp.add_argument("--json", action="store_true", help="print the lock entry as JSON")
    sp = add("provision", commands.provision, "download, verify and extract a target's kernel")
    sp.add_argument("target", help=TARGET_HELP)
    sp.add_argument("--refresh", action="store_true", help="resolve the target again")
    for name, func, text in (
            ("build", commands.build, "build the tracer's modules for a target or a local tree"),
            ("run", commands.run, "build, then boot-test under QEMU")):
        sp = add(name, func, text)
        sp.add_argument("target", nargs="?" if name == "build" else None, help=TARGET_HELP)
        sp.add_argument("--toolchain", choices=("auto", "host", "chroot"), default="auto",
                        help="where the compiler comes from (default: auto)")
        if name == "build":
            sp.add_argument("--kdir", type=Path, help="a prepared local kernel tree "
                            "instead of a target, e.g. /lib/modules/$(uname -r)/build")
            sp.add_argument("--arch", help="the Debian arch of --kdir (default: the host's)")
            sp.add_argument("--clean", action="store_true", help="start from an empty "
                            "build folder")
    sp = add("generate", commands.generate, "write the generated sources of TARGET into a "
             "folder for inspection")
    sp.add_argument("target", help=TARGET_HELP)
    sp.add_argument("-o", "--output", type=Path, help="folder (default out/<target>/generated)")
    sp = add("checkpatch", commands.checkpatch, "run the target kernel's checkpatch.pl "
             "--strict on the tracer's C (hand-written and generated for TARGET)")
    sp.add_argument("files", nargs="*", type=Path, help="files to check (default: all)")
    sp.add_argument("--target", default=DEFAULT_TARGET, help=TARGET_HELP)
    sp.add_argument("--no-strict", action="store_true", help="leave out --strict")
    sp = add("uapi", commands.uapi, "render kernel_module/abi.yaml into the committed uapi "
             "header")
    sp.add_argument("--check", action="store_true", help="do not write: exit 1 if the "
                    "committed header is not the rendering")
    sp = add("trace", commands.trace, "boot TARGET, record the guest workload, read the CTF "
             "trace with babeltrace2")
    sp.add_argument("target", help=TARGET_HELP)
    sp.add_argument("--record", nargs=argparse.REMAINDER, help="kscribectl record options "
                    "(default: -e '*'), e.g. --record -e 'sched:*' -b 65536")
    sp.add_argument("--top", type=int, default=15, help="event types to list (default 15)")
    sp = add("stress", commands.stress, "the robustness run: load/record/unload cycles, "
             "random ioctls, a tiny buffer, pausing, unloading, under a syscall load")
    sp.add_argument("target", help=TARGET_HELP)
    sp.add_argument("--cycles", type=int, default=CYCLES, help="load/record/unload cycles "
                    f"(default {CYCLES}; each takes about 8 s under TCG)")
    sp = add("boot", commands.boot, "boot a target's kernel under QEMU and load the tracer")
    sp.add_argument("target", help=TARGET_HELP)
    sp.add_argument("--modules-from", metavar="TARGET", help="load the modules built for "
                    "another target (a negative control: they must be refused)")
    sp.add_argument("--append", default="", help="extra kernel command line")
    sp = add("upstream", commands.upstream, "make the tracer into a kernel patch series in a "
             "posting mode of patches/plan.yaml, on a real kernel tree; gate every patch (git "
             "am, checkpatch, W=1 builds as m, y and n), write it as mail and take it back "
             "with b4 and git am, then boot the result in its kernel. `upstream history` "
             "merges this repository's own history into the tree instead; `upstream status "
             "DIR` shows every version of a series (and writes DIR/status.html)")
    sp.add_argument("mode", help="a mode of patches/plan.yaml (e.g. bulk), history, or status")
    sp.add_argument("folder", nargs="?", type=Path, help="status only: the series' folder")
    sp.add_argument("-o", "--output", type=Path, help="folder for the patches and "
                    "series.json (default out/upstream/MODE-patches, or MODE-abi-new-patches)")
    sp.add_argument("--tree", type=Path, help="a kernel git checkout to use as the base, at "
                    "its HEAD (default: Debian's source of the newest kernel)")
    sp.add_argument("--no-proof", action="store_true", help="do not boot the in-tree "
                    "modules in the Debian kernel (the proof: selftest, workload traced)")
    sp.add_argument("--abi", choices=("keep", "new"), default="keep", help="keep: register "
                    "today's ioctl block (default); new: move the ABI to a free block of the "
                    "base tree as the next ABI version")
    sp.add_argument("--reroll", action="store_true", help="make the next version of the "
                    "series in the output folder: same change-id, its changes and range-diff "
                    "in the cover letter, the earlier versions kept in v<N>/")
    sp.add_argument("--trailers", type=Path, help="with --reroll: the trailers received on "
                    "the last version, as an mbox of the replies or lines 'NUMBER: "
                    "Reviewed-by: Name <address>' (0: the whole series)")
    sp.add_argument("--source", type=Path, help="history only: the kscribe git repository "
                    "whose history is imported (default: this checkout)")
    sp.add_argument("--url", help="history only: where the branch will be pulled from, for "
                    "the pull request text (default: the tree's folder)")
    sp.add_argument("--no-build", action="store_true", help="skip the in-tree builds and the "
                    "proof (only am, checkpatch, addressing and the round trip)")
    sp = add("strip", commands.strip, "rewrite an out-of-tree module tree for one kernel: "
             "the conditionals its version and distribution decide are evaluated, dead "
             "branches dropped, live ones unwrapped, the rest reduced to what stays "
             "undecided; with --verify both trees are built against the target's headers "
             "and must give the same modules (.ko set, .text size, symbols)")
    sp.add_argument("tree", type=Path, help="the module tree (e.g. /usr/src/NAME-VERSION)")
    sp.add_argument("-o", "--output", type=Path, required=True, help="the stripped tree "
                    "(replaced whole; written only when everything is read and checked)")
    sp.add_argument("--kernel", metavar="X.Y.Z", help="the kernel version (default: the "
                    "target's)")
    sp.add_argument("--distro", metavar="NAME[:PARAM]", help="vanilla, debian:ABI, "
                    "ubuntu:ABI, rhel:MAJOR.MINOR, sles:VERSION.PATCHLEVEL (kscribe/data/"
                    "strip.toml; default: vanilla, or the target's debian:ABI)")
    sp.add_argument("--target", help="a Debian target whose kernel, ABI and headers decide "
                    "(" + TARGET_HELP + ")")
    sp.add_argument("--rules", type=Path, help="the tree's rules file (TOML): the -D values "
                    "its build computes, names never decided, how it builds")
    sp.add_argument("--verify", action="store_true", help="build the original and the "
                    "stripped tree against the target's headers and compare their modules "
                    "(needs --target)")
    sp.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    sp.add_argument("--cocci", type=Path, metavar="FILE", help="write the semantic patch "
                    "that removes the forwarders")
    sp = add("sloc", commands.sloc, "physical SLOC of C per facet, counted as sloccount "
             "counts it; with a second tree (e.g. stripped) side by side")
    sp.add_argument("tree", type=Path, help="the tree to measure")
    sp.add_argument("after", type=Path, nargs="?", help="a second tree, shown beside the "
                    "first (e.g. the output of kscribe strip)")
    sp.add_argument("--facets", type=Path, help="a facets file (YAML: facet -> folders and "
                    "globs), e.g. patches/facets.yaml; default: sloccount's own groups")
    sp.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                    help="the table's format (default: text)")
    sp.add_argument("--autogen", action="store_true", help="count generated files too "
                    "(sloccount --autogen): the tracer's probes are generated")
    sp = add("ci", commands.ci, "the CI matrix (ci/matrix.toml) beyond this machine: `export "
             "github|gitlab -o FILE` writes a GitHub Actions workflow or a GitLab CI "
             "pipeline with a job per cell; `report DIR [-o OUT]` makes the matrix report "
             "(report.html, report.md, junit.xml) from a run's output folder or from a CI "
             "run's artifacts downloaded into DIR")
    sp.add_argument("what", choices=("export", "report"))
    sp.add_argument("service", nargs="?", help="export: github or gitlab; report: DIR")
    sp.add_argument("-o", "--output", type=Path, help="export: the file; report: the folder "
                    "(default ./report)")
    sp.add_argument("--matrix", type=Path, help="the matrix (default: $KSCRIBE_MATRIX, "
                    "else ci/matrix.toml)")
    sp = add("package", commands.package, "the tracer as Debian packages: `dkms` (the "
             "source dkms builds on the user's machine), `modules TARGET` (the prebuilt "
             "modules of one kernel ABI, signed with --sign), `tools TARGET` (kscribectl), "
             "`keygen` (a signing key pair to enroll as a MOK), `prove TARGET` (all of them, "
             "installed on a fresh machine of the target's suite and booted, and signatures "
             "proven under sig_enforce and Secure Boot)")
    sp.add_argument("what", choices=("dkms", "modules", "tools", "keygen", "prove"))
    sp.add_argument("target", nargs="?", help=TARGET_HELP)
    sp.add_argument("-o", "--output", type=Path, required=True, help="the folder the "
                    "packages (or the keys) are written to")
    sp.add_argument("--sign", nargs=2, type=Path, metavar=("KEY", "CERT"), help="modules: "
                    "sign each module with the kernel's sign-file and this key pair (PEM)")
    add_syscall_commands(add)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv``; the exit status."""
    args = parser().parse_args(argv)
    verbosity = args.verbosity or 0
    log.setup(verbosity)
    try:
        return int(args.func(args, Settings.from_env()))
    except KscribeError as e:
        print(f"kscribe: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kscribe: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"kscribe: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a bug: one line, the traceback on request
        if verbosity > 0 or os.environ.get("KSCRIBE_DEBUG"):
            traceback.print_exc()
        frame = traceback.extract_tb(e.__traceback__)[-1]
        print(f"kscribe: error: internal error {type(e).__name__}: {e} "
              f"({Path(frame.filename).name}:{frame.lineno}); please report it, with the "
              "traceback of `kscribe -v ...`", file=sys.stderr)
        return 3

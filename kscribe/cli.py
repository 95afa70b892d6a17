"""The ``kscribe`` command: one subcommand per step, each with ``--help``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kscribe import __version__
from kscribe.cli_syscalls import add_commands as add_syscall_commands
from kscribe.errors import KscribeError
from kscribe.settings import Settings

ENV_HELP = """environment:
  KSCRIBE_CACHE            cache folder (default ~/.cache/kscribe)
  KSCRIBE_OUT              build folders (default ./out)
  KSCRIBE_LOCK             lock file of resolved targets (default ./kscribe.lock)
  KSCRIBE_MIRROR           Debian archive mirror (default: from /etc/apt/sources.list*)
  KSCRIBE_SECURITY_MIRROR  Debian security mirror (default: from apt's sources)
  KSCRIBE_KEYRING          keyring for Release signatures (default: Debian's archive keyring)
"""


def cmd_targets(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.target import all_targets

    lock = {}
    if settings.lock_path.is_file():
        lock = json.loads(settings.lock_path.read_text()).get("targets", {})
    for t in all_targets():
        pinned = lock.get(t.name)
        extra = f"{pinned['version']} ({pinned['abi']})" if pinned else "not resolved yet"
        print(f"{t.name:28} {t.arch.kbuild_arch:8} {extra}")
    return 0


def cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.resolve import resolve
    from kscribe.target import parse_target

    r = resolve(parse_target(args.target), settings, refresh=args.refresh)
    if args.json:
        print(json.dumps({r.target: r.to_lock()}, indent=2))
    else:
        print(f"{r.target}: {r.version} ({r.abi}) from {r.suite}")
        for role, d in r.debs.items():
            print(f"  {role:8} {d.name} {d.version}")
    return 0


def cmd_provision(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.pipeline import prepare

    p = prepare(args.target, settings, refresh=args.refresh)
    print(f"{p.target}: headers {p.provisioned.kdir}")
    print(f"{p.target}: kernel  {p.provisioned.kernel}")
    return 0


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.pipeline import build_kdir, build_target

    if args.kdir:
        res = build_kdir(args.kdir, settings, arch=args.arch, clean=args.clean)
    elif args.target:
        res = build_target(args.target, settings, toolchain=args.toolchain, clean=args.clean)
    else:
        raise KscribeError("build: give a TARGET (e.g. bookworm/amd64) or --kdir PATH")
    print(f"{res.metadata['target']}: {res.outdir / 'metadata.json'}")
    return 0


def cmd_boot(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.pipeline import boot_target

    v = boot_target(args.target, settings, modules_from=args.modules_from, append=args.append)
    print(f"{args.target}: {v.summary()}")
    return 0 if v.ok else 1


def cmd_trace(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.pipeline import trace_target

    res = trace_target(args.target, settings, record=args.record)
    print(f"{args.target}: {len(res.events)} events in {res.trace} ({res.text})")
    for name, count in list(res.summary.items())[:args.top]:
        print(f"  {count:8} {name}")
    return 0


def cmd_stress(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe import robustness
    from kscribe.pipeline import outdir, prepare, stress_target

    v, trace = stress_target(args.target, settings)
    console = outdir(settings, prepare(args.target, settings).target) / "stress" / "console.log"
    for line in robustness.report(console.read_text()).lines():
        print(f"  {line}")
    state = "PASS" if v.ok else "FAIL: " + "; ".join(v.reasons)
    print(f"{args.target}: robustness {state} in {v.duration_s:.1f} s "
          f"(tiny-buffer trace: {trace})")
    return 0 if v.ok else 1


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.pipeline import boot_target, build_target

    build_target(args.target, settings, toolchain=args.toolchain)
    v = boot_target(args.target, settings)
    print(f"{args.target}: {v.summary()}")
    return 0 if v.ok else 1


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.kconfig import read_tree
    from kscribe.pipeline import outdir, prepare
    from kscribe.render import render_sources
    from kscribe.syscalls import tables

    p = prepare(args.target, settings)
    dest = args.output or outdir(settings, p.target) / "generated"
    modules = render_sources(read_tree(p.provisioned.kdir), dest, target=p.target.name,
                             arch=p.target.arch.name, syscalls=tables(p, settings))
    print(f"{p.target}: {len(modules)} modules ({', '.join(modules)}) in {dest}")
    return 0


def cmd_checkpatch(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe import paths
    from kscribe.checkpatch import check, script
    from kscribe.pipeline import outdir, prepare
    from kscribe.render import generated_sources

    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        raise KscribeError(f"{missing[0]}: no such file (name C files to check, or none for "
                           f"all of the tracer's; the target is given with --target)")
    p = prepare(args.target, settings)
    files = args.files or [*sorted(paths.KERNEL_MODULE.rglob("*.[ch]")),
                           *generated_sources(outdir(settings, p.target) / "src")]
    tool = script(settings, p.resolved)
    bad = 0
    for f in files:
        r = check(tool, Path(f), strict=not args.no_strict)
        print(f"{f}: {r.errors} errors, {r.warnings} warnings, {r.checks} checks")
        if r.errors or r.warnings:
            print(r.text, end="")
            bad += 1
    return 1 if bad else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kscribe", description="Build, boot-test and upstream the kscribe tracer for "
        "real Debian kernels.", epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"kscribe {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help, epilog=ENV_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.set_defaults(func=func)
        return sp

    target_help = "SUITE/ARCH[/FLAVOUR], e.g. bookworm/amd64 (see `kscribe targets`)"
    add("targets", cmd_targets, "list the known targets and what each is pinned to")
    sp = add("resolve", cmd_resolve, "resolve a target to exact packages and pin it")
    sp.add_argument("target", help=target_help)
    sp.add_argument("--refresh", action="store_true", help="ask the archive again")
    sp.add_argument("--json", action="store_true", help="print the lock entry as JSON")
    sp = add("provision", cmd_provision, "download, verify and extract a target's kernel")
    sp.add_argument("target", help=target_help)
    sp.add_argument("--refresh", action="store_true", help="resolve the target again")
    for name, func, text in (
            ("build", cmd_build, "build the tracer's modules for a target or a local tree"),
            ("run", cmd_run, "build, then boot-test under QEMU")):
        sp = add(name, func, text)
        sp.add_argument("target", nargs="?" if name == "build" else None, help=target_help)
        sp.add_argument("--toolchain", choices=("auto", "host", "chroot"), default="auto",
                        help="where the compiler comes from (default: auto)")
        if name == "build":
            sp.add_argument("--kdir", type=Path, help="a prepared local kernel tree "
                            "instead of a target, e.g. /lib/modules/$(uname -r)/build")
            sp.add_argument("--arch", help="the Debian arch of --kdir (default: the host's)")
            sp.add_argument("--clean", action="store_true", help="start from an empty "
                            "build folder")
    sp = add("generate", cmd_generate, "write the generated sources of TARGET into a folder "
             "for inspection")
    sp.add_argument("target", help=target_help)
    sp.add_argument("-o", "--output", type=Path, help="folder (default out/<target>/generated)")
    sp = add("checkpatch", cmd_checkpatch, "run the target kernel's checkpatch.pl --strict "
             "on the tracer's C (hand-written and generated for TARGET)")
    sp.add_argument("files", nargs="*", type=Path, help="files to check (default: all)")
    sp.add_argument("--target", default="bookworm/amd64", help=target_help)
    sp.add_argument("--no-strict", action="store_true", help="leave out --strict")
    sp = add("trace", cmd_trace, "boot TARGET, record the guest workload, read the CTF trace "
             "with babeltrace2")
    sp.add_argument("target", help=target_help)
    sp.add_argument("--record", nargs=argparse.REMAINDER, help="kscribectl record options "
                    "(default: -e '*'), e.g. --record -e 'sched:*' -b 65536")
    sp.add_argument("--top", type=int, default=15, help="event types to list (default 15)")
    sp = add("stress", cmd_stress, "the robustness run: load/record/unload cycles, random "
             "ioctls, a tiny buffer, pausing, unloading, under a syscall load")
    sp.add_argument("target", help=target_help)
    sp = add("boot", cmd_boot, "boot a target's kernel under QEMU and load the tracer")
    sp.add_argument("target", help=target_help)
    sp.add_argument("--modules-from", metavar="TARGET", help="load the modules built for "
                    "another target (a negative control: they must be refused)")
    sp.add_argument("--append", default="", help="extra kernel command line")
    add_syscall_commands(add)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args, Settings.from_env())
    except KscribeError as e:
        print(f"kscribe: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kscribe: interrupted", file=sys.stderr)
        return 130

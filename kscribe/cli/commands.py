"""The subcommands of ``kscribe``: each takes the parsed arguments and the settings and
returns the exit status; errors are raised as KscribeError (one line, exit 2)."""

from __future__ import annotations

import argparse
from pathlib import Path

from kscribe.config import paths
from kscribe.config.settings import Settings
from kscribe.config.target import all_targets, parse_target
from kscribe.debian import lock
from kscribe.errors import KscribeError
from kscribe.matrix.results import attempt
from kscribe.pipeline import (
    Layout,
    boot_target,
    build_kdir,
    build_target,
    outdir,
    prepare,
    stress_target,
    trace_target,
    write_pin,
)
from kscribe.util import atomic


def targets(args: argparse.Namespace, settings: Settings) -> int:
    pins = lock.read(settings.lock_path)
    for t in all_targets():
        pinned = pins.get(t.name)
        extra = (f"{pinned.get('version', '?')} ({pinned.get('abi', '?')})"
                 if isinstance(pinned, dict) else "not resolved yet")
        print(f"{t.name:28} {t.arch.kbuild_arch:8} {extra}")
    return 0


def resolve(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from kscribe.debian.resolve import resolve as resolve_target

    r = resolve_target(parse_target(args.target), settings, refresh=args.refresh)
    if args.json:
        print(json.dumps({r.target: r.to_lock()}, indent=2))
    else:
        print(f"{r.target}: {r.version} ({r.abi}) from {r.suite}")
        for role, d in r.debs.items():
            print(f"  {role:8} {d.name} {d.version}")
    return 0


def provision(args: argparse.Namespace, settings: Settings) -> int:
    p = prepare(args.target, settings, refresh=args.refresh)
    write_pin(settings, p)
    print(f"{p.target}: headers {p.provisioned.kdir}")
    print(f"{p.target}: kernel  {p.provisioned.kernel}")
    return 0


def build(args: argparse.Namespace, settings: Settings) -> int:
    if args.kdir:
        res = build_kdir(args.kdir, settings, arch=args.arch, clean=args.clean)
    elif args.target:
        with attempt(Layout.of(settings, parse_target(args.target)).folder, "build"):
            res = build_target(args.target, settings, toolchain=args.toolchain,
                               clean=args.clean)
    else:
        raise KscribeError("build: give a TARGET (e.g. bookworm/amd64) or --kdir PATH")
    print(f"{res.metadata['target']}: {res.outdir / 'metadata.json'}")
    return 0


def boot(args: argparse.Namespace, settings: Settings) -> int:
    with attempt(Layout.of(settings, parse_target(args.target)).folder, "boot"):
        v = boot_target(args.target, settings, modules_from=args.modules_from,
                        append=args.append)
    print(f"{args.target}: {v.summary()}")
    return 0 if v.ok else 1


def trace(args: argparse.Namespace, settings: Settings) -> int:
    res = trace_target(args.target, settings, record=args.record)
    print(f"{args.target}: {len(res.events)} events in {res.trace} ({res.text})")
    for name, count in list(res.summary.items())[:args.top]:
        print(f"  {count:8} {name}")
    return 0


def stress(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.guest import stress as checks

    v, trace_dir = stress_target(args.target, settings, args.cycles)
    console = Layout.of(settings, parse_target(args.target)).run("stress") / "console.log"
    for line in checks.report(console.read_text()).lines():
        print(f"  {line}")
    state = "PASS" if v.ok else "FAIL: " + "; ".join(v.reasons)
    print(f"{args.target}: robustness {state} in {v.duration_s:.1f} s "
          f"(tiny-buffer trace: {trace_dir})")
    return 0 if v.ok else 1


def run(args: argparse.Namespace, settings: Settings) -> int:
    build_target(args.target, settings, toolchain=args.toolchain)
    v = boot_target(args.target, settings)
    print(f"{args.target}: {v.summary()}")
    return 0 if v.ok else 1


def generate(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.codegen.module import render_sources
    from kscribe.instrument.syscalls import tables
    from kscribe.kernel.tree import read_tree

    p = prepare(args.target, settings)
    dest = args.output or outdir(settings, p.target) / "generated"
    modules = render_sources(read_tree(p.provisioned.kdir), dest, target=p.target.name,
                             arch=p.target.arch, syscalls=tables(p, settings))
    print(f"{p.target}: {len(modules)} modules ({', '.join(modules)}) in {dest}")
    return 0


def checkpatch(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.codegen.module import generated_sources
    from kscribe.kernel.checkpatch import check, script

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


def uapi(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.codegen import uapi as header

    text = header.render(header.load())
    current = header.HEADER.read_text() if header.HEADER.is_file() else None
    if args.check:
        if current != text:
            print(f"kscribe: {header.HEADER} is not the rendering of {header.SPEC}: run "
                  "`kscribe uapi`")
            return 1
        print(f"{header.HEADER}: up to date")
        return 0
    if current != text:
        atomic.write_text(header.HEADER, text)
        print(f"wrote {header.HEADER}")
    return 0


def upstream(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.pipeline import upstream_label, upstream_series
    from kscribe.upstream.gates import GateFailed

    if args.mode == "status":
        return upstream_status(args)
    if args.mode == "history":
        return upstream_history(args, settings)
    if args.source is not None or args.url is not None:
        raise KscribeError("--source and --url are options of `upstream history` only")
    if args.folder is not None:
        raise KscribeError(f"upstream {args.mode}: a folder is given to `upstream status` "
                           f"only; the output folder is -o DIR")
    label = upstream_label(args.mode, args.abi)
    out = args.output or settings.out_dir / "upstream" / f"{label}-patches"
    try:
        s = upstream_series(args.mode, settings, out, tree=args.tree, abi=args.abi,
                            reroll=args.reroll, trailers=args.trailers,
                            build=not args.no_build)
    except GateFailed as e:
        print(f"kscribe: upstream {args.mode}: gate failed: {e} (its output: "
              f"{out / 'gate-failure.txt'})")
        return 1
    for p in s.patches:
        cp = p.gates["checkpatch"]
        assert isinstance(cp, dict)
        since = f", {p.since} since v{s.version - 1}" if p.since else ""
        kept = f", keeps {'; '.join(p.trailers)}" if p.trailers else ""
        print(f"  {p.number:2}/{len(s.patches)} {p.subject}: +{p.added} -{p.removed}, "
              f"{p.bytes} bytes, checkpatch {cp['errors']}/{cp['warnings']}/{cp['checks']}"
              f"{since}{kept}")
    print(f"{label}: v{s.version}, {len(s.patches)} patches on {s.base} in {out} "
          f"(series.json, mail/: {len(s.mail)} messages, b4 and git am round trip identical); "
          f"ioctl "
          f"block {s.abi['magic']!r} {s.abi['first']:02X}-{s.abi['last']:02X}, ABI "
          f"{s.abi['version']}")
    if s.out_of_tree:
        print(f"{label}: out of tree, built against the tree: {', '.join(s.out_of_tree)}")
    return _proof(args, settings, label, out)


def _proof(args: argparse.Namespace, settings: Settings, label: str, out: Path) -> int:
    """The proof of what ``out`` holds, unless the command line skips it."""
    if args.no_proof or args.no_build:
        return 0
    from kscribe.pipeline import upstream_proof

    r = upstream_proof(args.mode, settings, out, abi=args.abi)
    print(f"{label}: proof: {r.verdict.summary()}; {len(r.events)} events read by "
          f"babeltrace2 ({r.trace})")
    return 0


def upstream_history(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.pipeline import upstream_history as run_history
    from kscribe.upstream.gates import GateFailed

    if args.reroll or args.trailers or args.abi != "keep" or args.folder is not None:
        raise KscribeError("upstream history takes -o, --tree, --source, --url, --no-build "
                           "and --no-proof (a history is merged, not rerolled)")
    out = args.output or settings.out_dir / "upstream" / "history-patches"
    try:
        r = run_history(settings, out, tree=args.tree, source=args.source, url=args.url,
                        build=not args.no_build)
    except GateFailed as e:
        print(f"kscribe: upstream history: gate failed: {e} (its output: "
              f"{out / 'gate-failure.txt'})")
        return 1
    print(f"history: {r.imported} commits of {r.source} imported; merge {r.merge[:12]} "
          f"(parents {r.parents[0][:12]} {r.base_tag}, {r.parents[1][:12]}); hook-up "
          f"{r.hookup[:12]}")
    print(f"history: confined to the plan's paths (C1); {len(r.without_signoff)} commits "
          f"without Signed-off-by (C3); {len(r.touching_outside)} originally touching "
          f"other files too; licenses {', '.join(sorted(r.licenses))}"
          f"{'; NOT in LICENSES/: ' + ', '.join(r.missing_licenses) if r.missing_licenses else ''}")
    print(f"history: report {out / 'history.json'}, pull request {out / 'pull-request.txt'}")
    return _proof(args, settings, "history", out)


def upstream_status(args: argparse.Namespace) -> int:
    from kscribe.upstream import status

    if args.folder is None:
        raise KscribeError("upstream status: give the folder of a series, e.g. "
                           "out/upstream/bulk-patches")
    versions = status.versions(args.folder)
    print(status.text(versions), end="")
    page = status.write_html(versions, args.folder / "status.html")
    print(f"{args.folder}: {len(versions)} versions; the review page is {page}")
    return 0


def strip(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.pipeline import strip_tree
    from kscribe.strip import forwarders, report

    if args.distro is not None and args.target is not None and args.kernel is None:
        raise KscribeError("strip: --distro goes with --kernel; a --target gives its own "
                           "(debian:ABI)")
    r, verdict = strip_tree(args.tree, args.output, settings, target=args.target,
                            kernel=args.kernel, distro=args.distro, rules=args.rules,
                            verify=args.verify)
    if args.json:
        atomic.write_json(args.json, report.to_json(r, verdict))
    if args.cocci:
        atomic.write_text(args.cocci, forwarders.semantic_patch(r.forwarders))
    print(report.text(r, verdict), end="")
    print(f"{args.output}: the stripped tree")
    return 0 if verdict is None or verdict.ok else 1


def sloc(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from kscribe.sloc import facets, table

    trees = [args.tree] + ([args.after] if args.after else [])
    rows = facets.measure(trees, facets.load(args.facets) if args.facets else None,
                          args.autogen)
    labels = [str(t) for t in trees]
    if args.format == "json":
        print(json.dumps(table.as_json(rows, labels), indent=2))
    elif args.format == "markdown":
        print(table.markdown(rows, labels), end="")
    else:
        print(table.text(rows, labels), end="")
    return 0


def package(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe import packaging
    from kscribe.package import signing

    needs_target = args.what in ("modules", "tools", "prove")
    if needs_target and not args.target:
        raise KscribeError(f"package {args.what}: give a TARGET (e.g. bookworm/amd64)")
    if not needs_target and args.target:
        raise KscribeError(f"package {args.what} takes no TARGET")
    if args.sign and args.what != "modules":
        raise KscribeError("--sign goes with `package modules` (the modules are signed)")
    if args.what == "keygen":
        pair = signing.keygen(args.output)
        print(f"key {pair.key} (keep it private), certificate {pair.cert} (PEM, for "
              f"--sign) and {pair.der} (DER, for mokutil). To enroll it:")
        print(signing.ENROLL.format(cert=pair.der))
        return 0
    if args.what == "prove":
        return packaging.prove(args.target, settings, args.output)
    if args.what == "dkms":
        built = packaging.dkms_package(settings, args.output)
    elif args.what == "modules":
        built = packaging.modules_package(args.target, settings, args.output,
                                          tuple(args.sign) if args.sign else None)
    else:
        built = packaging.tools_package(args.target, settings, args.output)
    print(built)
    return 0


def ci(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.config import matrix
    from kscribe.matrix import export, report, results

    m = matrix.load(args.matrix)
    if args.what == "export":
        if args.service not in export.SERVICES:
            raise KscribeError(f"ci export: give a service ({', '.join(export.SERVICES)}), "
                               f"not {args.service!r}")
        if args.output is None:
            raise KscribeError("ci export: give -o FILE (e.g. .github/workflows/kscribe.yml)")
        atomic.write_text(args.output, export.SERVICES[args.service](m))
        print(f"{args.output}: {len(m.build)} build and {len(m.boot)} boot cells")
        return 0
    if args.service is None or not Path(args.service).is_dir():
        raise KscribeError(f"ci report: give the folder of a run's results or of a CI run's "
                           f"artifacts, not {args.service}")
    found = results.collect(m.build, m.boot, Path(args.service))
    dest = args.output or Path("report")
    line = report.write(found, dest, copy=True)
    print(dest / "report.html")
    print(line)
    return 0 if line.endswith(" 0 failed") else 1

"""``kscribe package``: the tracer as the packages users install, and their proofs.

The packages of a cell: ``kscribe-dkms`` (any kernel, built by dkms on the user's machine),
``kscribe-modules-<abi>`` (the pipeline's modules for one kernel, optionally signed) and
``kscribectl``. The proofs do what a user's machine does with them: a fresh Debian root of
the kernel's suite with only its headers installs the -dkms package with apt, dkms builds
and installs the modules, Debian's ``dkms-autopkgtest`` passes, purge removes them, and the
modules dkms built record the workload in that kernel under QEMU; the modules package
installs with its kernel image and depmod lists it.
"""

from __future__ import annotations

import lzma
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.build import guest_programs, metadata
from kscribe.config import paths
from kscribe.config.arches import host_arch
from kscribe.config.settings import Settings
from kscribe.errors import KscribeError
from kscribe.kernel.tree import read_tree
from kscribe.package import binary, deb, dkms, signing
from kscribe.package.machine import Machine
from kscribe.pipeline import (
    Prepared,
    TraceResult,
    build_target,
    outdir,
    prepare,
    toolchain_of,
    trace_with,
)
from kscribe.util import log, proc
from kscribe.util.git import Identity, identity

DKMS_MODULES = "/lib/modules/{abi}/updates/dkms"


def maintainer() -> Identity:
    """Who the packages are made by: the user's git identity, never a made-up one."""
    return identity(paths.ROOT)


def dkms_package(settings: Settings, out: Path) -> Path:
    return dkms.build(out, maintainer())


def _signer(settings: Settings, p: Prepared, key: Path, cert: Path):
    tree = read_tree(p.provisioned.kdir)
    tool = signing.sign_file(p.provisioned.root / "prefix")
    tc = toolchain_of(settings, p)
    if tc.chroot is not None:
        tc.chroot.ensure()

    def sign(modules: list[Path]) -> None:
        folder = modules[0].parent.resolve()
        tc.binds = [p.provisioned.root, folder, key.resolve().parent, cert.resolve().parent]

        def run(argv: list[str]) -> None:
            done = tc.run(argv, folder)
            if done.returncode != 0:
                raise KscribeError(f"{tool.name} failed: {(done.stderr or done.stdout).strip()}")
        signing.sign(modules, key.resolve(), cert.resolve(), tool, signing.hash_of(tree), run)
    return sign


def modules_package(name: str, settings: Settings, out: Path,
                    sign: tuple[Path, Path] | None = None) -> Path:
    """The prebuilt modules of target ``name`` as ``kscribe-modules-<abi>``; with ``sign``
    (key, certificate) each module is signed by the kernel's sign-file first."""
    p = prepare(name, settings)
    build_target(name, settings)
    built = metadata.modules(outdir(settings, p.target))
    with tempfile.TemporaryDirectory(prefix="kscribe-modules.") as tmp:
        copies = []
        for ko in built:
            dest = Path(tmp) / ko.name
            shutil.copyfile(ko, dest)
            copies.append(dest)
        signed_by = ""
        if sign is not None:
            _signer(settings, p, *sign)(copies)
            signed_by = _subject(sign[1])
        return binary.modules_package(copies, p.resolved.abi, p.target.arch.name,
                                      maintainer(), out, signed_by)


def _subject(cert: Path) -> str:
    done = proc.run(["openssl", "x509", "-in", cert, "-noout", "-subject", "-nameopt",
                     "oneline"], why="to name the signing certificate")
    return done.stdout.strip().removeprefix("subject=").strip()


def tools_package(name: str, settings: Settings, out: Path) -> Path:
    """``kscribectl`` for target ``name``'s architecture, built as a distribution builds a
    program (dynamic, hardened, stripped), with its manual (the host build's --help)."""
    p = prepare(name, settings)
    arch = p.target.arch
    with tempfile.TemporaryDirectory() as tmp:
        tool = guest_programs.build_tool(arch, Path(tmp) / "tool")
        host = guest_programs.build_program(host_arch(), "kscribectl",
                                            guest_programs.PROGRAMS["kscribectl"], Path(tmp))
        help_text = proc.run([str(host), "--help"], why="to write kscribectl's manual").stdout
        when = time.strftime("%Y-%m-%d", time.gmtime(deb.epoch()))
        libc = guest_programs.libc_version(tool)
        return binary.tools_package(tool, binary.manual(help_text, when), arch.name,
                                    f"libc6 (>= {libc})", maintainer(), out)


# ---- proofs ----

@dataclass
class DkmsProof:
    """What a fresh machine made of the -dkms package."""

    status: str                          # dpkg's Status after apt install
    dkms_status: str
    modules: list[Path]                  # the .ko dkms built and installed, copied out
    vermagic: dict[str, str]
    make_log: str
    purged_status: str                   # dkms status after apt purge
    left_after_purge: list[str]
    autopkgtest: str
    autopkgtest_rc: int
    times: dict[str, float] = field(default_factory=dict)


def dkms_proof(name: str, settings: Settings, package: Path, work: Path) -> DkmsProof:
    """The -dkms package on a fresh machine of target ``name``'s suite with only its kernel's
    headers: apt install, dkms status, vermagic, purge, then Debian's dkms-autopkgtest."""
    p = prepare(name, settings)
    abi = p.resolved.abi
    times: dict[str, float] = {}
    started = time.monotonic()
    m = Machine.fresh(settings, p.target.suite, abi, work / "root")
    times["machine"] = time.monotonic() - started
    inside = m.put(package)
    done, times["apt install (dkms build)"] = m.timed(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", inside])
    status = m.run(["dpkg-query", "-W", "-f", "${Status}", dkms.PACKAGE]).stdout.strip()
    dkms_status = m.run(["dkms", "status"]).stdout.strip()
    folder = DKMS_MODULES.format(abi=abi)
    kos = sorted(m.path(folder).glob("*.ko*"))
    if not kos:
        raise KscribeError(f"{name}: dkms installed no module in {folder} (apt said: "
                           f"{done.stdout[-400:]!r})")
    vermagic = {ko.name: m.run(["modinfo", "-F", "vermagic", f"{folder}/{ko.name}"]
                               ).stdout.strip() for ko in kos}
    logs = sorted(m.path("/var/lib/dkms").glob(f"{dkms.NAME}/*/{abi}/*/log/make.log")) + \
        sorted(m.path("/var/lib/dkms").glob(f"{dkms.NAME}/*/build/make.log"))
    make_log = logs[0].read_text(errors="replace") if logs else ""
    copies = _copy_out(kos, work / "dkms-modules")
    _, times["apt purge"] = m.timed(["apt-get", "purge", "-y", "-q", dkms.PACKAGE])
    purged = m.run(["dkms", "status"]).stdout.strip()
    left = sorted(str(k.name) for k in m.path(folder).glob("*.ko*")) \
        if m.path(folder).is_dir() else []
    # Debian's own test of a -dkms package, from a local repository
    m.run(["sh", "-c", "mkdir -p /srv/repo && cp /tmp/*.deb /srv/repo/ && cd /srv/repo && "
                       "dpkg-scanpackages . /dev/null > Packages && echo 'deb [trusted=yes] "
                       "file:/srv/repo ./' > /etc/apt/sources.list.d/local.list && "
                       "apt-get update -q"])
    auto, times["dkms-autopkgtest"] = m.timed(
        ["/usr/lib/dkms/dkms-autopkgtest", dkms.PACKAGE], check=False)
    log.progress(f"{name}: dkms proof done in {time.monotonic() - started:.0f} s")
    return DkmsProof(status, dkms_status, copies, vermagic, make_log, purged, left,
                     auto.stdout + auto.stderr, auto.returncode or 0, times)


def _copy_out(kos: list[Path], dest: Path) -> list[Path]:
    """Modules copied out of a machine, decompressed (dkms compresses them as the kernel
    does its own), core first: the order they load in."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    out = []
    for ko in kos:
        data = ko.read_bytes()
        name = ko.name
        if name.endswith(".xz"):
            data, name = lzma.decompress(data), name.removesuffix(".xz")
        elif name.endswith((".zst", ".gz")):
            raise KscribeError(f"{ko.name}: compressed as the guest cannot load; only xz is read")
        (dest / name).write_bytes(data)
        out.append(dest / name)
    return sorted(out, key=lambda k: (k.stem != "kscribe_core", k.stem.endswith("syscalls"),
                                      k.stem))


def boot_modules(name: str, settings: Settings, modules: list[Path], run: str) -> TraceResult:
    """Record the workload with the ``modules`` dkms built, in target ``name``'s kernel."""
    return trace_with(name, settings, modules, run, {"modules": run})


@dataclass
class ModulesProof:
    status: str
    modules_dep: list[str]
    times: dict[str, float]
    removed_dep: list[str]


def modules_proof(name: str, settings: Settings, package: Path, work: Path) -> ModulesProof:
    """The modules package on a fresh machine: apt installs it and its kernel image, depmod
    lists the modules; removing it takes them out of modules.dep."""
    p = prepare(name, settings)
    abi = p.resolved.abi
    times: dict[str, float] = {}
    started = time.monotonic()
    m = Machine.fresh(settings, p.target.suite, abi, work / "root")
    times["machine"] = time.monotonic() - started
    inside = m.put(package)
    _, times["apt install (with the kernel image)"] = m.timed(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", inside])
    pkg = package.name.split("_", 1)[0]
    status = m.run(["dpkg-query", "-W", "-f", "${Status}", pkg]).stdout.strip()
    dep = m.path(f"/lib/modules/{abi}/modules.dep").read_text()
    listed = sorted(ln.split(":", 1)[0] for ln in dep.splitlines() if "/kscribe/" in ln)
    m.run(["apt-get", "remove", "-y", "-q", pkg])
    dep = m.path(f"/lib/modules/{abi}/modules.dep").read_text()
    removed = sorted(ln.split(":", 1)[0] for ln in dep.splitlines() if "/kscribe/" in ln)
    return ModulesProof(status, listed, times, removed)


def lintian(package: Path) -> tuple[list[str], str]:
    """lintian's tags of ``package`` (errors and warnings, and the rest), and its output."""
    done = proc.run(["lintian", "--no-tag-display-limit", "--display-info", str(package)],
                    check=False, why="to check packages as Debian does")
    text = done.stdout + done.stderr
    tags = [ln for ln in text.splitlines() if re.match(r"^[EWIXP]: ", ln)]
    return tags, text


def prove(name: str, settings: Settings, out: Path) -> int:
    """Every package of target ``name``, built into ``out`` and proven: lintian, the -dkms
    package on a fresh machine of the suite and its modules booted, the modules package
    installed with its kernel. Prints each step and its time; writes ``out/proof.json``."""
    from kscribe.util import atomic

    started = time.monotonic()
    built = {"dkms": dkms_package(settings, out), "modules": modules_package(name, settings, out),
             "tools": tools_package(name, settings, out)}
    report: dict[str, object] = {"target": name, "packages": {k: v.name for k, v in
                                                               built.items()}}
    failed = []
    for kind, deb_path in built.items():
        tags, _ = lintian(deb_path)
        report[f"lintian {kind}"] = tags
        errors = [t for t in tags if t.startswith("E: ")]
        print(f"{deb_path.name}: lintian {len(errors)} errors, {len(tags) - len(errors)} "
              f"other tags{': ' + '; '.join(tags) if tags else ''}")
        failed += errors
    work = out / "proof"
    d = dkms_proof(name, settings, built["dkms"], work / "dkms")
    autopkg = "PASS" if d.autopkgtest_rc == 0 and re.search(r"I: PASS", d.autopkgtest) \
        else "FAIL"
    print(f"{built['dkms'].name} on a fresh {name} machine: {d.status}; {d.dkms_status}; "
          f"{len(d.modules)} modules, vermagic {sorted(set(d.vermagic.values()))}; "
          f"dkms-autopkgtest {autopkg}; after purge: {d.purged_status or 'nothing'}"
          f"{', left: ' + ', '.join(d.left_after_purge) if d.left_after_purge else ''}")
    print("  " + ", ".join(f"{k} {v:.0f} s" for k, v in d.times.items()))
    if autopkg != "PASS" or d.left_after_purge or "install ok installed" not in d.status:
        failed.append("dkms proof")
    t = boot_modules(name, settings, d.modules, "dkms-boot")
    print(f"the modules dkms built, booted: {t.verdict.summary()}; {len(t.events)} events")
    mp = modules_proof(name, settings, built["modules"], work / "modules")
    print(f"{built['modules'].name} on a fresh {name} machine: {mp.status}; modules.dep "
          f"lists {len(mp.modules_dep)}, after removal {len(mp.removed_dep)}; "
          + ", ".join(f"{k} {v:.0f} s" for k, v in mp.times.items()))
    if "install ok installed" not in mp.status or not mp.modules_dep or mp.removed_dep:
        failed.append("modules proof")
    s = signing_proof(name, settings, work / "signing")
    signing_ok = signed_as_expected(s)
    print(f"signing: {'; '.join(signing_ok) or 'as expected'}: offline "
          + ", ".join(f"{k} {'accepted' if ok else 'refused'}" for k, (ok, _) in
                      s.offline.items())
          + f"; sig_enforce=1 refuses ours ({s.enforced.get('message-kscribe_core-signed')}), "
          f"loads the kernel's loop.ko; Secure Boot: "
          + ("no machine for this architecture" if s.secure_boot is None else
             f"on, ours loads with taint {s.secure_boot.get('taint-kscribe_core-signed')}, "
             f"unsigned and tampered refused")
          + "; " + ", ".join(f"{k} {v:.0f} s" for k, v in s.times.items()))
    if signing_ok:
        failed.append("signing proof")
    report.update(dkms={"status": d.status, "dkms_status": d.dkms_status,
                        "vermagic": d.vermagic, "autopkgtest": autopkg, "times": d.times,
                        "purged": d.purged_status, "boot": t.verdict.summary(),
                        "events": len(t.events)},
                  modules={"status": mp.status, "modules_dep": mp.modules_dep,
                           "times": mp.times},
                  signing={"offline": {k: ok for k, (ok, _) in s.offline.items()},
                           "sig_enforce": s.enforced, "secure_boot": s.secure_boot,
                           "times": s.times, "problems": signing_ok},
                  seconds=round(time.monotonic() - started, 1))
    atomic.write_json(out / "proof.json", report)
    print(f"{name}: packages {'PASS' if not failed else 'FAIL: ' + ', '.join(failed)} in "
          f"{time.monotonic() - started:.0f} s ({out / 'proof.json'})")
    return 0 if not failed else 1


@dataclass
class SigningProof:
    """Signatures checked offline by openssl and by the kernel under QEMU."""

    offline: dict[str, tuple[bool, str]]
    enforced: dict[str, str]             # module.sig_enforce=1, no key enrolled
    secure_boot: dict[str, str] | None   # UEFI Secure Boot, our certificate a MOK (None:
                                         # no Secure Boot machine for the architecture)
    times: dict[str, float]


TAINT_OUT_OF_TREE = 1 << 12   # the kernel's TAINT_OOT_MODULE ("O")
TAINT_UNSIGNED = 1 << 13      # TAINT_UNSIGNED_MODULE ("E")


def signed_as_expected(s: SigningProof) -> list[str]:
    """What in a signing proof is not as it should be (nothing, when it passes)."""
    problems = [f"openssl: {k} {'accepted' if ok else 'refused'}"
                for k, (ok, _) in s.offline.items() if ok != (k == "signed")]
    e = s.enforced
    if e.get("load-kernel-loop") != "0":
        problems.append("sig_enforce=1: the kernel's own loop.ko did not load")
    if "rejected" not in e.get("message-kscribe_core-signed", "") or \
            e.get("load-kscribe_core-unsigned") in (None, "0"):
        problems.append("sig_enforce=1: a module signed with a key the kernel does not "
                        "know was not refused")
    b = s.secure_boot
    if b is None:
        return problems
    if b.get("secure-boot") != "1" or int(b.get("our-key") or 0) < 1:
        problems.append("Secure Boot: not on, or our certificate not among the kernel's keys")
    taint = int(b.get("taint-kscribe_core-signed") or 0)
    if b.get("load-kscribe_core-signed") != "0" or not taint & TAINT_OUT_OF_TREE or \
            taint & TAINT_UNSIGNED:
        problems.append(f"Secure Boot: our signed module did not load cleanly (taint {taint})")
    if "0" in (b.get("load-kscribe_core-unsigned"), b.get("load-kscribe_core-tampered")):
        problems.append("Secure Boot: an unsigned or tampered module loaded")
    return problems


def signing_proof(name: str, settings: Settings, work: Path) -> SigningProof:
    """Our signature on the core module, proven three ways: openssl accepts it and refuses
    a tampered byte and the wrong certificate; a kernel enforcing signatures with no key of
    ours refuses it while loading its distribution's own module; under UEFI Secure Boot with
    our certificate enrolled as a MOK it loads untainted by "unsigned", and an unsigned or
    tampered copy is refused. The key pair is made for this run only."""
    from kscribe.guest import secureboot
    from kscribe.guest.console import checks, judge_finished
    from kscribe.pipeline import boot_with

    p = prepare(name, settings)
    build_target(name, settings)
    times: dict[str, float] = {}
    if work.exists():
        shutil.rmtree(work)
    pair = signing.keygen(work / "keys")
    other = signing.keygen(work / "other-keys")
    core = next(k for k in metadata.modules(outdir(settings, p.target))
                if k.stem == "kscribe_core")
    mods = work / "modules"
    mods.mkdir()
    signed, unsigned, tampered = (mods / f"kscribe_core-{k}.ko" for k in
                                  ("signed", "unsigned", "tampered"))
    for dest in (signed, unsigned):
        shutil.copyfile(core, dest)
    _signer(settings, p, pair.key, pair.cert)([signed])
    body = bytearray(signed.read_bytes())
    body[len(body) // 3] ^= 0x01             # one bit of the module's code, not its signature
    tampered.write_bytes(bytes(body))
    offline = {"signed": signing.verify(signed, pair.cert, work / "v"),
               "tampered": signing.verify(tampered, pair.cert, work / "v"),
               "other certificate": signing.verify(signed, other.cert, work / "v")}
    subject = {"subject": "kscribe module signing key"}
    started = time.monotonic()
    v, run = boot_with(name, settings, [signed, unsigned], "sig-enforce",
                       script="guest/signing.sh.j2", append="module.sig_enforce=1",
                       context=subject, judge_console=judge_finished)
    if not v.ok:
        raise KscribeError(f"{name}: the sig_enforce boot failed: {'; '.join(v.reasons)}")
    times["boot, sig_enforce=1"] = time.monotonic() - started
    enforced = checks((run / "console.log").read_text())
    if p.target.arch.name not in secureboot.machines():
        return SigningProof(offline, enforced, None, times)
    fw = secureboot.firmware(settings, p.target.suite, p.target.arch.name, p.resolved.abi)
    variables = secureboot.enrolled_vars(fw, pair.cert, work / "vars.fd")
    q = p.target.arch.qemu

    def machine(initrd: Path) -> list[str]:
        esp = secureboot.esp_folder(fw, initrd, f"console={q.console} panic=-1", work / "esp")
        return secureboot.argv(fw, q.binary, variables, esp, q.memory, q.cpus)

    started = time.monotonic()
    v, run = boot_with(name, settings, [signed, unsigned, tampered], "secure-boot",
                       script="guest/signing.sh.j2", context=subject,
                       judge_console=judge_finished, machine=machine)
    if not v.ok:
        raise KscribeError(f"{name}: the Secure Boot boot failed: {'; '.join(v.reasons)} "
                           f"(console: {run / 'console.log'})")
    times["boot, Secure Boot with the MOK"] = time.monotonic() - started
    return SigningProof(offline, enforced, checks((run / "console.log").read_text()), times)

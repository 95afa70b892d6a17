"""The tracer as Debian packages, proven the way users meet them.

kscribe-dkms on a fresh bookworm machine with only the kernel's headers: apt installs it,
dkms builds and installs the modules (their vermagic the kernel's), Debian's own
dkms-autopkgtest passes, purge removes them, and the modules dkms built record the
workload in that kernel under QEMU. The prebuilt modules package installs with its kernel
image and depmod lists it; it is the same bytes when built twice. lintian finds no error
in any package. Signatures: openssl accepts ours and refuses a tampered byte or the wrong
certificate; a kernel enforcing signatures refuses our module and loads its own; under
UEFI Secure Boot with our certificate enrolled as a MOK our signed module loads without
the unsigned taint, and an unsigned or tampered one is refused. Keys are made per run.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kscribe import packaging
from kscribe.build import metadata
from kscribe.errors import KscribeError
from kscribe.package import binary, deb, dkms, signing
from kscribe.pipeline import build_target, outdir, prepare
from kscribe.util.git import identity

from .conftest import need_tool

ROOT = Path(__file__).resolve().parent.parent
TARGET = "bookworm/amd64"
TAINT_UNSIGNED = 1 << 13        # E: an unsigned module was loaded
TAINT_OOT = 1 << 12             # O: an out-of-tree module was loaded


@pytest.fixture(scope="module")
def packages(settings, tmp_path_factory, network):
    out = tmp_path_factory.mktemp("packages")
    return {"dkms": packaging.dkms_package(settings, out),
            "modules": packaging.modules_package(TARGET, settings, out),
            "tools": packaging.tools_package(TARGET, settings, out)}, out


def test_every_package_passes_lintian(packages):
    need_tool("lintian")
    built, _ = packages
    for kind, path in built.items():
        tags, text = packaging.lintian(path)
        assert not [t for t in tags if t.startswith("E: ")], (kind, text)
        assert not [t for t in tags if t.startswith("W: ")], (kind, text)


def test_the_dkms_package_carries_the_generator_and_its_conf(packages, settings):
    built, _ = packages
    listing = subprocess.run(["dpkg-deb", "-c", str(built["dkms"])], capture_output=True,
                             text=True, check=True).stdout
    src = f"./usr/src/kscribe-{deb.__version__}/"
    for rel in ("dkms.conf", "Makefile", "kscribe/build/local.py",
                "templates/module/probe.c.j2", "instrumentation/events/sched.yaml",
                "kernel_module/core/kscribe_core.c", "kscribe/data/host-tools.toml"):
        assert src + rel in listing, rel
    assert "__pycache__" not in listing
    fields = subprocess.run(["dpkg-deb", "-f", str(built["dkms"]), "Depends"],
                            capture_output=True, text=True, check=True).stdout
    assert "dkms (>=" in fields and "python3-jinja2" in fields and "python3-kconfiglib" in fields


def test_dkms_conf_lists_exactly_the_modules_the_pipeline_builds(packages, settings,
                                                                 tmp_path):
    """dkms.conf, sourced by bash as dkms sources it, names the modules a build of that
    kernel makes: the same as the pipeline's build of the cell."""
    built, _ = packages
    p = prepare(TARGET, settings)
    res = build_target(TARGET, settings)
    subprocess.run(["dpkg-deb", "-x", str(built["dkms"]), str(tmp_path)], check=True)
    src = tmp_path / "usr/src"
    script = (f"source_tree={src}; kernelver={p.resolved.abi}; "
              f"kernel_source_dir={p.provisioned.kdir}; "
              f". {src}/kscribe-{deb.__version__}/dkms.conf; "
              'echo "${BUILT_MODULE_NAME[@]}"; echo "${BUILT_MODULE_LOCATION[0]}"; '
              'echo "$BUILD_EXCLUSIVE_KERNEL"')
    # the python3 of this venv has the modules Debian's python3 gets from the Depends
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True,
                          env=env)
    names, location, kernels = done.stdout.splitlines()
    assert names.split() == res.metadata["modules"]
    assert location == "build/"
    assert re.match(kernels, "5.10.0-30-amd64") and re.match(kernels, p.resolved.abi)
    assert re.match(kernels, "7.2.13+deb14-amd64") and not re.match(kernels, "4.19.0-27-amd64")


def test_the_modules_package_is_the_same_bytes_twice(settings, tmp_path, network):
    first = packaging.modules_package(TARGET, settings, tmp_path / "a")
    second = packaging.modules_package(TARGET, settings, tmp_path / "b")
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, second)]
    assert digest[0] == digest[1]
    p = prepare(TARGET, settings)
    assert first.name == f"kscribe-modules-{p.resolved.abi}_{deb.__version__}_amd64.deb"
    listing = subprocess.run(["dpkg-deb", "-c", str(first)], capture_output=True, text=True,
                             check=True).stdout
    for ko in metadata.modules(outdir(settings, p.target)):
        assert f"./lib/modules/{p.resolved.abi}/updates/kscribe/{ko.name}" in listing
    depends = subprocess.run(["dpkg-deb", "-f", str(first), "Depends"], capture_output=True,
                             text=True, check=True).stdout.strip()
    assert depends == f"linux-image-{p.resolved.abi} | linux-image-{p.resolved.abi}-unsigned"


def test_signatures_checked_offline(settings, tmp_path, network):
    """sign-file of the kernel's own kbuild, with the hash the kernel's config names:
    deterministic, accepted by openssl with our certificate, refused tampered or with
    another certificate."""
    need_tool("openssl")
    p = prepare(TARGET, settings)
    build_target(TARGET, settings)
    pair = signing.keygen(tmp_path / "k")
    other = signing.keygen(tmp_path / "o")
    assert oct(pair.key.stat().st_mode & 0o777) == "0o600"
    core = next(k for k in metadata.modules(outdir(settings, p.target))
                if k.stem == "kscribe_core")
    out = []
    for i in range(2):
        copy = tmp_path / f"c{i}.ko"
        copy.write_bytes(core.read_bytes())
        packaging._signer(settings, p, pair.key, pair.cert)([copy])
        out.append(copy)
    assert out[0].read_bytes() == out[1].read_bytes()
    assert signing.verify(out[0], pair.cert, tmp_path / "w")[0]
    assert "signer certificate not found" in signing.verify(out[0], other.cert,
                                                            tmp_path / "w")[1]
    data = bytearray(out[0].read_bytes())
    data[100] ^= 1
    (tmp_path / "t.ko").write_bytes(bytes(data))
    ok, text = signing.verify(tmp_path / "t.ko", pair.cert, tmp_path / "w")
    assert not ok and "verification failure" in text.lower()
    with pytest.raises(Exception, match="already signed"):
        packaging._signer(settings, p, pair.key, pair.cert)([out[0]])


def test_keygen_and_package_commands_refuse_bad_lines(tmp_path):
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kscribe", "package", *args],
                              capture_output=True, text=True, cwd=ROOT)

    done = cli("keygen", "-o", str(tmp_path / "keys"))
    assert done.returncode == 0 and "mokutil --import" in done.stdout
    again = cli("keygen", "-o", str(tmp_path / "keys"))
    assert again.returncode == 2 and "exists" in again.stderr
    for args, message in ((["modules", "-o", str(tmp_path)], "give a TARGET"),
                          (["dkms", TARGET, "-o", str(tmp_path)], "takes no TARGET"),
                          (["tools", TARGET, "-o", str(tmp_path), "--sign", "a", "b"],
                           "--sign goes with")):
        done = cli(*args)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1


def test_the_manual_is_the_tools_help():
    text = binary.manual("Usage: kscribectl COMMAND\n  -h, --help  print\n.dot\n", "2026-01-01")
    assert text.startswith('.TH KSCRIBECTL 1 "2026-01-01"')
    assert "\\-h, \\-\\-help" in text and "\n\\&.dot\n" in text


def test_a_fresh_machine_installs_builds_tests_and_purges_the_dkms_package(
        packages, settings, tmp_path_factory, root):
    built, _ = packages
    work = tmp_path_factory.mktemp("dkms-proof")
    d = packaging.dkms_proof(TARGET, settings, built["dkms"], work)
    p = prepare(TARGET, settings)
    assert d.status == "install ok installed"
    assert re.search(rf"^kscribe/{re.escape(deb.__version__)}, {re.escape(p.resolved.abi)}, "
                     r"x86_64: installed$", d.dkms_status, re.M), d.dkms_status
    res = build_target(TARGET, settings)
    assert sorted(k.stem for k in d.modules) == sorted(res.metadata["modules"])
    assert set(d.vermagic.values()) and all(v.split()[0] == p.resolved.abi
                                           for v in d.vermagic.values())
    assert "recorded with generic arguments" in d.make_log
    assert "kscribe" not in d.purged_status and not d.left_after_purge
    assert d.autopkgtest_rc == 0 and "I: PASS" in d.autopkgtest, d.autopkgtest[-2000:]
    t = packaging.boot_modules(TARGET, settings, d.modules, "dkms-boot")
    console = (t.trace.parent / "console.log").read_text()
    printed = dict(re.findall(r"^WORKLOAD (\w+)=(\S+)", console, re.M))
    opens = [e for e in t.events if e.name == "syscall_entry_openat"
             and e.fields.get("filename") == printed["file"]]
    assert len(opens) == 1 and opens[0].context["procname"] == printed["procname"]
    assert opens[0].context["tid"] == int(printed["tid"])


def test_a_fresh_machine_installs_the_modules_package_with_its_kernel(
        packages, settings, tmp_path_factory, root):
    built, _ = packages
    mp = packaging.modules_proof(TARGET, settings, built["modules"],
                                 tmp_path_factory.mktemp("modules-proof"))
    p = prepare(TARGET, settings)
    assert mp.status == "install ok installed"
    want = sorted(f"updates/kscribe/{k.name}" for k in
                  metadata.modules(outdir(settings, p.target)))
    assert mp.modules_dep == want and mp.removed_dep == []


def test_signed_modules_under_enforcement_and_secure_boot(settings, tmp_path_factory,
                                                          network):
    need_tool("qemu-system-x86_64")
    s = packaging.signing_proof(TARGET, settings, tmp_path_factory.mktemp("signing"))
    assert s.offline["signed"][0] and not s.offline["tampered"][0]
    assert not s.offline["other certificate"][0]
    e = s.enforced
    assert e["secure-boot"] == "0" and e["our-key"] == "0"
    assert e["load-kernel-loop"] == "0"
    assert e["load-kscribe_core-signed"] != "0" and e["load-kscribe_core-unsigned"] != "0"
    assert "rejected" in e["message-kscribe_core-signed"]
    b = s.secure_boot
    assert b is not None  # amd64 has a Secure Boot machine
    assert b["secure-boot"] == "1" and int(b["our-key"]) >= 1
    assert b["load-kernel-loop"] == "0"
    assert b["load-kscribe_core-signed"] == "0"
    taint = int(b["taint-kscribe_core-signed"])
    assert taint & TAINT_OOT and not taint & TAINT_UNSIGNED, taint
    assert b["load-kscribe_core-unsigned"] != "0" and b["load-kscribe_core-tampered"] != "0"
    assert "unsigned_module_is_rejected" in b["message-kscribe_core-unsigned"]
    assert b["message-kscribe_core-tampered"] == "Key_was_rejected_by_service"
    assert packaging.signed_as_expected(s) == []
    unsigned = packaging.SigningProof(s.offline, s.enforced, {**b, "taint-kscribe_core-signed":
                                      str(taint | packaging.TAINT_UNSIGNED)}, s.times)
    assert packaging.signed_as_expected(unsigned) == [
        f"Secure Boot: our signed module did not load cleanly (taint "
        f"{taint | packaging.TAINT_UNSIGNED})"]


def test_the_dkms_package_refuses_nothing_it_needs(settings):
    """Every file the generator reads on the user's machine is in the package."""
    for rel in dkms.SOURCES:
        assert (ROOT / rel).is_dir(), rel


def test_unmet_build_dependencies_are_named(tmp_path, monkeypatch):
    """Without what dpkg-buildpackage requires, one line names it (not dpkg's last words)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dpkg-checkbuilddeps").write_text(
        "#!/bin/sh\necho 'dpkg-checkbuilddeps: error: Unmet build dependencies: "
        "build-essential:native' >&2\nexit 1\n")
    (fake / "dpkg-checkbuilddeps").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    with pytest.raises(KscribeError, match=r"^kscribe-dkms: Unmet build dependencies: "
                                           r"build-essential:native: install them with apt"):
        dkms.build(tmp_path / "out", identity(ROOT))
    assert not list((tmp_path / "out").iterdir())

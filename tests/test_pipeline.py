"""The real pipeline on real Debian kernels: resolve, provision, build, boot.

Cells: bookworm/amd64 (host gcc, native), bookworm/arm64 (host cross gcc), trixie/amd64
(chroot of trixie with gcc-14) and bullseye/amd64 (chroot with gcc-10, the negative control's
foreign modules).
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kscribe.config.target import parse_target
from kscribe.debian.archive import Archive
from kscribe.debian.provision import deb_path, fetch_deb, guest_modules
from kscribe.debian.resolve import resolve
from kscribe.errors import KscribeError
from kscribe.pipeline import boot_target, build_kdir, build_target, prepare
from kscribe.util.digest import sha256_file

from .conftest import copy_sources, linked_cache, need_tool, path_without

pytestmark = pytest.mark.usefixtures("network")


def _kscribe(env, *argv, **kw):
    return subprocess.run([sys.executable, "-m", "kscribe", *argv], capture_output=True,
                          text=True, env=env, **kw)


def test_resolve_pins_and_reuses_the_lock(settings):
    r = resolve(parse_target("bookworm/amd64"), settings)
    assert r.abi.startswith("6.1.0-") and r.abi.endswith("-amd64")
    assert r.debs["headers"].name == f"linux-headers-{r.abi}"
    assert r.debs["common"].name.endswith("-common")
    assert r.debs["kbuild"].arch == "amd64" and r.debs["kbuild"].name == "linux-kbuild-6.1"
    assert r.debs["image"].version == r.version == r.debs["headers"].version
    assert json.loads(settings.lock_path.read_text())["targets"]["bookworm/amd64"]["abi"] == r.abi
    # pinned: a dead mirror does not matter until --refresh
    dead = dataclasses.replace(settings, mirrors={"debian": "http://127.0.0.1:9/debian",
                                                  "security": "http://127.0.0.1:9/sec"})
    assert resolve(parse_target("bookworm/amd64"), dead) == r
    with pytest.raises(KscribeError, match="no linux-headers-amd64 in bookworm's archives"):
        resolve(parse_target("bookworm/amd64"), dead, refresh=True)


@pytest.mark.parametrize("target,modules", [
    ("bookworm/amd64", "linux-image-{abi}-unsigned"), ("sid/arm64", "linux-modules-{abi}")])
def test_the_guest_gets_the_kernel_packages_own_loop_module(settings, target, modules):
    """The kernel's modules come from the image package up to 6.x and from linux-modules-ABI
    beside 7.x's linux-binary-ABI; the cached loop.ko is plain ELF (xz undone) with the
    kernel's release in its vermagic. A pin from before the modules role is resolved again."""
    p = prepare(target, settings)
    assert p.resolved.debs["modules"].name == modules.format(abi=p.resolved.abi)
    ko = guest_modules(settings, p.resolved)["loop"].read_bytes()
    assert ko.startswith(b"\x7fELF")
    assert re.search(rb"vermagic=" + re.escape(p.resolved.abi.encode()) + rb" ", ko)
    lock = json.loads(settings.lock_path.read_text())
    del lock["targets"][target]["packages"]["modules"]
    settings.lock_path.write_text(json.dumps(lock))
    assert resolve(parse_target(target), settings) == p.resolved


def test_release_signature_is_checked(settings, tmp_path):
    arc = Archive(settings.mirror("debian"), "bookworm", settings.keyring, settings.cache_dir)
    arc.index("amd64")
    forged = tmp_path / "InRelease"
    text = (arc.cache / "InRelease").read_text()
    forged.write_text(text.replace("Codename: bookworm", "Codename: bookwerm", 1))
    with pytest.raises(KscribeError, match="fails signature check"):
        arc._verify(forged)


def test_corrupted_cache_is_detected_and_fetched_again(settings, capfd):
    p = prepare("bookworm/amd64", settings)
    deb = p.resolved.debs["headers"]
    path = deb_path(settings, deb)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert fetch_deb(settings, deb) == path
    assert sha256_file(path) == deb.sha256
    assert "cached copy is corrupted" in capfd.readouterr().err


def test_corrupted_extracted_kernel_is_extracted_again(settings, tmp_path, capfd):
    # in a cache of its own: extracting again replaces the tree the other tests build in
    own = dataclasses.replace(settings, cache_dir=linked_cache(settings, tmp_path / "cache",
                                                               ("debs", "indexes")))
    p = prepare("bookworm/amd64", own)
    kernel = p.provisioned.kernel
    good = sha256_file(kernel)
    data = bytearray(kernel.read_bytes())
    data[4096] ^= 0x01
    kernel.write_bytes(bytes(data))
    again = prepare("bookworm/amd64", own)
    assert sha256_file(again.provisioned.kernel) == good
    assert "cached vmlinuz is corrupted" in capfd.readouterr().err


def test_corrupted_download_is_refused(settings):
    p = prepare("bookworm/amd64", settings)
    bad = dataclasses.replace(p.resolved.debs["busybox"], sha256="0" * 64,
                              version="0-kscribe-test")
    with pytest.raises(KscribeError, match="corrupted download: sha256"):
        fetch_deb(settings, bad)
    assert not deb_path(settings, bad).exists()
    assert not list(deb_path(settings, bad).parent.glob(f".{deb_path(settings, bad).name}*"))


def test_native_build_metadata_and_reproducibility(settings):
    first = build_target("bookworm/amd64", settings, clean=True)
    meta = json.loads((first.outdir / "metadata.json").read_text())
    assert meta["status"] == "ok" and meta["warnings"] == 0 and meta["errors"] == 0
    assert meta["toolchain"]["kind"] == "host" and meta["toolchain"]["cc"] == "gcc-12"
    assert meta["toolchain"]["version"].startswith("gcc-12 ")
    assert "make -C" in meta["reproducer"] and "W=1" in meta["make"]
    assert set(meta["artifacts"]) >= {"kscribe_core.ko", "kscribe_probe_sched.ko",
                                      "kscribe_probe_timer.ko", "kscribectl"}
    for name, art in meta["artifacts"].items():
        assert sha256_file(first.outdir / name) == art["sha256"]
        assert (first.outdir / name).stat().st_size == art["size"]
    assert (first.outdir / "build.log").read_text().startswith("$ ")
    second = build_target("bookworm/amd64", settings, clean=True)
    again = json.loads((second.outdir / "metadata.json").read_text())["artifacts"]
    assert {k: v["sha256"] for k, v in again.items()} == \
        {k: v["sha256"] for k, v in meta["artifacts"].items()}


def test_probe_prototypes_follow_the_exact_kernel(settings, root):
    """Both sides of the hrtimer_start stable change build from the same spec."""
    old = build_target("bullseye/amd64", settings)
    new = build_target("bookworm/amd64", settings)
    old_c = (old.outdir / "src/kscribe_probe_timer.c").read_text()
    new_c = (new.outdir / "src/kscribe_probe_timer.c").read_text()
    assert "was_armed" not in old_c and "bool was_armed)" in new_c
    meta = json.loads((old.outdir / "metadata.json").read_text())
    assert meta["toolchain"]["kind"] == "chroot" and meta["toolchain"]["cc"].endswith("gcc-10")
    assert meta["warnings"] == 0


def _build_with_probe_template(env, tmp_path: Path, old: str, new: str
                               ) -> subprocess.CompletedProcess:
    """``kscribe build bookworm/amd64`` over a copy of the sources whose probe template has
    ``old`` replaced by ``new``."""
    src = copy_sources(tmp_path / "src")
    tpl = src / "templates/module/probe.c.j2"
    text = tpl.read_text()
    assert old in text
    tpl.write_text(text.replace(old, new, 1))
    return _kscribe({**env, "KSCRIBE_SOURCE": str(src), "KSCRIBE_OUT": str(tmp_path / "out")},
                    "build", "bookworm/amd64")


def test_build_error_in_generated_c_names_file_and_line(settings, env, tmp_path):
    proc = _build_with_probe_template(env, tmp_path, "return kscribe_probe_register(",
                                      "return kscribe_probe_register_misspelt(")
    out = tmp_path / "out"
    assert proc.returncode == 2
    assert "kscribe: error: bookworm/amd64: build failed: " in proc.stderr
    assert re.search(r"kscribe_probe_\w+\.c:\d+:\d+: error: ", proc.stderr), proc.stderr
    meta = json.loads((out / "bookworm_amd64/metadata.json").read_text())
    assert meta["status"] == "failed" and meta["errors"] >= 1
    assert not (out / "bookworm_amd64/kscribe_core.ko").exists()


def test_probe_prototype_mismatch_fails_the_build(settings, env, tmp_path):
    """A probe whose prototype is not its tracepoint's is a build error, not a misread."""
    proc = _build_with_probe_template(env, tmp_path, "{{ line }}",
                                      '{{ line | replace("(void *data", '
                                      '"(void *data, int extra") }}')
    assert proc.returncode == 2, proc.stderr
    assert re.search(r"kscribe_probe_\w+\.c:\d+:\d+: error: .*register_trace_", proc.stderr), \
        proc.stderr


def test_kdir_build(settings):
    p = prepare("bookworm/amd64", settings)
    res = build_kdir(p.provisioned.kdir, settings)
    assert res.metadata["status"] == "ok" and res.metadata["target"].startswith("kdir:")
    assert res.metadata["kernel_release"] == p.resolved.abi


def test_missing_cross_compiler_says_how_to_install(env, tmp_path):
    path = path_without(tmp_path, "aarch64-linux-gnu-gcc-12")
    proc = _kscribe({**env, "PATH": path}, "build", "bookworm/arm64", "--toolchain", "host")
    assert proc.returncode == 2
    assert "aarch64-linux-gnu-gcc-12 not found" in proc.stderr
    assert "apt-get install gcc-12-aarch64-linux-gnu" in proc.stderr


def test_native_boot_loads_and_counts(settings):
    need_tool("qemu-system-x86_64")
    build_target("bookworm/amd64", settings)
    v = boot_target("bookworm/amd64", settings)
    assert v.ok, v.reasons
    assert v.kernel.endswith("-amd64")
    assert v.hits["sched:sched_switch"] > 0 and v.hits["timer:hrtimer_start"] > 0
    folder = settings.out_dir / "bookworm_amd64"
    assert json.loads((folder / "boot.json").read_text())["ok"] is True
    assert "kscribe: core unloaded" in (folder / "console.log").read_text()


def test_missing_qemu_says_how_to_install(settings, env, tmp_path):
    build_target("bookworm/amd64", settings)
    path = path_without(tmp_path, "qemu-system-x86_64")
    proc = _kscribe({**env, "PATH": path}, "boot", "bookworm/amd64")
    assert proc.returncode == 2
    assert "qemu-system-x86_64 not found" in proc.stderr
    assert "apt-get install qemu-system-x86" in proc.stderr


def test_negative_control_module_of_another_kernel_is_refused(settings, root):
    need_tool("qemu-system-x86_64")
    build_target("bullseye/amd64", settings)
    v = boot_target("bookworm/amd64", settings, modules_from="bullseye/amd64")
    assert not v.ok
    assert any("insmod /lib/kscribe/kscribe_core.ko` exited" in r for r in v.reasons), v.reasons
    assert any("nvalid module format" in r for r in v.reasons), v.reasons


def test_negative_control_signature_enforcement(settings):
    need_tool("qemu-system-x86_64")
    build_target("bookworm/amd64", settings)
    v = boot_target("bookworm/amd64", settings, append="module.sig_enforce=1")
    assert not v.ok
    refused = [r for r in v.reasons if "insmod /lib/kscribe/kscribe_core.ko` exited" in r]
    assert refused and re.search(r"Required key not available|Key was rejected", refused[0]), \
        v.reasons


def test_cross_cell_builds_and_boots(settings):
    need_tool("qemu-system-aarch64")
    res = build_target("bookworm/arm64", settings)
    assert res.metadata["toolchain"]["cc"] == "aarch64-linux-gnu-gcc-12"
    assert res.metadata["warnings"] == 0
    v = boot_target("bookworm/arm64", settings)
    assert v.ok, v.reasons


def test_chroot_cell_builds_and_boots(settings, root):
    need_tool("qemu-system-x86_64")
    res = build_target("trixie/amd64", settings)
    tc = res.metadata["toolchain"]
    assert tc["kind"] == "chroot" and tc["cc"] == "x86_64-linux-gnu-gcc-14"
    assert tc["version"].startswith("x86_64-linux-gnu-gcc-14 (Debian 14")
    assert res.metadata["warnings"] == 0
    v = boot_target("trixie/amd64", settings)
    assert v.ok, v.reasons
    assert v.kernel.startswith("6.12.")

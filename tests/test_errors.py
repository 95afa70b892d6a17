"""Every failure is one line, ``kscribe: error: ...`` naming the file, line, value or program
and what to do, exit status 2, never a traceback."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from kscribe.cli import main as cli
from kscribe.debian import debfile, linux_source
from kscribe.errors import CommandFailed, KscribeError, ToolMissing
from kscribe.toolchain.chroot import Chroot
from kscribe.util import proc, tomldata

from .conftest import ROOT, linked_cache, path_without


def _kscribe(env, *argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kscribe", *argv], capture_output=True,
                          text=True, env=env, **kw)


def one_line_error(p: subprocess.CompletedProcess, needle: str) -> None:
    """Exit 2; the error is the last line of stderr (after any progress), and one line."""
    assert p.returncode == 2, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("kscribe: error: "), p.stderr
    assert sum(ln.startswith("kscribe: error") for ln in lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert needle in lines[-1], p.stderr


# ------------------------------------------------------------------------- the lock file

@pytest.fixture
def damaged_lock(env, tmp_path):
    lock = tmp_path / "kscribe.lock"
    lock.write_text('{"targets": {"bookworm/amd64": {"version": \n')
    return {**env, "KSCRIBE_LOCK": str(lock), "KSCRIBE_OUT": str(tmp_path / "out")}, lock


def test_damaged_lock_is_one_line_saying_how_to_repair(damaged_lock):
    env, lock = damaged_lock
    one_line_error(_kscribe(env, "targets"),
                   f"{lock}:2: not valid JSON (Expecting value); run `kscribe resolve "
                   "--refresh TARGET` to pin it again")


def test_damaged_lock_entry_names_the_target(env, tmp_path):
    lock = tmp_path / "kscribe.lock"
    lock.write_text(json.dumps({"targets": {"bookworm/amd64": {"version": "1"}}}))
    one_line_error(_kscribe({**env, "KSCRIBE_LOCK": str(lock)}, "provision", "bookworm/amd64"),
                   "the entry of bookworm/amd64 is damaged (missing 'abi'); run `kscribe "
                   "resolve --refresh bookworm/amd64`")


def test_doit_with_a_damaged_lock_reports_it_in_one_line(damaged_lock):
    env, lock = damaged_lock
    p = subprocess.run([sys.executable, "-m", "doit", "provision:bookworm/amd64"], cwd=ROOT,
                       env=env, capture_output=True, text=True)
    assert p.returncode != 0
    assert "Traceback" not in p.stdout + p.stderr
    assert f"kscribe: error: {lock}:2: not valid JSON" in p.stderr
    listed = subprocess.run([sys.executable, "-m", "doit", "list"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr


@pytest.mark.usefixtures("network")
def test_refresh_repairs_a_damaged_lock(damaged_lock):
    env, lock = damaged_lock
    p = _kscribe(env, "resolve", "--refresh", "bookworm/amd64")
    assert p.returncode == 0, p.stderr
    assert "replacing it with a lock of bookworm/amd64 only" in p.stderr
    assert set(json.loads(lock.read_text())["targets"]) == {"bookworm/amd64"}
    assert _kscribe(env, "targets").returncode == 0


# ------------------------------------------------------------------- missing programs

@pytest.mark.usefixtures("network")
def test_missing_gpgv_names_its_package(env, tmp_path):
    one_line_error(_kscribe({**env, "PATH": path_without(tmp_path, "gpgv")}, "resolve",
                            "--refresh", "bookworm/amd64"),
                   "gpgv not found (needed to check the signatures of Debian's archive "
                   "indexes): install it with `apt-get install gpgv`")


@pytest.mark.usefixtures("network")
def test_missing_dpkg_deb_at_the_command_line(settings, env, tmp_path):
    """Provisioning into an empty kernel cache (the downloads shared) needs dpkg-deb."""
    cache = linked_cache(settings, tmp_path / "cache", ("debs", "indexes"))
    one_line_error(_kscribe({**env, "KSCRIBE_CACHE": str(cache),
                             "PATH": path_without(tmp_path, "dpkg-deb")},
                            "provision", "bookworm/amd64"),
                   "dpkg-deb not found (needed to read Debian packages): install it with "
                   "`apt-get install dpkg`")
    assert not (cache / "kernels").exists() or not any(
        p.name.endswith("provision.json") for p in (cache / "kernels").rglob("*"))


def _fake_source_package(tmp_path: Path, cut: bool = False) -> Path:
    """A real .deb shaped like linux-source: /usr/src/linux-source-9.9.tar.xz inside."""
    tree = tmp_path / "linux-source-9.9"
    for rel in ("scripts/checkpatch.pl", "scripts/spelling.txt",
                "scripts/const_structs.checkpatch", "fs/open.c"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(f"/* {rel} */\nSYSCALL_DEFINE1(x, int, a)\n{{\n}}\n" * 400)
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text("Package: linux-source-9.9\nVersion: 9.9-1\n"
                                        "Architecture: all\nMaintainer: test <t@t>\n"
                                        "Description: test\n")
    (pkg / "usr/src").mkdir(parents=True)
    xz = pkg / "usr/src/linux-source-9.9.tar.xz"
    with tarfile.open(xz, "w:xz") as tar:
        tar.add(tree, arcname="linux-source-9.9")
    if cut:
        xz.write_bytes(xz.read_bytes()[: xz.stat().st_size // 2])
    deb = tmp_path / "linux-source-9.9_9.9-1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(pkg), str(deb)],
                   check=True, capture_output=True)
    return deb


def test_truncated_linux_source_tarball_is_an_error(tmp_path):
    good = _fake_source_package(tmp_path / "good")
    names = [rel for rel, *_ in linux_source.files(good)]
    assert "scripts/checkpatch.pl" in names and "fs/open.c" in names
    cut = _fake_source_package(tmp_path / "cut", cut=True)
    with pytest.raises(CommandFailed, match=r"`xz -T2 -dc` exited 1: xz: \(stdin\): "
                                            r"Unexpected end of input"):
        list(linux_source.files(cut))


def test_missing_xz_and_dpkg_deb_name_their_packages(tmp_path, monkeypatch):
    deb = _fake_source_package(tmp_path)
    monkeypatch.setenv("PATH", path_without(tmp_path, "xz"))
    with pytest.raises(ToolMissing, match=r"xz not found \(needed to read linux-source\): "
                                          r"install it with `apt-get install xz-utils`"):
        list(linux_source.files(deb))
    monkeypatch.setenv("PATH", path_without(tmp_path, "xz", "dpkg-deb"))
    with pytest.raises(ToolMissing, match=r"dpkg-deb not found .*`apt-get install dpkg`"):
        debfile.extract_all(deb, tmp_path / "x")


def test_missing_zstd_names_its_package(settings, tmp_path, monkeypatch):
    local = dataclasses.replace(settings, cache_dir=tmp_path / "cache",
                                mirrors={"debian": "http://127.0.0.1:9/debian"})
    chroot = Chroot(local, "bookworm", ["make"])
    chroot.tarball.parent.mkdir(parents=True)
    chroot.tarball.write_bytes(b"")
    monkeypatch.setenv("PATH", path_without(tmp_path, "zstd"))
    with pytest.raises(ToolMissing, match=r"zstd not found \(needed to unpack a toolchain "
                                          r"chroot\): install it with `apt-get install zstd`"):
        chroot.ensure()


# ------------------------------------------------------------- commands and data files

def test_a_failing_command_names_its_argv_and_stderr():
    with pytest.raises(CommandFailed) as e:
        proc.run(["sh", "-c", "echo first >&2; echo 'the cause' >&2; exit 3"])
    assert str(e.value) == "`sh -c 'echo first >&2; echo '\"'\"'the cause'\"'\"' >&2; exit 3'` " \
                           "exited 3: the cause"
    assert e.value.returncode == 3
    with pytest.raises(CommandFailed, match=r"did not finish within 0.2 s"):
        proc.run(["sleep", "5"], timeout=0.2)


def test_a_watched_command_is_ended_at_the_line_that_says_it_is_stuck():
    """A guest that prints a stall is ended there, not at the time-out; one that finishes,
    or outlives its time, is not said to be stuck."""
    stuck = re.compile(rb"soft lockup")
    started = time.monotonic()
    done, stopped = proc.watch(["sh", "-c", "echo booting; echo 'BUG: soft lockup - CPU#1'; "
                                "sleep 30; echo never"], timeout=60,
                               stop_when=lambda line: stuck.search(line) is not None)
    assert stopped and done.returncode is None and time.monotonic() - started < 10
    assert done.stdout == b"booting\nBUG: soft lockup - CPU#1\n"
    done, stopped = proc.watch(["sh", "-c", "echo fine; echo err >&2; exit 4"], timeout=60,
                               stop_when=lambda line: stuck.search(line) is not None)
    assert not stopped and done.returncode == 4 and (done.stdout, done.stderr) == \
        (b"fine\n", b"err\n")
    done, stopped = proc.watch(["sh", "-c", "echo slow; sleep 30"], timeout=0.5,
                               stop_when=lambda line: False)
    assert not stopped and done.returncode is None and done.stdout == b"slow\n"


def test_a_bad_data_row_names_file_and_key(monkeypatch):
    from kscribe.config import arches, suites

    data = tomldata.load("arches/arm64.toml")
    del data["qemu"]["binary"]
    monkeypatch.setattr(tomldata, "load", lambda name: data)
    with pytest.raises(KscribeError, match=r"^kscribe/data/arches/arm64.toml: \[top level.qemu\] "
                                           r"binary: missing$"):
        arches.load("arm64")
    data = {"bookworm": {"codename": "bookworm", "arches": ["amd64"],
                         "archives": [{"archive": "mirror", "suite": "bookworm"}]}}
    suites.suites.cache_clear()
    try:
        with pytest.raises(KscribeError, match=r"suites.toml: \[bookworm.archives\[0\]\] "
                                               r"archive: 'mirror' is not 'debian' or"):
            suites.suites()
    finally:
        monkeypatch.undo()
        suites.suites.cache_clear()


def test_an_internal_error_is_one_line_too(monkeypatch, capsys):
    def broken(args, settings):
        raise RuntimeError("boom")

    monkeypatch.setattr("kscribe.cli.commands.targets", broken)
    assert cli.main(["targets"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("kscribe: error: internal error RuntimeError: boom (")
    assert len(err.strip().splitlines()) == 1

"""doit reruns exactly what changed: an edited input or a moved pin reruns that cell, an
edit of the documentation or nothing at all runs nothing.

The tasks run over a copy of the sources (``KSCRIBE_SOURCE``) so that the test can edit
them, with a private output folder and lock file.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kscribe.config.suites import ArchiveRef
from kscribe.config.target import parse_target
from kscribe.debian import lock
from kscribe.debian.resolve import resolve_online
from kscribe.tasks.uptodate import Unchanged

from .conftest import ROOT, SOURCES, copy_sources

TARGET = "bookworm/amd64"
OTHER = "bookworm/arm64"


def _doit(env, src: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "doit", "-f", str(src / "dodo.py"),
                           "--dir", str(src), *argv], env=env, capture_output=True, text=True)


def ran(proc: subprocess.CompletedProcess) -> set[str]:
    """The tasks doit executed (". name"), as opposed to those up to date ("-- name")."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return set(re.findall(r"^\.\s+(\S+)", proc.stdout, re.M))


def test_task_names(env):
    proc = _doit(env, ROOT, "list", "--all")
    assert proc.returncode == 0, proc.stderr
    names = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert {"build:bookworm/amd64", "boot:trixie/riscv64", "provision:sid/arm64",
            "trace:sid/arm64", "matrix:build", "matrix:boot", "summary"} <= names


def test_unchanged_compares_with_the_last_success():
    """The build-environment check: unknown before a success, then equal until it moves."""
    class Task:
        value_savers: list = []

    state = {"cc": "gcc-12"}
    check = Unchanged("env", lambda: dict(state))
    task = Task()
    check.configure_task(task)
    assert check(task, {}) is False
    saved = task.value_savers[0]()
    assert Unchanged("env", lambda: dict(state))(task, saved) is True
    state["cc"] = "gcc-14"
    assert Unchanged("env", lambda: dict(state))(task, saved) is False
    assert Unchanged("env", lambda: {"unknown": "no lock"})(task, saved) is False


@pytest.fixture
def sources(tmp_path) -> Path:
    src = copy_sources(tmp_path / "src", (*SOURCES, "ci"))
    for name in ("dodo.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    return src


@pytest.mark.usefixtures("network")
def test_reruns_exactly_what_changed(settings, env, tmp_path, sources):
    work = {**env, "KSCRIBE_SOURCE": str(sources), "KSCRIBE_OUT": str(tmp_path / "out"),
            "KSCRIBE_LOCK": str(tmp_path / "kscribe.lock")}
    lock_path = tmp_path / "kscribe.lock"
    # pin the target to the kernel of bookworm's main archive, older than -security's
    target = parse_target(TARGET)
    main_only = dataclasses.replace(target.suite, archives=(ArchiveRef("debian", "bookworm"),))
    old = resolve_online(dataclasses.replace(target, suite=main_only), settings)
    lock.pin(lock_path, old)

    first = ran(_doit(work, sources, f"boot:{TARGET}", f"provision:{OTHER}"))
    assert {f"provision:{TARGET}", f"build:{TARGET}", f"boot:{TARGET}",
            f"provision:{OTHER}"} <= first
    assert ran(_doit(work, sources, f"boot:{TARGET}", f"provision:{OTHER}")) == set()

    # documentation feeds nothing
    (sources / "README.md").write_text("edited\n")
    design = sources / "kernel_module/DESIGN.md"
    design.write_text(design.read_text() + "\nedited\n")
    assert ran(_doit(work, sources, f"boot:{TARGET}")) == set()

    # a template feeds the build, and the build the boot
    probe = sources / "templates/module/probe.c.j2"
    probe.write_text(probe.read_text() + "{# edited #}\n")
    assert {f"build:{TARGET}", f"boot:{TARGET}"} <= ran(_doit(work, sources, f"boot:{TARGET}"))
    assert ran(_doit(work, sources, f"boot:{TARGET}")) == set()

    # a moved pin reruns that cell, and only that cell
    refresh = subprocess.run([sys.executable, "-m", "kscribe", "resolve", "--refresh", TARGET],
                             env=work, capture_output=True, text=True)
    assert refresh.returncode == 0, refresh.stderr
    new = lock.pinned(lock_path, TARGET)
    assert new is not None and new.version != old.version
    status = _doit(work, sources, "list", "--all", "--status")
    states = dict(reversed(line.split()[:2]) for line in status.stdout.splitlines()
                  if line[:2] in ("R ", "U "))
    assert states[f"provision:{TARGET}"] == "R" and states[f"provision:{OTHER}"] == "U", \
        status.stdout
    again = ran(_doit(work, sources, f"boot:{TARGET}", f"provision:{OTHER}"))
    assert again == {f"provision:{TARGET}", f"build:{TARGET}", f"boot:{TARGET}"}
    assert ran(_doit(work, sources, f"boot:{TARGET}", f"provision:{OTHER}")) == set()

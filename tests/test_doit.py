"""doit: the task names users type, and a rerun with nothing changed does no work."""

import subprocess
import sys

import pytest

from .conftest import ROOT


def _doit(env, *argv):
    return subprocess.run([sys.executable, "-m", "doit", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def test_task_names(env):
    proc = _doit(env, "list", "--all")
    assert proc.returncode == 0
    names = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert {"build:bookworm/amd64", "boot:trixie/riscv64", "provision:sid/arm64",
            "matrix:build", "matrix:boot"} <= names


@pytest.mark.usefixtures("network")
def test_rerun_with_nothing_changed_does_nothing(env):
    first = _doit(env, "boot:bookworm/amd64")
    assert first.returncode == 0, first.stdout + first.stderr
    second = _doit(env, "boot:bookworm/amd64")
    assert second.returncode == 0
    lines = [ln for ln in second.stdout.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("-- ") for ln in lines), second.stdout

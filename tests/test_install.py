"""A plain ``pip install .`` (not editable) carries what generation needs: templates, specs
and the tracer's C are package data, so an installed kscribe generates the same sources as
the checkout."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT, SOURCES, copy_sources

pytestmark = pytest.mark.usefixtures("network")


def test_installed_package_generates_the_checkouts_sources(env, tmp_path):
    src = tmp_path / "src"
    copy_sources(src, ("kscribe", *SOURCES))
    shutil.copy(ROOT / "pyproject.toml", src / "pyproject.toml")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    p = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", str(src)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    shutil.rmtree(src)  # the installed package must not need the source tree
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    gen = {}
    for name, argv in (("installed", [str(venv / "bin/kscribe")]),
                       ("checkout", [sys.executable, "-m", "kscribe"])):
        dest = tmp_path / name
        p = subprocess.run([*argv, "generate", "bookworm/amd64", "-o", str(dest)], env=env,
                           cwd=outside, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        gen[name] = dest
    files = sorted(p.relative_to(gen["checkout"]) for p in gen["checkout"].rglob("*")
                   if p.is_file())
    assert len(files) >= 15 and any(f.name == "kscribe_syscall_tables.c" for f in files)
    match, mismatch, errors = filecmp.cmpfiles(gen["checkout"], gen["installed"],
                                               [str(f) for f in files], shallow=False)
    assert not mismatch and not errors, (mismatch, errors)

"""Syscall specs (instrumentation/syscalls/*.yaml): every error names file, line and cause."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kscribe.errors import KscribeError
from kscribe.instrument.syscalls import assemble as core
from kscribe.instrument.syscalls.specs import load, load_all
from kscribe.pipeline import prepare

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "instrumentation" / "syscalls"


def _write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_repository_specs_load():
    specs = load_all(SPECS)
    assert {"read", "openat", "connect", "accept", "recvfrom", "clock_gettime",
            "poll"} <= set(specs.syscalls)
    assert specs.syscalls["read"]["buf"].direction == "exit"
    assert specs.syscalls["read"]["buf"].length == "return"
    assert specs.syscalls["nanosleep"]["rmtp"].exit_if == "eintr"
    assert {"sockaddr", "__kernel_timespec", "old_timespec32", "pollfd"} <= set(specs.structs)


@pytest.mark.parametrize("text,line,cause", [
    ("syscalls:\n  read:\n    buf: {direction: sideways}\n", 3, "bad direction 'sideways'"),
    ("syscalls:\n  read:\n    buf: {direction: [exit\n", 4, "YAML syntax error"),
    ("syscalls:\n  read:\n    buf: {colour: red}\n", 3, "unknown key 'colour'"),
    ("syscall:\n  read: {}\n", 1, "unknown key 'syscall'"),
    ("syscalls:\n  read:\n\n    buf:\n      direction: entry\n      length: return\n", 5,
     "length 'return' is only known at exit"),
    ("syscalls:\n  write:\n    buf: {length: 'count + 1'}\n", 3, "length must be"),
    ("syscalls:\n  poll:\n    ufds: {count: nfds, max: -3}\n", 3, "positive integer"),
    ("syscalls:\n  read:\n    buf: {direction: exit}\n  read:\n    count: {}\n", 4,
     "given twice"),
    ("structs:\n  pollfd:\n    max: 8\n", 3, "missing key 'fields'"),
    ("syscalls:\n  poll:\n    ufds: {struct: pollfdx}\n", 3, "struct 'pollfdx' is not"),
    ("multiplexers:\n  ipc:\n    selector: call\n    operations:\n      2: semget\n", 5,
     "give 'from'"),
    ("multiplexers:\n  ipc:\n    selector: call\n    operations:\n"
     "      2: {syscall: semget, from: [first, 'ptr[x]']}\n", 5, "'ptr[x]' is not"),
    ("multiplexers:\n  ipc:\n    operations: {}\n", 3, "needs 'selector' and 'operations'"),
    ("multiplexers:\n  ipc:\n    selector: call\n    operations:\n      two: semget\n",
     5, "operation must be a number"),
    ("syscalls:\n  nanosleep:\n    rmtp: {direction: exit, exit_if: later}\n", 3,
     "bad exit_if 'later'"),
    ("syscalls:\n  nanosleep:\n    rqtp: {direction: entry, exit_if: eintr}\n", 3,
     "exit_if needs direction exit or both"),
])
def test_syntax_and_schema_errors(tmp_path, text, line, cause):
    path = _write(tmp_path, text)
    with pytest.raises(KscribeError) as e:
        load_all(tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert cause in msg, msg


def test_duplicate_across_files(tmp_path):
    _write(tmp_path, "syscalls:\n  read:\n    buf: {direction: exit}\n", "a.yaml")
    b = _write(tmp_path, "\nsyscalls:\n  read:\n    buf: {direction: exit}\n", "b.yaml")
    with pytest.raises(KscribeError, match=rf"^{b}:3: syscall read already described at "
                                           rf".*a.yaml:2$"):
        load_all(tmp_path)


def test_empty_and_missing(tmp_path):
    with pytest.raises(KscribeError, match="no syscall specs"):
        load_all(tmp_path)
    path = _write(tmp_path, "# nothing\n")
    with pytest.raises(KscribeError, match=rf"^{path}:1: empty spec"):
        load(path)


def _specs_dir(tmp_path: Path, extra: str) -> Path:
    folder = tmp_path / "instrumentation" / "syscalls"
    shutil.copytree(SPECS, folder)
    (folder / "zz-extra.yaml").write_text(extra)
    return folder


@pytest.mark.network
@pytest.mark.parametrize("extra,line,cause", [
    ("# a typo\nsyscalls:\n  opnat:\n    filename: {direction: entry}\n", 3,
     "unknown syscall 'opnat'"),
    ("syscalls:\n  mkdirat:\n    path: {direction: entry}\n", 3,
     "mkdirat: unknown argument 'path'"),
    ("syscalls:\n  getdents64:\n    count: {direction: entry}\n    dirent: {length: size}\n",
     4, "getdents64: unknown length 'size'"),
])
def test_errors_against_the_target(settings, network, tmp_path, extra, line, cause):
    """Names are checked against the target's prototypes (every ABI, and linux-source)."""
    folder = _specs_dir(tmp_path, extra)
    p = prepare("bookworm/amd64", settings)
    with pytest.raises(KscribeError) as e:
        core.build(p, settings, specs=load_all(folder))
    msg = str(e.value)
    assert msg.startswith(f"{folder / 'zz-extra.yaml'}:{line}: "), msg
    assert cause in msg, msg


@pytest.mark.network
def test_cli_exits_nonzero_on_a_bad_spec(settings, network, env, tmp_path):
    folder = _specs_dir(tmp_path, "syscalls:\n  unlinkat:\n    pathname: {direction: later}\n")
    proc = subprocess.run([sys.executable, "-m", "kscribe", "syscalls", "bookworm/amd64",
                           "--coverage"], capture_output=True, text=True, cwd=ROOT,
                          env={**env, "KSCRIBE_SOURCE": str(tmp_path)})
    assert proc.returncode == 2, proc.stdout
    assert f"{folder / 'zz-extra.yaml'}:3: unlinkat.pathname: bad direction 'later'" \
        in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "kscribe", "syscalls", "bookworm/amd64",
                           "--coverage"], capture_output=True, text=True, cwd=ROOT,
                          env={**env, "KSCRIBE_SOURCE": str(ROOT)})
    assert proc.returncode == 0, proc.stderr

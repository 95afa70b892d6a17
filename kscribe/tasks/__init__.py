"""The doit tasks behind ``dodo.py``: provision, build, boot and trace, a subtask per target.

Task names are ``provision:SUITE/ARCH``, ``build:SUITE/ARCH``, ``boot:SUITE/ARCH``,
``trace:SUITE/ARCH`` and ``package:SUITE/ARCH`` (its packages, proven); ``upstream:MODE``
and ``upstream:MODE-abi-new`` make a patch series (patches/plan.yaml), with today's ioctl
numbers or a new block, and ``upstream:history``
merges the tracer's own history into the tree instead; ``matrix:build`` and
``matrix:boot`` run the cells of ``ci/matrix.toml`` and write its report (``out/matrix/``);
the default task traces the default target and prints what it saw.
Actions are ``kscribe`` command lines, so ``doit -n N`` runs cells in parallel processes and
every failure is the command's one-line error. A task reruns exactly when what feeds it
changed (:mod:`kscribe.tasks.inputs`, :mod:`kscribe.tasks.uptodate`): a build when its
sources, code, the target's pin, toolchain or build environment changed; a boot or trace
when the build or the guest side changed.
"""

from __future__ import annotations

import functools
import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kscribe.config import matrix as matrix_file
from kscribe.config import paths
from kscribe.config.settings import Settings
from kscribe.config.target import DEFAULT_TARGET, Target, all_targets, parse_target
from kscribe.pipeline import Layout
from kscribe.tasks import uptodate
from kscribe.tasks.inputs import build_inputs, guest_inputs
from kscribe.tasks.progress import MatrixReporter

KSCRIBE = f"{shlex.quote(sys.executable)} -m kscribe"
Task = dict[str, Any]


@functools.cache
def _settings() -> Settings:
    return Settings.from_env(cwd=paths.ROOT, read_apt=False)


@functools.cache
def _full_settings() -> Settings:
    """With the mirrors: a chroot toolchain's identity names its mirror."""
    return Settings.from_env(cwd=paths.ROOT)


def _layout(t: Target) -> Layout:
    return Layout.of(_settings(), t)


def task_provision() -> Iterator[Task]:
    """Resolve a target to exact Debian packages and fetch, verify, extract them."""
    for t in all_targets():
        yield {
            "name": t.name,
            "actions": [f"{KSCRIBE} provision {t.name}"],
            "targets": [str(_layout(t).pin)],
            "uptodate": [(uptodate.pinned_and_provisioned, (_settings(), t.name))],
            "verbosity": 2,
        }


def task_build() -> Iterator[Task]:
    """Build the tracer's modules and guest programs for a target (metadata.json)."""
    for t in all_targets():
        layout = _layout(t)
        yield {
            "name": t.name,
            "actions": [f"{KSCRIBE} build {t.name}"],
            "task_dep": [f"provision:{t.name}"],
            "file_dep": [str(layout.pin), *map(str, build_inputs(t))],
            "targets": [str(layout.metadata)],
            "uptodate": [(uptodate.built, (_settings(), t.name)),
                         uptodate.Unchanged("build-environment", functools.partial(
                             uptodate.build_environment, _full_settings(), t.name))],
            "verbosity": 2,
        }


def _guest_task(t: Target, command: str, after: str, targets: list[Path]) -> Task:
    """A guest run of ``t``: it depends on the build and on the guest side's inputs."""
    layout = _layout(t)
    return {
        "name": t.name,
        "actions": [f"{KSCRIBE} {command} {t.name}"],
        "task_dep": [f"{after}:{t.name}"],
        "file_dep": [str(layout.pin), str(layout.metadata),
                     *map(str, guest_inputs(t, "init.sh.j2"))],
        "targets": [str(p) for p in targets],
        "verbosity": 2,
    }


def task_boot() -> Iterator[Task]:
    """Boot the target's own kernel under QEMU, load and exercise the tracer, judge."""
    for t in all_targets():
        yield _guest_task(t, "boot", "build", [_layout(t).boot, _layout(t).console])


def task_trace() -> Iterator[Task]:
    """Record the guest workload under QEMU and read the CTF trace with babeltrace2."""
    for t in all_targets():
        yield _guest_task(t, "trace", "boot", [_layout(t).trace_json, _layout(t).trace_txt])


def _print_trace_summary(target_name: str) -> None:
    """Events per type of a target's last trace (``trace.json``), for the default task."""
    data = json.loads(_layout(parse_target(target_name)).trace_json.read_text())
    print(f"{target_name}: {data['events']} events traced ({data['boot']})")
    busiest = sorted(data["per_type"].items(), key=lambda kv: (-kv[1], kv[0]))
    for name, count in busiest[:12]:
        print(f"  {count:8} {name}")


def task_summary() -> Task:
    """The default target's trace, events per type (the end of a plain `doit`)."""
    return {
        "actions": [(_print_trace_summary, (DEFAULT_TARGET,))],
        "task_dep": [f"trace:{DEFAULT_TARGET}"],
        "uptodate": [False],
        "verbosity": 2,
    }


def task_matrix() -> Iterator[Task]:
    """The CI matrix of ci/matrix.toml: every build cell built, every boot cell booted."""
    m = matrix_file.load()
    yield {"name": "build", "actions": None, "task_dep": [f"build:{n}" for n in m.build]}
    yield {"name": "boot", "actions": None, "task_dep": [f"boot:{n}" for n in m.boot]}


def task_upstream() -> Iterator[Task]:
    """Make the tracer into the patch series of a mode of patches/plan.yaml, gated."""
    from kscribe.upstream import plan

    for mode in plan.load().modes:
        for abi in ("keep", "new"):
            label = mode if abi == "keep" else f"{mode}-abi-{abi}"
            out = _settings().out_dir / "upstream" / f"{label}-patches"
            yield {
                "name": label,
                "actions": [f"{KSCRIBE} upstream {mode} --abi {abi} -o "
                            f"{shlex.quote(str(out))}"],
                "targets": [str(out / "series.json")],
                "uptodate": [False],
                "verbosity": 2,
            }
    out = _settings().out_dir / "upstream" / "history-patches"
    yield {
        "name": "history",
        "actions": [f"{KSCRIBE} upstream history -o {shlex.quote(str(out))}"],
        "targets": [str(out / "history.json")],
        "uptodate": [False],
        "verbosity": 2,
    }


def task_package() -> Iterator[Task]:
    """The packages of a cell (kscribe-dkms, kscribe-modules-<abi>, kscribectl), proven on
    a fresh machine of its suite: dkms build, dkms-autopkgtest, boot, the modules package."""
    for t in all_targets():
        out = _layout(t).folder / "packages"
        yield {
            "name": t.name,
            "actions": [f"{KSCRIBE} package prove {t.name} -o {shlex.quote(str(out))}"],
            "task_dep": [f"build:{t.name}"],
            "targets": [str(out / "proof.json")],
            "uptodate": [False],
            "verbosity": 2,
        }


def _dep_file() -> str:
    """doit's state, beside the outputs (doit does not make its folder)."""
    _settings().out_dir.mkdir(parents=True, exist_ok=True)
    return str(_settings().out_dir / ".doit.db")


MatrixReporter.out_dir = _settings().out_dir
DOIT_CONFIG = {
    "default_tasks": ["summary"],
    "dep_file": _dep_file(),
    "backend": "json",
    # the matrix's progress and report (kscribe.tasks.progress); a failed cell does not
    # stop the others
    "reporter": MatrixReporter,
    "continue": True,
}

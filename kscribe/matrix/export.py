"""ci/matrix.toml as a GitHub Actions workflow or a GitLab CI pipeline: one job per cell.

Both services get the same plan: a build job per build cell, a boot job per boot cell that
waits for its cell's build, and a report job that always runs and reads every cell's
artifacts with ``kscribe ci report``. Jobs run in a ``debian:bookworm`` container (what
``./setup`` expects), privileged (the toolchain chroots need mount namespaces). The matrix
is written out as static lists, so that the services' validators check its keys; a list
longer than a service allows is split into several jobs, never cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from kscribe.config.matrix import Matrix
from kscribe.matrix.cells import BOOT_FILES, BUILD_FILES, Cell, cells

IMAGE = "debian:bookworm"
# the most cells one matrix job may have: GitHub's documented limit, and GitLab's for one
# `parallel: matrix` job
LIMITS = {"github": 256, "gitlab": 200}
HEADER = ("# Made by `kscribe ci export {service}` from ci/matrix.toml: do not edit, export "
          "again.\n# One job per cell: build, then boot; the report job reads every cell's "
          "artifacts.\n{needs}")
NEEDS = {"github": "",
         "gitlab": "# The jobs make toolchain chroots: the runner must run privileged "
                   "containers\n# (the Docker executor's `privileged = true`).\n"}
SETUP = "./setup"
CACHE = ".cache/kscribe"         # in the checkout: both services cache only there


def chunks(items: list[Cell], size: int) -> Iterator[tuple[str, list[Cell]]]:
    """``items`` in lists of at most ``size``, each with its job name suffix ('' if one)."""
    parts = [items[i:i + size] for i in range(0, len(items), size)] or [[]]
    for i, part in enumerate(parts, 1):
        yield ("" if len(parts) == 1 else f"-{i}"), part


class _Literal(str):
    """A string written as a YAML block (``|``), as people write scripts."""


def _dump(data: dict[str, Any], service: str) -> str:
    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(_Literal, lambda d, s: d.represent_scalar(
        "tag:yaml.org,2002:str", s, style="|"))
    return HEADER.format(service=service, needs=NEEDS[service]) + yaml.dump(
        data, Dumper=Dumper, sort_keys=False, width=100, default_flow_style=False)


# -- GitHub Actions --------------------------------------------------------------------

GITHUB_ACTIONS = {
    "checkout": "actions/checkout@v5",
    "cache": "actions/cache@v5",
    "upload": "actions/upload-artifact@v6",
    "download": "actions/download-artifact@v7",
}


# what every job of a fresh container does first: git to check out with, then ./setup
PRELUDE = (
    {"name": "what a fresh container lacks to check out",
     "run": "apt-get update -q && apt-get install -y -q git ca-certificates"},
    {"uses": GITHUB_ACTIONS["checkout"]},
    {"name": "set up (./setup, as the README's commands)", "run": SETUP},
)


def _github_steps(kind: str) -> list[dict[str, Any]]:
    files = BUILD_FILES if kind == "build" else BOOT_FILES
    steps: list[dict[str, Any]] = [
        # the workspace's path inside the container (github.workspace is the host's)
        {"name": "the download cache, in the workspace (what actions/cache keeps)",
         "run": f'echo "KSCRIBE_CACHE=$GITHUB_WORKSPACE/{CACHE}" >> "$GITHUB_ENV"'},
        *PRELUDE,
        {"name": "pin the cell's kernel (kscribe.lock keys the cache)",
         "run": ".venv/bin/kscribe resolve ${{ matrix.target }}"},
        {"uses": GITHUB_ACTIONS["cache"],
         "with": {"path": CACHE,
                  "key": "kscribe-${{ matrix.slug }}-${{ hashFiles('kscribe.lock') }}",
                  "restore-keys": "kscribe-${{ matrix.slug }}-"}},
    ]
    if kind == "boot":
        steps.append({"name": "the cell's build", "uses": GITHUB_ACTIONS["download"],
                      "with": {"name": "build-${{ matrix.slug }}",
                               "path": "artifacts/build-${{ matrix.slug }}"}})
    steps += [
        {"name": kind, "run": f".venv/bin/doit {kind}:${{{{ matrix.target }}}}"},
        {"name": "keep the cell's results", "if": "always()", "uses": GITHUB_ACTIONS["upload"],
         "with": {"name": f"{kind}-${{{{ matrix.slug }}}}",
                  "path": _Literal("".join(f"out/${{{{ matrix.slug }}}}/{f}\n"
                                           for f in files)),
                  "if-no-files-found": "ignore"}},
    ]
    return steps


def _github_job(kind: str, part: list[Cell], needs: list[str] | None) -> dict[str, Any]:
    job: dict[str, Any] = {"name": f"{kind} ${{{{ matrix.target }}}}"}
    if needs:
        # a boot cell runs whatever the other cells' builds gave: its own build's artifact
        # is its first step
        job["needs"] = needs
        job["if"] = "${{ !cancelled() }}"
    job.update({
        "runs-on": "ubuntu-24.04",
        "container": {"image": IMAGE, "options": "--privileged"},
        "timeout-minutes": 90,
        "strategy": {"fail-fast": False, "matrix": {"include": [
            {"target": c.target, "suite": c.suite, "arch": c.arch, "slug": c.slug}
            for c in part]}},
        "steps": _github_steps(kind),
    })
    return job


def github(m: Matrix) -> str:
    """The workflow (``.github/workflows/kscribe-matrix.yml``) for the matrix ``m``."""
    jobs: dict[str, Any] = {}
    builds = []
    for suffix, part in chunks(cells(m.build), LIMITS["github"]):
        jobs[f"build{suffix}"] = _github_job("build", part, None)
        builds.append(f"build{suffix}")
    boots = []
    for suffix, part in chunks(cells(m.boot), LIMITS["github"]):
        jobs[f"boot{suffix}"] = _github_job("boot", part, builds)
        boots.append(f"boot{suffix}")
    jobs["report"] = {
        "name": "matrix report",
        "needs": builds + boots,
        "if": "${{ always() }}",
        "runs-on": "ubuntu-24.04",
        "container": {"image": IMAGE},
        "steps": [
            *PRELUDE,
            {"name": "every cell's results", "uses": GITHUB_ACTIONS["download"],
             "with": {"path": "artifacts"}},
            {"name": "the report, and the step summary",
             "run": _Literal(".venv/bin/kscribe ci report artifacts -o report\n"
                             "cat report/report.md >> \"$GITHUB_STEP_SUMMARY\"\n")},
            {"name": "keep the report", "if": "always()", "uses": GITHUB_ACTIONS["upload"],
             "with": {"name": "matrix-report", "path": "report/"}},
        ],
    }
    return _dump({"name": "kscribe matrix",
                  "on": {"push": None, "pull_request": None, "workflow_dispatch": None},
                  "permissions": {"contents": "read"}, "jobs": jobs}, "github")


# -- GitLab CI ---------------------------------------------------------------------------


def _gitlab_job(kind: str, cell_vars: dict[str, Any]) -> dict[str, Any]:
    files = BUILD_FILES if kind == "build" else BOOT_FILES
    return {
        "stage": kind,
        "image": IMAGE,
        "timeout": "90 minutes",
        **cell_vars,
        "cache": {"key": "kscribe-$SLUG", "paths": [CACHE + "/"]},
        "script": [SETUP, f".venv/bin/doit {kind}:$TARGET"],
        "artifacts": {"name": f"{kind}-$SLUG", "when": "always", "expire_in": "30 days",
                      "paths": [f"out/$SLUG/{f}" for f in files]},
    }


def _gitlab_vars(c: Cell) -> dict[str, str]:
    return {"TARGET": c.target, "SLUG": c.slug}


def gitlab(m: Matrix) -> str:
    """The pipeline (``.gitlab-ci.yml``) for the matrix ``m``. Builds are ``parallel:
    matrix`` jobs; each boot cell is a job of its own that needs exactly its cell's build
    (``needs:parallel:matrix``), so it starts as soon as that build is done."""
    variables = {"KSCRIBE_CACHE": "$CI_PROJECT_DIR/" + CACHE}
    jobs: dict[str, Any] = {}
    built: dict[str, str] = {}
    for suffix, part in chunks(cells(m.build), LIMITS["gitlab"]):
        jobs[f"build{suffix}"] = _gitlab_job("build", {"variables": variables, "parallel": {
            "matrix": [_gitlab_vars(c) for c in part]}})
        built.update((c.slug, f"build{suffix}") for c in part)
    for c in cells(m.boot):
        job = _gitlab_job("boot", {"variables": {**variables, **_gitlab_vars(c)}})
        job["needs"] = [{"job": built[c.slug], "parallel": {"matrix": [_gitlab_vars(c)]},
                         "artifacts": False}]
        jobs[f"boot {c.target}"] = job
    jobs["report"] = {
        "stage": "report",
        "image": IMAGE,
        "when": "always",
        "script": [SETUP, ".venv/bin/kscribe ci report out -o report"],
        "artifacts": {"name": "matrix-report", "when": "always", "paths": ["report/"],
                      "reports": {"junit": "report/junit.xml"}},
    }
    return _dump({"stages": ["build", "boot", "report"], **jobs}, "gitlab")


SERVICES = {"github": github, "gitlab": gitlab}

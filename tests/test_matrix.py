"""The CI matrix beyond this machine: exports checked by the services' real validators
(offline), and the report of a real `doit matrix` run read in a real headless browser."""

import html.parser
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from kscribe.config import matrix
from kscribe.config.target import parse_target
from kscribe.matrix import export, report, results
from kscribe.matrix.cells import Cell
from kscribe.matrix.results import CellResult, Outcome

from .conftest import ROOT, copy_sources, need_tool

M = matrix.load(matrix.FILE)
BIN = Path(sys.executable).parent
EXAMPLES = {"github": ROOT / "ci/exports/github.yml", "gitlab": ROOT / "ci/exports/gitlab-ci.yml"}


def _validate(service: str, path: Path) -> subprocess.CompletedProcess:
    """The service's validators on ``path``: every finding in the output, exit 0 if none."""
    if service == "github":
        lint = subprocess.run([BIN / "actionlint", "-no-color", str(path)], capture_output=True,
                              text=True)
        schema = subprocess.run([BIN / "check-jsonschema", "--builtin-schema",
                                 "vendor.github-workflows", str(path)], capture_output=True,
                                text=True)
        return subprocess.CompletedProcess(lint.args, lint.returncode or schema.returncode,
                                           lint.stdout + schema.stdout, lint.stderr +
                                           schema.stderr)
    return subprocess.run([BIN / "check-jsonschema", "--builtin-schema", "vendor.gitlab-ci",
                           "--data-transform", "gitlab-ci", str(path)], capture_output=True,
                          text=True)


@pytest.mark.parametrize("service", ["github", "gitlab"])
def test_each_export_validates_with_no_finding(service, tmp_path):
    path = tmp_path / f"{service}.yml"
    path.write_text(export.SERVICES[service](M))
    r = _validate(service, path)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("service, old, new, finding", [
    ("github", "fail-fast: false", "fail-fast: maybe", "fail-fast"),
    ("github", "${{ matrix.target }}", "${{ matrix.sute }}", 'property "sute" is not defined'),
    ("github", "runs-on:", "run-on:", "run-on"),
    ("gitlab", "  script:", "  scirpt:", "scirpt"),
    ("gitlab", "timeout: 90 minutes", "timeout_minutes: 90", "timeout_minutes"),
])
def test_a_planted_mistake_is_caught(service, old, new, finding, tmp_path):
    text = export.SERVICES[service](M)
    assert old in text
    path = tmp_path / f"{service}.yml"
    path.write_text(text.replace(old, new, 1))
    r = _validate(service, path)
    assert r.returncode != 0 and finding in r.stdout + r.stderr, r.stdout + r.stderr


def _github_cells(job: dict) -> list[str]:
    return [c["target"] for c in job["strategy"]["matrix"]["include"]]


def test_github_has_a_job_per_cell_with_its_own_artifact():
    wf = yaml.safe_load(export.github(M))
    jobs = wf["jobs"]
    assert _github_cells(jobs["build"]) == list(M.build)
    assert _github_cells(jobs["boot"]) == list(M.boot)
    assert jobs["boot"]["needs"] == ["build"] and jobs["report"]["needs"] == ["build", "boot"]
    assert jobs["report"]["if"] == "${{ always() }}"
    for name in ("build", "boot"):
        assert jobs[name]["strategy"]["fail-fast"] is False
        upload = next(s for s in jobs[name]["steps"] if "upload-artifact" in s.get("uses", ""))
        assert upload["with"]["name"] == f"{name}-${{{{ matrix.slug }}}}"
        assert upload["if"] == "always()"
        cache = next(s for s in jobs[name]["steps"] if "actions/cache" in s.get("uses", ""))
        assert "hashFiles('kscribe.lock')" in cache["with"]["key"]
    names = [f"{k}-{parse_target(t).slug}" for k, cells in (("build", M.build),
                                                             ("boot", M.boot)) for t in cells]
    assert len(set(names)) == len(names)
    summary = jobs["report"]["steps"][-2]["run"]
    assert "kscribe ci report artifacts" in summary and "GITHUB_STEP_SUMMARY" in summary


def test_gitlab_boot_cells_need_exactly_their_build():
    pipeline = yaml.safe_load(export.gitlab(M))
    assert [c["TARGET"] for c in pipeline["build"]["parallel"]["matrix"]] == list(M.build)
    boots = {k: v for k, v in pipeline.items() if k.startswith("boot ")}
    assert sorted(boots) == sorted(f"boot {t}" for t in M.boot)
    for name, job in boots.items():
        target = name.removeprefix("boot ")
        (need,) = job["needs"]
        assert need["job"] == "build"
        assert need["parallel"]["matrix"] == [{"TARGET": target,
                                               "SLUG": parse_target(target).slug}]
        assert job["artifacts"]["name"] == "boot-$SLUG" and job["variables"]["TARGET"] == target
    assert pipeline["report"]["when"] == "always"
    assert pipeline["report"]["artifacts"]["reports"]["junit"] == "report/junit.xml"


@pytest.mark.parametrize("service", ["github", "gitlab"])
def test_cells_beyond_a_services_limit_are_split_not_dropped(service, tmp_path, monkeypatch):
    monkeypatch.setitem(export.LIMITS, service, 5)
    text = export.SERVICES[service](M)
    data = yaml.safe_load(text)
    parts = [k for k in (data["jobs"] if service == "github" else data)
             if re.fullmatch(r"build-\d+", k)]
    assert parts == [f"build-{i}" for i in range(1, -(-len(M.build) // 5) + 1)]
    if service == "github":
        cells = [t for p in parts for t in _github_cells(data["jobs"][p])]
        boots = [k for k in data["jobs"] if k.startswith("boot")]
        assert [t for b in boots for t in _github_cells(data["jobs"][b])] == list(M.boot)
        assert all(data["jobs"][b]["needs"] == parts for b in boots)
        assert data["jobs"]["report"]["needs"] == parts + boots
    else:
        cells = [c["TARGET"] for p in parts for c in data[p]["parallel"]["matrix"]]
    assert cells == list(M.build)
    path = tmp_path / "split.yml"
    path.write_text(text)
    r = _validate(service, path)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("service", ["github", "gitlab"])
def test_the_committed_examples_are_current(service):
    assert EXAMPLES[service].read_text() == export.SERVICES[service](M), \
        f"export again: kscribe ci export {service} -o {EXAMPLES[service].relative_to(ROOT)}"


def test_the_report_reads_a_ci_runs_artifacts(tmp_path):
    """CI artifacts (build-<slug>/, boot-<slug>/) read as a run's folder does; a cell with no
    record is MISS, a boot whose build failed is SKIP, an error before the build is ERROR."""
    art = tmp_path / "artifacts"
    (art / "build-bookworm_amd64").mkdir(parents=True)
    (art / "build-bookworm_amd64" / "metadata.json").write_text(json.dumps(
        {"status": "ok", "duration_s": 3.5, "warnings": 0, "errors": 0,
         "kernel_release": "6.1.0-57-amd64", "toolchain": {"cc": "gcc-12", "kind": "host"}}))
    (art / "boot-bookworm_amd64").mkdir()
    (art / "boot-bookworm_amd64" / "boot.json").write_text(json.dumps(
        {"ok": True, "duration_s": 20.0, "reasons": []}))
    (art / "build-bookworm_arm64").mkdir()
    (art / "build-bookworm_arm64" / "metadata.json").write_text(json.dumps(
        {"status": "failed", "duration_s": 1.0, "warnings": 0, "errors": 1}))
    (art / "build-bookworm_arm64" / "build.log").write_text(
        "make: Entering\nprobe.c:3:2: error: #error planted\nmake: *** [x] Error 1\n")
    (art / "build-sid_arm64").mkdir()
    (art / "build-sid_arm64" / "build-error.json").write_text(json.dumps(
        {"kind": "build", "message": "sid/arm64: download failed"}))
    found = {r.cell.target: r for r in results.collect(
        ("bookworm/amd64", "bookworm/arm64", "sid/arm64", "trixie/riscv64"),
        ("bookworm/amd64", "bookworm/arm64", "sid/arm64"), art)}
    steps = {(t, k): (o.status, o.line) for t, r in found.items() for k, o in r.outcomes()}
    assert steps == {
        ("bookworm/amd64", "build"): ("PASS", ""), ("bookworm/amd64", "boot"): ("PASS", ""),
        ("bookworm/arm64", "build"): ("FAIL", "probe.c:3:2: error: #error planted"),
        ("bookworm/arm64", "boot"): ("SKIP", "the build did not pass (FAIL)"),
        ("sid/arm64", "build"): ("ERROR", "sid/arm64: download failed"),
        ("sid/arm64", "boot"): ("SKIP", "the build did not pass (ERROR)"),
        ("trixie/riscv64", "build"): ("MISS", "no build record")}
    assert found["bookworm/amd64"].kernel == "6.1.0-57-amd64"
    assert results.last_line(list(found.values())) == "2 passed, 3 failed"


def test_junit_counts_each_status():
    cell = Cell.of("bookworm/amd64")
    rs = [CellResult(cell, Outcome("FAIL", "x.c:1: error: no"), Outcome("SKIP", "why"))]
    suite = ET.fromstring(report.render_junit(rs).split("\n", 1)[1])
    assert suite.attrib["tests"] == "2" and suite.attrib["failures"] == "1"
    assert suite.attrib["skipped"] == "1" and suite.attrib["errors"] == "0"
    assert suite.find("testcase/failure").attrib["message"] == "FAIL: x.c:1: error: no"


def test_a_wrong_ci_command_is_one_error(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "kscribe", "ci", *args],
                              capture_output=True, text=True, cwd=ROOT)

    for args, needle in ((["export", "jenkins", "-o", str(tmp_path / "x")], "give a service"),
                         (["export", "github"], "give -o FILE"),
                         (["report", str(tmp_path / "nowhere")], "give the folder")):
        r = cli(*args)
        assert r.returncode == 2 and r.stderr.startswith("kscribe: error: ") and \
            needle in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    bad = tmp_path / "matrix.toml"
    bad.write_text('build = ["bookworm/amd64"]\nboot = ["sid/arm64"]\n')
    r = cli("export", "github", "-o", str(tmp_path / "w.yml"), "--matrix", str(bad))
    assert r.returncode == 2 and "boot cells not built: sid/arm64" in r.stderr
    assert not (tmp_path / "w.yml").exists()


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.steps: dict[tuple[str, str], str] = {}
        self._cell = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a":
            self.hrefs.append(a["href"])
        if tag == "td" and "id" in a:
            self._cell = a["id"]
        if tag == "div" and "data-status" in a:
            self.steps[(self._cell, a["data-kind"])] = a["data-status"]


@pytest.fixture(scope="module")
def matrix_run(settings, env, tmp_path_factory):
    """`doit matrix` on a small matrix: bookworm/amd64 built and booted, bookworm/arm64
    built and booted from sources with an error planted for arm64 only."""
    need_tool("qemu-system-x86_64")
    work = tmp_path_factory.mktemp("matrix")
    src = copy_sources(work / "src")
    core = src / "kernel_module/core/kscribe_core.c"
    core.write_text(core.read_text() + "\n#ifdef CONFIG_ARM64\n#error planted for the "
                    "matrix report test\n#endif\n")
    m = work / "matrix.toml"
    m.write_text('build = ["bookworm/amd64", "bookworm/arm64"]\n'
                 'boot = ["bookworm/amd64", "bookworm/arm64"]\n')
    out = work / "out"
    run = subprocess.run([str(BIN / "doit"), "-n", "2", "matrix"], cwd=ROOT, text=True,
                         capture_output=True, env={**env, "KSCRIBE_MATRIX": str(m),
                                                   "KSCRIBE_OUT": str(out),
                                                   "KSCRIBE_SOURCE": str(src)})
    return run, out


def test_doit_matrix_shows_progress_and_ends_with_the_count(matrix_run):
    run, out = matrix_run
    assert run.returncode != 0  # a cell failed
    lines = run.stdout.splitlines()
    progress = [ln for ln in lines if ln.startswith("matrix: ")]
    assert progress and re.fullmatch(r"matrix: 4/4 done, 0 running, \d failed, \d+m\d\ds "
                                     r"elapsed", progress[-1]), run.stdout
    assert lines[-1] == "2 passed, 1 failed", run.stdout[-2000:]
    for name in ("report.html", "report.md", "junit.xml"):
        assert (out / "matrix" / name).is_file()


def test_the_report_page_in_a_browser(matrix_run, tmp_path):
    need_tool("chromium-headless-shell")
    _, out = matrix_run
    page = out / "matrix" / "report.html"
    # a lost result: the cell's boot record taken away must read as MISS
    lost = out / "bookworm_amd64"
    kept = {p: p.read_bytes() for p in (lost / "boot.json", lost / "console.log")}
    browser = ["chromium-headless-shell", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    try:
        dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True,
                             text=True, check=True).stdout
        parsed = _Links()
        parsed.feed(dom)
        assert parsed.hrefs and all((page.parent / h).resolve().is_file()
                                    for h in parsed.hrefs), parsed.hrefs
        assert parsed.steps == {("bookworm_amd64", "build"): "PASS",
                                ("bookworm_amd64", "boot"): "PASS",
                                ("bookworm_arm64", "build"): "FAIL",
                                ("bookworm_arm64", "boot"): "SKIP"}
        assert "#error planted for the matrix report test" in dom
        for p in kept:
            p.unlink()
        r = subprocess.run([str(BIN / "kscribe"), "ci", "report", str(out), "-o",
                            str(tmp_path / "again")], capture_output=True, text=True,
                           env={**os.environ, "KSCRIBE_MATRIX": str(out.parent /
                                                                     "matrix.toml")})
        assert r.returncode == 1 and r.stdout.splitlines()[-1] == "1 passed, 2 failed"
        again = _Links()
        again.feed((tmp_path / "again" / "report.html").read_text())
        assert again.steps[("bookworm_amd64", "boot")] == "MISS"
        shot = out / "matrix" / "report.png"
        subprocess.run([*browser, "--window-size=1000,600", f"--screenshot={shot}",
                        page.as_uri()], capture_output=True, check=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        for p, data in kept.items():
            p.write_bytes(data)

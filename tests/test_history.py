"""History mode: this repository's own history rewritten into the kernel's paths with
git-filter-repo and merged into Debian's 7.2.13 tree as btrfs was (two roots, one merge),
then the hook-up commit; its tip is the bulk series' tree, builds, and traces in Debian's
kernel; bisect --first-parent crosses the merge; what reviewers ask is reported."""

import json
import re
import subprocess

import pytest

from kscribe.errors import KscribeError
from kscribe.pipeline import HISTORY_BRANCH, upstream_history, upstream_proof
from kscribe.upstream import history, plan
from kscribe.util.git import git

from .conftest import need_tool

PLAN = plan.load()
OLD = tuple(old for old, _ in PLAN.history.renames)
NEW = tuple(dict.fromkeys(new for _, new in PLAN.history.renames))


@pytest.fixture(scope="module")
def imported(settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("history") / "out"
    rep = upstream_history(settings, out)
    tree = settings.out_dir / "upstream" / "history" / "tree"
    return rep, out, tree


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory):
    """A clone of this repository, for planting commits in."""
    dest = tmp_path_factory.mktemp("source") / "kscribe"
    git(history.checkout().parent, "clone", "-q", "--no-local", str(history.checkout()),
        str(dest))
    return dest


def _commits_of(repo, *paths):
    return git(repo, "rev-list", "HEAD", "--", *paths).split()


def test_the_history_is_merged_with_two_roots_and_stays_in_its_paths(imported):
    rep, out, tree = imported
    src = history.checkout()
    # every commit of this repository that changed a file of the plan's paths, no other
    assert rep.imported == len(_commits_of(src, *OLD)) > 10
    assert len(rep.parents) == 2
    assert git(tree, "rev-parse", f"{rep.merge}^1") == rep.parents[0]
    assert git(tree, "describe", "--tags", "--exact-match", rep.parents[0]) == \
        "debian/7.2.13-1" == rep.base_tag
    roots = git(tree, "rev-list", "--max-parents=0", rep.hookup).split()
    assert len(roots) == 2
    merged = git(tree, "rev-list", f"{rep.merge}^1..{rep.merge}^2").split()
    assert len(merged) == rep.imported and rep.confinement == []
    for c in merged:
        files = git(tree, "diff-tree", "--root", "--no-commit-id", "-r", "--name-only",
                    c).split()
        assert files and all(f.startswith(NEW) for f in files), (c, files)
    # the merge says why; the hook-up is the user's, signed off
    msg = git(tree, "log", "-1", "--format=%B", rep.merge)
    assert msg.startswith("Merge the history of the kscribe tracer\n\n")
    assert "--first-parent" in msg and "unrelated" in msg
    assert git(tree, "log", "-1", "--format=%s", rep.hookup) == \
        "tracing/kscribe: hook the tracer into the build"
    assert "Signed-off-by: kscribe test suite <tests@kscribe.invalid>" in \
        git(tree, "log", "-1", "--format=%B", rep.hookup)
    # the imported commits are the authors' own: no Signed-off-by added
    assert len(rep.without_signoff) == sum(
        "Signed-off-by:" not in git(src, "log", "-1", "--format=%B", c)
        for c in _commits_of(src, *OLD))


def test_the_tip_is_the_bulk_series_and_the_pull_request_names_it(imported, bulk):
    rep, out, tree = imported
    assert git(tree, "rev-parse", f"{rep.hookup}^{{tree}}") == bulk[0].tip_tree
    pull = (out / "pull-request.txt").read_text()
    assert pull.startswith(f"The following changes since commit {rep.parents[0]}:")
    assert f"{tree} {HISTORY_BRANCH}" in pull
    assert f"for you to fetch changes up to {rep.hookup}:" in pull
    assert "      Merge the history of the kscribe tracer\n" in pull
    assert re.search(r"^ kernel/trace/kscribe/kscribe_core\.c +\| +\d+ \++$", pull, re.M)


def test_the_report_names_what_reviewers_will_ask(imported, source_copy, settings,
                                                  tmp_path):
    rep, out, tree = imported
    record = json.loads((out / "history.json").read_text())
    assert record["imported"] == rep.imported and record["missing_licenses"] == []
    assert set(record["licenses"]) == {"GPL-2.0-only", "Linux-syscall-note"}
    # the original commits that also changed files left out of the kernel
    src = history.checkout()
    outside = [c for c in _commits_of(src, *OLD)
               if any(not f.startswith(OLD) for f in git(
                   src, "diff-tree", "--root", "--no-commit-id", "-r", "--name-only",
                   c).split())]
    assert len(rep.touching_outside) == len(outside) > 0
    # planted: a signed-off commit that adds a document under a license the tree lacks
    doc = source_copy / "kernel_module/core/NOTES.rst"
    doc.write_text(".. SPDX-License-Identifier: CC-BY-SA-4.0\n\nNotes.\n")
    git(source_copy, "add", str(doc))
    git(source_copy, "commit", "-q", "-m", "core: notes\n\nSigned-off-by: A <a@b.example>")
    rewritten = history.rewrite(source_copy, PLAN.history.renames, tmp_path / "rw")
    base_repo = tree
    planted = history.report(source_copy, rewritten, PLAN.history.renames, base_repo,
                             rep.parents[0])
    assert planted.imported == rep.imported + 1
    assert planted.missing_licenses == ["CC-BY-SA-4.0"]
    assert planted.licenses["CC-BY-SA-4.0"] == ["kernel/trace/kscribe/NOTES.rst"]
    assert len(planted.without_signoff) == len(rep.without_signoff)


def test_a_commit_outside_the_paths_fails_confinement(imported, tmp_path):
    rep, out, tree = imported
    rewritten = tmp_path / "rw"
    git(tmp_path, "clone", "-q", "--no-local", str(history.checkout()), "src")
    rewritten = history.rewrite(tmp_path / "src", PLAN.history.renames, rewritten)
    (rewritten / "README.kscribe").write_text("stray\n")
    git(rewritten, "add", "README.kscribe")
    git(rewritten, "commit", "-q", "-m", "a stray file")
    work = tmp_path / "tree"
    git(tmp_path, "clone", "-q", "--shared", "--no-checkout", str(tree), "tree")
    git(work, "checkout", "-q", "--detach", rep.parents[0])
    m = history.merge(work, rewritten, "Merge", "why", 1_800_000_000)
    found = history.confined(work, m, NEW)
    assert len(found) == 1 and found[0].endswith(": README.kscribe")


def test_a_shallow_checkout_is_refused_in_one_line(tmp_path):
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{history.checkout()}", "shallow")
    with pytest.raises(KscribeError, match=r"shallow/?: a shallow clone holds part of the "
                                           r"history; fetch the rest"):
        history.rewrite(tmp_path / "shallow", PLAN.history.renames, tmp_path / "rw")


def test_the_tip_builds_and_traces_in_its_debian_kernel(imported, settings):
    need_tool("qemu-system-x86_64")
    need_tool("babeltrace2")
    rep, out, tree = imported
    build = rep.gates["build"]
    assert set(build) >= {"m", "y", "n"} and "kscribe_core" in build["m"]
    assert rep.gates["uapi"]["headers_tested"] > 500
    r = upstream_proof("history", settings, out)
    assert r.verdict.ok and len(r.events) > 500
    assert json.loads((out / "history.json").read_text())["proof"]["events"] == len(r.events)


def test_bisect_first_parent_finds_a_planted_bug_across_the_merge(imported):
    rep, out, tree = imported
    git(tree, "checkout", "-q", "--detach", rep.hookup)
    header = tree / "include/uapi/linux/kscribe.h"
    header.write_text(header.read_text().replace("#define KSCRIBE_ABI_VERSION",
                                                 "#define KSCRIBE_ABI_VERSION (", 1))
    git(tree, "commit", "-q", "-am", "tracing/kscribe: a planted bug in the uapi header")
    bad = git(tree, "rev-parse", "HEAD")
    # the header compiles on its own (with the host's uapi headers) or is not there yet
    script = ("test ! -f include/uapi/linux/kscribe.h || printf '#include \"%s\"\\nint "
              "x = KSCRIBE_ABI_VERSION;\\n' \"$PWD/include/uapi/linux/kscribe.h\" | "
              "gcc -fsyntax-only -x c -")
    first, tested = history.bisect_first_parent(tree, rep.parents[0], bad, script)
    assert first == bad
    chain = git(tree, "rev-list", "--first-parent", f"{rep.parents[0]}..{bad}").split()
    assert chain == [bad, rep.hookup, rep.merge]
    assert tested and set(tested) <= set(chain)
    # without --first-parent the range holds every imported commit, none of which builds
    everything = git(tree, "rev-list", f"{rep.parents[0]}..{bad}").split()
    assert len(everything) == len(chain) + rep.imported
    r = subprocess.run(["sh", "-c", script], cwd=tree, capture_output=True, text=True)
    assert r.returncode != 0

"""The tracer as kernel patch series (patches/plan.yaml), made on Debian's source of the
newest kernel and gated: every patch applies with git am and passes that tree's own
checkpatch.pl --strict; a broken patch or plan is refused with what is wrong."""

import email
import email.policy
import email.utils
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kscribe.codegen import uapi
from kscribe.config import paths
from kscribe.errors import KscribeError
from kscribe.pipeline import prepare, upstream_proof, upstream_series
from kscribe.upstream import base, gates, intree, ioctls, plan, render, series
from kscribe.util.git import git, identity

from .conftest import need_tool

PLAN_TEXT = plan.PLAN.read_text()


@pytest.fixture(scope="module")
def core_new(settings, tmp_path_factory):
    """Mode core (F) with the ABI moved to a new block (E): the most the gates can do."""
    out = tmp_path_factory.mktemp("core-abi-new") / "patches"
    return upstream_series("core", settings, out, abi="new"), out


def _plan(tmp_path: Path, old: str, new: str) -> Path:
    assert old in PLAN_TEXT
    p = tmp_path / "plan.yaml"
    p.write_text(PLAN_TEXT.replace(old, new, 1))
    return p


@pytest.mark.parametrize("old,new,message", [
    ("    needs: [core]\n    files: [probes]", "    needs: [syscalls]\n    files: [probes]",
     "needs 'syscalls', which is not a facet listed before it"),
    ("      - facets: [core, probes, docs]", "      - facets: [probes, docs]",
     "facet 'probes' comes before core, which it needs"),
    ("subject: add the kscribe tracer", "subject: " + "x" * 60, "characters; at most 75"),
    ("    files: [docs]", "    files: [docs]\n    colour: blue", "unknown key 'colour'"),
    ("  mode: bulk\n", "  mode: nosuch\n", "history.mode: no mode 'nosuch'"),
    ("{from: kernel_module/core/, to:", "{from: kernel_module/core, to:",
     "history.paths: from and to are folders, ending in /"),
    ("      - facets: [syscalls, selftest]", "      - facets: [syscalls]",
     "facets selftest are in no commit"),
    ('        subject: "record {title}"', '        subject: "record probes"',
     "needs {probe} or {title} in its subject"),
    ('        probes: [kmem]', '        probes: [nosuch]',
     "no probe 'nosuch' in instrumentation/events/"),
    ('        subject: "record {title}"', '        subject: "record {colour}"',
     "{'colour'} is not a placeholder"),
    ('    out_of_tree: true\n', '', "facets probes add only the probes: named (or say "
                                   "out_of_tree: true)"),
    ('        each: probe\n', '        each: probe\n        probes: [sched]\n',
     "a commit takes probes: or each:, not both"),
    ('  new: {size: 0x20, ', '  new: {size: 0x30, ', "must be a number dividing 256"),
])
def test_a_plan_mistake_is_one_error_at_its_line(tmp_path, old, new, message):
    path = _plan(tmp_path, old, new)
    with pytest.raises(KscribeError) as e:
        plan.load(path)
    assert message in str(e.value)
    assert re.match(rf"{re.escape(str(path))}:\d+: ", str(e.value)), str(e.value)
    assert "\n" not in str(e.value)


def test_the_in_tree_core_has_no_out_of_tree_construct():
    p = plan.load()
    text = (paths.KERNEL_MODULE / "core/kscribe_core.c").read_text()
    intree = render.apply_edits(p, "core/kscribe_core.c", text, "7.2.13")
    for gone in ("__builtin_types_compatible_p", "kscribe_rb_commit", "MODULE_VERSION",
                 "older kernels"):
        assert gone in text and gone not in intree, gone
    header = (paths.KERNEL_MODULE / "core/kscribe_core.h").read_text()
    intree_header = render.apply_edits(p, "core/kscribe_core.h", header, "7.2.13")
    for gone in ("#ifndef kzalloc_obj", "older kernels"):
        assert gone in header and gone not in intree_header, gone
    assert intree.count("ring_buffer_unlock_commit(rec->recording->buffer);") == 1
    # a base older than the edits are right for is refused, not rendered wrong
    with pytest.raises(KscribeError, match="needs a base kernel of 7.0 or later, not 6.1.1"):
        render.apply_edits(p, "core/kscribe_core.c", text, "6.1.1")


def test_an_edit_that_no_longer_matches_is_an_error(tmp_path):
    path = _plan(tmp_path, 'replace: "MODULE_VERSION(KSCRIBE_VERSION_STRING);\\n"',
                 'replace: "MODULE_VERSION(KSCRIBE_VERSION);\\n"')
    text = (paths.KERNEL_MODULE / "core/kscribe_core.c").read_text()
    with pytest.raises(KscribeError, match="occurs 0 times in kernel_module/core/"):
        render.apply_edits(plan.load(path), "core/kscribe_core.c", text, "7.2.13")


def test_bulk_is_two_patches_that_apply_and_pass_checkpatch(bulk, settings):
    s, out = bulk
    assert len(s.patches) == 2 <= 15
    for p in s.patches:
        assert p.gates["am"] is True
        cp = p.gates["checkpatch"]
        assert cp["errors"] == 0
        assert cp["warnings"] + cp["checks"] == 0 or cp["allowed"], cp
        assert p.bytes < 300_000, (p.subject, p.bytes)
        assert Path(p.file).is_file()
    added = sum(p.added for p in s.patches)
    assert 8_000 < added < 16_000, added
    assert set(s.sloc) == {f.name for f in plan.load().facets}
    # every file the series adds was asked about: all it touches but the six it changes
    # (MAINTAINERS, two Kconfig/Makefile hook-ups, the trace index, the ioctl table and the
    # selftests' Makefile)
    touched = {f for p in s.patches for f in p.files}
    assert s.gates["maintainers"] == {"files": len(touched) - 6, "self_test": []}
    data = json.loads((out / "series.json").read_text())
    assert [p["subject"] for p in data["patches"]] == [p.subject for p in s.patches]
    assert data["base"] == "debian/7.2.13-1" and data["base_commit"] == s.base_commit


def test_patches_are_signed_off_by_the_user_and_the_cover_is_b4s(bulk):
    s, out = bulk
    who = identity(paths.ROOT)
    cover = (out / "0000-cover-letter.patch").read_text()
    assert f"base-commit: {s.base_commit}\nchange-id: {s.change_id}\n" in cover
    assert re.fullmatch(r"\d{8}-kscribe-bulk-[0-9a-f]{12}", s.change_id)
    assert "Subject: [PATCH 0/2] tracing/kscribe: " in cover
    assert "*** " not in cover
    assert "generated by kscribe from kernel_module/" in " ".join(cover.split())
    for p in s.patches:
        text = Path(p.file).read_text()
        assert f"\nSigned-off-by: {who.line}\n" in text
        assert f"From: {who.name}" in text.replace("\n ", " ")
        # the change-id stays below the --- of the cover: checkpatch refuses it in a commit
        assert "change-id" not in text.lower().split("\n---\n")[0]


def _get_maintainer(tree: Path, *args: str, patch: str | None = None) -> list[tuple[str, str]]:
    """(name, address) of what the tree's get_maintainer.pl says, in its order."""
    r = subprocess.run(["perl", "scripts/get_maintainer.pl", "--nogit", "--nogit-fallback",
                        "--nogit-chief-penguins", "--norolestats", *args], cwd=tree,
                       input=patch, capture_output=True, text=True, check=True)
    return [email.utils.parseaddr(ln) for ln in r.stdout.splitlines() if ln]


def _addresses(header) -> list[tuple[str, str]]:
    return [(a.display_name, a.addr_spec) for a in header.addresses]


def test_the_posting_is_addressed_threaded_and_taken_back_by_b4(bulk, settings):
    s, out = bulk
    tree = settings.out_dir / "upstream" / "bulk" / "round-trip" / "tree"  # b4 am + git am
    assert git(tree, "rev-parse", "HEAD^{tree}") == s.tip_tree
    eml = sorted((out / "mail").glob("*.eml"))
    assert [Path(m.file) for m in s.mail] == eml and len(eml) == len(s.patches) + 1
    cover_id = s.mail[0].message_id
    assert re.fullmatch(rf"<{s.change_id.rsplit('-', 1)[0]}-v1-0-[0-9a-f]{{12}}"
                        rf"@kscribe\.invalid>", cover_id)
    everyone: set[tuple[str, str]] = set()
    for m, p in zip(s.mail[1:], s.patches, strict=True):
        msg = email.message_from_string(Path(m.file).read_text(), policy=email.policy.default)
        assert msg["Message-Id"] == m.message_id != cover_id
        assert msg["In-Reply-To"] == msg["References"] == cover_id
        assert msg["Subject"].startswith(f"[PATCH {p.number}/{len(s.patches)}] ")
        to, cc = _addresses(msg["To"]), _addresses(msg["Cc"])
        assert all(ord(c) < 128 for c in Path(m.file).read_text().split("\n\n")[0])
        patch = Path(p.file).read_text()
        # b4's --auto-to-cc: maintainers To, lists Cc; linux-api for the uapi header
        assert to == _get_maintainer(tree, "--nol", patch=patch)
        lists = [a for a in _get_maintainer(tree, "--nom", patch=patch) if a not in to]
        uapi_list = ("", "linux-api@vger.kernel.org")
        touches_uapi = any(f.startswith("include/uapi/") for f in p.files)
        assert cc == lists + ([uapi_list] if touches_uapi else [])
        assert touches_uapi == (p.number == 1)
        # everyone who maintains a file it touches is addressed
        assert set(_get_maintainer(tree, "-f", *p.files)) <= set(to) | set(cc)
        everyone |= set(to) | set(cc)
    cover = email.message_from_string(eml[0].read_text(), policy=email.policy.default)
    assert cover["Message-Id"] == cover_id and cover["In-Reply-To"] is None
    assert set(_addresses(cover["To"])) | set(_addresses(cover["Cc"])) == everyone
    # the patch files and the mail say the same, and b4 am + git am gave the same tree
    assert Path(s.patches[0].file).read_text().split("\n\n", 1)[1] == \
        eml[1].read_text().split("\n\n", 1)[1]
    assert s.gates["round_trip"] == {"b4": "0.16.0", "messages": 3, "commits": 2,
                                     "identical": True}


def test_the_tree_is_hooked_up_where_its_neighbours_are(bulk, settings):
    s, _ = bulk
    tree = settings.out_dir / "upstream" / "bulk" / "am"
    assert git(tree, "rev-parse", "HEAD") != s.base_commit
    maint = (tree / "MAINTAINERS").read_text()
    headers = re.findall(r"^([A-Z0-9][^\n]*)\n(?=[A-Z]:\t)", maint, re.M)
    at = headers.index("KSCRIBE TRACER")
    assert headers[at - 1].upper() < "KSCRIBE TRACER" < headers[at + 1].upper()
    section = maint.split("KSCRIBE TRACER\n", 1)[1].split("\n\n", 1)[0]
    assert f"M:\t{identity(paths.ROOT).line}" in section
    for entry in ("kernel/trace/kscribe/", "include/uapi/linux/kscribe.h",
                  "Documentation/trace/kscribe.rst", "tools/testing/selftests/kscribe/"):
        assert f"F:\t{entry}" in section
        assert (tree / entry).exists()
    assert 'source "kernel/trace/kscribe/Kconfig"' in (tree / "kernel/trace/Kconfig").read_text()
    assert "obj-$(CONFIG_KSCRIBE) += kscribe/" in (tree / "kernel/trace/Makefile").read_text()
    rows = (tree / ioctls.TABLE).read_text()
    assert re.search(r"^'J'   00-1F  uapi/linux/kscribe\.h +kscribe tracer$", rows, re.M)
    kconfig = (tree / "kernel/trace/kscribe/Kconfig").read_text()
    make = (tree / "kernel/trace/kscribe/Makefile").read_text()
    for symbol in re.findall(r"^config (\w+)$", kconfig, re.M):
        assert f"obj-$(CONFIG_{symbol}) +=" in make, symbol


def test_a_patch_with_a_checkpatch_error_fails_its_gate(bulk, settings, tmp_path):
    s, _ = bulk
    tree = settings.out_dir / "upstream" / "bulk" / "am"
    bad = tmp_path / Path(s.patches[0].file).name
    text = Path(s.patches[0].file).read_text()
    assert "+\tmutex_lock(&kscribe_lock);" in text
    bad.write_text(text.replace("+\tmutex_lock(&kscribe_lock);",
                                "+        mutex_lock(&kscribe_lock);", 1))
    broken = type(s)(**{**s.__dict__, "patches": [type(s.patches[0])(
        **{**s.patches[0].__dict__, "file": str(bad), "gates": {}})]})
    with pytest.raises(gates.GateFailed) as e:
        gates.checkpatch(tree, broken, gates.allowlist())
    assert str(e.value).startswith("patch 1 (tracing/kscribe: add the kscribe tracer): "
                                   "checkpatch --strict: ERROR:CODE_INDENT")
    assert "code indent should use tabs" in e.value.output


def test_a_patch_that_does_not_apply_fails_its_gate(bulk, settings, tmp_path):
    s, _ = bulk
    b = base.debian_source(settings, prepare("sid/amd64", settings).resolved)
    bad = tmp_path / "0001-bad.patch"
    bad.write_text(Path(s.patches[0].file).read_text().replace(
        " source \"kernel/trace/rv/Kconfig\"", " source \"kernel/trace/rv/Kconfig.nope\"", 1))
    broken = type(s)(**{**s.__dict__, "patches": [type(s.patches[0])(
        **{**s.patches[0].__dict__, "file": str(bad), "gates": {}})]})
    with pytest.raises(gates.GateFailed, match=r"^patch 1 \(.*\): git am failed"):
        gates.am(b, broken, tmp_path / "tree")


def test_the_command_prints_the_series_and_fails_on_a_bad_mode(env, tmp_path):
    r = subprocess.run([sys.executable, "-m", "kscribe", "upstream",
                        "nosuchmode", "-o", str(tmp_path / "x")], env=env, cwd=paths.ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("kscribe: error: no mode 'nosuchmode' in ")
    assert len(r.stderr.strip().splitlines()) == 1


def test_without_a_git_identity_nothing_is_signed(env, tmp_path):
    """A machine with no user.name gets one line saying how to set it, not a made-up SoB."""
    bare = {k: v for k, v in env.items() if not k.startswith("GIT_CONFIG_")}
    bare.update(GIT_CONFIG_GLOBAL=str(tmp_path / "no-gitconfig"), GIT_CONFIG_NOSYSTEM="1")
    r = subprocess.run([sys.executable, "-m", "kscribe", "upstream", "-q", "bulk",
                        "--no-proof", "-o", str(tmp_path / "x")], env=bare, cwd=paths.ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("kscribe: error: git has no user.name: set it with `git "
                               "config --global user.name ...`"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_every_patch_builds_in_the_tree_as_m_y_and_n(bulk):
    s, out = bulk
    for p in s.patches:
        b = p.gates["build"]
        assert "kscribe_core" in b["m"] and "kscribe_core.o" in b["y"] and b["n"] == []
    last = s.patches[-1].gates["build"]
    assert "kscribe_probe_syscalls" in last["m"] and "kscribe_syscalls.o" in last["y"]
    assert "kscribe_probe_syscalls" not in s.patches[0].gates["build"]["m"]
    assert sorted(p.stem for p in (out / "modules").glob("*.ko")) == last["m"]


def test_a_patch_that_breaks_the_build_fails_its_gate(bulk, settings):
    s, _ = bulk
    t = _tree(settings)
    tree = t.path
    git(tree, "checkout", "-q", "--detach", "--force", s.patches[0].commit)
    probe = tree / "kernel/trace/kscribe/kscribe_probe_irq.c"
    probe.write_text(probe.read_text().replace("#include", "#include <no/such/header.h>\n"
                                               "#include", 1))
    try:
        with pytest.raises(gates.GateFailed, match=r"^patch 1, =m: make W=1 "
                           r"M=kernel/trace/kscribe modules: exit 2"):
            intree.build_commit(t, "kernel/trace/kscribe", "patch 1")
    finally:
        git(tree, "checkout", "-q", "--force", s.patches[0].commit)


def test_an_orphan_file_fails_the_gate(bulk, settings):
    s, _ = bulk
    t = _tree(settings)
    tree = t.path
    git(tree, "checkout", "-q", "--detach", "--force", s.patches[0].commit)
    extra = tree / "kernel/trace/kscribe/kscribe_extra.c"
    extra.write_text("// SPDX-License-Identifier: GPL-2.0-only\n")
    try:
        assert intree.orphans(tree, "kernel/trace/kscribe") == ["kscribe_extra.c"]
        with pytest.raises(gates.GateFailed, match="kscribe_extra.c in kernel/trace/kscribe "
                                                   "built by no Makefile line"):
            intree.build_commit(t, "kernel/trace/kscribe", "patch 1")
    finally:
        extra.unlink()


def _tree(settings) -> intree.Tree:
    """The series' own tree, built as the pipeline builds it."""
    from kscribe.kernel.tree import read_tree
    from kscribe.toolchain.select import select

    p = prepare("sid/amd64", settings)
    tree = settings.out_dir / "upstream" / "bulk" / "series"
    tc = select(settings, read_tree(p.provisioned.kdir), p.target.arch,
                p.target.suite.codename, p.resolved.debs["kbuild"],
                extra=intree.SOURCE_TREE_PACKAGES)
    tc.binds = [tree]
    return intree.Tree(path=tree, headers=p.provisioned.kdir, arch=p.target.arch,
                       toolchain=tc, release=p.resolved.abi)


def test_the_in_tree_modules_trace_in_their_debian_kernel(proof, bulk):
    s, out = bulk
    assert proof.verdict.ok, proof.verdict.reasons
    console = (proof.trace.parent / "console.log").read_text()
    assert "# PASSED: 3 / 3 tests passed." in console
    assert "KSCRIBE-RC 0 kscribe_test" in console
    assert f"kscribe: core 0.2.0 loaded (abi {uapi.load().abi_version})" in console
    names = {e.name for e in proof.events}
    assert {"sched_switch", "syscall_entry_openat", "syscall_exit_openat"} <= names
    data = json.loads((out / "series.json").read_text())
    assert data["proof"]["kernel"] == "7.2.13+deb14-amd64"
    assert sorted(data["proof"]["modules"]) == sorted(p.name for p in
                                                      (out / "modules").glob("*.ko"))


@pytest.fixture(scope="module")
def sources(settings, tmp_path_factory):
    """The tracer's files for the base kernel, as the pipeline renders them."""
    from kscribe.codegen.module import render_sources
    from kscribe.instrument.syscalls import tables
    from kscribe.kernel.tree import read_tree

    p = prepare("sid/amd64", settings)
    build = tmp_path_factory.mktemp("intree-sources")
    modules = render_sources(read_tree(p.provisioned.kdir), build, target="sid/amd64",
                             arch=p.target.arch, syscalls=tables(p, settings))
    probes = tuple(m.removeprefix("kscribe_probe_") for m in modules
                   if m.startswith("kscribe_probe_") and m != "kscribe_probe_syscalls")
    b = base.debian_source(settings, p.resolved)
    return render.Sources(build=build, probes=probes, syscalls=True,
                          uapi=uapi.render(uapi.load()),
                          maintainer="A Tester <tester@example.org>", release=b.release), b


def _state(sources, mode: str, facets: list[str],
           probes: tuple[str, ...] | None = None) -> render.State:
    src, b = sources
    p = plan.load()

    def base_file(path: str) -> str:
        return git(b.repo, "show", f"{b.commit}:{path}") + "\n"

    return render.state(p, src, p.placements[p.modes[mode].placement], facets, base_file,
                        ioctls.Block("J", 0x00, 0x1F), probes)


def test_staging_has_its_todo_and_no_ioctl_row(sources):
    st = _state(sources, "staging", ["core", "probes", "syscalls", "docs", "selftest"])
    todo = st.files["drivers/staging/kscribe/TODO"]
    assert "Greg Kroah-Hartman" in todo and "linux-staging@lists.linux.dev" in todo
    assert ioctls.TABLE not in st.files   # ioctl-number.rst excludes staging
    kconfig = st.files["drivers/staging/Kconfig"].split("\n")
    at = kconfig.index('source "drivers/staging/kscribe/Kconfig"')
    assert "endif # STAGING" in kconfig[at + 1:] and "if STAGING" in kconfig[:at]
    assert st.files["drivers/staging/Makefile"].rstrip().endswith(
        "obj-$(CONFIG_KSCRIBE) += kscribe/")
    maint = st.files["MAINTAINERS"]
    assert "STAGING - KSCRIBE TRACER\nM:\tA Tester <tester@example.org>\n" \
           "L:\tlinux-staging@lists.linux.dev\n" in maint
    assert "kernel/trace/kscribe" not in "".join(st.files)


def test_each_facet_state_has_only_its_own_files(sources):
    core = _state(sources, "facets", ["core"])
    assert set(core.facet_of.values()) == {"core"}
    assert "kscribe_probe_sched" not in core.files["kernel/trace/kscribe/Makefile"]
    assert "config KSCRIBE_PROBE" not in core.files["kernel/trace/kscribe/Kconfig"]
    assert "Documentation/trace/index.rst" not in core.files
    maint = core.files["MAINTAINERS"].split("KSCRIBE TRACER\n", 1)[1].split("\n\n")[0]
    assert "Documentation/trace/kscribe.rst" not in maint   # no F: for a file not there yet
    more = _state(sources, "facets", ["core", "probes", "syscalls"])
    assert "obj-$(CONFIG_KSCRIBE_PROBE_SYSCALLS) += kscribe_probe_syscalls.o" in \
        more.files["kernel/trace/kscribe/Makefile"]
    assert set(more.files) > set(core.files)


def test_a_maintainers_section_the_kernel_finds_wrong_fails_its_gate(bulk, settings):
    s, _ = bulk
    tree = settings.out_dir / "upstream" / "bulk" / "am"
    path = tree / "MAINTAINERS"
    good = path.read_text()
    entry = [identity(paths.ROOT).line, "linux-trace-kernel@vger.kernel.org"]
    try:
        # a pattern that matches nothing: the kernel's own self-test says so
        path.write_text(good.replace("F:\tkernel/trace/kscribe/\n",
                                     "F:\tkernel/trace/kscribe/\nF:\tkernel/trace/nope/\n", 1))
        with pytest.raises(gates.GateFailed, match="^MAINTAINERS section KSCRIBE TRACER: "):
            gates.maintainers(tree, s, "KSCRIBE TRACER", entry)
        # a file the section does not cover
        path.write_text(good.replace("F:\tkernel/trace/kscribe/\n", "F:\tkernel/trace/kscribe/"
                                     "kscribe_core.c\n", 1))
        with pytest.raises(gates.GateFailed, match="get_maintainer.pl sends kernel/trace/"
                                                   "kscribe/Kconfig"):
            gates.maintainers(tree, s, "KSCRIBE TRACER", entry)
    finally:
        path.write_text(good)


def _base_table(sources) -> str:
    _, b = sources
    return git(b.repo, "show", f"{b.commit}:{ioctls.TABLE}")


def test_a_new_abi_moves_to_the_first_free_block_of_the_base_tree(sources):
    table = _base_table(sources)
    today = uapi.load()
    keep = ioctls.Block(today.magic, *today.magic_range)
    new = ioctls.free_block(table, 0x20, "JK", avoid=keep)
    assert new == ioctls.Block("J", 0x20, 0x3F)
    # 'I' is taken whole by linux/isdn.h: its first free block is not in 'I'
    assert ioctls.free_block(table, 0x20, "IJ", avoid=keep).magic == "J"
    moved = uapi.renumbered(today, new.magic, new.first, new.last)
    assert moved.abi_version == today.abi_version + 1
    assert [i.nr - 0x20 for i in moved.ioctls] == [i.nr for i in today.ioctls]
    header = uapi.render(moved)
    assert "_IOR(KSCRIBE_IOC_MAGIC, 0x20, struct kscribe_version)" in header
    assert re.search(rf"^#define KSCRIBE_ABI_VERSION\s+{today.abi_version + 1}$", header, re.M)
    # the row goes after the last row of 'I', in code order, and a claimed block is refused
    rows = ioctls.register(table, new, "uapi/linux/kscribe.h", "kscribe tracer").split("\n")
    at = next(i for i, ln in enumerate(rows) if ln.startswith("'J'   20-3F"))
    assert rows[at - 1].startswith("'I'   40-4F") and rows[at + 1].startswith("'K'")
    with pytest.raises(KscribeError, match="'K' 00-1F is claimed by another row"):
        ioctls.register(table, ioctls.Block("K", 0, 0x1F), "x.h", "x")


def test_piecewise_adds_one_probe_module_per_patch(sources):
    src, _ = sources
    p = plan.load()
    steps = series.steps(p, p.modes["piecewise"], src.probes)
    assert len(steps) == 2 + len(src.probes) <= 15
    assert steps[0].probes == () and steps[-1].facets == ("syscalls",)
    assert [s.probes for s in steps[1:-1]] == [(sub,) for sub in src.probes]
    assert steps[1].subject == f"record {p.probe_titles[src.probes[0]]}"
    # the tree after the first probe patch builds that module alone
    st = _state(sources, "piecewise", ["core", "docs", "selftest", "probes"], src.probes[:1])
    make = st.files["kernel/trace/kscribe/Makefile"]
    assert make.count("kscribe_probe_") == 1 and f"kscribe_probe_{src.probes[0]}.o" in make
    assert [f for f in st.files if "kscribe_probe_" in f] == \
        [f"kernel/trace/kscribe/kscribe_probe_{src.probes[0]}.c"]


def test_core_leaves_the_other_probes_to_an_out_of_tree_build(sources):
    src, _ = sources
    p = plan.load()
    steps = series.steps(p, p.modes["core"], src.probes)
    assert [s.probes for s in steps] == [(), (), ("kmem",)]
    rest = [f"kscribe_probe_{s}" for s in src.probes if s != "kmem"]
    files = render.outside(src, p.placements["kernel"], rest)
    kbuild = files["Kbuild"]
    assert "ccflags-y += -I$(srctree)/kernel/trace/kscribe\n" in kbuild
    assert re.findall(r"^obj-m \+= (\w+)\.o$", kbuild, re.M) == rest
    assert set(files) == {"Kbuild", *(f"{m}.c" for m in rest)}


def test_core_with_a_new_abi_passes_every_gate(core_new, settings):
    s, out = core_new
    today = uapi.load()
    assert s.abi == {"magic": "J", "first": 0x20, "last": 0x3F,
                     "version": today.abi_version + 1,
                     "moved_from": {"magic": "J", "first": 0, "last": 0x1F,
                                    "version": today.abi_version}}
    assert [p.subject.split(": ", 1)[1] for p in s.patches] == [
        "add the tracer core and its control device", "record system calls",
        "record memory allocations"]
    for p in s.patches:
        assert p.gates["am"] is True and p.gates["kconfig_symbols"] == []
        assert p.gates["checkpatch"]["errors"] == 0
        assert "kscribe_core" in p.gates["build"]["m"]
    assert s.patches[-1].gates["build"]["m"] == ["kscribe_core", "kscribe_probe_kmem",
                                                 "kscribe_probe_syscalls"]
    # every export of the core has an in-tree user, as the maintainers asked
    exports = s.gates["exports"]
    assert "kscribe_probe_register" in exports and all(exports.values()), exports
    # the rest is built with make M= against the patched tree
    assert "kscribe_probe_sched" in s.out_of_tree and "kscribe_probe_kmem" not in s.out_of_tree
    assert s.gates["out_of_tree"]["modules"] == sorted(f"{m}.ko" for m in s.out_of_tree)
    assert s.gates["uapi"]["headers_tested"] > 500
    assert {p.stem for p in (out / "modules").glob("*.ko")} == \
        {"kscribe_core", "kscribe_probe_kmem", "kscribe_probe_syscalls", *s.out_of_tree}
    # the tree registers the new block, and its header is the one installed for userspace
    tree = settings.out_dir / "upstream" / "core-abi-new" / "am"
    assert re.search(r"^'J'   20-3F  uapi/linux/kscribe\.h +kscribe tracer$",
                     (tree / ioctls.TABLE).read_text(), re.M)
    header = (out / "include" / "uapi" / "linux" / "kscribe.h").read_text()
    assert "_IOR(KSCRIBE_IOC_MAGIC, 0x20, struct kscribe_version)" in header
    cover = (out / "0000-cover-letter.patch").read_text()
    assert "stay out of tree and build with make M= against the patched tree" in \
        " ".join(cover.split())
    assert f"as ABI version {today.abi_version + 1}: tools built for the out-of-tree " \
           f"tracer's ABI {today.abi_version} ('J' 0x00-0x1f) get ENOTTY" in \
        " ".join(cover.split())


def test_a_new_abi_refuses_todays_kscribectl_and_serves_the_rebuilt_one(core_new, settings):
    need_tool("qemu-system-x86_64")
    need_tool("babeltrace2")
    s, out = core_new
    r = upstream_proof("core", settings, out, abi="new")
    assert r.verdict.ok, r.verdict.reasons
    console = (r.trace.parent / "console.log").read_text()
    assert re.search(r"^KSCRIBE-CHECK earlier-abi-rc [1-9]", console, re.M)
    assert "kscribectl: KSCRIBE_IOCTL_VERSION: Inappropriate ioctl for device" in console
    assert re.search(r"^KSCRIBE-RC 0 kscribectl version", console, re.M)
    assert "# PASSED: 3 / 3 tests passed." in console
    assert f"(abi {uapi.load().abi_version + 1})" in console
    # in-tree (syscalls, kmem) and out-of-tree (sched) probes both recorded
    names = {e.name for e in r.events}
    assert {"sched_switch", "syscall_entry_openat"} <= names, names


def test_an_export_without_an_in_tree_user_fails_its_gate(bulk, settings):
    s, _ = bulk
    t = _tree(settings)
    folder = t.path / "kernel/trace/kscribe"
    # the tip's modules, as the gate built them (tests before may have cleaned them)
    git(t.path, "checkout", "-q", "--detach", "--force", s.tip)
    intree._configure(t, intree.symbols(t.path, "kernel/trace/kscribe"), "m")
    for step in (["olddefconfig"], ["modules_prepare"], ["M=kernel/trace/kscribe", "modules"]):
        assert t.make(*step)[0] == 0, step
    users = {ko.stem: intree._imports(t, ko) for ko in folder.glob("*.ko")}
    assert gates.exports(folder / "Module.symvers", users)["kscribe_copy_user"] == \
        ["kscribe_probe_syscalls"]
    del users["kscribe_probe_syscalls"]
    with pytest.raises(gates.GateFailed, match="exports without an in-tree user: .*"
                                               "kscribe_copy_user,"):
        gates.exports(folder / "Module.symvers", users)


def test_an_undefined_kconfig_symbol_fails_its_gate(bulk, settings):
    s, _ = bulk
    tree = settings.out_dir / "upstream" / "bulk" / "am"
    kconfig = tree / "kernel/trace/kscribe/Kconfig"
    source = tree / "kernel/trace/kscribe/kscribe_core.c"
    other = tree / "kernel/trace/trace.c"  # not the series': never reported
    good = {f: f.read_text() for f in (kconfig, source, other)}
    assert gates.undefined_symbols(tree, s.base_commit) == []
    try:
        kconfig.write_text(good[kconfig].replace("\tdepends on ",
                                                 "\tdepends on KSCRIBE_NOPE && ", 1))
        source.write_text(good[source] + "\n#if IS_ENABLED(CONFIG_KSCRIBE_NADA)\n#endif\n")
        other.write_text(good[other] + "\n#ifdef CONFIG_KSCRIBE_NIENTE\n#endif\n")
        assert gates.undefined_symbols(tree, s.base_commit) == \
            ["KSCRIBE_NADA (kernel/trace/kscribe/kscribe_core.c)",
             "KSCRIBE_NOPE (kernel/trace/kscribe/Kconfig)"]
    finally:
        for f, text in good.items():
            f.write_text(text)


def test_kconfiglib_and_the_kernels_own_tool_agree_on_the_tracers_kconfig(bulk, settings):
    """The Kconfig that chooses an out-of-tree build's probes, evaluated by kconfiglib, gives
    what the tree's own scripts/kconfig gives for a config with two requirements off."""
    from kscribe.codegen import kconfig
    from kscribe.kernel.tree import read_tree

    s, _ = bulk
    t = _tree(settings)
    git(t.path, "checkout", "-q", "--detach", "--force", s.tip)
    folder = "kernel/trace/kscribe"
    syms = intree.symbols(t.path, folder)
    intree._configure(t, syms, "m")
    subprocess.run(["bash", "scripts/config", "--file", ".config", "--disable", "NET",
                    "--disable", "MODULE_UNLOAD"], cwd=t.path, check=True)
    assert t.make("olddefconfig")[0] == 0
    config = read_tree(t.path).config
    theirs = {sym: config.get(f"CONFIG_{sym}", "n") for sym in syms}
    assert theirs["KSCRIBE_PROBE_NET"] == theirs["KSCRIBE_PROBE_MODULE"] == "n"
    assert theirs["KSCRIBE_PROBE_SCHED"] == "m"
    assert kconfig.choose((t.path / folder / "Kconfig").read_text(), config) == theirs

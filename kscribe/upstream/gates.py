"""The gates every patch of a series passes: it applies, and checkpatch accepts it.

Each gate returns a verdict per patch for ``series.json``; a failing gate names the patch,
the check and the output (:class:`GateFailed`), so that ``kscribe upstream`` exits non-zero
with it. Findings of the base tree's ``checkpatch.pl --strict`` fail unless
``patches/checkpatch-allow.yaml`` lists their type with the reason reviewers are given.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from kscribe.config import paths
from kscribe.errors import KscribeError
from kscribe.kernel.checkpatch import check_patch, findings
from kscribe.upstream import mail
from kscribe.upstream.base import Base, worktree
from kscribe.upstream.mail import Message
from kscribe.upstream.series import Series
from kscribe.util import atomic, log, proc, yamlspec
from kscribe.util.git import git

ALLOW = paths.ROOT / "patches" / "checkpatch-allow.yaml"


class GateFailed(KscribeError):
    """A gate refused a patch: which patch and which check (one line), and what it said."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class Allowed:
    level: str
    type: str
    why: str


def allowlist(path: Path = ALLOW) -> list[Allowed]:
    root = yamlspec.compose(path)
    if not isinstance(root, yaml.SequenceNode) or not root.value:
        raise yamlspec.error(path, root, "the allowlist must be a list of findings")
    out = []
    for node in root.value:
        m = {k.value: v for k, v in yamlspec.items(path, node, "an allowed finding")}
        for key in ("type", "level", "why"):
            if key not in m:
                raise yamlspec.error(path, node, f"an allowed finding needs {key}:")
        out.append(Allowed(level=yamlspec.scalar(path, m["level"], "level"),
                           type=yamlspec.scalar(path, m["type"], "type"),
                           why=" ".join(yamlspec.scalar(path, m["why"], "why").split())))
    return out


def am(base: Base, series: Series, dest: Path) -> Path:
    """Apply every patch with ``git am`` on a fresh worktree of the base; the tree after it
    must be the series' own tip tree."""
    tree = worktree(base, dest)
    log.progress(f"git am: {len(series.patches)} patches on a clean worktree of the base")
    for p in series.patches:
        r = proc.run(["git", "-C", tree, "am", "-q", "--whitespace=error-all", p.file],
                     check=False, why="to apply patches")
        p.gates["am"] = r.returncode == 0
        if r.returncode:
            git(tree, "am", "--abort", check=False)
            raise GateFailed(f"patch {p.number} ({p.subject}): git am failed: "
                             f"{proc.tail(r.stderr or r.stdout)}", r.stderr + r.stdout)
    if git(tree, "rev-parse", "HEAD^{tree}") != series.tip_tree:
        raise GateFailed("git am: the applied series differs from the one committed")
    return tree


def round_trip(base: Base, series: Series, messages: list[Message], dest: Path) -> None:
    """What a maintainer does with the posting: ``b4 --offline-mode am`` of its messages
    (as one mbox), then ``git am`` of the mbox b4 writes onto a clean worktree of the base;
    the tree after it must be the series' own tip tree."""
    tree = worktree(base, dest / "tree")
    got = dest / "b4"
    shutil.rmtree(got, ignore_errors=True)
    got.mkdir(parents=True)
    atomic.write_text(dest / "posting.mbox", mail.mbox(messages))
    b4 = proc.installed("b4")
    log.progress(f"round trip: b4 am of {len(messages)} messages, git am onto the base")
    r = proc.run([b4, "--offline-mode", "am", "--no-cover",
                  "-m", str(dest / "posting.mbox"), "-o", str(got)], cwd=tree, check=False,
                 why="to take the posting back as a maintainer does")
    written = sorted(got.glob("*.mbx"))
    if r.returncode or len(written) != 1:
        raise GateFailed(f"b4 am: exit {r.returncode}, {len(written)} mbox files: "
                         f"{proc.tail(r.stderr or r.stdout)}", r.stderr + r.stdout)
    a = proc.run(["git", "-C", tree, "am", "-q", str(written[0])], check=False,
                 why="to apply what b4 took")
    if a.returncode:
        git(tree, "am", "--abort", check=False)
        raise GateFailed(f"git am of b4's {written[0].name}: {proc.tail(a.stderr or a.stdout)}",
                         a.stderr + a.stdout)
    count = int(git(tree, "rev-list", "--count", f"{series.base_commit}..HEAD"))
    same = git(tree, "rev-parse", "HEAD^{tree}") == series.tip_tree
    series.gates["round_trip"] = {"b4": b4_version(b4), "messages": len(messages),
                                  "commits": count, "identical": same}
    if not same or count != len(series.patches):
        raise GateFailed(f"round trip: b4 am and git am gave {count} commits and "
                         f"{'the' if same else 'another'} tree, not the series' "
                         f"{len(series.patches)} patches and tree {series.tip_tree[:12]}")


def b4_version(b4: str) -> str:
    r = proc.run([b4, "--version"], check=False,
                 why="to name the b4 of the round trip")
    return r.stdout.strip()


def checkpatch(tree: Path, series: Series, allowed: list[Allowed]) -> None:
    """The base tree's ``checkpatch.pl --strict`` on every patch: no error, and every other
    finding on the allowlist."""
    ok = {(a.level, a.type) for a in allowed}
    log.progress(f"checkpatch --strict: {len(series.patches)} patches")
    for p in series.patches:
        r = check_patch(tree, Path(p.file))
        found = findings(r)
        p.gates["checkpatch"] = {"errors": r.errors, "warnings": r.warnings,
                                 "checks": r.checks,
                                 "allowed": sorted({t for lv, t in found if (lv, t) in ok})}
        bad = [f"{lv}:{t}" for lv, t in found if (lv, t) not in ok or lv == "ERROR"]
        if bad or len(found) != r.errors + r.warnings + r.checks:
            raise GateFailed(f"patch {p.number} ({p.subject}): checkpatch --strict: "
                             f"{', '.join(bad) or 'findings without a type'}", r.text)


def maintainers(tree: Path, series: Series, section: str, entry: list[str]) -> None:
    """The tree's own get_maintainer.pl: every file the series adds goes to the new section
    (``entry``: its M: and L: lines), and the section passes the script's self-test."""
    script = ["perl", "scripts/get_maintainer.pl"]
    log.progress("get_maintainer.pl: every new file, and the section's self-test")
    added = git(tree, "diff", "--name-only", "--diff-filter=A", f"{series.base_commit}..HEAD")
    unrouted = []
    for path in added.split("\n"):
        r = proc.run([*script, *mail.FLAGS, "-f", path], cwd=tree, check=False,
                     why="to check where patches go")
        if not all(e in r.stdout.splitlines() for e in entry):
            unrouted.append(path)
    if unrouted:
        raise GateFailed(f"get_maintainer.pl sends {', '.join(unrouted)} elsewhere than "
                         f"{section}")
    # the script's section self-test (its pattern self-test walks every F: of the file for
    # minutes; the new section's own patterns are checked here instead)
    r = proc.run([*script, "--self-test=sections"], cwd=tree, check=False,
                 why="to check the MAINTAINERS section")
    lines = (tree / "MAINTAINERS").read_text().split("\n")
    first = lines.index(section) + 1
    last = lines.index("", first)
    at = [(re.match(r"^\./MAINTAINERS:(\d+): ", ln), ln)
          for ln in (r.stdout + r.stderr).splitlines()]
    found = [ln for m, ln in at if m and first <= int(m.group(1)) <= last]
    found += [f"./MAINTAINERS:{first + 1 + i}: warning: no file matches\t{ln}"
              for i, ln in enumerate(lines[first:last])
              if ln.startswith("F:\t") and not list(tree.glob(ln[3:].rstrip("/")))]
    series.gates["maintainers"] = {"files": len(added.split("\n")), "self_test": found}
    if found:
        raise GateFailed(f"MAINTAINERS section {section}: {found[0]}", "\n".join(found))


def undefined_symbols(tree: Path, base_commit: str) -> list[str]:
    """The Kconfig symbols that files of the series (changed since ``base_commit``) use and
    no Kconfig defines, by the tree's own ``scripts/checkkconfigsymbols.py`` at its current
    checkout: ``SYMBOL (file, ...)`` for each.

    The script's ``--ignore`` names every other file: it still reads every Kconfig file for
    the definitions, but only the series' files for references, so the answer for them is
    the same as a whole-tree run's, in seconds instead of minutes."""
    ours = set(git(tree, "diff", "--name-only", base_commit, "HEAD").split("\n")) - {""}
    others = f"(?!(?:{'|'.join(re.escape(f) for f in sorted(ours))})$)"
    r = proc.run(["python3", "scripts/checkkconfigsymbols.py", "--no-color", "--ignore", others],
                 cwd=tree, check=False, why="to find undefined Kconfig symbols")
    if r.returncode not in (0, 1):
        raise GateFailed(f"checkkconfigsymbols.py: exit {r.returncode}: "
                         f"{proc.tail(r.stderr or r.stdout)}", r.stderr + r.stdout)
    found = []
    for block in r.stdout.split("\n\n"):
        lines = block.strip().splitlines()
        if len(lines) < 2 or not lines[1].startswith("Referencing files: "):
            continue
        files = [f.strip() for f in lines[1].removeprefix("Referencing files: ").split(",")]
        mine = [f for f in files if f in ours]
        if mine:
            found.append(f"{lines[0].strip()} ({', '.join(mine)})")
    return found


def exports(symvers: Path, users: dict[str, set[str]]) -> dict[str, list[str]]:
    """Every symbol the tracer's modules export (``Module.symvers`` of their folder) and the
    in-tree modules that use it (``users``: module -> undefined symbols); an export that no
    other module uses fails, as the maintainers asked: no export without an in-tree user."""
    used: dict[str, list[str]] = {}
    for line in symvers.read_text().splitlines():
        cols = line.split("\t")
        if len(cols) < 3:
            continue
        symbol, module = cols[1], Path(cols[2]).name
        used[symbol] = sorted(m for m, syms in users.items() if symbol in syms and m != module)
    unused = [s for s, who in used.items() if not who]
    if unused:
        raise GateFailed(f"exports without an in-tree user: {', '.join(sorted(unused))} (add "
                         "a user to the series or stop exporting them)")
    return used

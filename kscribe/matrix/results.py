"""What each cell of the matrix gave: read from a run's output folder, or from the artifacts
of a CI run downloaded into one folder (``build-<slug>/``, ``boot-<slug>/``).

A cell's build and boot each get one status, in the words of KernelCI's results:

  PASS   it worked
  FAIL   our code failed: the kbuild of the tracer, or the guest judged the tracer wrong
  ERROR  the infrastructure failed before our code ran: a download, a toolchain, QEMU
  SKIP   not attempted, as planned: the boot of a cell whose build did not pass
  MISS   expected and never came: no record at all (a job that never ran or was killed)

``kscribe build`` and ``kscribe boot`` leave ``<kind>-error.json`` beside their results when
they stop on an error (:func:`attempt`): what tells ERROR from MISS.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kscribe.build import metadata
from kscribe.errors import KscribeError
from kscribe.kernel.diagnostics import count_diagnostics
from kscribe.matrix.cells import BOOT_FILES, BUILD_FILES, Cell, error_file
from kscribe.util import atomic

STATUSES = ("PASS", "FAIL", "ERROR", "SKIP", "MISS")
PASSED = ("PASS",)
FAILED = ("FAIL", "ERROR", "MISS")


@contextlib.contextmanager
def attempt(folder: Path, kind: str) -> Iterator[None]:
    """Run a ``kind`` step (build, boot) of the cell whose outputs are in ``folder``: an
    error it stops on is kept in ``folder/<kind>-error.json``, and a new attempt clears it."""
    record = folder / error_file(kind)
    record.unlink(missing_ok=True)
    try:
        yield
    except KscribeError as e:
        atomic.write_json(record, {"kind": kind, "message": str(e)})
        raise


@dataclass
class Outcome:
    """One step of one cell."""

    status: str
    line: str = ""                       # the first error line, or what was seen
    duration_s: float | None = None
    warnings: int | None = None
    errors: int | None = None
    files: dict[str, Path] = field(default_factory=dict)  # name -> file, to link to


@dataclass
class CellResult:
    cell: Cell
    build: Outcome
    boot: Outcome | None                 # None: not a boot cell
    kernel: str = ""
    toolchain: str = ""

    def outcomes(self) -> list[tuple[str, Outcome]]:
        return [("build", self.build)] + ([("boot", self.boot)] if self.boot else [])


def _find(folder: Path, cell: Cell, kind: str, name: str) -> Path | None:
    """``name`` of ``cell`` in a run's folder (``<slug>/``) or in CI artifacts
    (``<kind>-<slug>/``)."""
    for where in (folder / cell.slug, folder / cell.artifact(kind)):
        if (where / name).is_file():
            return where / name
    return None


def _json(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _files(folder: Path, cell: Cell, kind: str, names: tuple[str, ...]) -> dict[str, Path]:
    found = {n: _find(folder, cell, kind, n) for n in names}
    return {n: p for n, p in found.items() if p is not None}


def _build(folder: Path, cell: Cell) -> tuple[Outcome, dict[str, Any]]:
    files = _files(folder, cell, "build", BUILD_FILES)
    meta = _json(files.get(metadata.NAME)) or {}
    error = _json(files.get(error_file("build")))
    numbers = {"duration_s": meta.get("duration_s"), "warnings": meta.get("warnings"),
               "errors": meta.get("errors")}
    status = meta.get("status")
    if status == "ok":
        return Outcome("PASS", "", files=files, **numbers), meta
    if status == "failed":
        log = files.get("build.log")
        first = count_diagnostics(log.read_text(errors="replace"))[2] if log else []
        line = next((f for f in first if not f.startswith("make")), first[0] if first else "")
        return Outcome("FAIL", line or (error or {}).get("message", ""), files=files,
                       **numbers), meta
    if error is not None:
        return Outcome("ERROR", error.get("message", ""), files=files), meta
    if status == "running":
        return Outcome("ERROR", "the build was stopped while it ran", files=files), meta
    return Outcome("MISS", "no build record", files=files), meta


def _boot(folder: Path, cell: Cell, build: Outcome) -> Outcome:
    files = _files(folder, cell, "boot", BOOT_FILES)
    verdict = _json(files.get("boot.json"))
    error = _json(files.get(error_file("boot")))
    if verdict is not None and not error:
        reasons = verdict.get("reasons") or []
        ok = verdict.get("ok") is True
        return Outcome("PASS" if ok else "FAIL", "" if ok else str(reasons[0] if reasons
                                                                    else "failed"),
                       duration_s=verdict.get("duration_s"), files=files)
    if error is not None:
        return Outcome("ERROR", error.get("message", ""), files=files)
    if build.status != "PASS":
        return Outcome("SKIP", f"the build did not pass ({build.status})", files=files)
    return Outcome("MISS", "no boot record", files=files)


def collect(build: tuple[str, ...], boot: tuple[str, ...], folder: Path) -> list[CellResult]:
    """Every cell of a matrix (``build`` cells, ``boot`` the subset booted) as ``folder``
    holds its results."""
    out = []
    for name in build:
        cell = Cell.of(name)
        b, meta = _build(folder, cell)
        tc = meta.get("toolchain") or {}
        toolchain = (f"{tc.get('cc', '')} ({tc.get('kind', '')})" if tc else "")
        out.append(CellResult(cell, b, _boot(folder, cell, b) if name in boot else None,
                              kernel=str(meta.get("kernel_release", "")),
                              toolchain=toolchain))
    return out


def counts(results: list[CellResult]) -> dict[str, int]:
    """How many steps have each status."""
    n = dict.fromkeys(STATUSES, 0)
    for r in results:
        for _, o in r.outcomes():
            n[o.status] += 1
    return n


def last_line(results: list[CellResult]) -> str:
    """``N passed, N failed`` (FAIL, ERROR and MISS count as failed; SKIP as neither)."""
    n = counts(results)
    return (f"{sum(n[s] for s in PASSED)} passed, {sum(n[s] for s in FAILED)} failed")

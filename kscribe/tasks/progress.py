"""doit's console output, plus, when the matrix runs, a progress line after each of its
steps and the matrix report at the end (``out/matrix/``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from doit.reporter import ConsoleReporter

from kscribe.config import matrix as matrix_file


class MatrixReporter(ConsoleReporter):
    """ConsoleReporter; for a run of ``matrix`` (or ``matrix:build``, ``matrix:boot``): the
    cells done, running and failed and the time so far after every build and boot of a
    cell, then report.html, report.md and junit.xml, and ``N passed, N failed`` last."""

    out_dir: Path | None = None           # set by kscribe.tasks: where the outputs are

    def __init__(self, outstream: Any, options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        self.steps: set[str] = set()
        self.running: set[str] = set()
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self.started = time.monotonic()
        self.matrix: matrix_file.Matrix | None = None

    def initialize(self, tasks: Any, selected_tasks: list[str]) -> None:
        if not any(name == "matrix" or name.startswith("matrix:") for name in selected_tasks):
            return
        self.matrix = matrix_file.load()
        wanted = {n.split(":", 1)[1] for n in selected_tasks if ":" in n} or {"build", "boot"}
        self.steps = ({f"build:{c}" for c in self.matrix.build} |
                      ({f"boot:{c}" for c in self.matrix.boot} if "boot" in wanted else set()))

    def _progress(self) -> None:
        if not self.steps:
            return
        elapsed = int(time.monotonic() - self.started)
        self.write(f"matrix: {len(self.done)}/{len(self.steps)} done, {len(self.running)} "
                   f"running, {len(self.failed)} failed, {elapsed // 60}m{elapsed % 60:02d}s "
                   f"elapsed\n")

    def execute_task(self, task: Any) -> None:
        super().execute_task(task)
        if task.name in self.steps:
            self.running.add(task.name)
            self._progress()

    def _finished(self, task: Any, failed: bool = False) -> None:
        if task.name in self.steps:
            self.running.discard(task.name)
            self.done.add(task.name)
            if failed:
                self.failed.add(task.name)
            self._progress()

    def add_failure(self, task: Any, fail: Any) -> None:
        super().add_failure(task, fail)
        self._finished(task, failed=True)

    def add_success(self, task: Any) -> None:
        super().add_success(task)
        self._finished(task)

    def skip_uptodate(self, task: Any) -> None:
        super().skip_uptodate(task)
        self._finished(task)

    def complete_run(self) -> None:
        super().complete_run()
        if self.matrix is None or self.out_dir is None:
            return
        from kscribe.matrix import report, results

        found = results.collect(self.matrix.build, self.matrix.boot
                                if any(s.startswith("boot:") for s in self.steps) else (),
                                self.out_dir)
        dest = self.out_dir / "matrix"
        line = report.write(found, dest)
        self.write(f"matrix report: {dest / 'report.html'} ({dest / 'report.md'}, "
                   f"{dest / 'junit.xml'})\n{line}\n")

"""doit entry point: ``doit`` builds, boots and traces the default target (bookworm/amd64).

``doit list --all`` shows every task; ``doit build:trixie/riscv64``, ``doit boot:sid/arm64``;
``doit -n 2 boot:bookworm/amd64 boot:bookworm/arm64`` runs cells in parallel. The tasks live
in :mod:`kscribe.tasks`; ``doit -n 2 matrix`` runs the CI matrix of ci/matrix.toml.
"""

from kscribe.tasks import (  # noqa: F401
    DOIT_CONFIG,
    task_boot,
    task_build,
    task_matrix,
    task_package,
    task_provision,
    task_summary,
    task_trace,
    task_upstream,
)

"""doit entry point: ``doit`` builds, boots and checks the default target (bookworm/amd64).

``doit list --all`` shows every task; ``doit build:trixie/riscv64``, ``doit boot:sid/arm64``;
``doit -n 2 boot:bookworm/amd64 boot:bookworm/arm64`` runs cells in parallel. The tasks live
in :mod:`kscribe.tasks`.
"""

from kscribe.tasks import DOIT_CONFIG, task_boot, task_build, task_provision  # noqa: F401

"""The `kscribe` command: one subcommand per step."""

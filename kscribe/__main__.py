"""`python -m kscribe` is the `kscribe` command."""

from kscribe.cli import main

raise SystemExit(main())

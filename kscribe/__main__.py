"""`python -m kscribe` is the `kscribe` command."""

from kscribe.cli.main import main

raise SystemExit(main())

"""Allow `python -m k2local ...` as an alias for the `k2-local` script."""

from k2local.cli import main

raise SystemExit(main())

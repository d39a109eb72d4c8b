"""runbook: declarative YAML runbooks with go/no-go gates and contingency drills."""

from runbook_engine.stops import install_early

__version__ = "0.1.0"

# First of all, before the heavy imports of the CLI: in the `runbook` program, SIGTERM or
# Ctrl-C during start-up must still exit 143 or 130 (not die by the default action).
install_early()

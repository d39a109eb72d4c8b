"""runbook: declarative YAML runbooks with go/no-go gates and contingency drills."""

__version__ = "0.1.0"

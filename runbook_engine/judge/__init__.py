"""Judging a run: the verdict, the readiness score, the go/no-go gate, recommendations.

These read the journal (and, for the gate, re-run checks through a callable they are
given); none of them runs a runbook on its own.
"""

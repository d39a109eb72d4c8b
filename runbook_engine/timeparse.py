"""Event times on the command line: '2026-12-01 10:00', with a zone or the local one."""

from __future__ import annotations

from datetime import datetime

from runbook_engine.errors import UserError


def parse_event_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"--event {text!r}: write a time like '2026-12-01 10:00' or '2026-12-01T10:00+01:00'"
        ) from None
    return value if value.tzinfo else value.astimezone()

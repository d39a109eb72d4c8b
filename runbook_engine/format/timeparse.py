"""Event times on the command line: '2026-12-01 10:00', with a zone or the local one."""

from __future__ import annotations

import os
from datetime import datetime

from runbook_engine.errors import UserError

EVENT_ENVVAR = "RUNBOOK_EVENT"


def parse_event_time(text: str, flag: str = "--event", envvar: str = EVENT_ENVVAR) -> datetime:
    """Parse an event time; a mistake names where the text came from.

    `--event` falls back to $RUNBOOK_EVENT, and a person who never typed `--event` would
    not know where to look. The text is taken to come from the variable when it equals
    the variable's value (were both given and equal, the variable is wrong too).
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        if os.environ.get(envvar) == text:
            given = f"{envvar}={text!r} (from the environment)"
        else:
            given = f"{flag} {text!r}"
        example = "'2026-12-01 10:00' or '2026-12-01T10:00+01:00'"
        raise UserError(f"{given}: write a time like {example}") from None
    return value if value.tzinfo else value.astimezone()

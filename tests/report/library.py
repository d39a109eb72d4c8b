"""An event's runbooks for checklist tests: a T-90m final-checks runbook of 25 mostly manual
steps in four sections (the kind people print), and the other phases of the day."""

from __future__ import annotations

from tests.conftest import Project


def _manual(text: str, owner: str) -> str:
    return f'      - {{manual: "{text}", owner: {owner}}}'


T90 = "\n".join(
    [
        """
kind: runbook
name: t-minus-90m
title: T-90m final checks
description: Room, people and stack, ninety minutes before the doors open.
offset: -90m
budget: 30m
secrets: [K2_API_KEY]
vars: {api: "http://127.0.0.1:8000"}
on_no_go: [api-down, projector-fails]
gate: {stable_for: 5m, interval: 30s}
sections:
  - name: Room and stage
    budget: 10m
    steps:""",
        _manual("Projector on, laptop mirrored at 1920x1080", "av"),
        _manual("Clicker paired and spare batteries on the lectern", "presenter"),
        _manual("Stage microphone tested at speaking volume", "av"),
        _manual("Backup laptop booted with the same demo build", "presenter"),
        _manual("Power strips taped down, no cable across the walkway", "av"),
        _manual("Water on the lectern", "host"),
        _manual("Room lights set to presentation scene", "av"),
        _manual("Spare HDMI and USB-C adapters on the desk", "av"),
        """  - name: People
    budget: 5m
    steps:""",
        _manual("Presenter on site and briefed on the run of show", "host"),
        _manual("Backup presenter reachable by phone", "host"),
        _manual("Support engineer logged in to the ops channel", "support"),
        _manual("Photographer knows the no-flash moments", "host"),
        _manual("Timekeeper has the cue cards", "host"),
        _manual("Everyone knows who calls NO-GO", "host"),
        """  - name: Stack
    budget: 10m
    steps:
      - name: API answers healthy
        check: http
        with:
          url: "{{ vars.api }}/health"
          headers: {X-API-Key: "{{ secrets.K2_API_KEY }}"}
        expect: [status == 200, json.status == "healthy"]
      - name: Demo data is loaded
        check: shell
        with: {command: "test -s data/orders.parquet"}
      - name: Dashboard renders under a second
        check: http
        with: {url: "{{ vars.api }}/dashboard"}
        expect: [status == 200, elapsed_ms < 1000]
        severity: warning""",
        _manual("Dashboard open in a full-screen browser tab", "presenter"),
        _manual("Notifications off on the demo laptop", "presenter"),
        _manual("Wi-Fi and wired network both connected", "support"),
        """  - name: Final
    budget: 5m
    steps:""",
        _manual("Recording started and audio levels checked", "av"),
        _manual("Slides on the title slide", "presenter"),
        _manual("Stopwatch ready for the demo segment", "host"),
        _manual("Doors-open call made to the venue", "host"),
        _manual("Go/no-go call held with presenter, AV and support", "host"),
    ]
)

OTHERS = {
    "t-minus-2h": """
kind: runbook
name: t-minus-2h
title: T-2h environment setup
offset: -2h
budget: 20m
sections:
  - name: Infrastructure
    budget: 10m
    steps:
      - name: Stack is up
        action: shell
        with: {command: "true"}
      - manual: Venue network credentials tested
        owner: support
""",
    "t-minus-30m": """
kind: runbook
name: t-minus-30m
title: T-30m warm-up
offset: -30m
sections:
  - name: Warm caches
    steps:
      - name: Dashboard warmed
        check: shell
        with: {command: "true"}
""",
    "t-minus-5m": """
kind: runbook
name: t-minus-5m
title: T-5m last look
offset: -5m
sections:
  - name: Last look
    steps:
      - manual: Presenter has the clicker
        owner: presenter
""",
    "smoke": """
kind: runbook
name: smoke
title: Smoke test (any time, no offset)
sections:
  - name: Smoke
    steps:
      - name: Shell works
        check: shell
        with: {command: "true"}
""",
}

CONTINGENCIES = {
    "api-down": """
kind: contingency
name: api-down
title: API down
symptoms: /health answers 5xx or nothing
rto: 3m
detect:
  - name: API answers
    check: http
    with: {url: "http://127.0.0.1:8000/health"}
recover:
  - name: Restart the API
    action: shell
    with: {command: "true"}
verify:
  - name: API is healthy again
    check: http
    with: {url: "http://127.0.0.1:8000/health"}
    expect: [status == 200]
fallback:
  - manual: Switch to the recorded demo
    owner: presenter
""",
    "projector-fails": """
kind: contingency
name: projector-fails
title: Projector fails
symptoms: Black screen or flicker on the main screen
rto: 2m
detect:
  - manual: Confirm the screen is black with the venue AV
    owner: av
fallback:
  - manual: Move to the backup screen and mirror the backup laptop
    owner: av
""",
}


def write_event(project: Project) -> None:
    """The whole event: four timed runbooks, one untimed, two contingencies."""
    project.runbook("t-minus-90m", T90)
    for name, text in OTHERS.items():
        project.runbook(name, text)
    for name, text in CONTINGENCIES.items():
        project.write(f"runbooks/contingencies/{name}.yaml", text)

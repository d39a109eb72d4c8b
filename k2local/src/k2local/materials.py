"""Backup materials captured from the live stack: the demo's fallbacks, in miniature.

The real team records a video, takes screenshots and saves an executed notebook. Here
the same three things are captured from the running API so the readiness runbooks have
real files to check:

- ``screenshots/NN-name.svg``: one picture per demo view, the API's answer drawn as text
  (SVG opens in any browser, so it can be shown full-screen like a screenshot);
- ``notebook-with-outputs.ipynb``: a notebook (nbformat 4) whose cells are the demo's
  queries, saved with the outputs they produced;
- ``recording-standin.md``: a timed transcript of the capture, standing in for the
  recorded video (it says so at the top).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from k2local.home import Home
from k2local.stack import Config, StackError

PER_SYMBOL = " FROM trades GROUP BY symbol ORDER BY symbol"

# (file stem, title, method, path, body): what the demo shows, in the order it shows it.
VIEWS: list[tuple[str, str, str, str, dict[str, str] | None]] = [
    ("01-health", "Platform health", "GET", "/health", None),
    ("02-symbols", "Symbols in the lakehouse", "GET", "/v1/symbols", None),
    (
        "03-live-trades",
        "Trades in the last minute",
        "GET",
        "/v1/trades/recent?seconds=60&limit=5",
        None,
    ),
    ("04-latest-btc", "Latest BTCUSDT trades", "GET", "/v1/trades?symbol=BTCUSDT&limit=5", None),
    ("05-snapshots", "Iceberg snapshots", "GET", "/v1/snapshots?limit=5", None),
    (
        "06-time-travel",
        "Time travel to the first snapshot",
        "GET",
        "/v1/trades/as-of?snapshot_id={first}",
        None,
    ),
    (
        "07-hybrid-query",
        "Hybrid query: trades per symbol",
        "POST",
        "/v1/query",
        {"sql": "SELECT symbol, count(*) AS trades, avg(price) AS avg_price" + PER_SYMBOL},
    ),
    (
        "08-price-range",
        "Price range per symbol",
        "POST",
        "/v1/query",
        {"sql": "SELECT symbol, min(price) AS low, max(price) AS high" + PER_SYMBOL},
    ),
    (
        "09-buy-sell",
        "Buy and sell volume",
        "POST",
        "/v1/query",
        {
            "sql": "SELECT side, round(sum(quantity), 4) AS volume"
            " FROM trades GROUP BY side ORDER BY side"
        },
    ),
    ("10-metrics", "Platform metrics (degradation, lag, rows)", "GET", "/metrics", None),
]
METRIC_PREFIXES = (
    "k2_degradation_level",
    "k2_consumer_lag",
    "k2_iceberg",
    "k2_feed_last",
    "k2_component_up",
)


def _fetch(
    base: str, method: str, path: str, body: dict[str, Any] | None, key: str
) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("X-API-Key", key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        raise StackError(
            f"cannot reach the API at {base} ({exc}); start the stack first", code=1
        ) from None


def _pretty(path: str, text: str) -> str:
    if path == "/metrics":
        lines = [ln for ln in text.splitlines() if ln.startswith(METRIC_PREFIXES)]
        return "\n".join(lines)
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


def _svg(title: str, request: str, body: str) -> str:
    lines = body.splitlines()[:48]
    height = 90 + 18 * len(lines)
    rows = "\n".join(
        f'  <text x="24" y="{84 + 18 * i}" xml:space="preserve">{escape(line[:110])}</text>'
        for i, line in enumerate(lines)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="{height}" '
        f'font-family="monospace" font-size="14">\n'
        f'  <rect width="100%" height="100%" fill="#0f172a"/>\n'
        f'  <text x="24" y="32" fill="#f8fafc" font-size="20" font-family="sans-serif">'
        f"{escape(title)}</text>\n"
        f'  <text x="24" y="56" fill="#94a3b8">{escape(request)}</text>\n'
        f'  <g fill="#e2e8f0">\n{rows}\n  </g>\n</svg>\n'
    )


def _notebook(cells: list[tuple[str, str, str]]) -> dict[str, Any]:
    nb_cells: list[dict[str, Any]] = []
    for n, (title, code, output) in enumerate(cells, 1):
        nb_cells.append({"cell_type": "markdown", "metadata": {}, "source": [f"## {title}"]})
        nb_cells.append(
            {
                "cell_type": "code",
                "execution_count": n,
                "metadata": {},
                "source": [code],
                "outputs": [
                    {
                        "output_type": "execute_result",
                        "execution_count": n,
                        "metadata": {},
                        "data": {"text/plain": [output]},
                    }
                ],
            }
        )
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "cells": nb_cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    }


def capture(home: Home, out: Path) -> dict[str, Any]:
    """Capture every demo view from the running API into `out`; returns what was written."""
    key = os.environ.get("K2_API_KEY")
    if not key:
        raise StackError("K2_API_KEY is not set: the capture reads /v1 endpoints", code=2)
    base = f"http://127.0.0.1:{Config.load(home).port}"
    shots = out / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    status, snaps = _fetch(base, "GET", "/v1/snapshots?limit=100000", None, key)
    if status != 200:
        raise StackError(f"/v1/snapshots answered {status}: {snaps[:200]}", code=1)
    listed = json.loads(snaps).get("snapshots") or [{}]
    first = listed[0].get("snapshot_id", 0)
    started = time.monotonic()
    cells: list[tuple[str, str, str]] = []
    transcript = [
        "# Demo recording (stand-in)",
        "",
        "A timed transcript of the demo views captured from the live local stack. The real",
        "team records a screen video; this file stands in for it on the local environment.",
        "",
        f"Captured {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC from {base}.",
        "",
    ]
    for stem, title, method, path_tpl, body in VIEWS:
        path = path_tpl.format(first=first)
        status, text = _fetch(base, method, path, body, key)
        shown = _pretty(path, text)
        request = f"{method} {path}" + (f"  {json.dumps(body)}" if body else "") + f"  -> {status}"
        (shots / f"{stem}.svg").write_text(_svg(title, request, shown), encoding="utf-8")
        code = f"api.{method.lower()}({path!r}" + (f", json={body!r}" if body else "") + ")"
        cells.append((title, code, shown[:4000]))
        transcript.append(f"- {time.monotonic() - started:6.2f}s  {title}: {request}")
    notebook = out / "notebook-with-outputs.ipynb"
    notebook.write_text(json.dumps(_notebook(cells), indent=1), encoding="utf-8")
    recording = out / "recording-standin.md"
    recording.write_text("\n".join(transcript) + "\n", encoding="utf-8")
    return {
        "out": str(out),
        "screenshots": len(VIEWS),
        "notebook": str(notebook),
        "recording": str(recording),
    }

#!/usr/bin/env bash
# Regenerate the sample reports and checklists shown in docs/reports.md, by running the
# real commands on docs/samples/runbooks/ against a local web server started here:
#   docs/samples/report.{md,html,xml} + journal.json          a GO run with a warning
#   docs/samples/report-no-go.{md,html,xml} + journal-no-go.json  the same with the site down
#   docs/samples/checklist.{md,html}                            `runbook checklist doors-open`
#   docs/samples/report.png                                     a screenshot (when chromium is installed)
# and splices the Markdown samples into docs/reports.md between <!-- sample:NAME --> markers.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-.venv/bin/python}"
RUNBOOK=(.venv/bin/runbook)
OUT=docs/samples
DIR=$OUT/runbooks

port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$PY" -m http.server "$port" --bind 127.0.0.1 --directory "$OUT/site" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health.json')" 2>/dev/null && break
    sleep 0.1
done

site="site=http://127.0.0.1:$port"
# The event is a quarter of an hour from now, so this T-15m runbook runs on time.
event="$("$PY" -c 'from datetime import UTC, datetime, timedelta
print((datetime.now(UTC) + timedelta(minutes=15)).strftime("%Y-%m-%d %H:%M:%S+00:00"))')"
# Exit 0 is GO, 1 is NO-GO: both are samples we want.
"${RUNBOOK[@]}" run doors-open --dir "$DIR" --var "$site" --confirm-manual --quiet --operator ana \
    --event "$event" -r "$OUT/journal.json" || [ $? -eq 1 ]

kill "$server"
wait "$server" 2>/dev/null || true
"${RUNBOOK[@]}" run doors-open --dir "$DIR" --var "$site" --confirm-manual --quiet --operator ana \
    --event "$event" \
    -r "$OUT/journal-no-go.json" || [ $? -eq 1 ]
# Samples should not carry the name of the machine that made them (the runs above name
# their operator, so no login name appears either): set it in the journals, then render
# every report from them (what `runbook report` is for).
"$PY" - "$OUT/journal.json" "$OUT/journal-no-go.json" <<'PYEOF'
import json
import sys
from pathlib import Path

for name in sys.argv[1:]:
    path = Path(name)
    journal = json.loads(path.read_text(encoding="utf-8"))
    journal["host"] = "ops-laptop"
    path.write_text(json.dumps(journal, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
PYEOF
"${RUNBOOK[@]}" report "$OUT/journal.json" -o "$OUT/report.md" -o "$OUT/report.html" -o "$OUT/report.xml"
"${RUNBOOK[@]}" report "$OUT/journal-no-go.json" \
    -o "$OUT/report-no-go.md" -o "$OUT/report-no-go.html" -o "$OUT/report-no-go.xml"

"${RUNBOOK[@]}" checklist doors-open --dir "$DIR" -o "$OUT/checklist.md" -o "$OUT/checklist.html"
"${RUNBOOK[@]}" checklist site-down --dir "$DIR" -o "$OUT/checklist-site-down.md"


if command -v chromium >/dev/null; then
    profile="$(mktemp -d)"
    chromium --headless --no-sandbox --disable-gpu --disable-quic --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
        --screenshot="$OUT/report.png" --window-size=1200,900 "file://$PWD/$OUT/report-no-go.html" \
        >/dev/null 2>&1
    rm -rf "$profile"
else
    echo "make-doc-samples: chromium not found, report.png not refreshed (scripts/ci/install-browser.sh)" >&2
fi

# The runs' history store (gitignored) is not a sample.
rm -rf "$OUT/.runbook"

"$PY" - "$OUT" docs/reports.md <<'PYEOF'
"""Replace the text between <!-- sample:NAME --> and <!-- /sample --> with the file NAME."""
import re
import sys
from pathlib import Path

samples, doc = Path(sys.argv[1]), Path(sys.argv[2])
text = doc.read_text(encoding="utf-8")


def splice(match: re.Match[str]) -> str:
    body = (samples / match.group(1)).read_text(encoding="utf-8").rstrip("\n")
    return f"<!-- sample:{match.group(1)} -->\n\n````markdown\n{body}\n````\n\n<!-- /sample -->"


doc.write_text(re.sub(r"<!-- sample:(\S+) -->.*?<!-- /sample -->", splice, text, flags=re.S), encoding="utf-8")
PYEOF
echo "make-doc-samples: wrote $(ls "$OUT" | grep -v -e runbooks -e site | tr '\n' ' ')"

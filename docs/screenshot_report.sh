#!/usr/bin/env bash
# Open a report in headless Chromium and save a full-page screenshot (a check that the page
# renders in a real browser). Needs Chromium: `apt-get install chromium` on Debian/Ubuntu.
#   bash docs/screenshot_report.sh reports/memory shot.png
set -euo pipefail
report=${1:?usage: screenshot_report.sh REPORT_DIR OUT.png [HEIGHT]}
out=${2:?usage: screenshot_report.sh REPORT_DIR OUT.png [HEIGHT]}
height=${3:-4000}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z "$browser" ]]; then
  echo "no Chromium found: install it (apt-get install chromium)" >&2
  exit 1
fi
page="$(cd "$report" && pwd)/index.html"
[[ -f "$page" ]] || { echo "$page: no such file (build it with pmarl-bench report)" >&2; exit 1; }
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size="1200,$height" --screenshot="$out" "file://$page" 2>/dev/null
echo "screenshot: $out"

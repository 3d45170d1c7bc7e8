#!/usr/bin/env bash
# The browser test: builds the page if needed, then drives it in headless Chromium on
# SwiftShader (web/test_page.py). Needs Debian's chromium and chromium-driver:
#   sudo apt-get install -y chromium chromium-driver
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/bin/chromedriver ] || { echo "needs chromium and chromium-driver: sudo apt-get install -y chromium chromium-driver" >&2; exit 2; }
venv=web/.tools/venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import selenium" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "selenium>=4.20,<5"
fi
[ -f web/dist/dualmcmc_bg.wasm ] || ./web/build.sh
exec "$venv/bin/python" web/test_page.py "$@"

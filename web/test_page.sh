#!/usr/bin/env bash
# The browser test: (re)builds the page, then drives it in headless Chromium on SwiftShader
# (web/test_page.py; --help lists its options). Needs Chromium and its driver (Debian:
# sudo apt-get install -y chromium chromium-driver), python3-venv, and network access to
# PyPI once (Selenium goes into web/.tools/venv).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=web/.tools/venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import selenium" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "selenium>=4.20,<5"
fi
case " $* " in
  *" -h "*|*" --help "*) exec "$venv/bin/python" web/test_page.py --help ;;
esac
./web/build.sh   # a no-op within seconds when nothing changed; never tests a stale page
exec "$venv/bin/python" web/test_page.py "$@"

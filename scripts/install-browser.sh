#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver where they are missing: the
# browser test (tests/test_ws_browser.py) opens the WebSocket example in
# headless Chromium. Does nothing when both are already on the PATH.
set -euo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install-browser: no apt-get here; install chromium and chromedriver yourself" >&2
    echo "install-browser: (without them the browser test is skipped)" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
echo "install-browser: installing chromium and chromium-driver (Debian packages)" >&2
if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; then
    $sudo apt-get update -q >/dev/null
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null
fi

#!/usr/bin/env bash
# Install Chromium from Debian packages, for the test that checks the HTML report in
# a real headless browser (driven by Playwright, which brings no browser of its own).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
echo "[browser] installing chromium"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

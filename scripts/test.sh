#!/usr/bin/env bash
# The project's test command: installs what the tests need (headless Chromium from
# Debian's packages, for the report-in-a-browser test) and runs `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing chromium (Debian package) for the browser test"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: the browser test needs Chromium: sudo apt-get install chromium" >&2
    exit 1
  fi
fi

cargo test "$@"

#!/usr/bin/env bash
# Make sure a headless-capable Chromium is installed for the browser test (tests/test_browser.py).
# Idempotent: does nothing when a chromium binary is already on PATH. Otherwise installs Debian's
# `chromium` package with apt-get (through sudo when not root). Exits non-zero, saying why, if it cannot.
set -euo pipefail

find_chromium() {
    local name
    for name in chromium chromium-browser google-chrome-stable google-chrome; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

if bin="$(find_chromium)"; then
    echo "ensure_chromium: found $bin ($("$bin" --version 2>/dev/null || echo 'version unknown')); nothing to do"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: no chromium binary and no apt-get; install Chromium by hand (the browser test skips without it)" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "ensure_chromium: no chromium binary; installing it needs root and passwordless sudo is not available." >&2
    echo "ensure_chromium: run: sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium" >&2
    exit 1
fi

echo "ensure_chromium: no chromium binary; installing Debian's chromium package with apt-get"
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update -q; then
    echo "ensure_chromium: apt-get update failed (is the package registry reachable?)" >&2
    exit 1
fi
if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends chromium; then
    echo "ensure_chromium: apt-get install chromium failed" >&2
    exit 1
fi

if bin="$(find_chromium)"; then
    echo "ensure_chromium: installed $bin ($("$bin" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi
echo "ensure_chromium: apt-get reported success but no chromium binary is on PATH" >&2
exit 1

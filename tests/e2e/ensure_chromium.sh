#!/bin/sh
# Make sure Debian's chromium is installed for the browser test (tests/e2e/test_browser.py).
#
# Idempotent: does nothing when chromium is already there. Otherwise installs it with apt-get,
# which needs root; without root it says what to run and exits 1. Playwright drives this
# browser through `executable_path`, so `playwright install` (a download) is never needed.
# Also installs the fonts the screenshot needs (Liberation, Noto Color Emoji) when missing.
set -eu

CHROMIUM="${NEXUS_CHROMIUM:-/usr/bin/chromium}"
PACKAGES="chromium fonts-liberation fonts-noto-color-emoji"

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=""
for package in $PACKAGES; do
    installed "$package" || missing="$missing $package"
done

if [ -x "$CHROMIUM" ] && [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    if [ -x "$CHROMIUM" ]; then
        echo "ensure_chromium: optional packages missing:$missing (screenshots may lack glyphs);" \
             "install them with: sudo apt-get install -y$missing" >&2
        exit 0
    fi
    echo "ensure_chromium: $CHROMIUM is missing and the browser test needs it." >&2
    echo "ensure_chromium: run as root (Debian/Ubuntu): apt-get update &&" \
         "apt-get install -y --no-install-recommends $PACKAGES" >&2
    exit 1
fi

echo "ensure_chromium: installing$missing with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # the package list is meant to split into words
apt-get install -y -q --no-install-recommends $missing

if [ ! -x "$CHROMIUM" ]; then
    echo "ensure_chromium: apt-get finished but $CHROMIUM is still missing." >&2
    exit 1
fi

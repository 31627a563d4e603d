#!/bin/sh
# Install the Debian packages a part of Nexus needs, when any is missing.
#
#     sh scripts/ensure_packages.sh "What needs them" PACKAGE...
#
# Idempotent: does nothing when every package is installed. Otherwise installs the missing
# ones with apt-get, which needs root; without root it prints the exact command to run and
# exits 1, so `make` stops with that sentence instead of failing tests one by one.
set -eu

what="$1"
shift

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=""
for package in "$@"; do
    installed "$package" || missing="$missing $package"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_packages: $what need:$missing" >&2
    echo "ensure_packages: run as root (Debian/Ubuntu): apt-get update &&" \
         "apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi

echo "ensure_packages: installing$missing for $what" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # the package list is meant to split into words
apt-get install -y -q --no-install-recommends $missing

#!/bin/sh
# Make sure the system programs the document tests drive are installed: tesseract (with the
# English, German and French models), ghostscript and unpaper for OCR, LibreOffice (no GUI)
# for Office -> PDF and the legacy formats.
#
# Idempotent: does nothing when every package is there. Otherwise installs the missing ones
# with apt-get, which needs root; without root it prints the command to run and exits 1, so
# `make test` stops with that sentence instead of failing tests one by one.
set -eu

PACKAGES="tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra ghostscript unpaper
libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui"

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=""
for package in $PACKAGES; do
    installed "$package" || missing="$missing $package"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_tools: the OCR and conversion tests need:$missing" >&2
    echo "ensure_tools: run as root (Debian/Ubuntu): apt-get update &&" \
         "apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi

echo "ensure_tools: installing$missing with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # the package list is meant to split into words
apt-get install -y -q --no-install-recommends $missing

for program in tesseract gs unpaper soffice; do
    command -v "$program" >/dev/null 2>&1 && continue
    echo "ensure_tools: apt-get finished but $program is still missing." >&2
    exit 1
done

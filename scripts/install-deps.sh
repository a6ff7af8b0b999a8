#!/usr/bin/env bash
# Installs every Debian package pagemill needs to build, test, run the demo
# and run the benchmarks. Idempotent: does nothing when all are present, and
# runs `apt-get update` only when a package is missing from the lists.
#
# PM_LANGS: extra Tesseract languages to install, space-separated
# Tesseract codes (default "deu", which the tests read a German page
# with): PM_LANGS="deu fra chi_sim" installs tesseract-ocr-deu,
# tesseract-ocr-fra and tesseract-ocr-chi-sim. English and OSD are always
# installed. Every language a profile names must be installed, or
# `config check`, `serve` and `convert` refuse the configuration.
#
# --runtime: only what an installed pagemill needs to run (no compilers,
# headers, test or benchmark tools): the shared libraries it links, and
# the data it reads at run time (Tesseract's data, the sRGB ICC profile,
# DejaVu Sans, chart.js). docs/operations.md, Install.
set -euo pipefail

PM_LANGS="${PM_LANGS-deu}"

RUNTIME_PACKAGES=(
    # the libraries the binary links (Debian 12 names)
    libtiff6 liblept5 libtesseract5 libvips42 libsqlite3-0 libuv1
    libjansson4 libinih1 libqpdf29 libssl3 libcairo2 libfontconfig1
    libpoppler-glib8 libmicrohttpd12 libsystemd0 libglib2.0-0 libpq5
    # run-time data: OCR, the PDF/A colour profile, the invoice font, the
    # dashboard's charts
    tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd icc-profiles-free
    fonts-dejavu-core libjs-chart.js
)

PACKAGES=(
    # build
    build-essential cmake pkg-config git clang clang-format libclang-rt-dev
    # the Debian package (scripts/deb.sh): dpkg-shlibdeps computes its
    # Depends, lintian checks it
    dpkg-dev lintian
    # libraries
    libtiff-dev libleptonica-dev libtesseract-dev libvips-dev
    libsqlite3-dev libuv1-dev libjansson-dev libinih-dev libcmocka-dev
    libqpdf-dev libjpeg-dev libpng-dev libopenjp2-7-dev libssl-dev
    libcairo2-dev libfontconfig-dev
    # the PostgreSQL catalog backend (catalog/pg_*.c): libpq to build, and
    # the server its tests start privately (tests/lib/pgtest.c)
    libpq-dev postgresql
    # PDF input: pages that are not one scanned image are rendered
    libpoppler-glib-dev
    # the web interface of `pagemill serve`, its dashboard's charts (served
    # locally) and the browser its test drives
    libmicrohttpd-dev libjs-chart.js chromium
    # sd_notify(3) under systemd (Type=notify, the watchdog); the unit is
    # checked with systemd-analyze verify when systemd is installed
    libsystemd-dev
    # OCR data and colour profile for PDF/A
    tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd icc-profiles-free
    # invoice PDFs: the font cairo draws them in
    fonts-dejavu-core
    # PDF checks in tests, peers in benchmarks
    poppler-utils qpdf ocrmypdf time img2pdf
    # PDF/A-1b validated by Apache PDFBox Preflight in the tests (a Java
    # runtime and the two libraries Preflight loads that Java 17 lacks)
    default-jre-headless libpdfbox2-java libactivation-java libjaxb-api-java
    # the TIFF master checks in tests (tiffinfo)
    libtiff-tools
    # benchmark tooling: the sqlite3 shell fills the billing benchmark's
    # catalog; jq reads pagemill's JSON (bench-service, bench-billing)
    sqlite3 jq
    # `make stress`: the suite beside two CPU hogs
    stress-ng
    # the web interface's tests parse /metrics with Prometheus's parser and
    # speak HTTPS to it with a certificate they make; a bounded load test
    # on loopback with wrk
    python3-prometheus-client curl openssl wrk
)

case "${1-}" in
--runtime) PACKAGES=("${RUNTIME_PACKAGES[@]}") ;;
"") ;;
*)
    echo "usage: $0 [--runtime]" >&2
    exit 2
    ;;
esac

# Tesseract code to Debian package: lower case, '_' as '-'.
for lang in $PM_LANGS; do
    lang="${lang,,}"
    PACKAGES+=("tesseract-ocr-${lang//_/-}")
done

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
        grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

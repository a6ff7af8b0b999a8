#!/usr/bin/env bash
# Builds the Debian package of this tree (CPack DEB, CMakeLists.txt) and
# checks it; CI runs it (.ci/run). docs/operations.md, Debian package.
#
#   bash scripts/deb.sh [--build DIR] [--no-install]
#
# 1. Configures DIR (default build-deb) as a release build for /usr
#    (-DBUILD_TESTING=OFF: no test hooks in the binary), builds pagemill
#    and runs `cpack -G DEB`: DIR/pagemill_<version>_<arch>.deb.
# 2. `dpkg-deb -c` lists the binary, the man page, the configuration,
#    the unit, the copyright and the sample pages; the control file
#    depends on the libraries (dpkg-shlibdeps) and the run-time data.
# 3. lintian finds no error and no warning (the package's overrides,
#    config/deb/lintian-overrides, say why for each one).
# 4. Installs the package into a fresh root and removes it again: a
#    copy-on-write view of this machine (overlayfs with / as its lower
#    layer, in a private mount namespace, with fresh /run and /tmp), so
#    nothing of it, users included, changes on this machine. Checks the
#    pagemill user and folders postinst makes, the conffile's group, the
#    unit enabled, `pagemill selftest` as the pagemill user, a second
#    install (upgrade), remove (user and conffile kept) and purge
#    (everything gone). Needs root (mount); --no-install skips it.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-deb
install_test=1
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build="$2"; shift 2 ;;
    --no-install) install_test=0; shift ;;
    *) echo "usage: $0 [--build DIR] [--no-install]" >&2; exit 2 ;;
    esac
done

fail() {
    echo "deb: FAILED: $*" >&2
    exit 1
}

echo "== deb: build"
# Debian's hardening flags (dpkg-buildflags), bindnow included
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cflags="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CFLAGS)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_INSTALL_PREFIX=/usr -DPM_UNIT_DIR=/lib/systemd/system \
    -DBUILD_TESTING=OFF -DPM_DEB=ON -DPM_WERROR=ON \
    -DCMAKE_C_FLAGS="$cflags" \
    -DCMAKE_EXE_LINKER_FLAGS="$(dpkg-buildflags --get LDFLAGS)" >/dev/null
cmake --build "$build" -j "$(nproc)" --target pagemill
rm -f "$build"/pagemill_*.deb
(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$build"/pagemill_*.deb)
deb=$(realpath "$deb")
echo "deb: $deb"

echo "== deb: contents"
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/pagemill ./usr/share/man/man1/pagemill.1.gz \
    ./etc/pagemill/pagemill.ini ./lib/systemd/system/pagemill.service \
    ./usr/share/doc/pagemill/copyright ./usr/share/doc/pagemill/changelog.gz \
    ./usr/share/doc/pagemill/operations.md \
    ./usr/share/doc/pagemill/examples/pagemill-alert.sh \
    ./usr/share/pagemill/samples/selftest-words.txt \
    ./usr/share/pagemill/samples/p001.tif ./usr/share/pagemill/samples/p005.tif; do
    grep -q " $f\$" <<<"$contents" || fail "the package has no $f"
done
# The sample configuration's alert command: there and executable.
grep -q '^-rwxr-xr-x .* ./usr/share/doc/pagemill/examples/pagemill-alert.sh$' \
    <<<"$contents" || fail "pagemill-alert.sh is not an executable file"
depends=$(dpkg-deb -f "$deb" Depends)
for p in adduser tesseract-ocr-eng tesseract-ocr-osd icc-profiles-free \
    libtesseract5 liblept5 libvips42 libqpdf29 libsqlite3-0 libpq5; do
    grep -q "$p" <<<"$depends" || fail "Depends lacks $p: $depends"
done
# Extracted, not piped into grep -q: with pipefail, a reader that stops
# early gives its writer SIGPIPE, and the check failed on a good package.
rm -rf "$build/control"
dpkg-deb -e "$deb" "$build/control"
[ -s "$build/control/conffiles" ] || fail "the package has no conffiles"

echo "== deb: lintian"
lintian --fail-on error,warning "$deb" ||
    fail "lintian reports errors or warnings"
lintian --display-info "$deb" || true # the info tags, for the log

[ "$install_test" = 1 ] || exit 0
[ "$(id -u)" = 0 ] || fail "the install test needs root (a private mount namespace and overlayfs); run as root or give --no-install"

echo "== deb: install into a fresh root"
work=$(mktemp -d /var/tmp/pagemill-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/upper" "$work/work" "$work/root"
unshare --mount --propagation private sh -euc '
    w=$1
    mount -t overlay overlay \
        -o "lowerdir=/,upperdir=$w/upper,workdir=$w/work" "$w/root"
    mount -t proc proc "$w/root/proc"
    mount --rbind /dev "$w/root/dev"
    mount -t tmpfs tmpfs "$w/root/run"
    mount -t tmpfs tmpfs "$w/root/tmp"
    cp "$2" "$w/root/tmp/pagemill.deb"
    cp scripts/deb-root-test.sh "$w/root/tmp/"
    chroot "$w/root" sh /tmp/deb-root-test.sh /tmp/pagemill.deb
' sh "$work" "$deb"
echo "== deb: passed"

#!/bin/sh
# Run by scripts/deb.sh inside the fresh root it makes (never on a real
# machine: it installs and purges the package): installs the package,
# checks what postinst made and `pagemill selftest` as the pagemill user,
# installs it again over an edited configuration (an upgrade), removes
# it, then purges it and checks that nothing of it is left.
set -eu
deb=$1
unit=/lib/systemd/system/pagemill.service
wants=/etc/systemd/system/multi-user.target.wants/pagemill.service

fail() {
    echo "deb: FAILED: $*" >&2
    exit 1
}

dpkg_run() {
    dpkg "$@" >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg $*"; }
}

# man-db's trigger would index every man page of this root on each dpkg
# run (minutes); this root is thrown away, so it is turned off here
rm -f /var/lib/man-db/auto-update

echo "deb: dpkg -i"
dpkg_run -i "$deb"
getent passwd pagemill | grep -q ':/var/lib/pagemill:/usr/sbin/nologin$' ||
    fail "no pagemill user with home /var/lib/pagemill: $(getent passwd pagemill)"
[ "$(id -u pagemill)" -lt 1000 ] || fail "pagemill is not a system user"
for d in /var/lib/pagemill /srv/pagemill /srv/pagemill/spool \
    /srv/pagemill/out /srv/pagemill/hot/scans /srv/pagemill/hot/colour; do
    got=$(stat -c %U:%G:%a "$d") || fail "postinst did not make $d"
    [ "$got" = pagemill:pagemill:750 ] || fail "$d is $got"
done
got=$(stat -c %U:%G:%a /etc/pagemill/pagemill.ini)
[ "$got" = root:pagemill:640 ] || fail "/etc/pagemill/pagemill.ini is $got"
[ -f "$unit" ] || fail "no $unit"
[ "$(readlink "$wants")" = "$unit" ] || fail "the unit is not enabled ($wants)"
pagemill config check /etc/pagemill/pagemill.ini
alert=/usr/share/doc/pagemill/examples/pagemill-alert.sh # the sample's command
[ -f "$alert" ] && [ -x "$alert" ] || fail "$alert is not an executable file"

echo "deb: pagemill selftest as the pagemill user"
runuser -u pagemill -- pagemill selftest --config /etc/pagemill/pagemill.ini ||
    fail "pagemill selftest"
[ ! -e /var/lib/pagemill/pagemill.db ] || fail "selftest made a catalog"

echo "deb: dpkg -i again over an edited configuration"
echo "; edited here" >>/etc/pagemill/pagemill.ini
dpkg_run -i "$deb"
grep -q "^; edited here" /etc/pagemill/pagemill.ini ||
    fail "the upgrade replaced the edited configuration"

echo "deb: dpkg -r"
dpkg_run -r pagemill
[ ! -e /usr/bin/pagemill ] || fail "remove left /usr/bin/pagemill"
[ ! -e "$unit" ] || fail "remove left $unit"
getent passwd pagemill >/dev/null || fail "remove took the pagemill user"
[ -f /etc/pagemill/pagemill.ini ] || fail "remove took the configuration"

echo "deb: dpkg --purge"
dpkg_run --purge pagemill
for p in /etc/pagemill /var/lib/pagemill /srv/pagemill /usr/share/pagemill \
    /usr/share/doc/pagemill "$wants"; do
    [ ! -e "$p" ] && [ ! -L "$p" ] || fail "purge left $p"
done
! getent passwd pagemill >/dev/null || fail "purge left the pagemill user"
! getent group pagemill >/dev/null || fail "purge left the pagemill group"
! dpkg-query -W -f='${Status}' pagemill 2>/dev/null | grep -q installed ||
    fail "dpkg still lists pagemill"
echo "deb: installed, checked, upgraded, removed and purged"

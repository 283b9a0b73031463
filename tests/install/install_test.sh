#!/usr/bin/env bash
# `meson install` into a scratch DESTDIR, then what systemd and vfgatectl make of the result:
# every file in its place, the unit verified, the vfgate group and /run/vfgate created inside
# the scratch root, the configs valid, and an edited config kept by the next install. TAP.
#   install_test.sh BUILD_DIR     (the install paths come in the environment: meson.build)
set -u
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../cli/lib.sh"
root=$tmp/root
unit=$root$UNITDIR/vfgated.service
ctl=$root$BINDIR/vfgatectl

# The build is done when tests run: install it, never rebuild it from here.
check "meson install --destdir" 0 meson install -C "$build" --no-rebuild --destdir "$root"

for f in "$UNITDIR/vfgated.service" "$TMPFILESDIR/vfgate.conf" "$SYSUSERSDIR/vfgate.conf" \
    "$MODULESLOADDIR/vfgate.conf" "$SYSCTLDIR/60-vfgate.conf" "$CONFIG" \
    "$EXAMPLES/vfgate.yaml" "$EXAMPLES/demo.yaml" "$EXAMPLES/nfv-host.yaml"; do
    check "installed: $f" 0 test -f "$root$f"
done
# The programs the unit and vfgated run; vfgated comes from control/meson.build.
for f in "$SBINDIR/vfgated" "$BINDIR/vfgatectl" "$BINDIR/vfgate-dataplane" "$BINDIR/vfgate-vm"; do
    check "installed, executable: $f" 0 test -x "$root$f"
done
check "no @VAR@ left unsubstituted" 1 grep -rn '@[A-Z_]*@' "$unit" "$root$CONFIG"

check "ExecStart: the installed vfgated on the installed config" 0 \
    grep -qxF "ExecStart=$SBINDIR/vfgated --foreground --config $CONFIG" "$unit"
check "the installed vfgated answers --help" 0 "$root$SBINDIR/vfgated" --help
expect "with the unit's --foreground" "$out" '^ +--foreground '
expect "and --config" "$out" '^ +-c,--config '
check "KillMode=process: a restart leaves the dataplane and guests running" 0 \
    grep -qx 'KillMode=process' "$unit"
check "no RuntimeDirectory=: it would be removed under the running dataplane" 1 \
    grep -q '^RuntimeDirectory' "$unit"

# systemd-analyze verify checks that ExecStart's program exists on this host, and 252's --root
# then also wants sysinit.target and /bin/kill inside the root: verify a copy whose ExecStart
# points into the scratch root (the path itself is checked above). Verify reports a bad key
# with exit 0 and a line on stderr, so that output must be empty.
mkdir -p "$tmp/verify"
sed "s|^ExecStart=/|ExecStart=$root/|" "$unit" >"$tmp/verify/vfgated.service"
check "systemd-analyze verify vfgated.service" 0 \
    systemd-analyze verify --man=no "$tmp/verify/vfgated.service"
[ -z "$out$err" ]; expect "and it says nothing" "$?" '^0$'
sed 's/^KillMode=process/KillMode=procss/' "$tmp/verify/vfgated.service" >"$tmp/verify/typo.service"
check "a typo in the unit..." 0 systemd-analyze verify --man=no "$tmp/verify/typo.service"
expect "...is reported, on stderr" "$err" 'Failed to parse kill mode'

# The group and the run directories, created by systemd's own tools inside the scratch root
# (chown needs root).
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$root/etc"
    check "systemd-sysusers creates the group" 0 systemd-sysusers --root="$root"
    gid=$(awk -F: '$1 == "vfgate" {print $3}' "$root/etc/group")
    expect "group vfgate in the root's /etc/group" "$gid" '^[0-9]+$'
    check "systemd-tmpfiles --create" 0 systemd-tmpfiles --create --root="$root"
    expect "/run/vfgate: 0750 root:vfgate" "$(stat -c '%a %u:%g' "$root/run/vfgate")" "^750 0:$gid$"
    expect "/run/vfgate/guests: 0700 root:root" "$(stat -c '%a %u:%g' "$root/run/vfgate/guests")" \
        '^700 0:0$'
else
    for what in sysusers tmpfiles; do
        n=$((n + 1))
        echo "ok $n - systemd-$what --root # SKIP chown needs root"
    done
fi
check "vfio-pci loaded at boot" 0 grep -qx 'vfio-pci' "$root$MODULESLOADDIR/vfgate.conf"
check "1024 2 MiB hugepages at boot" 0 \
    grep -qx 'vm.nr_hugepages = 1024' "$root$SYSCTLDIR/60-vfgate.conf"

# The configs, by the installed vfgatectl: the host's declares nothing until edited; its
# sketch, every line after 'version:' uncommented once, is valid too.
check "the installed config is valid" 0 "$ctl" validate "$root$CONFIG"
expect "and declares nothing" "$out" \
    ': valid: host .*: 0 uplinks, 0 PFs, 0 guests, 0 NICs, 0 rules$'
sed '/^version:/,$ s/^#//' "$root$CONFIG" >"$tmp/sketch.yaml"
check "its sketch, uncommented, is valid" 0 "$ctl" validate "$tmp/sketch.yaml"
expect "and declares a host" "$out" \
    ': valid: host nfv-host-1: 1 uplink, 1 PF, 2 guests, 2 NICs, 3 rules$'
check "the installed examples are valid" 0 "$ctl" validate -q "$root$EXAMPLES"/*.yaml

# An upgrade installs again: the host's config, edited, stays as it is.
echo "# edited" >>"$root$CONFIG"
check "meson install again (--only-changed)" 0 \
    meson install -C "$build" --no-rebuild --only-changed --destdir "$root"
check "the edited config is kept" 0 grep -qx '# edited' "$root$CONFIG"
check "the shipped copy is the pristine one" 1 grep -q '# edited' "$root$EXAMPLES/vfgate.yaml"

echo "1..$n"
[ "$failed" = 0 ]

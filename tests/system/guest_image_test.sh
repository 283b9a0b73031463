#!/usr/bin/env bash
# The guest image (scripts/guest-image) under QEMU with TCG (TAP output). It builds, or is reused
# from the cache. Booted from vmlinuz with two virtio NICs on taps in a namespace, placed on the
# PCI bus in the opposite order of the command line: the guest names them eth0, eth1 by PCI
# address and says so on the console, answers ping (IPv4, IPv6) on both and echoes TCP on port
# 7 byte for byte, and QMP system_powerdown makes QEMU exit by itself within 30 s after the
# guest prints VFGATE_GUEST_POWERDOWN. Booted from vmlinux (PVH) with a bad command line, it
# names each bad vfgate.ip, never claims to be up, and still powers off.
#
#   guest_image_test.sh SOURCE_ROOT
set -u
src=$1
. "$src/tests/system/tap.sh"
work=$(mktemp -d /tmp/vfgate-guest-image-XXXXXX)
ns=vfgate-gi-$$
qemu=
cleanup() {
    [ -n "$qemu" ] && kill "$qemu" 2>/dev/null && wait "$qemu" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    [ -z "${KEEP:-}" ] && rm -rf "$work"
}
trap cleanup EXIT
bail() { not_ok "$1" "${2:-}"; tap_done; exit 1; }

[ "$(id -u)" = 0 ] || bail "runs as root (network namespace, tap devices)"
start=$(date +%s)
image=$("$src/scripts/guest-image" 2>"$work/build.log") ||
    bail "scripts/guest-image builds the image" "$(tail -20 "$work/build.log")"
ok "scripts/guest-image builds or reuses the image ($(($(date +%s) - start)) s: $image)"
check "the image has vmlinuz, vmlinux, initrd.gz and its done marker" \
    test -s "$image/vmlinuz" -a -s "$image/vmlinux" -a -s "$image/initrd.gz" -a -f "$image/done"

ip netns add "$ns"
ip -n "$ns" link set lo up
for t in 0 1; do
    ip -n "$ns" tuntap add dev "gitap$t" mode tap
    ip -n "$ns" addr add "10.9.$t.1/24" dev "gitap$t"
    ip -n "$ns" link set "gitap$t" up
done
ip -n "$ns" addr add fd09::1/64 dev gitap0 nodad

# boot NAME KERNEL APPEND QEMU_ARGS...: starts QEMU in the namespace ($qemu, console
# $work/NAME.log, QMP $work/NAME.qmp); panic=-1 and -no-reboot make a dying /init end QEMU.
boot() {
    local name=$1 kernel=$2 append=$3
    shift 3
    booted=$(date +%s%N)
    ip netns exec "$ns" timeout -k 5 240 qemu-system-x86_64 -accel tcg -cpu max -machine q35 \
        -nodefaults -no-user-config -m 256 -smp 1 -display none -no-reboot \
        -kernel "$kernel" -initrd "$image/initrd.gz" -append "console=ttyS0 quiet panic=-1 $append" \
        -serial "file:$work/$name.log" -qmp "unix:$work/$name.qmp,server=on,wait=off" \
        "$@" >"$work/$name.qemu" 2>&1 &
    qemu=$!
}
# wait_console NAME REGEX SECONDS: until the console has a whole line matching REGEX (or QEMU
# ends). QEMU writes the serial port out a few bytes at a time: a line's start is not all of it.
wait_console() {
    local log=$work/$1.log
    whole_lines() { head -n "$(wc -l <"$log")" "$log"; }
    for _ in $(seq $(($3 * 10))); do
        whole_lines 2>/dev/null | grep -qE "$2" && return 0
        kill -0 "$qemu" 2>/dev/null || break
        sleep 0.1
    done
    whole_lines 2>/dev/null | grep -qE "$2"
}
console_has() { tr -d '\r' <"$work/$1.log" | grep -qxF "$2"; }  # console_has NAME LINE
elapsed() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
evidence() { tail -n 20 "$work/$1.log" "$work/$1.qemu" 2>/dev/null; }
qmp() {  # qmp NAME COMMAND: runs one QMP command, prints the reply
    python3 - "$work/$1.qmp" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile('rw')
def reply():
    while True:
        m = json.loads(f.readline())
        if 'event' not in m:
            return m
reply()  # the greeting
for cmd in ('qmp_capabilities', sys.argv[2]):
    f.write(json.dumps({'execute': cmd}) + '\n')
    f.flush()
    r = reply()
print(r)
sys.exit('error' in r)
PY
}
# powerdown NAME: system_powerdown, then QEMU must exit 0 by itself within 30 s having printed
# VFGATE_GUEST_POWERDOWN.
powerdown() {
    local name=$1 out status
    sent=$(date +%s%N)
    out=$(qmp "$name" system_powerdown 2>&1) || { not_ok "QMP system_powerdown" "$out"; return; }
    for _ in $(seq 300); do kill -0 "$qemu" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$qemu" 2>/dev/null; then
        not_ok "system_powerdown: QEMU exits by itself within 30 s" "$(evidence "$name")"
        kill "$qemu"; wait "$qemu"; qemu=
        return
    fi
    wait "$qemu"; status=$?
    qemu=
    local took
    took=$(elapsed "$sent")
    if [ "$status" = 0 ] && console_has "$name" VFGATE_GUEST_POWERDOWN; then
        ok "system_powerdown: VFGATE_GUEST_POWERDOWN, QEMU exits 0 (${took} s)"
    else
        not_ok "system_powerdown: VFGATE_GUEST_POWERDOWN, QEMU exits 0 (exit $status)" "$(evidence "$name")"
    fi
}

# --- vmlinuz, two NICs: gitap0's at 00:04.0, gitap1's at 00:03.0, given in the other order ---
boot good "$image/vmlinuz" \
    "vfgate.hostname=gi-test vfgate.ip=eth0,10.9.1.2/24 vfgate.ip=eth1,10.9.0.2/24,fd09::2/64" \
    -netdev tap,id=n0,ifname=gitap0,script=no,downscript=no \
    -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02,addr=0x4 \
    -netdev tap,id=n1,ifname=gitap1,script=no,downscript=no \
    -device virtio-net-pci,netdev=n1,mac=52:54:00:00:00:03,addr=0x3
want="VFGATE_GUEST_UP gi-test eth0=10.9.1.2/24 eth1=10.9.0.2/24,fd09::2/64"
if wait_console good '^VFGATE_GUEST_(UP|ERROR)' 120; then
    up=$(elapsed "$booted")
    line=$(grep -E '^VFGATE_GUEST_(UP|ERROR)' "$work/good.log" | tr -d '\r')
    if [ "$line" = "$want" ]; then ok "the guest is up in $up s (vmlinuz, TCG): $want"; else
        not_ok "the guest says: $want" "$(evidence good)"
    fi
else
    bail "the guest prints VFGATE_GUEST_UP within 120 s" "$(evidence good)"
fi

check "ping eth0 (the NIC at the lower PCI address)" in_ns "$ns" ping -c 2 -i 0.2 -W 3 10.9.1.2
check "ping eth1" in_ns "$ns" ping -c 2 -i 0.2 -W 3 10.9.0.2
check "ping eth1 over IPv6" in_ns "$ns" ping -6 -c 2 -i 0.2 -W 3 fd09::2

head -c 65536 /dev/urandom >"$work/send"
echo_back() {  # echo_back ADDR: 64 KiB to TCP port 7 come back byte for byte
    rm -f "$work/recv"
    in_ns "$ns" timeout 30 socat -t 10 - "TCP:$1:7" <"$work/send" >"$work/recv" || return 1
    cmp "$work/send" "$work/recv"
}
check "TCP echo (port 7) over IPv4: 64 KiB back byte for byte" echo_back 10.9.0.2
check "TCP echo (port 7) over IPv6: 64 KiB back byte for byte" echo_back '[fd09::2]'
powerdown good

# --- vmlinux (PVH entry), one NIC, two bad vfgate.ip: each named, no UP line, still powers off ---
boot bad "$image/vmlinux" "vfgate.ip=eth0,10.9.0.2 vfgate.ip=eth1,10.9.1.2/24" \
    -netdev tap,id=n0,ifname=gitap0,script=no,downscript=no \
    -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02
if wait_console bad 'no interface eth1' 120; then
    ok "vmlinux boots (TCG): the guest reports its errors in $(elapsed "$booted") s"
else
    bail "the guest booted from vmlinux reports a bad vfgate.ip within 120 s" "$(evidence bad)"
fi
check "a vfgate.ip address without /PREFIX is named" console_has bad \
    'VFGATE_GUEST_ERROR vfgate.ip=eth0,10.9.0.2: 10.9.0.2 has no /PREFIX'
check "a vfgate.ip for a NIC the guest lacks is named" console_has bad \
    'VFGATE_GUEST_ERROR vfgate.ip=eth1,10.9.1.2/24: no interface eth1 (have: eth0 lo)'
powerdown bad
check_fails "a guest with a bad vfgate.ip never prints VFGATE_GUEST_UP" \
    grep -q VFGATE_GUEST_UP "$work/bad.log"
tap_done

#!/bin/sh
# vm-launcher on the emulated igb (82576) PF: vfgate-vf gives VF 0 (vfio-pci, VLAN 100) to guest
# g and leaves VF 1 on igbvf for guest h; vfgate-vm refuses h, naming its VF and driver, and
# starts g (scripts/guest-image, TCG inside this TCG guest) with VF 0 passed through; g comes up,
# pings the host on VLAN 100 from its serial console (the host's responder answers tagged, see
# host.sh), and powers off on vfgate-vm stop. Prints TAP lines.
. /share/env
VF="$VFGATE_BUILD/vf-manager/vfgate-vf"
VM="$VFGATE_BUILD/vm-launcher/vfgate-vm"
STATE=/run/vfgate/vfs.json
RUNS=/run/vfgate/guests
IMAGE=/share/guest-image
T0=$(cut -d' ' -f1 /proc/uptime)

ok() { echo "ok - $1"; }
no() { echo "not ok - $1"; }
check() { # DESCRIPTION COMMAND...
    d=$1; shift
    if "$@" > /tmp/check.out 2>&1; then ok "$d"; else no "$d"; sed 's/^/# /' /tmp/check.out; fi
}
since() { awk -v t0="$1" '{ printf "%.0f", $1 - t0 }' /proc/uptime; }  # seconds since T
vm() { "$VM" --run-dir "$RUNS" --vf-state "$STATE" "$@"; }
# The guest's state from vfgate-vm status --json (python3-minimal has no json module).
state_of() { vm status "$1" --json | sed -n 's/^ *"state": "\(.*\)",*$/\1/p'; }
is_state() { s=$(state_of "$1"); echo "state: $s"; [ "$s" = "$2" ]; }  # GUEST STATE
# Runs a command in guest g through its serial console (a root shell on ttyS0), as
# tests/system/guests_test.sh does; prints what the console showed up to the command's exit
# status (VFGATE_RC=N) and exits with that status (1 if none came within TIMEOUT_S).
console_run() { # COMMAND TIMEOUT_S
    python3 - "$RUNS/g/serial.sock" "$1" "$2" <<'PY'
import re, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(1)
s.sendall(("\n" + sys.argv[2] + "; echo VFGATE_RC=$?\n").encode())
out, end, rc = b"", time.time() + int(sys.argv[3]), None
while time.time() < end and rc is None:
    try:
        got = s.recv(4096)
    except socket.timeout:
        got = b""
    if b"\x1b[6n" in got:  # busybox's line editing asks where the cursor is: answer as a terminal
        s.sendall(b"\x1b[1;1R")
    out += got
    rc = re.search(rb"^VFGATE_RC=(\d+)\r?$", out, re.M)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
sys.exit(int(rc.group(1)) if rc else 1)
PY
}
keep_logs() { # the nested guests' files, for the run directory (VFGATE_TESTBED_KEEP=1)
    for f in console.log qemu.log supervisor.log; do cp "$RUNS/g/$f" "/share/g.$f" 2>/dev/null; done
}
trap keep_logs EXIT

. /share/pf.sh
echo "# PF $PF at $PCI; $(qemu-system-x86_64 --version | head -1)"

# The smallest guest that boots fast under TCG in TCG: 128 MiB, the uncompressed kernel (PVH).
CMDLINE="console=ttyS0 quiet panic=-1 cryptomgr.notests vfgate.ip=eth0,10.0.100.2/24"
BOOT="{kernel: $IMAGE/vmlinux, initrd: $IMAGE/initrd.gz, cmdline: \"$CMDLINE\"}"
cat > /tmp/vfgate.yaml <<CFG
version: 1
pfs:
  - {name: pf0, device: "$PCI", num_vfs: 2, vf_driver: vfio-pci}
guests:
  - name: g
    memory_mb: 128
    vcpus: 1
    accel: tcg
    restart: never
    boot: $BOOT
    nics:
      - {name: eth0, type: vf, pf: pf0, vf: 0, mac: "02:00:00:00:01:10", vlan: 100}
  - name: h
    memory_mb: 128
    accel: tcg
    restart: never
    boot: $BOOT
    nics:
      - {name: eth0, type: vf, pf: pf0, vf: 1, mac: "02:00:00:00:01:11", driver: igbvf}
CFG

check "vfgate-vf apply creates 2 VFs" "$VF" --state "$STATE" apply -f /tmp/vfgate.yaml
VF0=$(basename "$(readlink "/sys/class/net/$PF/device/virtfn0")")
VF1=$(basename "$(readlink "/sys/class/net/$PF/device/virtfn1")")
drv() { basename "$(readlink "/sys/bus/pci/devices/$1/$2")"; }  # BDF driver|iommu_group
echo "# VF 0 $VF0 on $(drv "$VF0" driver), IOMMU group $(drv "$VF0" iommu_group)"
echo "# VF 1 $VF1 on $(drv "$VF1" driver)"
check "sysfs: VF 0 is on vfio-pci, VF 1 on igbvf" \
    sh -c "[ $(drv "$VF0" driver) = vfio-pci ] && [ $(drv "$VF1" driver) = igbvf ]"

# The refusal: h's VF is on igbvf, so QEMU can't have it.
vm argv h -f /tmp/vfgate.yaml > /tmp/argv-h.out 2>&1
rc=$?
sed 's/^/# /' /tmp/argv-h.out
check "vfgate-vm argv h: exit 1, names VF 1 ($VF1) and its driver igbvf" \
    sh -c "[ $rc = 1 ] && grep -q 'VF $VF1 is bound to igbvf; expected vfio-pci' /tmp/argv-h.out"
vm start h -f /tmp/vfgate.yaml > /tmp/start-h.out 2>&1
rc=$?
refused_h() {
    [ "$rc" = 1 ] && grep -q "VF $VF1 is bound to igbvf" /tmp/start-h.out &&
        ! pgrep -f -- "-name guest=h," && [ ! -e "$RUNS/h/qemu.pid" ]
}
check "vfgate-vm start h: exit 1, the same reason, no QEMU left running" refused_h

vm argv g -f /tmp/vfgate.yaml > /tmp/argv-g.out 2>&1
check "vfgate-vm argv g passes VF 0 through: vfio-pci,host=$VF0" \
    grep -q "vfio-pci,host=$VF0," /tmp/argv-g.out

t=$(cut -d' ' -f1 /proc/uptime)
vm start g -f /tmp/vfgate.yaml --timeout 120 > /tmp/start-g.out 2>&1
rc=$?
sed 's/^/# /' /tmp/start-g.out
check "vfgate-vm start g returns once it runs (exit $rc, $(since "$t") s)" [ "$rc" = 0 ]
check "vfgate-vm status g --json: running" is_state g running
"$VF" --state "$STATE" list > /tmp/list.out 2>&1
check "vfgate-vf list: VF 0 is g/eth0's, held by QEMU" \
    grep -q -E "g/eth0 +qemu-system-x86 \(pid [0-9]+\)" /tmp/list.out

# Up to 300 s; vfgate-vm status only every 10 s: each one takes CPU from the nested guest.
up=
for i in $(seq 300); do
    grep -q VFGATE_GUEST_UP "$RUNS/g/console.log" 2>/dev/null && { up=1; break; }
    [ $((i % 10)) = 0 ] && [ "$(state_of g)" != running ] && break
    sleep 1
done
grep VFGATE_GUEST "$RUNS/g/console.log" | tr -d '\r' | sed 's/^/# /'
mem=$(free -m | awk '/^Mem:/ {print $3 " MiB used, " $7 " MiB available"}')
echo "# memory with g running: $mem"
check "g's console shows VFGATE_GUEST_UP ($(since "$t") s after start)" [ -n "$up" ]
if [ -z "$up" ]; then
    for f in console.log qemu.log supervisor.log; do
        echo "# --- g/$f"; tr -d '\r' < "$RUNS/g/$f" | tail -n 20 | sed 's/^/# /'
    done
fi

# From g's console: wait for the VF's carrier (igbvf), then ping the host on VLAN 100.
t=$(cut -d' ' -f1 /proc/uptime)
c=/sys/class/net/eth0/carrier
console_run "for i in \$(seq 60); do [ \$(cat $c) = 1 ] && break; sleep 0.5; done;
echo carrier=\$(cat $c); ping -c 3 -W 10 10.0.100.1" 120 > /tmp/ping.out
rc=$?
sed 's/^/# /' /tmp/ping.out | grep -v '^# $'
check "g pings the host on VLAN 100 through the VF (3 of 3, $(since "$t") s)" \
    sh -c "[ $rc = 0 ] && grep -q '3 packets transmitted, 3 packets received' /tmp/ping.out"

t=$(cut -d' ' -f1 /proc/uptime)
vm stop g --timeout 60 > /tmp/stop.out 2>&1
rc=$?
sed 's/^/# /' /tmp/stop.out
check "vfgate-vm stop g powers it down (exit $rc, $(since "$t") s)" \
    sh -c "[ $rc = 0 ] && grep -q 'powered off' /tmp/stop.out"
check "g's console shows VFGATE_GUEST_POWERDOWN" \
    grep -q VFGATE_GUEST_POWERDOWN "$RUNS/g/console.log"
check "vfgate-vm status g --json: stopped" is_state g stopped
echo "# the case took $(since "$T0") s"
exit 0

#!/bin/sh
# vfgated on the emulated igb (82576) PF: from one config, the daemon creates the VFs, gives
# VF 0 (vfio-pci, VLAN 100) to guest g and boots it (TCG inside this TCG guest); a VF attribute
# change reaches the PF through rtnetlink without restarting g; removing g from the config stops
# it and scrubs its VF; a restarted vfgated adopts what runs. No dataplane here (legacy eswitch:
# the NIC switches the VFs). Prints TAP lines.
. /share/env
DAEMON="$VFGATE_BUILD/control/vfgated"
CTL="$VFGATE_BUILD/control/vfgatectl"
IMAGE=/share/guest-image
RUN=/run/vfgate
T0=$(cut -d' ' -f1 /proc/uptime)

ok() { echo "ok - $1"; }
no() { echo "not ok - $1"; }
check() { # DESCRIPTION COMMAND...
    d=$1; shift
    if "$@" > /tmp/check.out 2>&1; then ok "$d"; else no "$d"; sed 's/^/# /' /tmp/check.out; fi
}
since() { awk -v t0="$1" '{ printf "%.0f", $1 - t0 }' /proc/uptime; }
ctl() { "$CTL" -c /tmp/vfgate.yaml "$@"; }
# A number or string field of `vfgatectl status --json` (python3-minimal has no json module).
qemu_pid() { ctl guests --json | sed -n 's/^ *"pid": \([0-9]*\),*$/\1/p' | head -1; }
keep_logs() {
    cp "$RUN/vfgated/vfgated.log" /share/vfgated.log 2>/dev/null
    cp "$RUN/guests/g/console.log" /share/g.console.log 2>/dev/null
}
trap keep_logs EXIT

. /share/pf.sh
echo "# PF $PF at $PCI"

CMDLINE="console=ttyS0 quiet panic=-1 cryptomgr.notests vfgate.ip=eth0,10.0.100.2/24"
config() { # config TRUST [with-g]
    cat <<CFG
version: 1
pfs:
  - {name: pf0, device: "$PCI", num_vfs: 2, vf_driver: vfio-pci}
guests:
CFG
    [ "${2:-}" = with-g ] && cat <<CFG
  - name: g
    memory_mb: 128
    accel: tcg
    restart: never
    boot: {kernel: $IMAGE/vmlinux, initrd: $IMAGE/initrd.gz, cmdline: "$CMDLINE"}
    nics:
      - {name: eth0, type: vf, pf: pf0, vf: 0, mac: "02:00:00:00:01:10", vlan: 100, trust: $1}
CFG
    [ "${2:-}" = with-g ] || echo "  []"
}
config false with-g > /tmp/vfgate.yaml
vf0() { ip link show "$PF" | grep "vf 0 "; }

t=$(cut -d' ' -f1 /proc/uptime)
"$DAEMON" --config /tmp/vfgate.yaml > /tmp/daemon.out 2>&1
rc=$?
sed 's/^/# /' /tmp/daemon.out
check "vfgated brings the host up from the file (exit $rc, $(since "$t") s)" [ "$rc" = 0 ]
sed 's/^/# /' "$RUN/vfgated/vfgated.log"
check "the PF has 2 VFs" [ "$(cat "/sys/class/net/$PF/device/sriov_numvfs")" = 2 ]
vf0 | sed 's/^/# /'
check "ip link: VF 0 has g's MAC and VLAN 100, trust off" \
    sh -c "ip link show $PF | grep 'vf 0 ' | grep -q 'link/ether 02:00:00:00:01:10.*vlan 100.*trust off'"
check "vfgatectl guests: g runs" sh -c "ctl() { '$CTL' -c /tmp/vfgate.yaml \"\$@\"; }; ctl guests | grep -q '^g  *running'"
ctl status > /tmp/status.out 2>&1
sed 's/^/# /' /tmp/status.out
check "vfgatectl status: the PF with its 2 VFs, 1 assigned" grep -q "^PF $PCI ($PF): 2 VFs, 1 assigned$" /tmp/status.out
pid=$(qemu_pid)
echo "# g's QEMU: pid $pid"
check "plan: nothing to do (exit 0)" ctl plan

config true with-g > /tmp/trust.yaml
ctl plan -f /tmp/trust.yaml > /tmp/plan.out 2>&1
rc=$?
sed 's/^/# /' /tmp/plan.out
check "plan -f: a VF attribute change is one VF action, exit 3" \
    sh -c "[ $rc = 3 ] && grep -q 'vf 0: trust off -> on' /tmp/plan.out && ! grep -q 'stop guest g' /tmp/plan.out"
ctl apply -f /tmp/trust.yaml > /tmp/apply.out 2>&1
rc=$?
sed 's/^/# /' /tmp/apply.out
check "apply -f: done (exit $rc)" [ "$rc" = 0 ]
check "ip link: VF 0 now has trust on (rtnetlink)" sh -c "ip link show $PF | grep 'vf 0 ' | grep -q 'trust on'"
check "g was not restarted (same QEMU pid $pid)" [ "$(qemu_pid)" = "$pid" ]
cp /tmp/trust.yaml /tmp/vfgate.yaml

kill -9 "$(cat "$RUN/vfgated.pid")"
sleep 1
"$DAEMON" --config /tmp/vfgate.yaml > /tmp/daemon2.out 2>&1
check "a restarted vfgated adopts g: nothing to do, same QEMU pid" \
    sh -c "[ '$(qemu_pid)' = '$pid' ] && tail -3 '$RUN/vfgated/vfgated.log' | grep -q 'nothing to do'"

config false > /tmp/none.yaml
t=$(cut -d' ' -f1 /proc/uptime)
ctl apply -f /tmp/none.yaml > /tmp/remove.out 2>&1
rc=$?
sed 's/^/# /' /tmp/remove.out
check "apply without g: g stopped, then its VF scrubbed (exit $rc, $(since "$t") s)" \
    sh -c "[ $rc = 0 ] && grep -q 'stop guest g: no longer in the config' /tmp/remove.out"
check "g's QEMU is gone" sh -c "! kill -0 $pid 2>/dev/null || grep -q '^State:.*Z' /proc/$pid/status"
vf0 | sed 's/^/# /'
check "ip link: VF 0 is scrubbed (MAC zero, no VLAN, trust off)" \
    sh -c "ip link show $PF | grep 'vf 0 ' | grep -q 'link/ether 00:00:00:00:00:00' && ! ip link show $PF | grep 'vf 0 ' | grep -q 'vlan 100' && ip link show $PF | grep 'vf 0 ' | grep -q 'trust off'"
kill "$(cat "$RUN/vfgated.pid")"
echo "# the case took $(since "$T0") s"
exit 0

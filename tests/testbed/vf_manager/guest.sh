#!/bin/sh
# vf-manager on the emulated igb (82576) PF: apply, check with iproute2 and sysfs, ping the host
# through a VF on its VLAN, refuse while a VF is held, apply a second config, roll back a failed
# one, release and check the scrub. Prints TAP lines.
. /share/env
VF="$VFGATE_BUILD/vf-manager/vfgate-vf"
STATE=/run/vfgate/vfs.json

ok() { echo "ok - $1"; }
no() { echo "not ok - $1"; }
check() { # DESCRIPTION COMMAND...
    d=$1; shift
    if "$@" > /tmp/check.out 2>&1; then ok "$d"; else no "$d"; sed 's/^/# /' /tmp/check.out; fi
}
has() { grep -q -E -- "$2" "$1"; }  # FILE REGEX

. /share/pf.sh
echo "# PF $PF at $PCI"

"$VF" list --json > /tmp/list.json 2>&1
check "list --json shows the igb PF with 7 VFs possible" \
    sh -c "grep -q '\"pci\": \"$PCI\"' /tmp/list.json && grep -q '\"total_vfs\": 7' /tmp/list.json && grep -q '\"driver\": \"igb\"' /tmp/list.json"

config() { # NUM_VFS VLAN0 RATE0 TRUST0 MAC1 VF_DRIVER
    cat <<CFG
version: 1
pfs:
  - {name: pf0, device: "$PCI", num_vfs: $1, vf_driver: $6}
guests:
  - name: g1
    nics:
      - {name: eth0, type: vf, pf: pf0, vf: 0, mac: "02:00:00:00:00:10", vlan: $2, rate_mbps: $3, trust: $4, driver: igbvf}
  - name: g2
    nics:
      - {name: eth0, type: vf, pf: pf0, mac: "$5", vlan: 200, vlan_qos: 3}
CFG
}
config 4 100 100 true 02:00:00:00:00:11 vfio-pci > /tmp/a.yaml
config 2 100 200 false 02:00:00:00:00:21 vfio-pci > /tmp/b.yaml
config 3 100 200 false 02:00:00:00:00:21 nosuchdrv > /tmp/c.yaml

"$VF" plan -f /tmp/a.yaml > /tmp/plan.out 2>&1
check "plan lists the PF up, numvfs and the binding, and changes nothing" \
    sh -c "grep -q 'link down -> up' /tmp/plan.out && grep -q 'sriov_numvfs 0 -> 4' /tmp/plan.out && [ \$(cat /sys/class/net/$PF/device/sriov_numvfs) = 0 ]"

check "apply creates 4 VFs" "$VF" apply -f /tmp/a.yaml
check "sysfs: sriov_numvfs is 4" has "/sys/class/net/$PF/device/sriov_numvfs" '^4$'
ip -d link show "$PF" > /tmp/link.out
sed 's/^/# /' /tmp/link.out | grep ' vf '
check "iproute2: VF 0 has its MAC, VLAN 100, rate 100, spoofchk on, trust on" \
    sh -c "ip -d link show $PF | grep -E '^ +vf 0 ' | grep -q -E 'link/ether 02:00:00:00:00:10 .*vlan 100.*max_tx_rate 100Mbps.*spoof checking on.*trust on'"
check "iproute2: VF 1 (auto) has its MAC, VLAN 200 with QoS 3, spoofchk on, trust off" \
    sh -c "ip -d link show $PF | grep -E '^ +vf 1 ' | grep -q -E 'link/ether 02:00:00:00:00:11 .*vlan 200, qos 3.*spoof checking on.*trust off'"
check "sysfs: VF 1 is bound to vfio-pci and has an IOMMU group" \
    sh -c "[ \$(basename \$(readlink /sys/class/net/$PF/device/virtfn1/driver)) = vfio-pci ] && [ -e /sys/class/net/$PF/device/virtfn1/iommu_group ]"
check "sysfs: VF 0 (driver igbvf) is bound to igbvf" \
    sh -c "[ \$(basename \$(readlink /sys/class/net/$PF/device/virtfn0/driver)) = igbvf ]"
check "sysfs: VFs 2 and 3 are free (no driver)" \
    sh -c "[ ! -e /sys/class/net/$PF/device/virtfn2/driver ] && [ ! -e /sys/class/net/$PF/device/virtfn3/driver ]"
check "the state file gives VF 1 to g2/eth0" grep -q '"guest": "g2"' "$STATE"
"$VF" apply -f /tmp/a.yaml > /tmp/again.out 2>&1
check "a second apply does nothing and says so" grep -q 'nothing to do' /tmp/again.out

# The VF on VLAN 100: the PF tags its frames; the host answers tagged (responder.py).
VF0=$(ls "/sys/class/net/$PF/device/virtfn0/net")
ip netns add g1
ip link set "$VF0" netns g1
ip -n g1 addr add 10.0.100.11/24 dev "$VF0"
ip -n g1 link set "$VF0" up
sleep 3
check "VF 0 pings the host through its VLAN" ip netns exec g1 ping -c 3 -W 3 10.0.100.1

# A running guest holds VF 1 (its VFIO group open): no num_vfs change.
GROUP=$(basename "$(readlink "/sys/class/net/$PF/device/virtfn1/iommu_group")")
python3 -c "import os,time; f=os.open('/dev/vfio/$GROUP', os.O_RDWR); time.sleep(120)" &
HOLDER=$!
# Until it has the group open: python3 can take over a second to start in this TCG VM.
for _ in $(seq 100); do
    ls -l "/proc/$HOLDER/fd" 2>/dev/null | grep -q "/dev/vfio/$GROUP" && break
    sleep 0.1
done
"$VF" apply -f /tmp/b.yaml > /tmp/held.out 2>&1
rc=$?
check "apply refuses to change num_vfs while VF 1 is held (exit 1, names the process)" \
    sh -c "[ $rc = 1 ] && grep -q 'while VFs are held (VF 1 by python3 (pid $HOLDER))' /tmp/held.out"
check "the refused apply changed nothing" has "/sys/class/net/$PF/device/sriov_numvfs" '^4$'
"$VF" list > /tmp/list.out 2>&1
check "list shows the holder and the guest" grep -q -E "g2/eth0 +python3 \(pid $HOLDER\)" /tmp/list.out
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null

check "apply of a second config (2 VFs, new rate, trust, MAC)" "$VF" apply -f /tmp/b.yaml
check "sysfs: sriov_numvfs is 2" has "/sys/class/net/$PF/device/sriov_numvfs" '^2$'
check "iproute2: VF 0 now has rate 200 and trust off, VLAN 100 kept" \
    sh -c "ip -d link show $PF | grep -E '^ +vf 0 ' | grep -q -E 'link/ether 02:00:00:00:00:10 .*vlan 100.*max_tx_rate 200Mbps.*trust off'"
check "iproute2: VF 1 has its new MAC" \
    sh -c "ip -d link show $PF | grep -E '^ +vf 1 ' | grep -q 'link/ether 02:00:00:00:00:21 '"

"$VF" apply -f /tmp/c.yaml > /tmp/fail.out 2>&1
rc=$?
sed 's/^/# /' /tmp/fail.out | tail -n 4
check "an apply whose bind fails exits 1 and says it rolled back" \
    sh -c "[ $rc = 1 ] && grep -q 'rolled back' /tmp/fail.out && grep -q 'nosuchdrv' /tmp/fail.out"
check "the rollback restored 2 VFs" has "/sys/class/net/$PF/device/sriov_numvfs" '^2$'
check "the rollback restored VF 1's MAC" \
    sh -c "ip -d link show $PF | grep -E '^ +vf 1 ' | grep -q 'link/ether 02:00:00:00:00:21 '"

# A PF with a host address is left alone unless forced.
ip addr add 10.0.0.2/24 dev "$PF"
sed 's/rate_mbps: 200/rate_mbps: 300/' /tmp/b.yaml > /tmp/e.yaml
"$VF" apply -f /tmp/e.yaml > /tmp/mgmt.out 2>&1
rc=$?
check "apply refuses a PF with a host address (exit 1, names it), changing nothing" \
    sh -c "[ $rc = 1 ] && grep -q 'the host depends on it (has address 10.0.0.2)' /tmp/mgmt.out && ip -d link show $PF | grep -E '^ +vf 0 ' | grep -q 'max_tx_rate 200Mbps'"
check "with --force it applies" sh -c "\"$VF\" apply --force -f /tmp/e.yaml && ip -d link show $PF | grep -E '^ +vf 0 ' | grep -q 'max_tx_rate 300Mbps'"
ip addr del 10.0.0.2/24 dev "$PF"

# igb has no devlink eswitch: switchdev is refused with a clear error, and nothing changes.
printf 'version: 1\npfs:\n  - {name: pf0, device: "%s", num_vfs: 2, eswitch_mode: switchdev}\n' "$PCI" > /tmp/d.yaml
"$VF" apply -f /tmp/d.yaml > /tmp/esw.out 2>&1
rc=$?
sed 's/^/# /' /tmp/esw.out | tail -n 2
check "eswitch switchdev on igb: exit 1, says the driver has no devlink eswitch" \
    sh -c "[ $rc = 1 ] && grep -q 'devlink pci/$PCI' /tmp/esw.out && grep -q 'no devlink eswitch' /tmp/esw.out"
check "list shows the eswitch mode as unknown (-)" sh -c "\"$VF\" list | grep -q -E '^$PCI +$PF +igb +2/7 +- '"
check "the refused eswitch change left 2 VFs" has "/sys/class/net/$PF/device/sriov_numvfs" '^2$'

check "release g2" "$VF" release g2
check "iproute2: VF 1 is scrubbed (MAC zero, no VLAN, spoofchk on, trust off, no rate)" \
    sh -c "ip -d link show $PF | grep -E '^ +vf 1 ' | grep -q -E 'link/ether 00:00:00:00:00:00 .*spoof checking on.*trust off' && ! ip -d link show $PF | grep -E '^ +vf 1 ' | grep -q -E 'vlan|max_tx_rate [1-9]'"
check "the state file no longer names g2" sh -c "! grep -q '\"g2\"' $STATE"
"$VF" release g2 > /tmp/rel.out 2>&1
check "releasing it again is an error naming the guest" grep -q 'guest g2 holds no VF' /tmp/rel.out
exit 0

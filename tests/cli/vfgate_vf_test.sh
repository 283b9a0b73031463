#!/usr/bin/env bash
# vfgate-vf on bad input, on a fake sysfs and /proc (no SR-IOV needed): every case exits with a
# clear message; none blocks or aborts. TAP output.
#   vfgate_vf_test.sh VFGATE_VF
set -u
vf=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib.sh"

# A host without SR-IOV PFs. timeout turns a hang into exit 124.
mkdir -p "$tmp/sys/bus/pci/devices" "$tmp/proc"
run() { timeout 10 "$vf" --sysfs "$tmp/sys" --procfs "$tmp/proc" "$@"; }

cat >"$tmp/pfs.yaml" <<'YAML'
version: 1
pfs:
  - {name: pf0, device: "0000:01:00.0", num_vfs: 2}
  - {name: pf1, device: "0000:02:00.0", num_vfs: 2}
  - {name: pf2, device: ens9, num_vfs: 1}
YAML
check "plan with PFs that aren't there exits 1" 1 run --state "$tmp/none.json" plan -f "$tmp/pfs.yaml"
expect "every missing PF is named" "$err" \
    '^vfgate-vf: no SR-IOV PF on this host for pf0 \(0000:01:00.0\), pf1 \(0000:02:00.0\), pf2 \(ens9\); found: none$'

# A PF device with escape sequences (a valid interface name) reaches the terminal escaped.
cat >"$tmp/esc.yaml" <<'YAML'
version: 1
pfs:
  - {name: pf0, device: "eth\e[2J", num_vfs: 1}
YAML
check "plan with an escape sequence in a PF device exits 1" 1 run --state "$tmp/none.json" plan -f "$tmp/esc.yaml"
! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$tmp/err"; expect "no control characters in the error" "$?" '^0$'
expect "the device is shown escaped" "$err" '^vfgate-vf: no SR-IOV PF on this host for pf0 \(eth\\x1b\[2J\); found: none$'

mkfifo "$tmp/fifo.yaml"
check "plan -f FIFO exits 2 (a bad config), without blocking" 2 run --state "$tmp/none.json" plan -f "$tmp/fifo.yaml"
expect "and says it is a FIFO" "$err" "^vfgate-vf: $tmp/fifo.yaml: cannot read: not a regular file \(a FIFO\)$"

mkdir "$tmp/dir.json"
check "a state file that is a directory exits 1, no abort" 1 run --state "$tmp/dir.json" list
expect "and says so" "$err" "^vfgate-vf: $tmp/dir.json: cannot read: not a regular file \(a directory\)$"
mkfifo "$tmp/fifo.json"
check "a state file that is a FIFO exits 1, without blocking" 1 run --state "$tmp/fifo.json" list
expect "and says so" "$err" "^vfgate-vf: $tmp/fifo.json: cannot read: not a regular file \(a FIFO\)$"

state() {
    echo "{\"version\": $1, \"assignments\": [{\"pf\": \"0000:01:00.0\", \"vf\": $2, \"guest\": \"web\", \"nic\": \"eth0\"}]}" >"$tmp/st.json"
}
state 999 1
check "state version 999 exits 1" 1 run --state "$tmp/st.json" list
expect "and names the file and the key" "$err" "^vfgate-vf: $tmp/st.json: not a vfgate-vf state file: version: found 999; expected 1$"
state 1 -1
check "state vf -1 exits 1" 1 run --state "$tmp/st.json" list --json
expect "and says what is wrong" "$err" "^vfgate-vf: $tmp/st.json: not a vfgate-vf state file: assignments\[0\].vf: found -1; expected a VF index from 0 to 65534$"
state 1 1.7
check "state vf 1.7 exits 1" 1 run --state "$tmp/st.json" list
expect "and says what is wrong" "$err" "assignments\[0\].vf: found 1.7; expected a VF index"
state 1 1
check "a good state file is read" 0 run --state "$tmp/st.json" list
expect "no PFs here" "$out" '^no SR-IOV PFs on this host$'

echo "1..$n"
[ "$failed" = 0 ]

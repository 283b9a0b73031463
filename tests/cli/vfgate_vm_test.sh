#!/usr/bin/env bash
# vfgate-vm on the dry run and on bad input: the command line it would run, exit codes, and a
# clear message naming the guest for each thing that keeps a guest from running. Nothing here
# starts a guest (tests/system/guests_test.sh does). TAP output.
#   vfgate_vm_test.sh VFGATE_VM
set -u
vm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib.sh"
run() { timeout 30 "$vm" --run-dir "$tmp/run" "$@"; }

touch "$tmp/vmlinuz" "$tmp/initrd" "$tmp/disk,1.img"
cat >"$tmp/vm.yaml" <<YAML
version: 1
dataplane:
  hugepages: false
  control_socket: $tmp/dp.sock
  uplinks:
    - {name: up0, device: "net_null0"}
guests:
  - name: k
    memory_mb: 128
    accel: tcg
    boot: {kernel: $tmp/vmlinuz, initrd: $tmp/initrd, cmdline: "console=ttyS0 it's quoted"}
    nics:
      - {name: v0, type: vhost-user, mac: "52:54:00:00:00:01"}
      - {name: d0, type: dpdk, devargs: net_null1, mac: "52:54:00:00:00:02"}
  - name: disk
    memory_mb: 128
    accel: kvm
    boot: {image: "$tmp/disk,1.img"}
    nics: []
  - name: missing
    memory_mb: 128
    accel: tcg
    cpu_pinning: [63]
    boot: {kernel: $tmp/nope, initrd: $tmp/nope.gz}
    nics: []
  - name: elsewhere
    nics:
      - {name: v0, type: vhost-user, mac: "52:54:00:00:00:09"}
YAML

check "argv prints the command line" 0 run argv k -f "$tmp/vm.yaml"
expect "... one argument a line, quoted for a shell" "$out" "^    '-kernel' \\\\$"
expect "... a quote inside an argument survives" "$out" "'console=ttyS0 it'\\\\''s quoted' "
expect "... the vhost-user NIC on the dataplane's socket, reconnecting" "$out" "path=$tmp/vhost-k-v0.sock,reconnect-ms=1000"
expect "... the dpdk NIC is said not to be attached" "$err" "d0: type dpdk: wired outside QEMU \(net_null1\)"
check "argv --json" 0 run argv k -f "$tmp/vm.yaml" --json
shell_words=$(run argv k -f "$tmp/vm.yaml" 2>/dev/null | sed 's/ \\$//' | python3 -c '
import shlex, sys, json; print(json.dumps(shlex.split(sys.stdin.read())))')
expect "... is the same command line as a JSON array of strings" "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]) == json.loads(sys.argv[2]))' "$out" "$shell_words")" "^True$"

check "accel: kvm where KVM does not boot a guest is an error (exit 1)" 1 run --probe-kernel /dev/null argv disk -f "$tmp/vm.yaml"
expect "... naming the guest and why" "$err" "guests\[1\] \(disk\): accel: kvm, but KVM is unusable on this host: .*expected accel: auto or tcg"
check "every problem of a guest at once (exit 1)" 1 run argv missing -f "$tmp/vm.yaml"
expect "... the kernel" "$err" "guests\[2\] \(missing\): boot.kernel: $tmp/nope: no such file"
expect "... the initrd" "$err" "guests\[2\] \(missing\): boot.initrd: $tmp/nope.gz: no such file"
expect "... the pinning" "$err" "guests\[2\] \(missing\): cpu_pinning: CPU 63 not on this host"
check "a guest without boot is not launched (exit 2)" 2 run start elsewhere -f "$tmp/vm.yaml"
expect "... and the user is told why" "$err" "has no boot section: it is managed elsewhere"
check "an unknown guest (exit 1)" 1 run argv nope -f "$tmp/vm.yaml"
expect "... lists the guests there are" "$err" "no guest 'nope' in the config; expected one of k, disk, missing, elsewhere"
check "a bad config (exit 2)" 2 run argv k -f /nonexistent.yaml
check "a FIFO as the config does not hang" 2 bash -c "mkfifo '$tmp/fifo' && timeout 10 '$vm' argv k -f '$tmp/fifo'"
check "no subcommand is a usage error (exit 2)" 2 run
check "a --timeout out of range is a usage error" 2 run stop k --timeout -1
check "status of a guest never started (exit 1)" 1 run status k
expect "... says so" "$err" "no guest 'k' under $tmp/run \(not started by vfgate-vm\)"
check "status with no guests prints the header only" 0 run status
check "list with no guests is empty" 0 run list
check "console of a guest that does not run (exit 1)" 1 run console k
expect "... says so" "$err" "is the guest running\?"

# A QEMU that greets, takes qmp_capabilities, then answers nothing more: status gives up on it
# within its budget (5 s for the whole look, not 10 s per query) and says why.
mkdir -p "$tmp/run/stall"
echo '{"guest": "stall", "argv": []}' >"$tmp/run/stall/plan.json"
echo '{"guest": "stall", "state": "running", "restarts": 0}' >"$tmp/run/stall/state.json"
python3 - "$tmp/run/stall/qmp.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(4)
while True:
    c, _ = s.accept()
    c.sendall(b'{"QMP": {"version": {"qemu": {"major": 10}}, "capabilities": []}}\r\n')
    f = c.makefile("rb")
    f.readline()
    c.sendall(b'{"return": {}, "id": 1}\r\n')
    time.sleep(60)
PY
staller=$!
echo "$staller" >"$tmp/run/stall/qemu.pid"  # its command line names qmp.sock, as QEMU's does
for _ in $(seq 100); do [ -S "$tmp/run/stall/qmp.sock" ] && break; sleep 0.05; done
t0=$(date +%s)
check "status of a guest whose QEMU stalls after the greeting (exit 0)" 0 run status stall
took=$(($(date +%s) - t0))
expect "... within its 5 s budget (${took} s)" "$took" "^[0-7]$"
expect "... naming the query that got no reply" "$out" "QMP: .*query-status: no reply within"
kill "$staller"

echo "1..$n"
[ "$failed" = 0 ]

#!/usr/bin/env bash
# vfgatectl as a user runs it: exit codes, what goes to stdout and stderr. TAP output.
#   vfgatectl_test.sh VFGATECTL SOURCE_ROOT
set -u
ctl=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib.sh"

check "validate both examples" 0 "$ctl" validate "$src/config/examples/demo.yaml" \
    "$src/config/examples/nfv-host.yaml"
expect "one summary line per file" "$out" \
    '^.*/demo.yaml: valid: host vfgate-demo: 1 uplink, 0 PFs, 3 guests, 3 NICs, 6 rules$'
expect "nfv-host summary" "$out" \
    '/nfv-host.yaml: valid: host nfv-host-1: 2 uplinks, 2 PFs, 4 guests, 4 NICs, 26 rules$'
[ -z "$err" ]; expect "nothing on stderr when valid" "$?" '^0$'

cat >"$tmp/bad.yaml" <<'YAML'
version: 1
dataplane:
  worker_cores: [0]
  uplinks:
    - {name: up0, device: net_null0}
guests:
  - name: g
    nics:
      - name: n
        type: vhost-user
        mac: "52:54:00:00:00:01"
        vlan: 5000
        firewal: {}
YAML
check "an invalid file exits 1" 1 "$ctl" validate "$tmp/bad.yaml"
expect "worker core error located" "$err" \
    "^$tmp/bad.yaml:3:18: dataplane.worker_cores\[0\]: found 0, the main core; expected worker cores other than main_core$"
expect "vlan error located" "$err" \
    "^$tmp/bad.yaml:12:15: guests\[0\].nics\[0\].vlan: found 5000; expected a VLAN id from 1 to 4094$"
expect "typo error located, with a hint" "$err" \
    "^$tmp/bad.yaml:13:9: guests\[0\].nics\[0\].firewal: found unknown key 'firewal' \(did you mean 'firewall'\?\)"
expect "error count" "$err" "^$tmp/bad.yaml: invalid, 3 errors$"
[ -z "$out" ]; expect "nothing on stdout for an invalid file" "$?" '^0$'

check "valid and invalid together exit 1" 1 "$ctl" validate "$src/config/examples/demo.yaml" "$tmp/bad.yaml"
expect "the valid one is still reported" "$out" 'demo.yaml: valid'
check "--quiet prints nothing for valid files" 0 "$ctl" validate -q "$src/config/examples/demo.yaml"
[ -z "$out" ]; expect "quiet output empty" "$?" '^0$'

check "a missing file exits 1" 1 "$ctl" validate "$tmp/nope.yaml"
expect "missing file names the cause" "$err" "^$tmp/nope.yaml: cannot open: No such file or directory \(ENOENT\)$"

# Not a regular file: refused at once (a FIFO without a writer used to block forever; timeout
# turns a hang into exit 124).
mkfifo "$tmp/fifo.yaml"
check "validate a FIFO exits 1, without blocking" 1 timeout 10 "$ctl" validate "$tmp/fifo.yaml"
expect "and says it is a FIFO" "$err" "^$tmp/fifo.yaml: cannot read: not a regular file \(a FIFO\)$"
check "describe a FIFO exits 1, without blocking" 1 timeout 10 "$ctl" describe "$tmp/fifo.yaml"
expect "describe says it is a FIFO" "$err" "^$tmp/fifo.yaml: cannot read: not a regular file \(a FIFO\)$"
check "validate a directory exits 1" 1 "$ctl" validate "$tmp"
expect "and says it is a directory" "$err" "^$tmp: cannot read: not a regular file \(a directory\)$"

# Control characters from a file never reach the terminal raw: they are printed escaped.
printf 'version: 1\n"\\e]0;owned\\a\\e[2J": 1\n' >"$tmp/esc.yaml"
check "validate a file with escape sequences in a key" 1 "$ctl" validate "$tmp/esc.yaml"
! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$tmp/err"; expect "no control characters in the errors" "$?" '^0$'
expect "the key is shown escaped" "$err" "^$tmp/esc.yaml:2:1: \\\\x1b\]0;owned\\\\x07\\\\x1b\[2J: found unknown key"
cat >"$tmp/esc2.yaml" <<'YAML'
version: 1
dataplane:
  uplinks:
    - {name: up0, device: "net_null0,x=\e[31m"}
pfs:
  - {name: pf0, device: "eth\e[2J", num_vfs: 1}
YAML
check "describe a file with escape sequences in values" 0 "$ctl" describe "$tmp/esc2.yaml"
! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$tmp/out"; expect "no control characters in describe" "$?" '^0$'
expect "the uplink device shown escaped" "$out" '^  uplink up0: net_null0,x=\\x1b\[31m, '
expect "the PF device shown escaped" "$out" '^pf pf0: eth\\x1b\[2J, '

check "no subcommand is a usage error" 2 "$ctl"
check "validate without a file is a usage error" 2 "$ctl" validate
check "an unknown option is a usage error" 2 "$ctl" validate --bogus "$src/config/examples/demo.yaml"
check "an unknown subcommand is a usage error" 2 "$ctl" frobnicate
check "--help exits 0" 0 "$ctl" --help
expect "help lists validate" "$out" '^  validate'
check "--version exits 0" 0 "$ctl" --version
expect "version printed" "$out" '^vfgatectl [0-9]+\.[0-9]+\.[0-9]+$'

check "describe the demo" 0 "$ctl" describe "$src/config/examples/demo.yaml"
expect "describe shows the untagged domain" "$out" '^  up0 untagged: web/eth0, app/eth0$'
expect "describe shows the VLAN 200 domain" "$out" '^  up0 vlan 200: lab/eth0$'
expect "describe shows rules" "$out" 'ingress http: allow tcp dst_port 80,8000-8080'
check "describe an invalid file exits 1" 1 "$ctl" describe "$tmp/bad.yaml"

check "dataplane without a subcommand is a usage error" 2 "$ctl" dataplane
check "dataplane status with no dataplane running exits 1" 1 "$ctl" dataplane -s "$tmp/none.sock" status
expect "and says why" "$err" "^vfgatectl: status: connect to $tmp/none.sock: No such file or directory \(ENOENT\)$"
check "dataplane -c reads the socket from a config" 1 "$ctl" dataplane -c "$src/config/examples/demo.yaml" fdb
expect "the demo's socket" "$err" "connect to /run/vfgate/demo.sock"
check "dataplane rules takes one NIC at most" 2 "$ctl" dataplane -s "$tmp/none.sock" rules a/b c/d
check "dataplane conntrack --limit 0 is a usage error" 2 "$ctl" dataplane -s "$tmp/none.sock" conntrack --limit 0
expect "and says what it wants" "$err" "limit"
check "dataplane conntrack --limit x is a usage error" 2 "$ctl" dataplane -s "$tmp/none.sock" conntrack -n x
check "dataplane conntrack with no dataplane running exits 1" 1 "$ctl" dataplane -s "$tmp/none.sock" conntrack web/eth0
expect "and names the method" "$err" "^vfgatectl: firewall.conntrack: connect to"

# A server whose reply nests 100,000 deep (a hostile or broken dataplane): vfgatectl refuses it
# by the nesting limit and exits 1, instead of recursing until its stack runs out.
python3 - "$tmp/deep.sock" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(4)
depth = 100000
reply = ('{"ok": true, "result": ' + "[" * depth + "]" * depth + "}\n").encode()
while True:
    c, _ = s.accept()
    with c:
        c.makefile("rb").readline()
        c.sendall(reply)
PY
deep_server=$!
for _ in $(seq 100); do [ -S "$tmp/deep.sock" ] && break; sleep 0.05; done
for cmd in status stats; do
    check "dataplane $cmd given a reply nested 100,000 deep exits 1" 1 timeout 20 "$ctl" dataplane -s "$tmp/deep.sock" "$cmd"
    expect "and names the nesting limit" "$err" \
        "^vfgatectl: $cmd: malformed reply from $tmp/deep.sock: nested deeper than 64 levels$"
done
kill "$deep_server"
wait "$deep_server" 2>/dev/null

echo "1..$n"
[ "$failed" = 0 ]

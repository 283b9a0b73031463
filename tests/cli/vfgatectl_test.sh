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
check "dataplane offload --help exits 0" 0 "$ctl" dataplane offload --help
expect "and says what it shows" "$out" "What runs in the NICs \(rte_flow\) and what stays in software"
check "dataplane --help lists offload" 0 "$ctl" dataplane --help
expect "offload among the subcommands" "$out" '^  offload +What runs in the NICs'
check "dataplane offload takes no argument" 2 "$ctl" dataplane -s "$tmp/none.sock" offload up0
check "dataplane offload with an unknown option is a usage error" 2 "$ctl" dataplane -s "$tmp/none.sock" offload --nic x
check "dataplane offload with no dataplane running exits 1" 1 "$ctl" dataplane -s "$tmp/none.sock" offload
expect "and names the method" "$err" "^vfgatectl: offload: connect to $tmp/none.sock: No such file or directory \(ENOENT\)$"
check "dataplane offload --json with no dataplane running exits 1" 1 "$ctl" dataplane -s "$tmp/none.sock" --json offload
[ -z "$out" ]; expect "and prints nothing on stdout" "$?" '^0$'

# Against a stand-in dataplane (tests/cli/fake_dataplane.py): what vfgatectl sends and prints.
cat >"$tmp/results.json" <<'JSON'
{"offload": {"ports": [{"name": "up0", "driver": "net_mlx5", "state": "on", "flows": 2,
                        "refused": 0},
                       {"name": "up1", "driver": "net_pcap", "state": "unsupported", "flows": 0,
                        "refused": 0, "note": "no rte_flow\u001b[2J"}],
             "entries": [{"kind": "rule", "port": "up0", "nic": "web/eth0",
                          "direction": "ingress", "rule": "no-smtp", "action": "deny",
                          "where": "nic", "flows": 2, "nic_packets": 41},
                         {"kind": "unused-vlans", "port": "up0", "where": "nic", "flows": 1},
                         {"kind": "rule", "port": "up1", "nic": "app/eth0",
                          "direction": "egress", "rule": "default", "action": "allow",
                          "where": "software", "flows": 0,
                          "why_not": "an allow stays in software"}],
             "last_update": {"generation": 3, "added": 12, "removed": 4, "kept": 8,
                             "refused": 0, "ms": 1.8, "swap_in_software": false}},
 "firewall.rules": [{"nic": "web/eth0", "stateful": false,
                     "ingress": {"rules": [{"id": "no-smtp", "action": "deny", "hits": 2,
                                            "nic_packets": 41},
                                           {"id": "ssh", "action": "allow", "hits": 3}],
                                 "default": "deny", "default_hits": 1, "established": 0},
                     "egress": {"rules": [], "default": "allow", "default_hits": 0,
                                "established": 0}}]}
JSON
python3 "$(dirname "$0")/fake_dataplane.py" "$tmp/dp.sock" "$tmp/results.json" "$tmp/requests" &
fake=$!
for _ in $(seq 50); do [ -S "$tmp/dp.sock" ] && break; sleep 0.1; done
check "dataplane offload against a dataplane" 0 "$ctl" dataplane -s "$tmp/dp.sock" offload
expect "asks for offload without params" "$(tail -1 "$tmp/requests")" '^\{"method": ?"offload", ?"params": ?\{\}\}$'
expect "the ports' table" "$out" '^up1 +net_pcap +unsupported +0 +0 +no rte_flow\\x1b\[2J$'
expect "a rule in the NIC with its packets" "$out" '^up0 +web/eth0 +ingress +no-smtp +deny +nic +2 +41 +-$'
expect "the unused VLANs" "$out" '^up0 +- +- +\(unused-vlans\) +- +nic +1 +- +-$'
expect "a rule in software and why" "$out" '^up1 +app/eth0 +egress +default +allow +software +0 +- +an allow stays in software$'
expect "the last update" "$out" '^last update: generation 3, 12 added, 4 removed, 8 kept, 0 refused in 1.8 ms$'
! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$tmp/out"; expect "no control characters in the tables" "$?" '^0$'
check "dataplane offload --json" 0 "$ctl" dataplane -s "$tmp/dp.sock" --json offload
expect "prints the reply as it came" "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]) == json.load(open(sys.argv[2]))["offload"])' "$out" "$tmp/results.json")" '^True$'
check "dataplane rules shows the NIC's packets" 0 "$ctl" dataplane -s "$tmp/dp.sock" rules
expect "the header" "$out" '^NIC +DIR +RULE +ACTION +HITS +NIC-PKTS$'
expect "a rule counted in the NIC" "$out" '^web/eth0 +ingress +no-smtp +deny +2 +41$'
expect "a rule that is not" "$out" '^web/eth0 +ingress +ssh +allow +3 +-$'
check "dataplane rules --json keeps nic_packets" 0 "$ctl" dataplane -s "$tmp/dp.sock" --json rules
expect "as the dataplane sent it" "$out" '"nic_packets": 41'
python3 - "$tmp/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["offload"]["ports"][0]["flows"] = "two"
del r["firewall.rules"]
json.dump(r, open(sys.argv[1], "w"))
PY
kill "$fake"; wait "$fake" 2>/dev/null
python3 "$(dirname "$0")/fake_dataplane.py" "$tmp/dp2.sock" "$tmp/results.json" "$tmp/requests" &
fake=$!
for _ in $(seq 50); do [ -S "$tmp/dp2.sock" ] && break; sleep 0.1; done
check "a reply of the wrong shape exits 1" 1 "$ctl" dataplane -s "$tmp/dp2.sock" offload
expect "and says so" "$err" '^vfgatectl: offload: unexpected reply: .*'
check "a dataplane without the method exits 1" 1 "$ctl" dataplane -s "$tmp/dp2.sock" rules
expect "with the dataplane's error" "$err" "^vfgatectl: firewall.rules: unknown method 'firewall.rules'"
kill "$fake"; wait "$fake" 2>/dev/null

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

# Replies of a shape vfgatectl does not expect, from a server that answers each method with a
# canned line: an error of exit 1 that says so, never an abort (nlohmann's exceptions).
canned_server() {  # canned_server SOCKET REPLIES: REPLIES (JSON) maps a method to its reply
    python3 - "$1" "$2" <<'PY' &
import json, socket, sys
replies = json.loads(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(4)
while True:
    c, _ = s.accept()
    with c, c.makefile("rwb") as f:
        for line in f:
            f.write((json.dumps(replies[json.loads(line)["method"]]) + "\n").encode())
            f.flush()
PY
    odd=$!
    for _ in $(seq 100); do [ -S "$1" ] && break; sleep 0.05; done
}
# status: the dataplane's (-s mixed up)
canned_server "$tmp/odd.sock" '{"status": {"ok": true, "result": {"pid": 7, "generation": 1, "ports": 2}},
    "guests": {"ok": false, "error": null}, "stats": {"ok": false, "error": {"code": 5}}}'
check "status from the dataplane's socket (-s mixed up) exits 1" 1 "$ctl" -s "$tmp/odd.sock" status
expect "and says whose status it is not" "$err" "^vfgatectl: the socket's status is not vfgated's"
check "status --json from it exits 1 too, printing nothing" 1 "$ctl" -s "$tmp/odd.sock" status --json
expect "nothing on stdout" "$out" '^$'
check "an error that is not a string (null) exits 1" 1 "$ctl" -s "$tmp/odd.sock" guests
expect "and names the malformed reply" "$err" "malformed reply from $tmp/odd.sock: error is not a string"
check "an error that is an object exits 1 (dataplane stats)" 1 "$ctl" dataplane -s "$tmp/odd.sock" stats
expect "and names the malformed reply" "$err" "malformed reply from $tmp/odd.sock: error is not a string"
kill "$odd"
wait "$odd" 2>/dev/null

# A status whose fields are of other types than vfgated's: caught, exit 1, not SIGABRT (134).
canned_server "$tmp/odd2.sock" \
    '{"status": {"ok": true, "result": {"vfgated": {"pid": 1}, "dataplane": "up", "applies": 3}}}'
check "a status of unexpected field types exits 1" 1 "$ctl" -s "$tmp/odd2.sock" status
expect "and says the reply was unexpected" "$err" "^vfgatectl: unexpected reply from $tmp/odd2.sock: "
kill "$odd"
wait "$odd" 2>/dev/null

# A vfgated named with -s whose socket refuses: the error, not a quiet fall back to another
# dataplane (the default socket's).
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$tmp/stale.sock"
check "dataplane status via a dead vfgated named with -s exits 1" 1 "$ctl" -s "$tmp/stale.sock" dataplane status
expect "naming that socket" "$err" "connect to $tmp/stale.sock: Connection refused"

# A guest's console on a terminal: its control characters shown, not obeyed (an escape
# sequence could rewrite the operator's screen); into a pipe, the bytes as they are.
canned_server "$tmp/logs.sock" '{"logs": {"ok": true, "result": {"guest": "g", "file": "x",
    "lines": ["boot\r", "\u001b]0;pwned\u0007\u001b[2Jtab\there\r"]}}}'
check "logs into a pipe: the console's bytes" 0 "$ctl" -s "$tmp/logs.sock" logs g
expect "... escape sequences and all (two ESC bytes)" "$(tr -dc '\033' <<<"$out" | wc -c)" '^2$'
check "logs on a terminal (script(1))" 0 script -qec "'$ctl' -s '$tmp/logs.sock' logs g" /dev/null
expect "... shows them as ^[ and ^G, keeps tabs, drops the serial CR" "$out" '^\^\[\]0;pwned\^G\^\[\[2Jtab	here.?$'
expect "... and no escape byte reaches the terminal" "$(tr -dc '\033' <<<"$out" | wc -c)" '^0$'
kill "$odd"
wait "$odd" 2>/dev/null

check "logs -n -1 is a usage error" 2 "$ctl" -s "$tmp/none.sock" logs g -n -1
check "logs -n 0 is a usage error" 2 "$ctl" -s "$tmp/none.sock" logs g -n 0
vfgated=$(dirname "$ctl")/vfgated
check "vfgated --config '' is a usage error (exit 2), not an abort" 2 "$vfgated" --config ""
expect "naming the option" "$err" "^vfgated: --config '': expected a file$"
dataplane=$(dirname "$(dirname "$ctl")")/dataplane/vfgate-dataplane
for opt in --control-idle-timeout --control-send-timeout; do
    check "vfgate-dataplane $opt nan is a usage error" 2 "$dataplane" -c /nonexistent.yaml "$opt" nan
done

echo "1..$n"
[ "$failed" = 0 ]

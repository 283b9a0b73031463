# The frame of a namespace system test (source it after setting `dataplane`, `ctl` and `src`):
# topology and TAP helpers, a work directory $work with $sock and $cfg in it, and a cleanup on
# exit that stops the dataplane ($pid), removes the namespaces (and whatever runs in them) and
# the work directory.
. "$src/scripts/lib/topology.sh"
. "$src/tests/system/tap.sh"

work=$(mktemp -d "/tmp/vfgate-${1:-system}-XXXXXX")
sock=$work/dp.sock
cfg=$work/vfgate.yaml
pid=
harness_cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    topo_down
    rm -rf "$work"
}
trap harness_cleanup EXIT

# Starts the dataplane on CONFIG (default $cfg) and waits for its socket; on failure, reports
# it and ends the test.
harness_start() {
    "$dataplane" --config "${1:-$cfg}" >"$work/dataplane.log" 2>&1 &
    pid=$!
    if topo_wait_dataplane "$ctl" "$sock" "$pid"; then ok "dataplane up"; else
        not_ok "dataplane up" "$(cat "$work/dataplane.log")"; tap_done; exit 1
    fi
}

# Stops the dataplane with SIGTERM and checks that it exits 0.
harness_stop() {
    local status
    kill -TERM "$pid"
    wait "$pid"; status=$?
    pid=
    if [ "$status" = 0 ]; then ok "SIGTERM: exit 0"; else
        not_ok "SIGTERM: exit $status" "$(tail -20 "$work/dataplane.log")"
    fi
}

# The head of a test config: version and the dataplane keys every system test uses (no
# hugepages, 256 MB, the socket above). Append the rest of `dataplane` and the guests.
harness_config_head() {
    printf 'version: 1\ndataplane:\n  worker_cores: [1]\n  hugepages: false\n  memory_mb: 256\n  control_socket: %s\n' "$sock"
}

# TAP helpers for the system tests (source it). Each check prints "ok N - ..." or
# "not ok N - ..." with the evidence as "# " lines; the caller ends with tap_done.
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
    [ -n "${2:-}" ] && sed 's/^/# /' <<<"$2"
}
check() {  # check DESCRIPTION COMMAND...: passes if the command succeeds
    local what=$1 out; shift
    if out=$("$@" 2>&1); then ok "$what"; else not_ok "$what" "$out"; fi
}
check_fails() {  # passes if the command fails
    local what=$1 out; shift
    if out=$("$@" 2>&1); then not_ok "$what (it succeeded)" "$out"; else ok "$what"; fi
}
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
tap_done() { echo "1..$n"; [ "$failed" = 0 ]; }
# wait_listening NS tcp|udp PORT: waits (up to 10 s) until a socket in NS listens on PORT.
wait_listening() {
    local flag=-Hlnt
    [ "$2" = udp ] && flag=-Hlnu
    for _ in $(seq 100); do
        [ -n "$(in_ns "$1" ss "$flag" "sport = :$3")" ] && return 0
        sleep 0.1
    done
    echo "nothing listens on $2 port $3 in $1" >&2
    return 1
}

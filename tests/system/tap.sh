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

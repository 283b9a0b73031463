# TAP helpers for the CLI tests (source it after setting $tmp, a scratch directory).
#   check DESCRIPTION EXPECTED_STATUS COMMAND...  runs it, keeps stdout/stderr in $out/$err
#   expect DESCRIPTION TEXT PATTERN               PATTERN (grep -E) must match a line of TEXT
# End with: echo "1..$n"; [ "$failed" = 0 ]
n=0
failed=0

check() {
    local what=$1 want=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
    n=$((n + 1))
    if [ "$got" = "$want" ]; then
        echo "ok $n - $what"
    else
        echo "not ok $n - $what: exit $got, expected $want"
        sed 's/^/# /' "$tmp/out" "$tmp/err"
        failed=$((failed + 1))
    fi
}

expect() {
    n=$((n + 1))
    if grep -qE -- "$3" <<<"$2"; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1: no line matches '$3' in:"
        sed 's/^/# /' <<<"$2"
        failed=$((failed + 1))
    fi
}

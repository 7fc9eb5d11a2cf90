#!/usr/bin/env bash
# t_cluster_quorum.sh -- NOQUORUM on a 3-node cluster (N=3, R=2, W=2,
# request-timeout-ms 1000).
#
# SIGSTOP 2 of a key's 3 replicas: through the third, a write with W=3
# (and with W=2) and a read with R=3 (and a plain GET, R=2) each get
# -NOQUORUM with the figures, within the request timeout.  After SIGCONT
# the key holds one of the values written, DYNAMO.GET works, and every
# replica converges on the same object.  The trap always SIGCONTs (the
# tool's stop does, before SIGTERM).
. "$(dirname "$0")/cluster_lib.sh"

TIMEOUT_MS=1000
cluster_start 3 --request-timeout-ms "$TIMEOUT_MS"
STOPPED=()
resume_all() {
    local p
    for p in "${STOPPED[@]}"; do kill -CONT "$p" 2>/dev/null; done
    STOPPED=()
}
trap 'resume_all; _cluster_cleanup' EXIT

key="q:$RANDOM"
reps=($(replicas "$key"))
assert_eq 3 "${#reps[@]}" "the key has 3 replicas (${reps[*]})"
live=${reps[0]}
assert_eq OK "$(ncli "$live" SET "$key" v0)" "SET $key v0 with every node up"

# elapsed_ms cmd...: runs cmd, sets OUT and MS.
timed() {
    local t0 t1
    t0=$(date +%s%N)
    OUT=$("$@" 2>&1)
    t1=$(date +%s%N)
    MS=$(( (t1 - t0) / 1000000 ))
}
within() { # WHAT: the last timed call took at most timeout + 1.5 s
    if [ "$MS" -le $((TIMEOUT_MS + 1500)) ]; then ok "$1 answered in ${MS} ms"
    else fail "$1 took ${MS} ms (request-timeout-ms $TIMEOUT_MS)"; fi
}

for i in 1 2; do
    p=$(npid "${reps[$i]}") || harness_error "no pid for n${reps[$i]}"
    kill -STOP "$p" && STOPPED+=("$p")
done
echo "# SIGSTOPped n${reps[1]} and n${reps[2]}; n$live coordinates"

timed ncli "$live" DYNAMO.PUT "$key" "" v-w3 W 3
assert_match '^NOQUORUM 1 of 3 required replicas acknowledged' "$OUT" "DYNAMO.PUT W 3 gets NOQUORUM 1 of 3"
within "DYNAMO.PUT W 3"
timed ncli "$live" SET "$key" v-w2
assert_match '^NOQUORUM 1 of 2 required replicas (acknowledged|answered)' "$OUT" "SET (R=2 read first, W=2) gets NOQUORUM 1 of 2"
within "SET"
timed ncli "$live" DYNAMO.GET "$key" R 3
assert_match '^NOQUORUM 1 of 3 required replicas answered' "$OUT" "DYNAMO.GET R 3 gets NOQUORUM 1 of 3"
within "DYNAMO.GET R 3"
timed ncli "$live" GET "$key"
assert_match '^NOQUORUM 1 of 2 required replicas answered' "$OUT" "GET (R=2) gets NOQUORUM 1 of 2"
within "GET"
timed ncli "$live" DYNAMO.GET "$key" R 1
assert_match '^v' "$OUT" "DYNAMO.GET R 1 still answers from the live replica"
nw=$(info_field "$live" noquorum_writes)
nr=$(info_field "$live" noquorum_reads)
# DYNAMO.PUT fails its write quorum; SET reads R replicas first, so it
# fails either its read or its write quorum; the two reads fail reads
if [ "${nw:-0}" -ge 1 ] && [ "${nr:-0}" -ge 2 ] && [ $((nw + nr)) -ge 4 ]; then
    ok "INFO counts noquorum_writes=$nw noquorum_reads=$nr"
else fail "INFO noquorum_writes=$nw noquorum_reads=$nr, want >= 1, >= 2, 4 in all"; fi

# clients that hang up while their MGET / EXEC waits for the stopped
# replicas: the coordinator must not answer into a freed connection
timeout 0.3 redis-cli -h 127.0.0.1 -p "$(nport "$live")" MGET "$key" "$key:b" "$key:c" >/dev/null 2>&1
printf 'MULTI\nGET %s\nSET %s x\nEXEC\n' "$key" "$key:d" |
    timeout 0.3 redis-cli -h 127.0.0.1 -p "$(nport "$live")" >/dev/null 2>&1
sleep $(( TIMEOUT_MS / 1000 + 1 ))
assert_eq PONG "$(ncli "$live" PING)" "n$live survives clients that left during an MGET and an EXEC"

resume_all
echo "# SIGCONT sent"
members_all_up() {
    local j
    for ((j = 1; j <= CL_N; j++)); do
        [ "$(info_field "$j" cluster_members_up)" = "$CL_N" ] || return 1
    done
}
if wait_for 15 members_all_up; then ok "every node sees 3 members up again"
else fail "the cluster did not recover after SIGCONT"; fi

got=$(ncli "$live" DYNAMO.GET "$key" R 3)
vals=$(echo "$got" | tail -n +2 | sort | tr '\n' ' ')
case "$(echo "$got" | head -1)" in
    NOQUORUM*|ERR*) fail "DYNAMO.GET R 3 after recovery: $got" ;;
    *) ok "DYNAMO.GET R 3 works after recovery: values [$vals]" ;;
esac
bad=0
for v in $vals; do
    case $v in v0|v-w3|v-w2) ;; *) bad=$((bad + 1)) ;; esac
done
[ -n "$vals" ] || bad=1
assert_eq 0 "$bad" "every sibling is one of the values written (v0, v-w3, v-w2)"
g=$(ncli "${reps[2]}" GET "$key")
case $g in v-w3|v-w2) ok "GET returns one of the failed writes' values ($g): nothing rolled back";;
    *) fail "GET after recovery: [$g]";; esac

same_everywhere() {
    local a b c
    a=$(local_sig "${reps[0]}" "$key")
    b=$(local_sig "${reps[1]}" "$key")
    c=$(local_sig "${reps[2]}" "$key")
    [ -n "$a" ] && [ "$a" = "$b" ] && [ "$b" = "$c" ]
}
if wait_for 3 same_everywhere; then ok "the 3 replicas hold the same object (DYNAMO.LOCAL)"
else
    fail "replicas differ after recovery and a R=3 read"
    for j in "${reps[@]}"; do echo "# n$j: $(ncli "$j" DYNAMO.LOCAL "$key" | tr '\n' ' ')"; done
fi

assert_eq OK "$(ncli "${reps[1]}" SET "$key" final)" "a write after recovery succeeds"
bad=0
for ((j = 1; j <= CL_N; j++)); do
    [ "$(ncli "$j" GET "$key")" = final ] || bad=$((bad + 1))
done
assert_eq 0 "$bad" "and every node reads it back"
finish

#!/usr/bin/env bash
# t_clock.sh -- a real node reads the system clock through its clock hooks
# (server/node.h: main.c installs node_clock_system; the simulation installs
# a virtual clock instead).  Every command that shows or uses the time agrees
# with the machine's clock and with itself:
#   - TIME is the wall clock, as seconds and microseconds;
#   - INFO server_time_usec lies between two TIMEs;
#   - a TTL set now counts down from what was set, and a key whose absolute
#     expiry (PEXPIREAT, from TIME) has passed is gone;
#   - CLIENT INFO's age starts at 0.
# No timing assertion: bounds are generous and waits are polls with
# deadlines.
. "$(dirname "$0")/lib.sh"
need_cmd redis-cli

start_server
P=$SRV_PORT

# ---- TIME ------------------------------------------------------------------
before=$(date +%s)
mapfile -t t1 < <(cli "$P" TIME)
after=$(date +%s)
assert_match '^[0-9]+$' "${t1[0]:-}" "TIME's first element is seconds"
assert_match '^[0-9]{1,6}$' "${t1[1]:-}" "TIME's second element is microseconds"
if [ "${t1[0]:-0}" -ge $((before - 1)) ] && [ "${t1[0]:-0}" -le $((after + 1)) ]; then
    ok "TIME is the wall clock (${t1[0]} within [$before, $after] +-1 s)"
else
    fail "TIME says ${t1[0]:-?}, the machine said $before..$after"
fi

# ---- INFO server_time_usec between two TIMEs ---------------------------------
us() { local a; mapfile -t a < <(cli "$P" TIME); echo $((a[0] * 1000000 + 10#${a[1]})); }
lo=$(us)
info=$(cli "$P" INFO server | tr -d '\r' | sed -n 's/^server_time_usec://p')
hi=$(us)
assert_match '^[0-9]+$' "$info" "INFO server_time_usec is a number"
if [ "${info:-0}" -ge "$lo" ] && [ "${info:-0}" -le "$hi" ]; then
    ok "INFO server_time_usec lies between two TIMEs"
else
    fail "server_time_usec $info outside [$lo, $hi]"
fi

# ---- TTLs run on the same clock ----------------------------------------------
assert_eq OK "$(cli "$P" SET k v EX 100)" "SET EX 100"
ttl=$(cli "$P" TTL k)
if [ "$ttl" -ge 1 ] && [ "$ttl" -le 100 ]; then ok "TTL counts down from 100 ($ttl)"
else fail "TTL after EX 100: $ttl"; fi
pttl=$(cli "$P" PTTL k)
if [ "$pttl" -ge 1000 ] && [ "$pttl" -le 100000 ]; then ok "PTTL is in ms ($pttl)"
else fail "PTTL after EX 100: $pttl"; fi
cli "$P" SET gone v >/dev/null
when=$(( $(us) / 1000 + 5000 ))
assert_eq 1 "$(cli "$P" PEXPIREAT gone "$when")" "PEXPIREAT 5 s after TIME"
assert_eq "$when" "$(cli "$P" PEXPIRETIME gone)" "PEXPIRETIME is the absolute time set"
deadline=$((SECONDS + 60))
while [ "$(cli "$P" EXISTS gone)" != 0 ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.1
done
assert_eq 0 "$(cli "$P" EXISTS gone)" "the key is gone once its expiry time passed"
assert_eq 1 "$(cli "$P" EXISTS k)" "the key with 100 s left is still there"

# ---- CLIENT INFO ---------------------------------------------------------------
assert_match ' age=[0-9] ' "$(cli "$P" CLIENT INFO)" "a new connection's age is seconds, near 0"

finish

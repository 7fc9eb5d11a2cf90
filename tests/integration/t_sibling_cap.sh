#!/usr/bin/env bash
# t_sibling_cap.sh -- blind writes above max-siblings are refused, and the
# refusal is visible: counted in INFO (sibling_cap_refusals) and logged with
# the key, escaped and cut short, rate-limited so that a flood of refused
# writes cannot fill the disk (issue 10, item 9).
#
# With max-siblings 3, three blind DYNAMO.PUTs (empty context) of one key
# make three siblings; the next ones are refused.  The key is hostile: a
# newline and a fake log line in it, and 300 bytes long.
. "$(dirname "$0")/lib.sh"
"$PYTHON" -c 'import redis' 2>/dev/null || skip "python3-redis not installed"
is_dynamod || skip "DYNAMO.* and max-siblings are dynamod's"

start_dynamod --max-siblings 3 --storage memory
PORT=$SRV_PORT
LOG=$SRV_LOG

OUT=$("$PYTHON" - "$PORT" <<'PY' 2>&1
import sys
import redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10)
key = b"cap-key\nFAKE-LINE injected\x01" + b"x" * 300
for i in range(3):
    print("put%d %s" % (i, r.execute_command("DYNAMO.PUT", key, b"", b"v%d" % i)))
print("siblings %d" % len(r.execute_command("DYNAMO.GET", key)[1]))
refused = 0
for i in range(200):
    try:
        r.execute_command("DYNAMO.PUT", key, b"", b"more")
    except redis.ResponseError as e:
        refused += 1
        last = str(e)
print("refused %d" % refused)
print("error %s" % last)
# a write that resolves the siblings still goes through
ctx = r.execute_command("DYNAMO.GET", key)[0]
print("resolve %s" % r.execute_command("DYNAMO.PUT", key, ctx, b"resolved"))
print("after %d" % len(r.execute_command("DYNAMO.GET", key)[1]))
PY
)
echo "$OUT" | sed 's/^/# /'
assert_contains "put2 b'OK'" "$OUT" "three blind writes make three siblings"
assert_contains "siblings 3" "$OUT" "DYNAMO.GET shows the three"
assert_contains "refused 200" "$OUT" "every blind write beyond max-siblings is refused"
assert_contains "error too many siblings for key (max-siblings 3)" "$OUT" \
    "the error names the cap"
assert_contains "resolve b'OK'" "$OUT" "a write with the context still resolves them"
assert_contains "after 1" "$OUT" "... into one value"

assert_eq 200 "$(cli "$PORT" INFO dynamo | tr -d '\r' | sed -n 's/^sibling_cap_refusals://p')" \
    "INFO dynamo counts the refusals (sibling_cap_refusals)"

LINES=$(grep -c 'Write refused: key' "$LOG")
if [ "$LINES" -ge 1 ]; then ok "the refusal is logged ($LINES line(s))"
else fail "no log line for the refusals"; fi
# at most one line per 10 s: 200 refusals in a burst give far fewer lines
if [ "$LINES" -lt 20 ]; then ok "the log lines are rate-limited"
else fail "$LINES log lines for 200 refusals"; fi
LINE=$(grep -m1 'Write refused: key' "$LOG")
assert_contains '"cap-key\x0aFAKE-LINE injected\x01xxx' "$LINE" \
    "the log line shows the key, escaped"
assert_contains '... (327 bytes)' "$LINE" "a long key is cut, with its length"
assert_contains 'more than 3 siblings (max-siblings)' "$LINE" "the line names the cap"
if grep -q '^FAKE-LINE' "$LOG"; then fail "the key forged a log line"
else ok "the key cannot forge a log line"; fi
finish

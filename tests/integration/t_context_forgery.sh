#!/usr/bin/env bash
# t_context_forgery.sh -- a client context cannot make a node lose a write
# or reuse a dot (issue 10, item 2).
#
# The context of DYNAMO.GET is base64url of the clock encoding (vclock.h):
# varint count, then per entry the actor (8 bytes big-endian), the counter
# and ts_ms as varints.  This test decodes the node's own actor from a real
# context and forges contexts that give it the counters 2^64-1, 2^64-2 and
# 2^63 (and 2^64-1 for a foreign actor), then checks with Python's redis
# client against a real dynamod (storage disk):
#   - such a DYNAMO.PUT is refused with an error, or its value survives;
#   - the following SET is not lost;
#   - new keys keep getting fresh, small counters (no dot restarts at 1,
#     the node's high-water mark does not jump);
#   - all of it holds after a restart on the same directory;
#   - a node.meta whose counter reservation was pushed near 2^64 (by a node
#     before this fix) starts a fresh actor, so counters cannot wrap.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/storage_lib.sh"
need_cmd redis-cli
"$PYTHON" -c 'import redis' 2>/dev/null || skip "python3-redis not installed"
is_dynamod || skip "DYNAMO.* commands are dynamod's"

DIR="$WORK/node"

# forge.py PORT PHASE: prints "ok - ..." / "FAIL - ..." lines and, last,
# "state MAXCOUNTER ACTOR".
cat >"$WORK/forge.py" <<'PY'
import base64, re, sys
import redis

port, phase = int(sys.argv[1]), sys.argv[2]
prev_max = int(sys.argv[3]) if len(sys.argv) > 3 else 0
prev_actor = sys.argv[4] if len(sys.argv) > 4 else ""
r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)

def check(cond, what):
    print(("ok - " if cond else "FAIL - ") + what)

def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7f) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)

def get_varint(b, i):
    v = s = 0
    while True:
        x = b[i]; i += 1
        v |= (x & 0x7f) << s; s += 7
        if not x & 0x80:
            return v, i

def decode(ctx):
    raw = base64.urlsafe_b64decode(ctx + b"=" * (-len(ctx) % 4))
    n, i = get_varint(raw, 0)
    out = []
    for _ in range(n):
        actor = int.from_bytes(raw[i:i + 8], "big"); i += 8
        c, i = get_varint(raw, i)
        ts, i = get_varint(raw, i)
        out.append((actor, c, ts))
    return out

def encode(entries):
    raw = varint(len(entries))
    for actor, c, ts in sorted(entries):
        raw += actor.to_bytes(8, "big") + varint(c) + varint(ts)
    return base64.urlsafe_b64encode(raw).rstrip(b"=")

def counters(key):
    """The dot counters of key's siblings (DYNAMO.VCLOCK)."""
    out = []
    for sib in r.execute_command("DYNAMO.VCLOCK", key):
        m = dict(zip(sib[::2], sib[1::2])) if isinstance(sib, list) else sib
        dot = m[b"dot"].decode()
        out.append(int(dot.rsplit(":", 1)[1]))
    return out

def fresh_counter(key, floor):
    """SET a new key: its dot must be above floor and far below 2^63."""
    r.set(key, b"x")
    c = counters(key)
    check(len(c) == 1 and floor < c[0] < 2**32,
          "%s: new key gets a fresh dot above %d (got %s)" % (key, floor, c))
    return c[0] if c else floor

base = ("base-%s" % phase).encode()
r.set(base, b"v0")
ctx = r.execute_command("DYNAMO.GET", base)[0]
ent = decode(ctx)
check(len(ent) == 1, "a first SET's context names one actor (the node)")
actor, c0, ts = ent[0]
if phase == "restart":
    check("%016x" % actor == prev_actor,
          "the restarted node keeps its actor (its data survived)")
elif phase == "fresh-actor":
    check("%016x" % actor != prev_actor,
          "a node.meta near the end of the counter space starts a new actor")
top = fresh_counter(b"fresh-" + phase.encode(), prev_max if phase == "restart" else 0)

for x in (2**64 - 1, 2**64 - 2, 2**63):
    key = ("k-%s-%d" % (phase, x)).encode()
    r.set(key, b"before")
    forged = encode([(actor, x, ts)])
    try:
        rep = r.execute_command("DYNAMO.PUT", key, forged, b"forged")
        vals = r.execute_command("DYNAMO.GET", key)[1]
        check(b"forged" in vals,
              "PUT claiming counter %d answered %r: its value survives" % (x, rep))
    except redis.ResponseError as e:
        check("context" in str(e),
              "PUT claiming counter %d of this node is refused: %s" % (x, e))
        check(r.get(key) == b"before", "the refused PUT changed nothing")
    r.set(key, b"after")
    check(r.get(key) == b"after", "the SET after counter %d is not lost" % x)
    top = fresh_counter(key + b"-new", top)

# A foreign actor's counter is the client's to claim: it supersedes what the
# client says it saw, and still loses nothing of this node's.
foreign = actor ^ (1 << 40)
key = ("foreign-%s" % phase).encode()
r.set(key, b"before")
try:
    r.execute_command("DYNAMO.PUT", key, encode([(foreign, 2**64 - 1, ts)]), b"f")
    check(r.get(key) in (b"f", b"before"), "a foreign 2^64-1 claim: PUT answered OK")
except redis.ResponseError as e:
    check("context" in str(e), "a foreign 2^64-1 claim is refused: %s" % e)
r.set(key, b"after")
check(r.get(key) == b"after", "the SET after a foreign claim is not lost")
top = fresh_counter(key + b"-new", top)
print("state %d %016x" % (top, actor))
PY

run_phase() {
    local line
    STATE=
    while IFS= read -r line; do
        case $line in
            "ok - "*) ok "${line#ok - }" ;;
            "FAIL - "*) fail "${line#FAIL - }" ;;
            "state "*) STATE=${line#state } ;;
            *) echo "# $line" ;;
        esac
    done < <("$PYTHON" "$WORK/forge.py" "$@" 2>&1)
    [ -n "$STATE" ] || fail "phase $2 did not finish"
}

start_dynamod_dir "$DIR" --storage disk --node-name n1
run_phase "$SRV_PORT" first
read -r TOP ACTOR <<<"$STATE"
TOP=${TOP:-0}

# the same data directory after a clean restart: values and counters hold
stop_server "$SRV_PID" 20
start_dynamod_dir "$DIR" --storage disk --node-name n1
wait_loaded "$SRV_PORT" || fail "the node did not finish loading"
for x in 18446744073709551615 18446744073709551614 9223372036854775808; do
    assert_eq after "$(cli "$SRV_PORT" GET "k-first-$x")" \
        "after a restart, the SET after counter $x is still there"
done
run_phase "$SRV_PORT" restart "$TOP" "$ACTOR"
read -r TOP ACTOR <<<"$STATE"

# a node.meta poisoned by a node before the fix: the counter reservation
# at 2^64-3 would wrap at the next reservation; the node starts a new actor
stop_server "$SRV_PID" 20
printf 'incarnation 7\ncounters 18446744073709551613\n' >"$DIR/node.meta"
start_dynamod_dir "$DIR" --storage disk --node-name n1
wait_loaded "$SRV_PORT" || fail "the node did not finish loading"
assert_eq after "$(cli "$SRV_PORT" GET k-restart-9223372036854775808)" \
    "the data survives the fresh actor"
run_phase "$SRV_PORT" fresh-actor 0 "$ACTOR"
assert_match '^incarnation [0-9]+$' "$(head -n 1 "$DIR/node.meta")" \
    "node.meta names an incarnation"
COUNTERS=$(sed -n 's/^counters //p' "$DIR/node.meta")
if [ -n "$COUNTERS" ] && [ "${#COUNTERS}" -le 10 ]; then
    ok "node.meta's reservation starts again low ($COUNTERS)"
else
    fail "node.meta's reservation is [$COUNTERS]"
fi
finish

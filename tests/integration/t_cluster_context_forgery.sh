#!/usr/bin/env bash
# t_cluster_context_forgery.sh -- a context forged at one coordinator that
# claims ANOTHER node's counters (2^64-1, 2^64-2, 2^63) cannot make that node
# lose a write or move its counters (issue 10, item 2).
#
# Three nodes, N = 3, so each node is a replica of every key and coordinates
# what its own clients send.  Through n1, a DYNAMO.PUT whose context gives
# n2's actor the forged counter is accepted (n1 cannot know n2's counters:
# docs/DESIGN-CHANGES.md).  Then, through n2, a SET of the same key must be
# acknowledged and its value must reach every replica (the forged version
# and the honest one cover each other: both stay), n2's next dots stay small,
# and a blind DYNAMO.PUT through n2 that the forged version would cover is
# refused with an error rather than acknowledged and lost.
. "$(dirname "$0")/cluster_lib.sh"
"$PYTHON" -c 'import redis' 2>/dev/null || skip "python3-redis not installed"

cluster_start 3

# forge PORT KEY ACTOR COUNTER VALUE: DYNAMO.PUT through PORT with a context
# {ACTOR: COUNTER} (vclock.h's encoding, base64url); prints the reply.
forge() {
    "$PYTHON" - "$@" <<'PY'
import base64, sys, time
import redis
port, key, actor, counter, value = sys.argv[1:6]
def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7f) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)
raw = varint(1) + int(actor, 16).to_bytes(8, "big") + varint(int(counter)) + \
    varint(int(time.time() * 1000))
ctx = base64.urlsafe_b64encode(raw).rstrip(b"=")
r = redis.Redis(host="127.0.0.1", port=int(port), socket_timeout=10)
try:
    print(r.execute_command("DYNAMO.PUT", key, ctx, value).decode())
except redis.ResponseError as e:
    print("ERR %s" % e)
PY
}
has_value() { local_values "$1" "$2" | grep -qx "$3"; }
everywhere() { # KEY VALUE: every node's own copy holds VALUE
    local i
    for i in 1 2 3; do has_value "$i" "$1" "$2" || return 1; done
}
dot_counter() { # I KEY: the counter of node I's sibling of KEY written by I
    ncli "$1" DYNAMO.VCLOCK "$2" | awk -v me="n$1" '
        prev == "dot" && index($0, me ":") == 1 { sub(/^[^:]*:/, ""); print }
        { prev = $0 }' | sort -n | tail -1
}

ACTOR2=$(info_field 2 actor)
assert_match '^[0-9a-f]{16}$' "$ACTOR2" "n2 shows its actor in INFO"

for c in 18446744073709551615 18446744073709551614 9223372036854775808; do
    key="forged:$c"
    assert_eq OK "$(ncli 1 SET "$key" v0)" "$c: SET through n1"
    assert_eq OK "$(forge "$(nport 1)" "$key" "$ACTOR2" "$c" forged)" \
        "$c: n1 accepts a context claiming n2's counter $c (a foreign actor)"
    assert_eq OK "$(ncli 2 SET "$key" honest)" "$c: then a SET through n2 is acknowledged"
    if wait_for 30 everywhere "$key" honest; then
        ok "$c: n2's SET reaches every replica"
    else
        fail "$c: n2's SET is not on every replica: $(for i in 1 2 3; do echo "n$i=[$(local_values "$i" "$key" | tr '\n' ' ')]"; done)"
    fi
    assert_contains honest "$(ncli 3 DYNAMO.GET "$key")" "$c: a read through n3 returns it"
    got=$(dot_counter 2 "$key")
    if [ -n "$got" ] && [ "${#got}" -le 9 ]; then
        ok "$c: n2's dot stays small ($got): the claim did not move its counters"
    else
        fail "$c: n2's dot is [$got]"
    fi
    reply=$(ncli 2 DYNAMO.PUT "$key" "" blind 2>&1)
    case $reply in
        OK) if wait_for 10 has_value 2 "$key" blind; then ok "$c: a blind PUT through n2 answered OK and is kept"
            else fail "$c: a blind PUT through n2 answered OK and is gone"; fi ;;
        *"next write"*) ok "$c: a blind PUT through n2 that the forged version covers is refused" ;;
        *) fail "$c: a blind PUT through n2 answered [$reply]" ;;
    esac
    assert_eq OK "$(ncli 2 SET "fresh:$c" x)" "$c: a new key through n2"
    got=$(dot_counter 2 "fresh:$c")
    if [ -n "$got" ] && [ "${#got}" -le 9 ]; then
        ok "$c: n2's new key gets a small fresh dot ($got)"
    else
        fail "$c: n2's new key got the dot [$got]"
    fi
done
finish

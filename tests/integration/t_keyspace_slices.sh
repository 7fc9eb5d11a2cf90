#!/usr/bin/env bash
# t_keyspace_slices.sh -- DBSIZE counts from memory, and a big listing runs
# in slices, so no client waits behind it (issue #13, item 9).
#
# R.COUNT used to read every object from disk on the event loop (2M keys:
# DBSIZE 0.97 s, a PING to another node waited 517 ms), and R.KEYS walked
# whole stores in one callback.  Now a partition's visible count comes from
# the store's memory, and a listing visits keyspace-slice-keys entries per
# loop turn.  No timing is asserted: the test counts records read for the
# keyspace (INFO keyspace_disk_reads) and slices (keyspace_slices), and
# observes the order of replies.
#
# 1. 3 nodes, storage disk, keyspace-slice-keys 50: NKEYS keys, some with a
#    TTL.  DBSIZE and KEYS * through every node give NKEYS, INFO shows
#    keyspace_disk_reads 0 on every node afterwards, and the listings took
#    many slices.
# 2. 1 node in cluster mode (every partition listed by itself),
#    keyspace-slice-keys 10, BIG keys: a client sends KEYS *, and another
#    client PINGs the same node, one PING after the other, until the KEYS
#    reply starts to arrive.  Several PONGs come back first (the old code
#    listed everything in the KEYS request's own callback, so at most one
#    PONG could race it), and the KEYS reply is complete.
. "$(dirname "$0")/cluster_lib.sh"

NKEYS=6000
NTTL=200
BIG=40000
P="ks:$RANDOM:"

# reads_zero: every node reports keyspace_disk_reads, and it is 0.
reads_zero() {
    local j v
    for ((j = 1; j <= CL_N; j++)); do
        v=$(info_field "$j" keyspace_disk_reads)
        [ "$v" = 0 ] || { echo "n$j keyspace_disk_reads: '${v}'"; return 1; }
    done
}

# ---- 1. counts from memory, listings in slices
# slice_keys K: CONFIG SET keyspace-slice-keys K on every node
slice_keys() {
    local j
    for ((j = 1; j <= CL_N; j++)); do
        assert_eq OK "$(ncli "$j" CONFIG SET keyspace-slice-keys "$1")" \
            "n$j: keyspace-slice-keys $1"
    done
}

DYNAMO_STORAGE=disk cluster_start 3
slice_keys 50
bad=$( { for ((j = 0; j < NKEYS - NTTL; j++)); do echo "SET $P$j v$j"; done
         for ((j = NKEYS - NTTL; j < NKEYS; j++)); do echo "SET $P$j v$j EX 3600"; done
       } | ncli 1 | grep -vc '^OK$')
assert_eq 0 "$bad" "$NKEYS keys written through n1 ($NTTL with a TTL)"
slices0=$(info_sum keyspace_slices)
for ((i = 1; i <= 3; i++)); do
    assert_eq "$NKEYS" "$(ncli "$i" DBSIZE)" "DBSIZE through n$i"
    assert_eq "$NKEYS" "$(ncli "$i" KEYS '*' | grep -c "^$P")" "KEYS * through n$i"
done
if out=$(reads_zero); then
    ok "no node read a record from disk for DBSIZE or KEYS"
else
    fail "records read for the keyspace: $out"
fi
slices=$(( $(info_sum keyspace_slices) - slices0 ))
# a slice lists whole partitions until 50 entries were visited: with ~23
# keys a partition, each slice lists 3 or 4 partitions
[ "$slices" -ge $((3 * NKEYS / 100)) ] &&
    ok "three KEYS * of $NKEYS keys ran in $slices slices of ~50 entries" ||
    fail "three KEYS * of $NKEYS keys ran in $slices slices (want >= $((3 * NKEYS / 100)))"
cluster_stop

# ---- 2. a PING to the node is answered while its KEYS is listing
cluster_start 1
slice_keys 10
bad=$(for ((j = 0; j < BIG; j++)); do echo "SET $P$j v"; done | ncli 1 | grep -vc '^OK$')
assert_eq 0 "$bad" "$BIG keys written to n1"
out=$("$PYTHON" - "$(nport 1)" "$BIG" <<'EOF'
import select, socket, sys
port, big = int(sys.argv[1]), int(sys.argv[2])
x = socket.create_connection(("127.0.0.1", port))
y = socket.create_connection(("127.0.0.1", port))
x.sendall(b"*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n")
def x_has_data():
    return bool(select.select([x], [], [], 0)[0])
pongs = 0
while not x_has_data() and pongs < 100000:
    y.sendall(b"PING\r\n")
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = y.recv(64)
        if not chunk:
            sys.exit("the PING connection closed")
        buf += chunk
    if buf != b"+PONG\r\n":
        sys.exit("PING answered %r" % buf)
    if x_has_data():
        break
    pongs += 1
# the KEYS reply: an array header, then BIG bulks
data = b""
x.settimeout(60)
while True:
    chunk = x.recv(1 << 20)
    if not chunk:
        break
    data += chunk
    if data.startswith(b"*") and b"\r\n" in data:
        n = int(data[1:data.index(b"\r\n")])
        if data.count(b"\r\n") >= 1 + 2 * n:
            break
print(pongs, int(data[1:data.index(b"\r\n")]))
EOF
) || fail "the PING/KEYS client failed: $out"
read -r pongs nkeys <<<"$out"
[ "${pongs:-0}" -ge 3 ] &&
    ok "$pongs PINGs were answered, one after the other, before the KEYS reply began" ||
    fail "only ${pongs:-?} PINGs were answered before the KEYS reply (it ran in one go?)"
assert_eq "$BIG" "${nkeys:-}" "the KEYS reply lists all $BIG keys"
finish

#!/usr/bin/env bash
# t_tls_cluster.sh -- a 3-node cluster whose peer bus runs TLS 1.3
# (tls-cluster yes, a PSK derived from the generated secret).
#
# Writes through one node read back through every other (the bus carries
# replication and forwarding); all members are up; the peer ports speak only
# TLS: a plain-text PEER.HELLO gets no answer (no name, no nonce) and the
# socket is closed; a TLS client without the PSK (Python's ssl with no
# certificate to check against) fails its handshake.  A fourth node with the
# same secret but a plain-text bus never links to the cluster, and one with
# tls-cluster and another secret neither; both sides of that failed TLS
# handshake log it, with the address.  Last, a node with tls-cluster
# but no secret refuses to start and says why.
. "$(dirname "$0")/cluster_lib.sh"

cluster_start 3 --tls-cluster yes
for j in 1 2 3; do
    assert_eq yes "$(ncli "$j" CONFIG GET tls-cluster | tail -1)" "n$j: CONFIG GET tls-cluster is yes"
done
all_up() { for j in 1 2 3; do [ "$(info_field "$j" cluster_members_up)" = 3 ] || return 1; done; }
if wait_for 20 all_up; then ok "every node sees 3 members up over the TLS bus"
else fail "members up: $(for j in 1 2 3; do info_field "$j" cluster_members_up; done | tr '\n' ' ')"; fi

bad=0
for i in $(seq 1 60); do
    k="tls:$i"
    [ "$(ncli $(( i % 3 + 1 )) SET "$k" "v$i")" = OK ] || bad=$((bad + 1))
done
assert_eq 0 "$bad" "60 SETs through the three nodes answer OK"
bad=0
for i in $(seq 1 60); do
    for j in 1 2 3; do
        [ "$(ncli "$j" GET "tls:$i")" = "v$i" ] || bad=$((bad + 1))
    done
done
assert_eq 0 "$bad" "each of the 60 keys reads back through every node (quorum reads over the bus)"
got=$("$PYTHON" -c 'import sys; sys.stdout.write("x" * 300000)' | ncli 1 -x SET tls:big)
assert_eq OK "$got" "a 300 KB value is written (many TLS records per message)"
assert_eq 300000 "$(ncli 2 STRLEN tls:big)" "and read back whole through another node"

"$PYTHON" - "$((CL_BASE + 10000))" <<'PY'
import os, socket, ssl, sys, time
port = int(sys.argv[1])
bad = 0
# plain text at a TLS peer port
s = socket.create_connection(("127.0.0.1", port), timeout=5)
n = os.urandom(32).hex().encode()
s.sendall(b"*3\r\n$10\r\nPEER.HELLO\r\n$1\r\nx\r\n$64\r\n" + n + b"\r\n")
got = b""
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    try:
        chunk = s.recv(4096)
    except OSError:
        break
    if not chunk:
        break
    got += chunk
s.close()
print("# plain HELLO to a TLS peer port got %d bytes" % len(got))
if b"n1" in got or b"$64" in got:
    bad += 1
    print("#   ^ a TLS bus must not answer plain text")
# TLS without the PSK: a certificate-less server cannot be reached
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as t:
            print("# a TLS client without the PSK completed a handshake:", t.version())
            bad += 1
except (ssl.SSLError, OSError) as e:
    print("# TLS without the PSK: %s" % type(e).__name__)
sys.exit(1 if bad else 0)
PY
assert_eq 0 "$?" "a TLS peer port answers neither plain text nor TLS without the PSK"

# nodes that do not hold the bus's key never link
secret=$(cat "$DYNAMO_CLUSTER_DIR/secret")
intruder() {  # name, extra options...
    local name=$1 port pport
    shift
    port=$(free_port)
    pport=$(free_port)
    "$DYNAMOD" --port "$port" --bind 127.0.0.1 --storage memory --dir "$WORK" \
        --logfile "$WORK/$name.log" --node-name "$name" \
        --cluster-node "n1 127.0.0.1:$(nport 1)" --cluster-node "$name 127.0.0.1:$port@$pport" \
        "$@" >>"$WORK/$name.stdout.log" 2>&1 &
    IPID=$!
    track_pid "$IPID"
    IPORT=$port
    _wait_up "$IPID" "$port" || fail "$name did not start"
}
intruder plain --cluster-secret "$secret"
plain_port=$IPORT plain_pid=$IPID
intruder wrongkey --cluster-secret "other-secret-$RANDOM$RANDOM" --tls-cluster yes
# the failed TLS handshakes are logged on both sides, with the address
logged() { grep -q "$2" "$1" 2>/dev/null; }
if wait_for 20 logged "$WORK/wrongkey.log" "Peer authentication failed, this node dialing n1 at 127.0.0.1:$(( $(nport 1) + 10000 )): the TLS handshake failed"; then
    ok "the node with another secret logs its failed TLS handshake with n1, naming n1's peer address"
else
    fail "no failed TLS handshake logged by the node with another secret: $(grep -i 'peer auth' "$WORK/wrongkey.log" | tail -2)"
fi
if wait_for 20 logged "$DYNAMO_CLUSTER_DIR/n1/dynamod.log" "Peer authentication failed, 127.0.0.1:[0-9]* dialing this node as ?: the TLS handshake failed: .*cluster-secret and tls-cluster"; then
    ok "n1 logs the failed TLS handshake of the caller, with its address and the hint"
else
    fail "n1 logged no failed TLS handshake: $(grep -i 'peer auth' "$DYNAMO_CLUSTER_DIR/n1/dynamod.log" | tail -2)"
fi
n=$(grep -c "Peer authentication failed" "$WORK/wrongkey.log")
echo "# the node with another secret logged $n failed handshake lines (rate-limited)"
if [ "$n" -le 8 ]; then ok "those lines are rate-limited ($n lines)"
else fail "$n failed-handshake lines: not rate-limited"; fi
sleep 3
for p in "$plain_port" "$IPORT"; do
    up=$(cli "$p" INFO dynamo | tr -d '\r' | sed -n 's/^cluster_members_up://p')
    assert_eq 1 "$up" "a node on port $p without the bus's TLS key sees no member but itself"
done
stop_server "$plain_pid" 10
stop_server "$IPID" 10
assert_eq 3 "$(info_field 1 cluster_members_up)" "the cluster still has its 3 members up"

# tls-cluster without a secret: refused at start
np=$(free_port)
"$DYNAMOD" --port "$np" --bind 127.0.0.1 --storage memory --dir "$WORK" \
    --node-name a --cluster-node "a 127.0.0.1:$np" --cluster-node "b 127.0.0.1:$((np + 1))" \
    --cluster-insecure yes --tls-cluster yes >"$WORK/nosecret.out" 2>&1 &
NPID=$!
track_pid "$NPID"
wait_exit "$NPID" 10
assert_eq 1 "$EXIT_RC" "tls-cluster yes without cluster-secret: exit 1"
assert_contains "tls-cluster yes needs cluster-secret" "$(cat "$WORK/nosecret.out")" "and says why"
finish

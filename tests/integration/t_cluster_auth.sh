#!/usr/bin/env bash
# t_cluster_auth.sh -- the peer bus changes nothing for a peer without the
# secret.
#
# On a 3-node cluster with a generated secret: raw sockets to the nodes'
# peer ports send well-formed internal commands (R.PUT, R.FLUSH, R.CONFIG,
# FWD), with and without request ids, before any handshake, after a bare
# PEER.HELLO, and after a PEER.AUTH with a wrong MAC.  Then a dynamod with
# the WRONG secret, claiming to be member n3, tries to join.  Afterwards no
# data changed (the key is intact on all replicas, DBSIZE is the same, W is
# the same, every member is still up) and INFO counts the auth failures;
# before looking, the test waits for n1 and n2 to count the intruder's
# failures and for a later write to reach every replica.
# Last, a node with cluster-node lines but neither a secret nor
# cluster-insecure refuses to start: exit 1 and a clear message.
. "$(dirname "$0")/cluster_lib.sh"

cluster_start 3
key="auth:$RANDOM"
assert_eq OK "$(ncli 1 SET "$key" precious)" "SET $key precious"
ncli 2 MSET auth:a 1 auth:b 2 auth:c 3 >/dev/null
dbsize=$(ncli 1 DBSIZE)
assert_eq 4 "$dbsize" "DBSIZE is 4 before the attacks"
obj=$(ncli 1 DYNAMO.LOCAL "$key" | head -2 | tail -1)
sigs_before=""
for j in 1 2 3; do sigs_before+="$(local_sig "$j" "$key")|"; done
fails_before=0
for j in 1 2 3; do fails_before=$((fails_before + $(info_field "$j" peer_auth_failures))); done

# -- raw sockets to the peer ports
"$PYTHON" - "$((CL_BASE + 10000))" "$((CL_BASE + 10001))" "$key" <<'PY'
import os, socket, sys, time

ports = [int(sys.argv[1]), int(sys.argv[2])]
key = sys.argv[3].encode()

def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

def nonce():
    return os.urandom(32).hex()

# a plausible object body: the bytes of nothing real, but well framed
blob = b"\x01" + os.urandom(40)
attacks = {
    "R.PUT without an id": [resp("R.PUT", key, blob)],
    "R.PUT with an id": [resp("R.PUT", 1, key, blob)],
    "R.FLUSH": [resp("R.FLUSH")],
    "R.FLUSH with an id": [resp("R.FLUSH", 7)],
    "R.CONFIG w 1": [resp("R.CONFIG", 2, "w", 1)],
    "FWD SET": [resp("FWD", 3, "2", "SET", key, "evil")],
    "FWD DEL": [resp("FWD", 3, "2", "DEL", key)],
    "inline R.FLUSH": [b"R.FLUSH 1\r\n"],
    "HELLO, then R.FLUSH": [resp("PEER.HELLO", "x", nonce()), resp("R.FLUSH", 1)],
    "HELLO as n2, then R.PUT": [resp("PEER.HELLO", "n2", nonce()),
                                resp("R.PUT", 1, key, blob)],
    "HELLO, wrong AUTH, R.FLUSH": [resp("PEER.HELLO", "n2", nonce()),
                                   resp("PEER.AUTH", "0" * 64),
                                   resp("R.FLUSH", 1)],
    "HELLO, AUTH with the wrong length, R.CONFIG": [
        resp("PEER.HELLO", "n3", nonce()), resp("PEER.AUTH", "ab"),
        resp("R.CONFIG", 1, "w", 1)],
    "one write: HELLO+AUTH+FLUSH": [resp("PEER.HELLO", "n2", nonce()) +
                                    resp("PEER.AUTH", "f" * 64) +
                                    resp("R.FLUSH", 1) + resp("R.PUT", 2, key, blob)],
}
bad = 0
for port in ports:
    for name, msgs in attacks.items():
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        got = b""
        closed = False
        for m in msgs:
            try:
                s.sendall(m)
            except OSError:
                closed = True
                break
            time.sleep(0.05)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
        s.close()
        ok = closed and b"+OK" not in got and (b"-NOAUTH" in got or b"-ERR" in got)
        print("# port %d, %s: %s%s" % (port, name, got[:60].replace(b"\r\n", b" ").decode("latin-1"),
                                      " (closed)" if closed else " (still open)"))
        if not ok:
            bad += 1
            print("#   ^ expected an error and a closed connection")

# The reflection that passed the first handshake (two proofs that were the
# same function of a nonce and a name): ask n1 for a challenge as "n2",
# reflect n1's nonce at n2 (and at n1 itself) as our own, and offer what
# comes back as the proof.  Now a HELLO answer is [name, nonce] only.
def read_reply(s, want_elems):
    buf = b""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and buf.count(b"\r\n") < 1 + 2 * want_elems:
        try:
            chunk = s.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    return buf

def hello(port, name, n):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(resp("PEER.HELLO", name, n))
    return s, read_reply(s, 2)

def strings(reply):
    parts = reply.split(b"\r\n")
    return [parts[i + 1] for i in range(len(parts) - 1) if parts[i].startswith(b"$")]

mine = nonce()
s1, r1 = hello(ports[0], "n2", mine)
print("# HELLO as n2 to n1:", r1.replace(b"\r\n", b" ").decode("latin-1"))
if not r1.startswith(b"*2\r\n"):
    bad += 1
    print("#   ^ the answer to an unproven dialer must be [name, nonce] only")
n1_nonce = strings(r1)[-1].decode()
held = [n1_nonce]
for port in ports:
    s2, r2 = hello(port, "x", n1_nonce)
    print("# HELLO x <n1's nonce> to %d:" % port, r2.replace(b"\r\n", b" ").decode("latin-1"))
    if not r2.startswith(b"*2\r\n"):
        bad += 1
        print("#   ^ a reflected nonce must get no proof back")
    held += [x.decode("latin-1") for x in strings(r2) if len(x) == 64]
    s2.close()
for cand in held:
    s1.sendall(resp("PEER.AUTH", cand) + resp("R.GET", 1, key) +
               resp("FWD", 2, "2", "SET", key, "evil") + resp("R.FLUSH", 3))
    got = read_reply(s1, 1)
    print("# PEER.AUTH <%s...> then R.GET, FWD SET, R.FLUSH: %s" %
          (cand[:8], got[:60].replace(b"\r\n", b" ").decode("latin-1")))
    if b"authentication failed" not in got or b"precious" in got:
        bad += 1
        print("#   ^ expected the proof refused and no data")
    s1.close()
    s1, r1 = hello(ports[0], "n2", mine)
s1.close()
# a dialer that claims the acceptor's own name
s3, r3 = hello(ports[0], "n1", nonce())
print("# HELLO as n1 to n1:", r3.replace(b"\r\n", b" ").decode("latin-1"))
if b"own name" not in r3:
    bad += 1
    print("#   ^ expected the node's own name refused")
s3.close()
sys.exit(1 if bad else 0)
PY
assert_eq 0 "$?" "every unauthenticated internal command got an error and a closed connection; a reflected challenge gets no proof"
fails_mid1=$(info_field 1 peer_auth_failures)
fails_mid2=$(info_field 2 peer_auth_failures)

# -- a node with the wrong secret, claiming to be n3, dials n1 and n2
ip=$(free_port)
ipp=$(free_port)
"$DYNAMOD" --port "$ip" --bind 127.0.0.1 --storage memory --dir "$WORK" \
    --logfile "$WORK/intruder.log" --node-name n3 \
    --cluster-node "n1 127.0.0.1:$(nport 1)" --cluster-node "n2 127.0.0.1:$(nport 2)" \
    --cluster-node "n3 127.0.0.1:$ip@$ipp" \
    --cluster-secret "not-the-secret-$RANDOM$RANDOM" >>"$WORK/intruder.stdout.log" 2>&1 &
IPID=$!
track_pid "$IPID"
_wait_up "$IPID" "$ip" || { fail "the intruder did not start"; finish; }
intruder_failed() { [ "$(cli "$ip" INFO dynamo | tr -d '\r' | sed -n 's/^peer_auth_failures://p')" -ge 2 ] 2>/dev/null; }
if wait_for 10 intruder_failed; then
    ok "the wrong-secret node counts auth failures against n1 and n2 ($(cli "$ip" INFO dynamo | tr -d '\r' | sed -n 's/^peer_auth_failures://p'))"
else
    fail "the wrong-secret node shows no auth failures"
fi
intruder_alone() { [ "$(cli "$ip" INFO dynamo | tr -d '\r' | sed -n 's/^cluster_members_up://p')" = 1 ]; }
if wait_for 10 intruder_alone; then ok "the wrong-secret node soon sees no member up but itself"
else fail "the wrong-secret node sees $(cli "$ip" INFO dynamo | tr -d '\r' | sed -n 's/^cluster_members_up://p') members up"; fi
got=$(timeout 10 redis-cli -h 127.0.0.1 -p "$ip" SET "$key" evil 2>&1)
assert_match '^NOQUORUM' "$got" "a SET through the wrong-secret node does not reach the cluster"
stop_server "$IPID" 10

# -- nothing changed.  First, positive signs that the attacks have been
# dealt with (not a sleep): n1 and n2 counted the intruder's failed
# handshakes, and a write made after everything reaches all three replicas
# (W 3), so the peer links carry writes and what came before is processed.
cluster_counted_intruder() {
    [ "$(info_field 1 peer_auth_failures)" -gt "$fails_mid1" ] &&
        [ "$(info_field 2 peer_auth_failures)" -gt "$fails_mid2" ]
}
if wait_for 10 cluster_counted_intruder; then
    ok "n1 and n2 counted the intruder's failed handshakes ($fails_mid1 -> $(info_field 1 peer_auth_failures), $fails_mid2 -> $(info_field 2 peer_auth_failures))"
else
    fail "n1/n2 peer_auth_failures did not grow for the intruder: $fails_mid1 -> $(info_field 1 peer_auth_failures), $fails_mid2 -> $(info_field 2 peer_auth_failures)"
fi
assert_eq OK "$(ncli 1 DYNAMO.PUT auth:after "" marker W 3)" \
    "a write after the attacks is acknowledged by all 3 replicas (W 3)"
dbsize=$((dbsize + 1))
bad=0
for j in 1 2 3; do
    [ "$(ncli "$j" GET "$key")" = precious ] || { bad=$((bad + 1)); echo "# n$j GET: $(ncli "$j" GET "$key")"; }
    [ "$(ncli "$j" GET auth:after)" = marker ] || { bad=$((bad + 1)); echo "# n$j GET auth:after: $(ncli "$j" GET auth:after)"; }
    [ "$(ncli "$j" DBSIZE)" = "$dbsize" ] || { bad=$((bad + 1)); echo "# n$j DBSIZE: $(ncli "$j" DBSIZE)"; }
    [ "$(ncli "$j" DYNAMO.CONFIG GET w)" = 2 ] || { bad=$((bad + 1)); echo "# n$j w changed"; }
    [ "$(info_field "$j" cluster_members_up)" = 3 ] || { bad=$((bad + 1)); echo "# n$j members up: $(info_field "$j" cluster_members_up)"; }
done
assert_eq 0 "$bad" "every node: GET is 'precious', the marker is there, DBSIZE $dbsize (the 4 keys and the marker), w 2, 3 members up"
sigs_after=""
for j in 1 2 3; do sigs_after+="$(local_sig "$j" "$key")|"; done
assert_eq "$sigs_before" "$sigs_after" "the key's stored copy on all 3 replicas is unchanged (DYNAMO.LOCAL)"
assert_eq "$obj" "$(ncli 1 DYNAMO.LOCAL "$key" | head -2 | tail -1)" "n1's clock of the key is unchanged"
fails_after=0
for j in 1 2 3; do fails_after=$((fails_after + $(info_field "$j" peer_auth_failures))); done
# counted: each malformed HELLO and each wrong PEER.AUTH (3 per port above);
# a command refused with NOAUTH before any handshake is not counted
if [ "$fails_after" -ge $((fails_before + 9)) ]; then
    ok "INFO peer_auth_failures on the cluster grew ($fails_before -> $fails_after)"
else
    fail "INFO peer_auth_failures: $fails_before -> $fails_after, want at least +9 (the wrong PEER.AUTHs, the reflected proofs)"
fi
assert_eq OK "$(ncli 3 SET "$key" still-works)" "the cluster still takes writes"

# -- a peer connection that never finishes its handshake is closed (5 s)
to_before=$(info_field 1 peer_auth_timeouts)
"$PYTHON" - "$((CL_BASE + 10000))" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
t0 = time.monotonic()
try:
    closed = s.recv(1) == b""
except OSError:
    closed = True
print("# an idle unauthenticated peer connection was closed after %.1f s" % (time.monotonic() - t0))
sys.exit(0 if closed else 1)
PY
assert_eq 0 "$?" "an idle unauthenticated peer connection is closed by the node"
assert_eq $((to_before + 1)) "$(info_field 1 peer_auth_timeouts)" "INFO peer_auth_timeouts counted it"

# -- no secret and no cluster-insecure: the node refuses to start
np=$(free_port)
"$DYNAMOD" --port "$np" --bind 127.0.0.1 --storage memory --dir "$WORK" \
    --node-name a --cluster-node "a 127.0.0.1:$np" --cluster-node "b 127.0.0.1:$((np + 1))" \
    >"$WORK/nosecret.out" 2>&1 &
NPID=$!
track_pid "$NPID"
wait_exit "$NPID" 10
assert_eq 1 "$EXIT_RC" "a node with cluster-node lines but no cluster-secret exits 1"
assert_contains "cluster-secret is not set" "$(cat "$WORK/nosecret.out")" "and says why (cluster-secret is not set)"
np=$(free_port)
npp=$(free_port)   # a checked peer port: port + 10000 may be an ephemeral one in use
"$DYNAMOD" --port "$np" --bind 127.0.0.1 --storage memory --dir "$WORK" \
    --node-name a --cluster-node "a 127.0.0.1:$np@$npp" --cluster-node "b 127.0.0.1:$((np + 1))" \
    --cluster-insecure yes --logfile "$WORK/insecure.log" >>"$WORK/insecure.stdout.log" 2>&1 &
NPID=$!
track_pid "$NPID"
if _wait_up "$NPID" "$np"; then ok "with cluster-insecure yes the same node starts"
else fail "cluster-insecure yes: the node did not start: $(tail -3 "$WORK/insecure.log" "$WORK/insecure.stdout.log" 2>/dev/null | tr '\n' ' ')"; fi
stop_server "$NPID" 10
finish

#!/usr/bin/env bash
# t_tls.sh -- the client port over TLS (tls-port), as in Redis 6+.
#
# A test CA, a server certificate for 127.0.0.1 and a client certificate
# are made with the openssl tool in WORK.  Then, against real dynamod nodes:
#  - tls-auth-clients yes (the default): redis-cli --tls with the client
#    certificate sets and reads back, a 1 MB value crosses many records,
#    redis-benchmark --tls runs, Python's redis over ssl pipelines 2000
#    commands; redis-cli without a client certificate gets no answer; plain
#    text at the TLS port gets no RESP reply; the plain port still works;
#  - tls-auth-clients no: a client without a certificate is served;
#    optional: both are;
#  - port 0 with a tls-port: only TLS is served, as in Redis;
#  - bad certificate settings stop the node with an error that names the
#    config file and line of the option at fault.
. "$(dirname "$0")/lib.sh"
need_cmd redis-cli redis-benchmark openssl

cd "$WORK" || harness_error "cd $WORK"
mk() { openssl "$@" >/dev/null 2>&1 || harness_error "openssl $1 failed"; }
mk req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=dyn-test-ca
mk req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
mk x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext
mk req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=dyn-test-client
mk x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2

# tls_node NAME PORT TLSPORT [options...]: a node with the test certificates
tls_node() {
    local name=$1 port=$2 tport=$3
    shift 3
    "$DYNAMOD" --port "$port" --tls-port "$tport" --bind 127.0.0.1 \
        --tls-cert-file "$WORK/server.crt" --tls-key-file "$WORK/server.key" \
        --tls-ca-cert-file "$WORK/ca.crt" --storage memory --dir "$WORK" \
        --logfile "$WORK/$name.log" "$@" >>"$WORK/$name.stdout.log" 2>&1 &
    NPID=$!
    track_pid "$NPID"
}
tcli() {  # port, args...: redis-cli over TLS with the client certificate
    local p=$1
    shift
    timeout 20 redis-cli -h 127.0.0.1 -p "$p" --tls --cacert "$WORK/ca.crt" \
        --cert "$WORK/client.crt" --key "$WORK/client.key" "$@"
}
wait_tls() {  # port: PONG over TLS within 10 s
    local i
    for ((i = 0; i < 200; i++)); do
        [ "$(tcli "$1" PING 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    return 1
}

# -- tls-auth-clients yes (default)
P=$(free_port)
T=$(free_port)
tls_node a "$P" "$T"
A_PID=$NPID
wait_tls "$T" && ok "redis-cli --tls with a client certificate gets PONG" ||
    fail "no PONG over TLS on port $T"
assert_eq OK "$(tcli "$T" SET tls:k hello)" "SET over TLS"
assert_eq hello "$(tcli "$T" GET tls:k)" "GET over TLS reads it back"
assert_eq hello "$(cli "$P" GET tls:k)" "the plain port serves the same keyspace"
got=$("$PYTHON" -c 'import sys; sys.stdout.write("v" * 1048576)' | tcli "$T" -x SET tls:big)
assert_eq OK "$got" "a 1 MB value is written over TLS"
assert_eq 1048576 "$(tcli "$T" STRLEN tls:big)" "and its length is right"
n=$(tcli "$T" GET tls:big | tr -d '\n' | wc -c)
assert_eq 1048576 "$n" "and GET returns all of it over TLS (many records)"
out=$(timeout 60 redis-benchmark -h 127.0.0.1 -p "$T" --tls --cacert "$WORK/ca.crt" \
    --cert "$WORK/client.crt" --key "$WORK/client.key" -t set,get -n 2000 -c 4 -P 8 -q 2>&1 |
    tr '\r' '\n')
if printf '%s\n' "$out" | grep -q '^ *SET: [0-9.]* requests per second' &&
    printf '%s\n' "$out" | grep -q '^ *GET: [0-9.]* requests per second'; then
    ok "redis-benchmark --tls completes SET and GET"
else
    fail "redis-benchmark --tls: $out"
fi
out=$(timeout 20 redis-cli -h 127.0.0.1 -p "$T" --tls --cacert "$WORK/ca.crt" GET tls:k 2>&1)
case $out in
    *hello*) fail "a client without a certificate read a key: $out" ;;
    *) ok "a client without a certificate is refused (${out:0:60})" ;;
esac
"$PYTHON" - "$T" "$WORK" <<'PY'
import socket, sys, time
import redis
port, work = int(sys.argv[1]), sys.argv[2]
bad = 0
r = redis.Redis(host="127.0.0.1", port=port, ssl=True,
                ssl_ca_certs=work + "/ca.crt", ssl_certfile=work + "/client.crt",
                ssl_keyfile=work + "/client.key", socket_timeout=20)
p = r.pipeline(transaction=False)
for i in range(1000):
    p.set("py:%d" % i, "x%d" % i)
for i in range(1000):
    p.get("py:%d" % i)
res = p.execute()
if res[:1000] != [True] * 1000 or res[1000:] != [b"x%d" % i for i in range(1000)]:
    bad += 1
    print("# the pipeline over ssl came back wrong")
if r.incrby("py:ctr", 5) != 5:
    bad += 1
# plain text at the TLS port: no RESP answer
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"PING\r\n*1\r\n$4\r\nPING\r\n")
got = b""
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    try:
        c = s.recv(4096)
    except OSError:
        break
    if not c:
        break
    got += c
s.close()
if b"PONG" in got:
    bad += 1
    print("# plain text at the TLS port was answered")
print("# python redis over ssl: 2000 pipelined commands, INCRBY; plain text got %d bytes" % len(got))
sys.exit(1 if bad else 0)
PY
assert_eq 0 "$?" "Python's redis over ssl pipelines 2000 commands; plain text at the TLS port gets no RESP reply"
assert_eq x7 "$(cli "$P" GET py:7)" "what Python wrote over TLS is in the keyspace"
assert_contains "Ready to accept connections tls" "$(cat "$WORK/a.log")" "the log says the TLS port is open"
stop_server "$A_PID" 10

# -- tls-auth-clients no / optional
P=$(free_port)
T=$(free_port)
tls_node b "$P" "$T" --tls-auth-clients no
wait_tls "$T" || fail "node b did not answer over TLS"
out=$(timeout 20 redis-cli -h 127.0.0.1 -p "$T" --tls --cacert "$WORK/ca.crt" PING 2>&1)
assert_eq PONG "$out" "tls-auth-clients no: a client without a certificate is served"
stop_server "$NPID" 10
P=$(free_port)
T=$(free_port)
tls_node c "$P" "$T" --tls-auth-clients optional
wait_tls "$T" || fail "node c did not answer over TLS"
out=$(timeout 20 redis-cli -h 127.0.0.1 -p "$T" --tls --cacert "$WORK/ca.crt" PING 2>&1)
assert_eq PONG "$out" "tls-auth-clients optional: without a certificate, served"
assert_eq PONG "$(tcli "$T" PING)" "tls-auth-clients optional: with one, served"
stop_server "$NPID" 10

# -- port 0: TLS only
T=$(free_port)
tls_node d 0 "$T"
wait_tls "$T" && ok "port 0 with a tls-port serves TLS" || fail "port 0: no TLS service"
assert_contains "port=0" "$(cat "$WORK/d.log")" "and no plain port is opened (port=0)"
stop_server "$NPID" 10

# -- bad TLS settings: named by file and line
P=$(free_port)
T=$(free_port)
printf 'port %s\nstorage memory\ndir %s\ntls-port %s\ntls-cert-file %s/missing.crt\ntls-key-file %s/server.key\ntls-ca-cert-file %s/ca.crt\n' \
    "$P" "$WORK" "$T" "$WORK" "$WORK" "$WORK" >"$WORK/bad1.conf"
"$DYNAMOD" "$WORK/bad1.conf" >"$WORK/bad1.out" 2>&1 &
NPID=$!
track_pid "$NPID"
wait_exit "$NPID" 10
assert_eq 1 "$EXIT_RC" "a missing tls-cert-file: exit 1"
assert_contains "bad1.conf:5" "$(cat "$WORK/bad1.out")" "the error names the file and line of tls-cert-file"
printf 'port %s\nstorage memory\ndir %s\ntls-port %s\ntls-cert-file %s/server.crt\ntls-key-file %s/client.key\n' \
    "$P" "$WORK" "$T" "$WORK" "$WORK" >"$WORK/bad2.conf"
"$DYNAMOD" "$WORK/bad2.conf" >"$WORK/bad2.out" 2>&1 &
NPID=$!
track_pid "$NPID"
wait_exit "$NPID" 10
assert_eq 1 "$EXIT_RC" "a key that does not match the certificate (and no CA while clients must authenticate): exit 1"
assert_match "bad2.conf:[0-9]" "$(cat "$WORK/bad2.out")" "the error names the file and line"
finish

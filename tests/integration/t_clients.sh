#!/usr/bin/env bash
# t_clients.sh -- connection limits and lifecycle: maxclients, the client
# output buffer limit, requirepass/AUTH, the limits on requests from clients
# that have not authenticated, HELLO, and clean exits on SIGTERM and SHUTDOWN.
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_cmd redis-cli

# rawtalk PORT: runs the python snippet on stdin with PORT as sys.argv[1];
# the snippet prints what the shell checks.
rawtalk() { "$PYTHON" - "$@"; }

echo "# maxclients 5: the 6th connection is refused with an error"
start_server --maxclients 5
P=$SRV_PORT
out=$(rawtalk "$P" <<'PY'
import socket, sys
port = int(sys.argv[1])
socks = []
for i in range(6):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"PING\r\n")
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(1024)
        if not chunk:
            break
        data += chunk
    print("conn%d %s" % (i + 1, data.decode(errors="replace").strip()))
    socks.append(s)
# the refused connection is closed by the server
try:
    last = socks[-1].recv(1024)
except OSError:
    last = b""
print("conn6-closed" if last == b"" else "conn6-open")
for s in socks[:-1]:
    s.close()
PY
)
assert_eq "$(printf 'conn1 +PONG\nconn2 +PONG\nconn3 +PONG\nconn4 +PONG\nconn5 +PONG')" \
    "$(printf '%s\n' "$out" | head -5)" "5 connections are served"
assert_eq "conn6 -ERR max number of clients reached" "$(printf '%s\n' "$out" | sed -n 6p)" \
    "the 6th gets '-ERR max number of clients reached'"
assert_eq conn6-closed "$(printf '%s\n' "$out" | sed -n 7p)" "and is closed"
ok_after=no
for ((i = 0; i < 100; i++)); do  # the 5 closed sockets are noticed: poll
    [ "$(cli $P PING 2>/dev/null)" = PONG ] && { ok_after=yes; break; }
    sleep 0.05
done
assert_eq yes "$ok_after" "connections are accepted again once others close"
assert_match '^rejected_connections:[1-9]' "$(cli $P INFO stats | tr -d '\r' | grep '^rejected_connections:')" \
    "INFO counts the rejected connection"
stop_server "$SRV_PID"

echo "# client-output-buffer-limit: a client that never reads is dropped"
start_server --client-output-buffer-limit normal 1mb 0 0
P=$SRV_PORT
out=$(rawtalk "$P" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
ctl = socket.create_connection(("127.0.0.1", port), timeout=10)
value = b"x" * 100000
ctl.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n" % (len(value), value))
assert ctl.recv(100) == b"+OK\r\n"
hog = socket.create_connection(("127.0.0.1", port), timeout=10)
hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
# 2000 GETs = 200 MB of replies; we send them all and read nothing.
hog.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 2000)
# Now drain: a dropped client sees EOF (or a reset) well before 200 MB.
got, deadline, closed = 0, time.monotonic() + 20, False
while time.monotonic() < deadline:
    try:
        chunk = hog.recv(1 << 20)
    except (ConnectionResetError, socket.timeout):
        closed = True
        break
    if not chunk:
        closed = True
        break
    got += len(chunk)
print("dropped" if closed and got < 2000 * 100000 else "not-dropped got=%d" % got)
ctl.sendall(b"PING\r\n")
print(ctl.recv(100).decode().strip())
PY
)
assert_eq dropped "$(printf '%s\n' "$out" | sed -n 1p)" "the non-reading client is disconnected"
assert_eq +PONG "$(printf '%s\n' "$out" | sed -n 2p)" "other clients are still served"
if is_dynamod; then
    assert_match '^client_output_buffer_limit_disconnections:[1-9]' \
        "$(cli $P INFO stats | tr -d '\r' | grep '^client_output_buffer_limit_disconnections:')" \
        "INFO stats counts the disconnection"
fi
stop_server "$SRV_PID"

echo "# requirepass, AUTH, NOAUTH, WRONGPASS, and limits before AUTH"
start_server --requirepass s3cret
P=$SRV_PORT
assert_eq "NOAUTH Authentication required." "$(cli $P GET k 2>&1)" "a command before AUTH gets NOAUTH"
assert_match "^(AUTH failed: )?WRONGPASS invalid username-password pair" \
    "$(cli $P AUTH wrong 2>&1)" "AUTH with a wrong password gets WRONGPASS"
assert_eq "$(printf 'OK\nOK\nv')" "$(printf 'AUTH s3cret\nSET k v\nGET k\n' | cli $P 2>&1)" \
    "AUTH with the password, then commands work"
assert_eq PONG "$(cli $P -a s3cret --no-auth-warning PING 2>&1)" "redis-cli -a"
out=$(rawtalk "$P" <<'PY'
import socket, sys
port = int(sys.argv[1])
def talk(payload):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(payload)
    except OSError:
        pass
    data = b""
    while True:
        try:
            chunk = s.recv(4096)
        except OSError:  # a reset: closed with our bytes unread
            chunk = b""
        if not chunk:
            data += b"<closed>"
            break
        data += chunk
    s.close()
    return data
print(repr(talk(b"*11\r\n" + b"$1\r\na\r\n" * 11)))
print(repr(talk(b"*2\r\n$4\r\nECHO\r\n$20480\r\n" + b"x" * 20480 + b"\r\n")))
print(repr(talk(b"AUTH s3cret\r\n*2\r\n$4\r\nECHO\r\n$20480\r\n" + b"x" * 20480 + b"\r\nQUIT\r\n")[:30]))
PY
)
assert_eq "b'-ERR Protocol error: unauthenticated multibulk length\r\n<closed>'" \
    "$(printf '%s\n' "$out" | sed -n 1p)" "11 arguments before AUTH: protocol error, closed"
assert_eq "b'-ERR Protocol error: unauthenticated bulk length\r\n<closed>'" \
    "$(printf '%s\n' "$out" | sed -n 2p)" "a 20 KiB bulk before AUTH: protocol error, closed"
assert_eq "b'+OK\r\n\$20480\r\nxxxxxxxxxxxxxxxxx'" \
    "$(printf '%s\n' "$out" | sed -n 3p)" "the same 20 KiB bulk after AUTH is fine"

echo "# HELLO"
out=$(printf 'HELLO 3 AUTH default s3cret\n' | cli $P 2>&1 | tr '\n' ' ')
assert_match 'proto 3' "$out" "HELLO 3 AUTH switches to RESP3 (map shows proto 3)"
assert_eq "NOPROTO unsupported protocol version" \
    "$(cli $P -a s3cret --no-auth-warning HELLO 4 2>&1)" "HELLO 4 is refused"
rawout=$(rawtalk "$P" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"HELLO 3 AUTH default s3cret\r\n")
data = s.recv(4096)
print(data[:1].decode())
s.sendall(b"GET nosuchkey\r\n")
print(repr(s.recv(100)))
PY
)
assert_eq "%" "$(printf '%s\n' "$rawout" | sed -n 1p)" "HELLO 3 reply is a RESP3 map"
assert_eq "b'_\r\n'" "$(printf '%s\n' "$rawout" | sed -n 2p)" "a nil is RESP3 null after HELLO 3"

echo "# SIGTERM: exit code 0, 'bye' in the log"
LOG=$SRV_LOG
stop_server "$SRV_PID" 10
assert_eq 0 "$EXIT_RC" "exit code after SIGTERM"
if grep -qi bye "$LOG"; then ok "the log says bye"; else fail "the log says bye"; fi

echo "# SHUTDOWN command"
start_server
P=$SRV_PORT
cli $P SET k v >/dev/null
cli $P SHUTDOWN >"$WORK/shutdown.out" 2>&1
wait_exit "$SRV_PID" 10
assert_eq 0 "$EXIT_RC" "SHUTDOWN exits with code 0"
if ping_port "$P"; then fail "port closed after SHUTDOWN"; else ok "port closed after SHUTDOWN"; fi
if grep -qi bye "$SRV_LOG"; then ok "the log says bye"; else fail "the log says bye"; fi

finish

#!/usr/bin/env bash
# t_obuf.sh -- clients that never read their replies: a client that has not
# authenticated is closed once it has 16 KiB of replies pending (Redis's fix
# for CVE-2025-21605), and the node's memory does not grow; an
# authenticated client may pipeline far more.  (The flooding-client part is
# below.)
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_cmd redis-cli

echo "# requirepass: four unauthenticated clients pipeline PINGs and never read"
start_server --requirepass s3cret
P=$SRV_PORT
PID=$SRV_PID
out=$("$PYTHON" - "$P" "$PID" <<'PY'
import redis, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
r = redis.Redis(host="127.0.0.1", port=port, password="s3cret")
def rss_kb():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
def disconnections():
    # (redis-server 7.0 has no such field: DYN_TEST_SERVER=redis shows 0)
    return r.info("stats").get("client_output_buffer_limit_disconnections", 0)
mem0, rss0, disc0 = r.info("memory")["used_memory"], rss_kb(), disconnections()
burst = b"PING\r\n" * 100000          # 600 KB of requests, 3.4 MB of NOAUTH
hogs = []
for i in range(4):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hogs.append(s)
closed = [False] * 4
for rnd in range(20):                 # up to 2M PINGs per client
    for i, s in enumerate(hogs):
        if closed[i]:
            continue
        try:
            s.sendall(burst)
        except OSError:               # reset or broken pipe: closed by the node
            closed[i] = True
    if all(closed):
        break
# The node closes them as it reads; wait for it (generous deadline).
deadline = time.monotonic() + 30
while time.monotonic() < deadline and r.info("clients")["connected_clients"] > 1:
    time.sleep(0.05)
print("connected", r.info("clients")["connected_clients"])
print("disconnections", disconnections() - disc0)
grew = r.info("memory")["used_memory"] - mem0
print("used_memory_grew_mb", "small" if grew < 8 << 20 else grew >> 20)
grew = rss_kb() - rss0
print("rss_grew_mb", "small" if grew < 32 << 10 else grew >> 10)
for s in hogs:
    s.close()
# An authenticated client may leave much more unread, and gets it all.
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"AUTH s3cret\r\n" + b"PING\r\n" * 200000)
want = len(b"+OK\r\n") + 200000 * len(b"+PONG\r\n")
got = b""
while len(got) < want:
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    got += chunk
print("authenticated", "all-replies" if got == b"+OK\r\n" + b"+PONG\r\n" * 200000
      else "short %d of %d" % (len(got), want))
r.set("k", "v")
print("get", r.get("k").decode())
PY
)
printf '%s\n' "$out" | sed 's/^/#   /'
line() { printf '%s\n' "$out" | sed -n "s/^$1 //p"; }
assert_eq 1 "$(line connected)" "the four unauthenticated flooders are closed"
is_dynamod && assert_eq 4 "$(line disconnections)" \
    "INFO stats client_output_buffer_limit_disconnections counts the four"
assert_eq small "$(line used_memory_grew_mb)" "used_memory did not grow (< 8 MB)"
assert_eq small "$(line rss_grew_mb)" "RSS did not grow (< 32 MB)"
assert_eq all-replies "$(line authenticated)" \
    "an authenticated client pipelining 200000 PINGs gets every reply"
assert_eq v "$(line get)" "authenticated clients are served"
if is_dynamod; then
    if grep -q 'not authenticated' "$SRV_LOG"; then ok "the log says why the clients were closed"
    else fail "the log says why the clients were closed"; fi
fi
stop_server "$PID"

finish

#!/usr/bin/env bash
# t_obuf.sh -- clients that do not read their replies.
#  - A client that has not authenticated is closed once it has 16 KiB of
#    replies pending (Redis's fix for CVE-2025-21605), and the node's memory
#    does not grow; an authenticated client may pipeline far more.
#  - A client that floods and never reads does not keep another client from
#    being served, and is closed at client-output-buffer-limit.
#  - A client that reads late gets every reply, byte for byte and in order,
#    however much was queued (replies of all sizes, and on a disk node
#    replies to writes, which wait for their commit).
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

echo "# a flooder that never reads: others are served, and it is closed at the limit"
start_server --client-output-buffer-limit normal 64mb 0 0
P=$SRV_PORT
out=$("$PYTHON" - "$P" <<'PY'
import redis, socket, sys, time
port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port)
big = b"x" * 100000
r.set("big", big)
hog = socket.socket()
hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
hog.connect(("127.0.0.1", port))
hog.settimeout(30)
GET = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"
hog.sendall(GET * 400)                     # 40 MB of replies, none read
hog_id = None
deadline = time.monotonic() + 30
while time.monotonic() < deadline:         # until the node has run all 400
    for c in r.client_list():
        if c["cmd"] == "get" and c["id"] != str(r.client_id()) and int(c["qbuf"]) == 0:
            hog_id, omem, oll = c["id"], int(c["omem"]), int(c["oll"])
    if hog_id and omem > 20 << 20:
        break
    time.sleep(0.05)
print("queued", "blocks" if hog_id and oll > 1 and omem > 20 << 20 else "no %r" % hog_id)
# Meanwhile another client is served, with the right replies.
ok = 0
for i in range(200):
    r.set("k%d" % i, "v%d" % i)
    ok += r.get("k%d" % i) == b"v%d" % i
print("served", ok)
# 600 more GETs: 100 MB in all, past the 64 MB limit.
try:
    hog.sendall(GET * 600)
except OSError:
    pass
deadline = time.monotonic() + 30
while time.monotonic() < deadline and r.info("clients")["connected_clients"] > 1:
    time.sleep(0.05)
print("connected", r.info("clients")["connected_clients"])
print("disconnections", r.info("stats").get("client_output_buffer_limit_disconnections", "n/a"))
got = 0
try:
    while True:
        chunk = hog.recv(1 << 20)
        if not chunk:
            break
        got += len(chunk)
except OSError:
    pass
print("hog-got-everything", "no" if got < 1000 * 100000 else "yes")
print("after", r.get("k7").decode())
PY
)
printf '%s\n' "$out" | sed 's/^/#   /'
line() { printf '%s\n' "$out" | sed -n "s/^$1 //p"; }
if is_dynamod; then
    assert_eq blocks "$(line queued)" \
        "CLIENT LIST shows the flooder's 40 MB queued in blocks (oll, omem)"
    assert_eq 1 "$(line disconnections)" "INFO stats counts the disconnection"
fi
assert_eq 200 "$(line served)" "another client gets 200 right replies meanwhile"
assert_eq 1 "$(line connected)" "the flooder is closed past the 64 MB limit"
assert_eq no "$(line hog-got-everything)" "and does not get all of its 100 MB"
assert_eq v7 "$(line after)" "the other client is still served"
stop_server "$SRV_PID"

# late_reader PORT: pipelines a mix of 3000 commands (100 KB, 20 KB and tiny
# replies, writes and reads), sends nothing more until the node has run
# them all, then reads in small pieces and compares with the exact stream
# expected.
late_reader() {
    "$PYTHON" - "$1" <<'PY'
import random, redis, socket, sys, time
port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port)
rnd = random.Random(7)
vals = {b"big": bytes(rnd.getrandbits(8) for _ in range(100000)),
        b"mid": b"m" * 20000}
for k, v in vals.items():
    r.set(k, v)
def cmd(*a):
    return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)
def bulk(v):
    return b"$%d\r\n%s\r\n" % (len(v), v)
req, want, n = [], [], 0
for i in range(3000):
    kind = rnd.randrange(6)
    if kind == 0:
        req.append(cmd(b"GET", b"big")); want.append(bulk(vals[b"big"]))
    elif kind == 1:
        req.append(cmd(b"GET", b"mid")); want.append(bulk(vals[b"mid"]))
    elif kind == 2:
        req.append(cmd(b"PING")); want.append(b"+PONG\r\n")
    elif kind == 3:
        v = b"%d" % i
        req.append(cmd(b"SET", b"w%d" % (i % 50), v)); want.append(b"+OK\r\n")
    elif kind == 4:
        n += 1
        req.append(cmd(b"INCR", b"ctr")); want.append(b":%d\r\n" % n)
    else:
        req.append(cmd(b"GET", b"nosuchkey")); want.append(b"$-1\r\n")
want = b"".join(want)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
s.settimeout(30)
s.sendall(b"".join(req))
deadline = time.monotonic() + 30   # wait until the node ran them all
while time.monotonic() < deadline and int(r.get("ctr") or 0) < n:
    time.sleep(0.05)
got = bytearray()
while len(got) < len(want):
    chunk = s.recv(rnd.choice((1, 100, 4096, 65536)))
    if not chunk:
        break
    got += chunk
print("late-reader", "exact %d bytes" % len(got) if bytes(got) == want else
      "MISMATCH got %d of %d bytes, first difference at %d" % (
          len(got), len(want),
          next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
               min(len(got), len(want)))))
PY
}

echo "# a late reader gets every reply in order (storage memory)"
start_server $(is_dynamod && echo --storage memory)
out=$(late_reader "$SRV_PORT")
assert_match '^late-reader exact [0-9]+ bytes$' "$out" "memory node: the whole stream, exact"
stop_server "$SRV_PID"

echo "# a late reader gets every reply in order (storage disk, appendfsync always)"
start_server $(is_dynamod && echo --storage disk) --appendfsync always
out=$(late_reader "$SRV_PORT")
assert_match '^late-reader exact [0-9]+ bytes$' "$out" "disk node: the whole stream, exact"
stop_server "$SRV_PID"

finish

"""python_client.py -- redis-py (Debian's python3-redis) against the server.

Usage: python_client.py PORT.  Prints one line per check; exits 1 if any
check failed, 77 if redis-py is missing.  Covers: MULTI/EXEC through a
transactional pipeline, a 1000-command non-transactional pipeline, binary
safety (all 256 byte values, CR LF inside, empty value, empty key), TTLs with
real expiry (polled with a deadline), MGET/MSET, DEL, EXISTS, and HELLO 3.
"""
import sys
import time

try:
    import redis
except ImportError:
    print("SKIP: python3 redis module not installed (apt-get install python3-redis)")
    sys.exit(77)

failures = 0


def check(what, cond, detail=""):
    global failures
    if cond:
        print("ok   - " + what)
    else:
        failures += 1
        print("FAIL - " + what + (": " + detail if detail else ""))


def eq(what, expected, actual):
    check(what, expected == actual, "expected %r, got %r" % (expected, actual))


def main():
    port = int(sys.argv[1])
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    eq("PING", True, r.ping())
    r.flushall()

    print("# MULTI/EXEC pipeline (transaction=True)")
    p = r.pipeline(transaction=True)
    p.set("tx:a", "1").incr("tx:a").get("tx:a").delete("tx:a").exists("tx:a")
    eq("EXEC returns every queued reply in order", [True, 2, b"2", 1, 0],
       p.execute())
    try:
        p = r.pipeline(transaction=True)
        p.set("tx:b", "x").incr("tx:b")
        p.execute()
        check("an error inside EXEC is raised", False, "no exception")
    except redis.ResponseError as e:
        check("an error inside EXEC is raised", "not an integer" in str(e),
              str(e))
    eq("the other commands of that EXEC still ran", b"x", r.get("tx:b"))

    print("# pipeline(transaction=False), 1000 commands")
    p = r.pipeline(transaction=False)
    for i in range(500):
        p.set("pl:%d" % i, "v%d" % i)
    for i in range(500):
        p.get("pl:%d" % i)
    res = p.execute()
    eq("1000 replies", 1000, len(res))
    eq("500 SETs OK", [True] * 500, res[:500])
    eq("500 GETs return their values",
       [("v%d" % i).encode() for i in range(500)], res[500:])
    eq("DBSIZE", 501, r.dbsize())

    print("# binary safety")
    allbytes = bytes(range(256))
    r.set(b"bin:all", allbytes)
    eq("all 256 byte values round-trip", allbytes, r.get(b"bin:all"))
    crlf = b"line1\r\nline2\r\n$5\r\n*1\r\n"
    r.set(b"bin:crlf", crlf)
    eq("CR LF and RESP markers inside a value", crlf, r.get(b"bin:crlf"))
    r.set(b"bin:empty", b"")
    eq("empty value", b"", r.get(b"bin:empty"))
    eq("empty value exists", 1, r.exists(b"bin:empty"))
    r.set(b"", b"empty-key")
    eq("empty key", b"empty-key", r.get(b""))
    key = bytes(range(255, -1, -1))
    r.set(key, b"k")
    eq("binary key", b"k", r.get(key))
    big = bytes(i % 251 for i in range(1 << 20))
    r.set(b"bin:big", big)
    eq("1 MiB value", big, r.get(b"bin:big"))
    eq("STRLEN of 1 MiB", 1 << 20, r.strlen(b"bin:big"))

    print("# mset / mget / delete / exists")
    eq("MSET", True, r.mset({"m:1": "a", "m:2": "b", "m:3": "c"}))
    eq("MGET with a missing key", [b"a", None, b"c"],
       r.mget("m:1", "m:none", "m:3"))
    eq("EXISTS counts each argument", 3, r.exists("m:1", "m:2", "m:1", "m:x"))
    eq("DELETE", 2, r.delete("m:1", "m:2", "m:x"))
    eq("EXISTS after DELETE", 1, r.exists("m:1", "m:3"))

    print("# TTLs")
    r.set("t:a", "v", ex=100)
    check("set ex=100 gives TTL 99..100", r.ttl("t:a") in (99, 100),
          str(r.ttl("t:a")))
    eq("TTL of a persistent key", -1, r.ttl("m:3"))
    eq("TTL of a missing key", -2, r.ttl("t:none"))
    eq("PEXPIRE", True, r.pexpire("t:a", 200))
    pttl = r.pttl("t:a")
    check("PTTL within (0, 200]", 0 < pttl <= 200, str(pttl))
    deadline = time.monotonic() + 5
    while r.exists("t:a") and time.monotonic() < deadline:
        time.sleep(0.02)
    eq("the key really expires", 0, r.exists("t:a"))
    eq("GET after expiry", None, r.get("t:a"))
    r.set("t:b", "v", px=50000)
    eq("PERSIST", True, r.persist("t:b"))
    eq("TTL after PERSIST", -1, r.ttl("t:b"))
    eq("PERSIST without a TTL", False, r.persist("t:b"))
    r.set("t:c", "v", ex=100)
    r.set("t:c", "w")
    eq("a plain SET clears the TTL", -1, r.ttl("t:c"))
    r.set("t:d", "v", ex=100)
    r.set("t:d", "w", keepttl=True)
    check("SET KEEPTTL keeps it", r.ttl("t:d") > 90, str(r.ttl("t:d")))

    print("# RESP3: HELLO 3 (raw; redis-py 4.3 speaks only RESP2)")
    conn = redis.Connection(host="127.0.0.1", port=port, socket_timeout=10)
    conn.send_command("HELLO", "3")
    buf = b""
    while b"\r\n" not in buf:
        chunk = conn._sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    check("HELLO 3 answers with a RESP3 map", buf.startswith(b"%"),
          repr(buf[:40]))
    check("the map has the server's fields", b"proto" in buf, repr(buf[:200]))
    conn.disconnect()

    r.flushall()
    eq("FLUSHALL empties the keyspace", 0, r.dbsize())
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""cluster_check.py -- the loops of the cluster tests, in one process.

Spawning redis-cli per command is slow on a loaded machine; these checks
issue hundreds of commands, so they run here with redis-py (Debian's
python3-redis, /usr/bin/python3).  Each subcommand prints what it found,
one '#' line per problem, and exits 0 (all good), 1 (a check failed) or
77 (redis-py missing).

  readback BASE N KEYS      write KEYS keys, each through a random node;
                            every node must read it back, and exactly the
                            key's DYNAMO.PREFLIST replicas must hold it
                            (DYNAMO.LOCAL), the rest nothing
  rw BASE N ITERS           write through a random node, read through
                            another random node: the read must return the
                            write (R + W > N)
  keys_on BASE NODE COUNT PREFIX
                            prints COUNT keys PREFIX0, PREFIX1, ... whose
                            replicas include node NODE (1-based)
  pipeline PORT             pipelined SET/GET/INCR/MGET and MULTI/EXEC
  write BASE NODES PREFIX COUNT
                            SET PREFIXi = v:PREFIXi for i < COUNT, through
                            the 1-based nodes in the comma list NODES in
                            turn; every write must answer OK
  placement BASE N PREFIX COUNT [DOWN]
                            every key PREFIXi is held (DYNAMO.LOCAL) with
                            its value by each of its DYNAMO.PREFLIST
                            replicas and by no other node; nodes in the
                            comma list DOWN are not asked (and must not be
                            replicas)
  owed BASE NODE PREFIX COUNT
                            prints how many keys PREFIXi have 1-based node
                            NODE among their replicas
  siblings BASE NODE KEY VALUES
                            DYNAMO.GET KEY through NODE shows exactly the
                            comma-separated VALUES as siblings
"""
import random
import sys
import time

try:
    import redis
except ImportError:
    print("# redis-py is not installed")
    sys.exit(77)


def conns(base, n):
    return [redis.Redis(host="127.0.0.1", port=base + i, socket_timeout=10)
            for i in range(n)]


def preflist(r, key):
    """The key's replicas as node indices (0-based)."""
    reply = r.execute_command("DYNAMO.PREFLIST", key)
    d = dict(zip(reply[0::2], reply[1::2]))
    return [int(pair[0].decode()[1:]) - 1 for pair in d[b"replicas"]]


def local_values(r, key):
    sibs = r.execute_command("DYNAMO.LOCAL", key) or []
    out = []
    for s in sibs:
        d = dict(zip(s[0::2], s[1::2])) if isinstance(s, list) else s
        v = d.get(b"value")
        if v is not None:
            out.append(v)
    return sorted(out)


def readback(base, n, nkeys):
    cs = conns(base, n)
    bad = 0
    tag = random.randrange(1 << 30)
    for k in range(nkeys):
        key = "rb:%d:%d" % (tag, k)
        val = ("val-%d-%d" % (k, random.randrange(1 << 30))).encode()
        w = random.randrange(n)
        if cs[w].set(key, val) is not True:
            print("# SET %s via n%d failed" % (key, w + 1))
            bad += 1
            continue
        for i in range(n):
            got = cs[i].get(key)
            if got != val:
                print("# GET %s via n%d: %r, want %r" % (key, i + 1, got, val))
                bad += 1
        reps = preflist(cs[0], key)
        if len(set(reps)) != 3:
            print("# PREFLIST %s: %r" % (key, reps))
            bad += 1
        for i in range(n):
            if i in reps:
                # W = 2 acked; the third replica may lag a moment
                deadline = time.monotonic() + 2
                while local_values(cs[i], key) != [val] and time.monotonic() < deadline:
                    time.sleep(0.02)
                got = local_values(cs[i], key)
                if got != [val]:
                    print("# n%d (replica of %s) holds %r" % (i + 1, key, got))
                    bad += 1
            else:
                got = cs[i].execute_command("DYNAMO.LOCAL", key)
                if got:
                    print("# n%d (not a replica of %s) holds %r" % (i + 1, key, got))
                    bad += 1
    return bad


def rw(base, n, iters):
    cs = conns(base, n)
    bad = 0
    tag = random.randrange(1 << 30)
    for k in range(iters):
        key = "rw:%d:%d" % (tag, k % 5)
        w = random.randrange(n)
        r = random.choice([i for i in range(n) if i != w])
        val = b"w%d" % k
        try:
            if cs[w].set(key, val) is not True:
                raise redis.RedisError("SET did not answer OK")
        except redis.RedisError as e:
            print("# SET %s via n%d: %s" % (key, w + 1, e))
            bad += 1
            continue
        got = cs[r].get(key)
        if got != val:
            print("# wrote %r via n%d, read %r via n%d" % (val, w + 1, got, r + 1))
            bad += 1
    return bad


def pipeline(port):
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    bad = 0
    p = r.pipeline(transaction=False)
    for i in range(200):
        p.set("pp:%d" % i, "v%d" % i)
    p.incr("pp:counter")
    p.incr("pp:counter")
    for i in range(200):
        p.get("pp:%d" % i)
    p.mget(["pp:0", "pp:199", "pp:none"])
    res = p.execute()
    if res[:200] != [True] * 200:
        print("# pipelined SETs: %r" % res[:200])
        bad += 1
    if res[200:202] != [1, 2]:
        print("# pipelined INCRs: %r" % res[200:202])
        bad += 1
    if res[202:402] != [b"v%d" % i for i in range(200)]:
        print("# pipelined GETs differ")
        bad += 1
    if res[402] != [b"v0", b"v199", None]:
        print("# pipelined MGET: %r" % res[402])
        bad += 1
    t = r.pipeline(transaction=True)
    t.set("tx:a", "1")
    t.incr("tx:a")
    t.get("tx:a")
    t.mset({"tx:b": "x", "tx:c": "y"})
    t.mget(["tx:b", "tx:c"])
    t.delete("tx:b", "tx:c", "tx:none")
    t.exists("tx:a", "tx:b")
    res = t.execute()
    want = [True, 2, b"2", True, [b"x", b"y"], 2, 1]
    if res != want:
        print("# MULTI/EXEC: %r, want %r" % (res, want))
        bad += 1
    if r.get("tx:a") != b"2":
        print("# after EXEC tx:a = %r" % r.get("tx:a"))
        bad += 1
    try:
        t = r.pipeline(transaction=True)
        t.set("tx:d", "1")
        t.incr("tx:d")
        t.execute_command("NOSUCHCOMMAND")
        t.execute()
        print("# EXEC with an unknown queued command did not fail")
        bad += 1
    except redis.ResponseError as e:
        # redis-py reports the queued command's error (as it does with
        # redis-server); the server's EXECABORT is the other acceptable text
        if "EXECABORT" not in str(e) and "unknown command" not in str(e):
            print("# EXECABORT expected, got %s" % e)
            bad += 1
    if r.exists("tx:d"):
        print("# an aborted EXEC ran its commands")
        bad += 1
    return bad


def keys_on(base, node, count, prefix):
    r = redis.Redis(host="127.0.0.1", port=base, socket_timeout=10)
    found = 0
    for i in range(100000):
        key = "%s%d" % (prefix, i)
        if node - 1 in preflist(r, key):
            print(key)
            found += 1
            if found == count:
                return 0
    return 1


def node_list(arg):
    return [int(x) for x in arg.split(",") if x]


def write(base, nodes, prefix, count):
    cs = {i: redis.Redis(host="127.0.0.1", port=base + i - 1,
                         socket_timeout=10) for i in nodes}
    bad = 0
    for k in range(count):
        key = "%s%d" % (prefix, k)
        via = nodes[k % len(nodes)]
        try:
            ok = cs[via].set(key, "v:" + key)
        except redis.RedisError as e:
            ok = "%s" % e
        if ok is not True:
            if bad < 10:
                print("# SET %s through n%d: %s" % (key, via, ok))
            bad += 1
    return bad


def placement(base, n, prefix, count, down):
    live = [i for i in range(n) if i + 1 not in down]
    cs = {i: redis.Redis(host="127.0.0.1", port=base + i, socket_timeout=10)
          for i in live}
    r0 = cs[live[0]]
    bad = 0
    for k in range(count):
        key = "%s%d" % (prefix, k)
        reps = preflist(r0, key)
        want = [b"v:" + key.encode()]
        holders = [i for i in live if local_values(cs[i], key)]
        problem = None
        if any(i + 1 in down for i in reps):
            problem = "a replica is down"
        elif sorted(holders) != sorted(reps):
            problem = "held by %s, replicas %s" % (
                [h + 1 for h in holders], [r + 1 for r in reps])
        else:
            for i in reps:
                vals = local_values(cs[i], key)
                if vals != want:
                    problem = "n%d holds %s" % (i + 1, vals)
                    break
        if problem:
            if bad < 10:
                print("# %s: %s" % (key, problem))
            bad += 1
    return bad


def owed(base, node, prefix, count):
    r = redis.Redis(host="127.0.0.1", port=base, socket_timeout=10)
    return sum(1 for k in range(count)
               if node - 1 in preflist(r, "%s%d" % (prefix, k)))


def siblings(base, node, key, values):
    r = redis.Redis(host="127.0.0.1", port=base + node - 1, socket_timeout=10)
    reply = r.execute_command("DYNAMO.GET", key)
    # [context, [value...]]
    got = sorted(v.decode() for v in reply[1]) if reply else []
    want = sorted(values.split(","))
    if got != want:
        print("# DYNAMO.GET %s: siblings %s, want %s" % (key, got, want))
        return 1
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "owed":
        print(owed(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
                   int(sys.argv[5])))
        return 0
    if cmd == "keys_on":
        return keys_on(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                       sys.argv[5])
    if cmd == "readback":
        bad = readback(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "rw":
        bad = rw(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "pipeline":
        bad = pipeline(int(sys.argv[2]))
    elif cmd == "write":
        bad = write(int(sys.argv[2]), node_list(sys.argv[3]), sys.argv[4],
                    int(sys.argv[5]))
    elif cmd == "placement":
        bad = placement(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
                        int(sys.argv[5]),
                        node_list(sys.argv[6]) if len(sys.argv) > 6 else [])
    elif cmd == "siblings":
        bad = siblings(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
                       sys.argv[5])
    else:
        print("# unknown subcommand " + cmd)
        return 99
    print("# %s: %d problems" % (cmd, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""typed_stream.py -- the same random stream of typed writes and reads,
pipelined as clients do, against redis-server and dynamod side by side
(Python's redis client).

  typed_stream.py REDIS_PORT DYNAMOD_PORT SEED OPS [wide] [nofinal]

Sets, hashes, sorted sets and lists: writes (several at once too), reads
in between, DEL now and then.  Prints "ok N ops" when every reply was the
same, byte for byte, and the values read whole at the end are the same;
else the first difference, and exits 1.  OPS 0 only compares the values.
wide: a fifth of the ops are drawn from more of each type's writes
(LINSERT, LSET, LREM, LTRIM, LMOVE, HSETNX, HINCRBYFLOAT, ZINCRBY, ZREM,
ZPOPMIN, ZADD GT/LT/XX/CH, SMOVE, SREM of several).  nofinal: the
values are not read at the end, and the stream ends with 400 writes of
one member each (those a node alone journals), so that a crash finds
them in the journal, not in records.  Used by
t_types_deferred.sh, t_types_disk.sh and t_types_journal.sh.
"""
import random, sys
import redis

rp, dp, seed, nops = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
wide = 'wide' in sys.argv[5:]
final = 'nofinal' not in sys.argv[5:]
r = redis.Redis(host='127.0.0.1', port=rp)
d = redis.Redis(host='127.0.0.1', port=dp)
rnd = random.Random(seed)
sets, hashes, zsets, lists = ['s0', 's1'], ['h0', 'h1'], ['z0', 'z1'], ['l0', 'l1']

def member():
    return 'm%d' % rnd.randrange(60)

def wide_op():
    k = rnd.randrange(16)
    l, h, z, st = rnd.choice(lists), rnd.choice(hashes), rnd.choice(zsets), rnd.choice(sets)
    if k == 0:
        return ('LINSERT', l, rnd.choice(['BEFORE', 'AFTER']), 'e%d' % rnd.randrange(1000), 'i%d' % rnd.randrange(100))
    if k == 1:
        return ('LSET', l, str(rnd.randrange(-3, 3)), 's%d' % rnd.randrange(100))
    if k == 2:
        return ('LREM', l, str(rnd.randrange(-2, 3)), 'e%d' % rnd.randrange(1000))
    if k == 3:
        return ('LTRIM', l, str(rnd.randrange(0, 3)), str(rnd.randrange(-1, 40)))
    if k == 4:
        return ('LMOVE', l, rnd.choice(lists), rnd.choice(['LEFT', 'RIGHT']), rnd.choice(['LEFT', 'RIGHT']))
    if k == 5:
        return ('HSETNX', h, member(), 'n%d' % rnd.randrange(100))
    if k == 6:
        return ('HINCRBYFLOAT', h, 'f%d' % rnd.randrange(3), '%.2f' % rnd.uniform(-5, 5))
    if k == 7:
        return ('ZINCRBY', z, str(rnd.randrange(-5, 6)), member())
    if k == 8:
        return ('ZREM', z, member(), member())
    if k == 9:
        return ('ZPOPMIN', z)
    if k == 10:
        return ('ZADD', z, rnd.choice(['GT', 'LT']), 'CH', str(rnd.randrange(-50, 50)), member())
    if k == 11:
        return ('ZADD', z, 'XX', str(rnd.randrange(-50, 50)), member())
    if k == 12:
        return ('SMOVE', st, rnd.choice(sets), member())
    if k == 13:
        return ('SREM', st, member(), member(), member())
    if k == 14:
        return ('RPUSHX', l, 'x%d' % rnd.randrange(100))
    return ('HDEL', h, member(), member())

def op():
    if wide and rnd.randrange(5) == 0:
        return wide_op()
    k = rnd.randrange(100)
    if k < 18:
        return ('SADD', rnd.choice(sets), member())
    if k < 24:
        return ('SREM', rnd.choice(sets), member())
    if k < 27:
        return ('SISMEMBER', rnd.choice(sets), member())
    if k < 28:
        return ('SCARD', rnd.choice(sets))
    if k < 42:
        return ('HSET', rnd.choice(hashes), member(), 'v%d' % rnd.randrange(1000))
    if k < 46:
        return ('HINCRBY', rnd.choice(hashes), 'n%d' % rnd.randrange(5), str(rnd.randrange(-9, 10)))
    if k < 49:
        return ('HDEL', rnd.choice(hashes), member())
    if k < 51:
        return ('HGET', rnd.choice(hashes), member())
    if k < 64:
        return ('ZADD', rnd.choice(zsets), str(rnd.randrange(-50, 50)), member())
    if k < 67:
        return ('ZADD', rnd.choice(zsets), 'INCR', str(rnd.randrange(1, 9)), member())
    if k < 69:
        return ('ZSCORE', rnd.choice(zsets), member())
    if k < 80:
        return (rnd.choice(['LPUSH', 'RPUSH']), rnd.choice(lists), 'e%d' % rnd.randrange(1000))
    if k < 86:
        return (rnd.choice(['LPOP', 'RPOP']), rnd.choice(lists))
    if k < 88:
        return ('LINDEX', rnd.choice(lists), str(rnd.randrange(-5, 5)))
    if k < 89:
        return ('LLEN', rnd.choice(lists))
    if k < 91:
        # several at once: the path that encodes every write
        return ('SADD', rnd.choice(sets), member(), member(), member())
    if k < 93:
        return ('HSET', rnd.choice(hashes), member(), 'a', member(), 'b')
    if k < 95:
        return ('RPUSH', rnd.choice(lists), 'x', 'y')
    if k < 97:
        return ('ZADD', rnd.choice(zsets), '1', member(), '2', member())
    if k < 98:
        return ('DEL', rnd.choice(sets + hashes + zsets + lists))
    # whole-value reads, in orders both servers define
    return rnd.choice([('ZRANGE', rnd.choice(zsets), '0', '-1', 'WITHSCORES'),
                       ('ZRANK', rnd.choice(zsets), member()),
                       ('ZCARD', rnd.choice(zsets)),
                       ('LRANGE', rnd.choice(lists), '0', '-1'),
                       ('HLEN', rnd.choice(hashes)),
                       ('HEXISTS', rnd.choice(hashes), member())])

def run(client, cmds):
    p = client.pipeline(transaction=False)
    for c in cmds:
        p.execute_command(*c)
    return p.execute(raise_on_error=False)

def norm(x):
    return repr(x) if isinstance(x, Exception) else x

done = 0

def drive(gen, n):
    """Runs n ops or more from gen in pipelined batches on both servers;
    exits at the first reply that differs."""
    global done
    ran = 0
    while ran < n:
        batch = [gen() for _ in range(rnd.randrange(1, 60))]
        a, b = run(r, batch), run(d, batch)
        for c, x, y in zip(batch, a, b):
            if norm(x) != norm(y):
                print('differ at op %d: %r: redis %r, dynamod %r' % (done, c, x, y))
                sys.exit(1)
            done += 1
            ran += 1

drive(op, nops)

def whole(c):
    out = {}
    for k in sets:
        out[k] = sorted(c.smembers(k))
    for k in hashes:
        out[k] = sorted(c.hgetall(k).items())
    for k in zsets:
        out[k] = c.zrange(k, 0, -1, withscores=True)
    for k in lists:
        out[k] = c.lrange(k, 0, -1)
    return out

def tail_op():
    while True:
        c = wide_op() if rnd.randrange(3) == 0 else op()
        multi = c[0] in ('DEL', 'SMOVE', 'LMOVE') or \
            (c[0] in ('SADD', 'SREM', 'ZREM', 'HDEL', 'RPUSH') and len(c) > 3) or \
            (c[0] == 'HSET' and len(c) > 4) or (c[0] == 'ZADD' and len(c) > 5 and c[2] not in ('GT', 'LT', 'XX', 'INCR'))
        if not multi:
            return c

if not final:
    drive(tail_op, 400)

if final and whole(r) != whole(d):
    print('the values differ at the end')
    sys.exit(1)
print('ok %d ops' % done)

#!/usr/bin/python3
"""counter_load.py -- concurrent counter load and checker for
t_types_counter.sh (issue #14: INCR and its family as PN-counters).

  load --ports P1,P2,.. --ikey K --fkey K --state F --progress F --stop F
       [--seed S] [--max-ops 5000] [--seconds 60] [--pause-ms 5]
      One thread per port, each with its own connection (python3-redis)
      to that node.  Each runs a bounded loop (at most --max-ops commands,
      at most --seconds, and it ends early once the file --stop exists):
      mostly INCRBY and some DECRBY with random amounts on --ikey, and
      INCRBYFLOAT with random multiples of 0.25 (exact in binary, so the
      sums compare exactly) on --fkey.  An increment counts as acknowledged
      only once its reply (the new value) has been read.  One that got an
      error reply, a timeout or a broken connection is unknown: it may or
      may not have been stored; its amount is added to the key's unknown
      amounts (positive and negative apart) and the thread waits 100 ms,
      reconnects if the connection broke, and goes on.  --progress is rewritten about every 50 ms with one line:
      each thread's count of acknowledged increments, space-separated.
      At the end --state (JSON) gets, per key, the acknowledged sum and
      the unknown amounts (as exact fractions in text).
  check --ports P1,.. --state F [--deadline 90]
      Polls every node's GET of both keys until each is within the state's
      bounds: exactly the acknowledged sum when nothing is unknown, else in
      [acked + unknown negatives, acked + unknown positives], and every
      node reads the same text.  Prints one line per key; exit 1 at the
      deadline (the last readings are printed).
"""
import argparse
import json
import os
import random
import sys
import threading
import time
from fractions import Fraction

import redis


class Tally:
    """One key's acknowledged and unknown increments (exact)."""

    def __init__(self):
        self.acked = Fraction(0)
        self.unk_pos = Fraction(0)
        self.unk_neg = Fraction(0)
        self.n_acked = 0
        self.n_unknown = 0
        self.lock = threading.Lock()

    def ack(self, amount):
        with self.lock:
            self.acked += amount
            self.n_acked += 1

    def unknown(self, amount):
        with self.lock:
            if amount >= 0:
                self.unk_pos += amount
            else:
                self.unk_neg += amount
            self.n_unknown += 1

    def to_json(self):
        return {"acked": str(self.acked), "unknown_pos": str(self.unk_pos),
                "unknown_neg": str(self.unk_neg), "n_acked": self.n_acked,
                "n_unknown": self.n_unknown}


def worker(idx, port, args, tallies, counts, errors, rng):
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5,
                    socket_connect_timeout=2)
    deadline = time.monotonic() + args.seconds
    pause = args.pause_ms / 1000.0
    for _ in range(args.max_ops):
        if time.monotonic() >= deadline or os.path.exists(args.stop):
            break
        roll = rng.random()
        if roll < 0.55:
            key, amount = args.ikey, rng.randint(1, 1000)
            cmd = ("INCRBY", key, amount)
        elif roll < 0.75:
            key, amount = args.ikey, -rng.randint(1, 500)
            cmd = ("DECRBY", key, -amount)
        else:
            key = args.fkey
            amount = Fraction(rng.randint(-400, 800), 4)
            cmd = ("INCRBYFLOAT", key, str(float(amount)))
        try:
            r.execute_command(*cmd)
        except (redis.exceptions.ResponseError,
                redis.exceptions.ConnectionError,
                redis.exceptions.TimeoutError) as e:
            tallies[key].unknown(amount)
            errors[idx].append("%s %s: %s" % (cmd[0], cmd[2], e))
            if not isinstance(e, redis.exceptions.ResponseError):
                r.connection_pool.disconnect()
            # an error does not spin: a side that cannot reach a quorum
            # would else spend the whole --max-ops budget on errors
            time.sleep(0.1)
            continue
        tallies[key].ack(amount)
        counts[idx] += 1
        if pause:
            time.sleep(pause)


def write_progress(path, counts):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(" ".join(str(c) for c in counts) + "\n")
    os.replace(tmp, path)


def cmd_load(args):
    ports = [int(p) for p in args.ports.split(",")]
    tallies = {args.ikey: Tally(), args.fkey: Tally()}
    counts = [0] * len(ports)
    errors = [[] for _ in ports]
    master = random.Random(args.seed)
    threads = [threading.Thread(target=worker, daemon=True,
                                args=(i, p, args, tallies, counts, errors,
                                      random.Random(master.random())))
               for i, p in enumerate(ports)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        write_progress(args.progress, counts)
        time.sleep(0.05)
    for t in threads:
        t.join()
    write_progress(args.progress, counts)
    state = {k: t.to_json() for k, t in tallies.items()}
    state["per_client_acked"] = counts
    state["per_client_errors"] = [len(e) for e in errors]
    with open(args.state, "w") as f:
        json.dump(state, f)
    for i, errs in enumerate(errors):
        for e in errs[:3]:
            print("client %d (port %d): %s" % (i, ports[i], e))
        if len(errs) > 3:
            print("client %d: ... %d errors in all" % (i, len(errs)))
    for k, t in tallies.items():
        print("load: %s: %d acknowledged (sum %s), %d unknown (+%s %s)" %
              (k, t.n_acked, t.acked, t.n_unknown, t.unk_pos, t.unk_neg))
    return 0 if sum(counts) > 0 else 2


def read_all(clients, key):
    out = []
    for r in clients:
        try:
            v = r.get(key)
            out.append(None if v is None else v.decode())
        except redis.exceptions.RedisError as e:
            out.append("error: %s" % e)
    return out


def in_bounds(text, st):
    try:
        v = Fraction(text)
    except (TypeError, ValueError):
        return False
    acked = Fraction(st["acked"])
    if st["n_unknown"] == 0:
        return v == acked
    return (acked + Fraction(st["unknown_neg"]) <= v <=
            acked + Fraction(st["unknown_pos"]))


def cmd_check(args):
    ports = [int(p) for p in args.ports.split(",")]
    with open(args.state) as f:
        state = json.load(f)
    keys = [k for k in state if isinstance(state[k], dict)]
    clients = [redis.Redis(host="127.0.0.1", port=p, socket_timeout=5)
               for p in ports]
    deadline = time.monotonic() + args.deadline
    last = {}
    while True:
        good = True
        for k in keys:
            vals = read_all(clients, k)
            last[k] = vals
            if len(set(vals)) != 1 or not in_bounds(vals[0], state[k]):
                good = False
        if good or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    for k in keys:
        st = state[k]
        if st["n_unknown"]:
            bound = ("within [%s, %s]: %d increments got an error reply "
                     "and may or may not count" %
                     (Fraction(st["acked"]) + Fraction(st["unknown_neg"]),
                      Fraction(st["acked"]) + Fraction(st["unknown_pos"]),
                      st["n_unknown"]))
        else:
            bound = "exactly the acknowledged sum (no error replies)"
        print("check: %s: %d acknowledged, sum %s; every node reads %s; "
              "wanted %s" % (k, st["n_acked"], st["acked"],
                             " ".join(str(v) for v in last[k]), bound))
    return 0 if good else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    lo = sub.add_parser("load")
    lo.add_argument("--ports", required=True)
    lo.add_argument("--ikey", required=True)
    lo.add_argument("--fkey", required=True)
    lo.add_argument("--state", required=True)
    lo.add_argument("--progress", required=True)
    lo.add_argument("--stop", required=True)
    lo.add_argument("--seed", type=int, default=1)
    lo.add_argument("--max-ops", type=int, default=5000)
    lo.add_argument("--seconds", type=float, default=60)
    lo.add_argument("--pause-ms", type=float, default=5)
    ch = sub.add_parser("check")
    ch.add_argument("--ports", required=True)
    ch.add_argument("--state", required=True)
    ch.add_argument("--deadline", type=float, default=90)
    args = ap.parse_args()
    return cmd_load(args) if args.cmd == "load" else cmd_check(args)


if __name__ == "__main__":
    sys.exit(main())

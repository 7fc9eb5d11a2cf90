#!/usr/bin/python3
"""test_checker.py -- the chaos checker's specification, on histories built
by hand (no cluster, no namespaces): a checker that cannot see a loss, a
phantom or a stale read would pass every chaos run, so each rule is shown
to fire on a history that breaks it, and to stay quiet on one that does
not.  The schedule generator is pure too: the same seed gives the same
steps.  Run by tests/integration/t_chaos.sh."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checker   # noqa: E402
import nemesis   # noqa: E402
import workload  # noqa: E402


def add(elem, key, t_inv, t_end, outcome, process=1):
    return [{"t": t_inv, "type": "invoke", "f": "add", "key": key,
             "value": elem, "process": process},
            {"t": t_end, "type": outcome, "f": "add", "key": key,
             "value": elem, "process": process}]


def read(key, t_inv, t_end, seen):
    return [{"t": t_end, "type": "ok", "f": "read", "key": key,
             "value": sorted(seen), "invoked": t_inv, "process": 9}]


class Final(unittest.TestCase):
    def test_an_acknowledged_add_missing_from_the_final_value_is_lost(self):
        h = add("a", "k", 1, 2, "ok") + add("b", "k", 3, 4, "ok")
        r = checker.check_final(h, {"k": {"b"}})
        self.assertEqual(r["lost"], [("k", "a")])
        self.assertEqual(r["acked"], 2)

    def test_indeterminate_adds_may_be_present_or_not(self):
        h = add("a", "k", 1, 2, "info") + add("b", "k", 1, 2, "info")
        r = checker.check_final(h, {"k": {"a"}})
        self.assertEqual((r["lost"], r["phantom"], r["resurrected"]),
                         ([], [], []))

    def test_an_element_never_added_to_that_key_is_a_phantom(self):
        h = add("a", "k", 1, 2, "ok")
        r = checker.check_final(h, {"k": {"a", "zz"}, "j": {"a"}})
        self.assertEqual(r["phantom"], [("j", "a"), ("k", "zz")])

    def test_a_certainly_failed_add_that_shows_up_is_resurrected(self):
        h = add("a", "k", 1, 2, "fail")
        r = checker.check_final(h, {"k": {"a"}})
        self.assertEqual(r["resurrected"], [("k", "a")])


def incr(key, outcome, field=None, process=1):
    extra = {"field": field} if field is not None else {}
    return [{"t": 1.0, "type": "invoke", "f": "incr", "key": key,
             "value": "x", "process": process, **extra},
            {"t": 1.1, "type": outcome, "f": "incr", "key": key,
             "value": "x", "process": process, **extra}]


class Counts(unittest.TestCase):
    HIST = (incr("ctr:0", "ok") + incr("ctr:0", "ok") + incr("ctr:0", "info")
            + incr("ctr:0", "fail") + incr("hash:0", "ok", "f1"))

    def test_a_count_between_acknowledged_and_possible_passes(self):
        for got in (2, 3):
            r = checker.check_counts(self.HIST, {("ctr:0", None): got,
                                                 ("hash:0", "f1"): 1})
            self.assertEqual(r["bad"], [])
        self.assertEqual((r["acked"], r["info"]), (3, 1))

    def test_a_lost_increment_fails(self):
        r = checker.check_counts(self.HIST, {("ctr:0", None): 1,
                                             ("hash:0", "f1"): 1})
        self.assertEqual(r["bad"], [("ctr:0", None, 2, 1, 1)])

    def test_an_increment_applied_twice_or_a_failed_one_fails(self):
        r = checker.check_counts(self.HIST, {("ctr:0", None): 4,
                                             ("hash:0", "f1"): 1})
        self.assertEqual(r["bad"], [("ctr:0", None, 2, 1, 4)])

    def test_a_field_is_a_count_of_its_own_and_absent_is_zero(self):
        r = checker.check_counts(self.HIST, {("ctr:0", None): 2})
        self.assertEqual(r["bad"], [("hash:0", "f1", 1, 0, 0)])
        r = checker.check_counts(self.HIST, {("ctr:0", None): 2,
                                             ("hash:0", "f1"): 1,
                                             ("hash:0", "f2"): 5})
        self.assertEqual(r["bad"], [("hash:0", "f2", 0, 0, 5)])


def srem(elem, key, outcome, reply=None):
    ev = {"t": 2.1, "type": outcome, "f": "srem", "key": key, "value": elem,
          "process": 1}
    if reply is not None:
        ev["reply"] = reply
    return [{"t": 2.0, "type": "invoke", "f": "srem", "key": key,
             "value": elem, "process": 1}, ev]


class Removes(unittest.TestCase):
    HIST = (add("e1", "k", 1, 1.1, "ok") + srem("e1", "k", "ok", 1) +
            add("e2", "k", 1, 1.1, "ok") + srem("e2", "k", "ok", 0) +
            add("e3", "k", 1, 1.1, "ok") +
            add("e4", "k", 1, 1.1, "ok") + srem("e4", "k", "info") +
            add("e5", "k", 1, 1.1, "fail"))

    def test_what_the_history_allows_passes(self):
        for e4 in (set(), {"e4"}):
            r = checker.check_removes(self.HIST, {"k": {"e2", "e3"} | e4})
            self.assertEqual(r["bad"], [])
        self.assertEqual(r["acked_removes"], 2)

    def test_a_remove_that_saw_the_add_leaves_it_gone(self):
        r = checker.check_removes(self.HIST, {"k": {"e1", "e2", "e3"}})
        self.assertEqual(r["bad"], [("k", "e1", "absent", True)])

    def test_a_remove_that_saw_nothing_leaves_the_add(self):
        r = checker.check_removes(self.HIST, {"k": {"e3"}})
        self.assertEqual(r["bad"], [("k", "e2", "present", False)])

    def test_lost_resurrected_and_phantom_elements_fail(self):
        r = checker.check_removes(self.HIST, {"k": {"e2", "e5", "zz"}})
        self.assertEqual(r["bad"], [("k", "e3", "present", False),
                                    ("k", "e5", "absent", True),
                                    ("k", "zz", "never added", True)])


class Reads(unittest.TestCase):
    def test_a_read_of_an_element_added_after_it_completed_is_future(self):
        h = read("k", 1, 2, {"a"}) + add("a", "k", 3, 4, "ok")
        r = checker.check_reads(h, [(0, 10)])
        self.assertEqual(len(r["future"]), 1)
        self.assertEqual(r["future"][0]["element"], "a")

    def test_a_read_missing_an_add_acknowledged_in_its_calm_window_is_stale(self):
        h = add("a", "k", 1, 2, "ok") + read("k", 3, 4, set())
        r = checker.check_reads(h, [(0, 10)])
        self.assertEqual([s["element"] for s in r["stale"]], ["a"])
        self.assertEqual(r["stale_allowed"], 0)

    def test_a_nemesis_step_between_add_and_read_allows_the_miss(self):
        h = add("a", "k", 1, 2, "ok") + read("k", 8, 9, set())
        windows = checker.calm_windows([(3, 4)], settle=2, end=10)
        self.assertEqual(windows, [(0.0, 3), (6, 10)])
        r = checker.check_reads(h, windows)
        self.assertEqual((r["stale"], r["stale_allowed"]), ([], 1))

    def test_a_read_concurrent_with_the_add_may_miss_it(self):
        h = add("a", "k", 1, 5, "ok") + read("k", 3, 4, set())
        r = checker.check_reads(h, [(0, 10)])
        self.assertEqual((r["stale"], r["stale_allowed"]), ([], 0))

    def test_a_read_that_sees_the_add_is_fine(self):
        h = add("a", "k", 1, 2, "ok") + read("k", 3, 4, {"a"})
        r = checker.check_reads(h, [(0, 10)])
        self.assertEqual((r["future"], r["stale"], r["reads"]), ([], [], 1))

    def test_overlapping_steps_make_one_unsafe_stretch(self):
        self.assertEqual(checker.calm_windows([(2, 5), (4, 6)], 1, 20),
                         [(0.0, 2), (7, 20)])
        self.assertEqual(checker.calm_windows([(2, 5)], 1, 5.5),
                         [(0.0, 2)])


class Placement(unittest.TestCase):
    def test_extra_and_missing_holders_are_offenders(self):
        off = checker.placement_offenders(
            {"a": {"n1", "n2", "n3"}, "b": {"n1", "n2", "n3", "n4"},
             "c": {"n1"}},
            {"a": ["n1", "n2", "n3"], "b": ["n1", "n2", "n3"],
             "c": ["n1", "n2", "n3"], "d": ["n1", "n2", "n3"]})
        self.assertEqual(off, [("b", ["n4"], []),
                               ("c", [], ["n2", "n3"]),
                               ("d", [], ["n1", "n2", "n3"])])

    def test_a_missing_copy_differs_from_any_value(self):
        self.assertEqual(checker.diverged({
            "a": {"n1": [b"x"], "n2": [b"x"]},
            "b": {"n1": [b"x"], "n2": None},
            "c": {"n1": [b"x", b"y"], "n2": [b"x"]}}), ["b", "c"])


class Encoding(unittest.TestCase):
    def test_a_set_round_trips_through_its_value(self):
        self.assertEqual(workload.decode(workload.encode({"c1.2", "c1.1"})),
                         {"c1.1", "c1.2"})
        self.assertEqual(workload.decode(None), set())
        self.assertEqual(workload.encode(set()), b"")


class Schedule(unittest.TestCase):
    def test_the_same_seed_gives_the_same_schedule(self):
        a = nemesis.make_schedule(7, 5, 300, nemesis.FAULTS,
                                  nemesis.MEMBERSHIP)
        b = nemesis.make_schedule(7, 5, 300, nemesis.FAULTS,
                                  nemesis.MEMBERSHIP)
        c = nemesis.make_schedule(8, 5, 300, nemesis.FAULTS,
                                  nemesis.MEMBERSHIP)
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)

    def test_membership_steps_keep_their_order_and_targets_exist(self):
        steps, final = nemesis.make_schedule(3, 5, 300, nemesis.FAULTS,
                                             nemesis.MEMBERSHIP)
        kinds = [s["kind"] for s in steps if s["kind"] in nemesis.MEMBERSHIP]
        self.assertEqual(kinds, nemesis.MEMBERSHIP)
        members = set(range(1, 6))
        for s in steps:
            if s["kind"] in ("kill9", "pause", "dkill", "wipe"):
                self.assertIn(s["node"], members)
            if s["kind"] == "partition":
                for a, b in s["cuts"]:
                    self.assertIn(a, members)
                    self.assertIn(b, members)
            if s["kind"] in ("join", "join_partitioned", "rejoin_empty"):
                members.add(s["node"])
            if s["kind"] in ("kill_forget", "leave"):
                members.discard(s["node"])
        self.assertEqual(sorted(members), final)

    def test_a_short_schedule_deals_every_fault_kind(self):
        steps, _ = nemesis.make_schedule(1, 5, 34, nemesis.FAULTS,
                                         ["join", "leave", "rejoin_empty"],
                                         (1.5, 3), (0.5, 1), 4)
        kinds = {s["kind"] for s in steps}
        self.assertTrue(set(nemesis.FAULTS) <= kinds, kinds)

    def test_partition_shapes(self):
        import random
        rng = random.Random(1)
        cuts = nemesis.partition_cuts(rng, "ring", [1, 2, 3, 4, 5])
        # in a ring of five, each node loses exactly its two non-neighbours
        for n in range(1, 6):
            self.assertEqual(sum(1 for a, _ in cuts if a == n), 2)
        iso = nemesis.partition_cuts(rng, "isolate", [1, 2, 3, 4, 5])
        self.assertEqual(len(iso), 8)
        one = nemesis.partition_cuts(rng, "oneway", [1, 2, 3])
        self.assertEqual(len(one), 2)
        self.assertEqual(len({a for a, _ in one}), 1)


if __name__ == "__main__":
    unittest.main(verbosity=1)

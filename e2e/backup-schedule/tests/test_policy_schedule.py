"""A BackupPolicy on a one-minute schedule (issue 16): three runs, one per tick, no
overlap; kill -9 of the operator right after a tick is recorded still makes exactly one
snapshot for that tick; staleAfter 1m with the schedule suspended -> BackupStale=True
naming the target and its age, the last-success metric stops moving; resuming clears it.
Slow by nature (minutes of wall time): one policy and one operator for the whole class."""
import os
import sys
import time

# the BackupPolicy helpers are shared with e2e/backup (one suite split in two for time)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "backup",
                                "tests"))
from bplib import (  # noqa: E402
    BackupCase, cond, history, metric_value, snapshots_of, suffix_name)

TICK_WAIT_S = 200


class ScheduleTest(BackupCase):
    @classmethod
    def scenario(cls):
        cls.inst = suffix_name("bk-sched")
        cls.seed_instance(cls.inst, orders=20)

    def setUp(self):
        self.name = "every-minute"
        try:
            self.obj = self.bp(self.name)
        except AssertionError:
            self.obj = self.apply_bp(self.bp_manifest(
                self.name, [{"name": "snap", "rdsSnapshot": {"dbInstanceIdentifier": self.inst}}],
                schedule="* * * * *", staleAfter="1m"))
        self.uid = self.obj["metadata"]["uid"]

    def sched_runs(self, obj):
        return [h for h in history(obj) if h.get("trigger") == "schedule"]

    def test_1_three_ticks_no_overlap_kill9_after_tick_recorded(self):
        self.wait_bp(self.name, lambda o: len(self.sched_runs(o)) >= 1, "first scheduled run",
                     TICK_WAIT_S)
        # The next tick: kill -9 as soon as its run is recorded in status.
        deadline = time.monotonic() + TICK_WAIT_S
        run = None
        while time.monotonic() < deadline and run is None:
            run = self.bp(self.name).get("status", {}).get("run")
            if run is None:
                time.sleep(0.05)
        self.assertIsNotNone(run, "no run recorded")
        self.operator.kill9()
        self.assertEqual(self.bp(self.name)["status"]["run"]["tick"], run["tick"])
        self.operator.start()
        obj = self.wait_bp(self.name, lambda o: any(h.get("tick") == run["tick"]
                                                    for h in self.sched_runs(o))
                           and len(self.sched_runs(o)) >= 3, "three scheduled runs",
                           TICK_WAIT_S)
        runs = self.sched_runs(obj)
        ticks = [h["tick"] for h in runs]
        self.assertEqual(len(ticks), len(set(ticks)), ticks)   # one run per tick
        for h in runs:
            self.assertEqual(h["phase"], "Succeeded", h)
            self.assertTrue(h["tick"].endswith(":00Z"), h)
        for a, b in zip(runs, runs[1:]):
            self.assertLessEqual(a["finishedAt"], b["time"], (a, b))   # no overlap
            self.assertLess(a["tick"], b["tick"])
        # One snapshot per finished run (plus the one of a run in progress, if any),
        # counted between two reads of the status.
        first = self.bp(self.name)
        snaps = {k: v for k, v in snapshots_of(self.inst).items()
                 if v.get("lifeboat.dev/uid") == self.uid}
        last = self.bp(self.name)
        low = len(history(first))
        high = len(history(last)) + (1 if "run" in last["status"] else 0)
        self.assertTrue(low <= len(snaps) <= high, (sorted(snaps), low, high))
        stamp = run["stamp"]
        self.assertEqual(len([s for s in snaps if s.endswith(stamp)]), 1, (stamp, sorted(snaps)))

    def test_2_stale_when_suspended_then_resume_clears(self):
        self.wait_bp(self.name, lambda o: o["status"].get("lastSuccessfulTime")
                     and "run" not in o["status"], "a finished run", TICK_WAIT_S)
        self.patch_bp(self.name, {"suspend": True})
        obj = self.wait_bp(self.name, lambda o: "run" not in o["status"]
                           and "nextScheduleTime" not in o["status"], "suspended, idle")
        label = {"policy": "%s/%s" % (self.ns, self.name), "target": "snap"}
        before = metric_value(self.operator.metrics(),
                              "lifeboat_backup_last_success_timestamp_seconds", **label)
        self.assertIsNotNone(before)
        obj = self.wait_bp(self.name, lambda o: (cond(o, "BackupStale") or {}).get("status")
                           == "True", "BackupStale True", TICK_WAIT_S)
        msg = cond(obj, "BackupStale")["message"]
        self.assertIn("target snap", msg)
        self.assertRegex(msg, r"last good backup \d+m old \(staleAfter 60s\)")
        self.assertEqual(cond(obj, "Ready")["status"], "False")
        text = self.operator.metrics()
        self.assertEqual(metric_value(text, "lifeboat_backup_last_success_timestamp_seconds",
                                      **label), before)
        self.assertEqual(metric_value(text, "lifeboat_backup_stale",
                                      policy=label["policy"]), 1)
        self.patch_bp(self.name, {"suspend": False})
        obj = self.wait_bp(self.name, lambda o: (cond(o, "BackupStale") or {}).get("status")
                           == "False", "BackupStale False after resume", TICK_WAIT_S)
        after = metric_value(self.operator.metrics(),
                             "lifeboat_backup_last_success_timestamp_seconds", **label)
        self.assertGreater(after, before)
        self.assertEqual(cond(obj, "Ready")["status"], "True")

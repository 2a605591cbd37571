"""kill -9 of the operator at every step of a redisRDB restore that rolls back: expect.minKeys
above what the backup holds makes check-keys fail after the restart; the undo of install puts
the previous AOF back and restarts. Killed at the start and end of every step, rollback steps
included, it must still end RolledBack with the previous 12 keys, exactly two restarts (the
restore's and the undo's) and no Lifeboat files left in /data.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redisenv as R  # noqa: E402
from test_restore_crash import Killer  # noqa: E402
from test_restore_redis import BACKUP_KEYS, LATER_KEYS, PodWatcher, RedisCase  # noqa: E402

CRASH_WAIT_S = 300


class CrashDuringRollback(RedisCase):
    ARGS = R.AOF_ARGS

    def test_kill9_at_every_step_of_a_rollback(self):
        key = self.fresh_data()
        watcher = PodWatcher(self.ns, self.STS)
        watcher.start()
        obj = self.apply_rr(self.rr_manifest("crash-rb", [self.item(key, min_keys=6)]))
        # Failed too: check-keys may go from Pending to Failed in one status write (a fast
        # refusal), and a kill right after the failure is recorded, before the rollback
        # starts, is a crash point of its own
        killer = Killer(self.operator, self.ns, "crash-rb", obj["metadata"]["resourceVersion"],
                        phases=("Running", "Succeeded", "Failed"))
        killer.start()
        approved = False
        deadline = time.monotonic() + CRASH_WAIT_S
        phase = None
        try:
            while time.monotonic() < deadline:
                if not self.operator.alive():
                    self.operator.proc.wait(10)
                    self.operator.start(wait_ready=False)
                obj = killer.latest or obj
                phase = obj.get("status", {}).get("phase")
                if phase == "AwaitingApproval" and not approved:
                    self.approve("crash-rb", "carol")
                    approved = True
                if phase in ("Succeeded", "Failed", "RolledBack"):
                    break
                time.sleep(0.05)
        finally:
            killer.stop()
            watcher.stop()
        if not self.operator.alive():
            self.operator.start()
        self.assertEqual(phase, "RolledBack", "%s\n%s" % (self.describe_rr(obj),
                                                         self.operator.log_tail()))
        killed = {name for batch in killer.kills for name, _ in batch}
        for s in ("sessions/install", "sessions/restart", "sessions/check-keys",
                  "rollback/sessions/install"):
            self.assertIn(s, killed, killer.kills)
        R.wait_serving(self.ns, self.STS, self.port)
        self.assertEqual(R.keys(self.port), sorted(list(BACKUP_KEYS) + list(LATER_KEYS)))
        self.assertEqual(len(watcher.uids), 3,
                         "expected the restore's restart and the undo's: %s" % watcher.uids)
        self.assertEqual([f for f in self.data_dir() if ".lifeboat-" in f], [])


if __name__ == "__main__":
    import unittest
    unittest.main()

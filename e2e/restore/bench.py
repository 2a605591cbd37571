#!/usr/bin/env python3
"""The full runbook 000 Restore 1A in the e2e environment, timed (e2e/restore/bench.sh).

Seeds a fresh source instance (SEED_ORDERS orders), the Secrets and the sample service in
a fresh namespace, starts its own lifeboat-operator, then applies the 1A RestoreRequest
(restore time T between two writer rows, verify, approval given at once - the annotation is
on the object from the start -, rename, Secret patch, rollout, cleanup with a final
snapshot after 1s) and measures:
  - wall time from `kubectl apply` to phase Succeeded (polled every 50 ms through the API);
  - the operator's CPU time over the same interval (utime+stime of /proc/<pid>/stat);
  - the per-step durations from status.steps.
Prints the figures; no pass/fail (DESIGN.md section 7 target: <= 15 s wall). Needs the
environment's exports (e2e/.run/env.sh). Cleans up what it created.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests"))
import scenario as sc  # noqa: E402
import kube  # noqa: E402
from test_restore_1a import pitr_item  # noqa: E402


class Bench(sc.ScenarioCase):
    """Reuses the scenario harness's set-up and clean-up outside unittest."""

    @classmethod
    def scenario(cls):
        cls.src = "bench-orders-" + sc.suffix()
        cls.port = cls.seed_instance(cls.src)
        cls.create_secrets(cls.port)
        cls.create_service("order-service")
        w = cls.start_writer(cls.port, interval=0.4)
        cls.T, cls.k = sc.writer_restore_time(w, after=2, rows_after=2)
        sc.wait_restorable(cls.T, instance=cls.src)
        w.stop()

    def runTest(self):  # noqa: N802 - unittest's name
        pass


def main():
    sc.require_env()
    Bench.setUpClass()
    case = Bench()
    try:
        m = case.rr_manifest("orders-pitr-bench", [pitr_item(Bench.src, Bench.src + "-restored",
                                                             sc.rfc3339(Bench.T))],
                             rollout=["order-service"], approval=False)
        op = Bench.operator
        hz = os.sysconf("SC_CLK_TCK")
        cpu0 = op.cpu_ticks()
        t0 = time.monotonic()
        kube.kubectl("apply", "-f", "-", input=m)
        phase, obj = None, {}
        while time.monotonic() - t0 < 300:
            obj = case.rr("orders-pitr-bench")
            phase = obj.get("status", {}).get("phase")
            if phase in ("Succeeded", "Failed", "RolledBack"):
                break
            time.sleep(0.05)
        wall = time.monotonic() - t0
        cpu = (op.cpu_ticks() - cpu0) / hz
        Bench.uids.append(obj["metadata"]["uid"])
        print("restore 1A (point in time, verify, approval given at once, rename, Secret "
              "patch, rollout, cleanup with final snapshot after 1s), %d seed orders"
              % sc.SEED_ORDERS)
        print("  phase                      %s" % phase)
        print("  wall apply -> %-12s %.2f s   (target <= 15 s)" % (phase, wall))
        print("  operator CPU (utime+stime) %.2f s   (%.0f%% of one core over the restore)"
              % (cpu, 100.0 * cpu / wall if wall else 0))
        print("  steps:")
        for s in obj.get("status", {}).get("steps", []):
            try:
                d = (sc.parse_time(s["finishedAt"]) - sc.parse_time(s["startedAt"])).total_seconds()
                dur = "%4.0f s" % d
            except (KeyError, ValueError):
                dur = "   - "
            print("    %-42s %-10s %s" % (s.get("name"), s.get("phase"), dur))
        if phase != "Succeeded":
            print("  message: %s" % obj.get("status", {}).get("message"))
    finally:
        Bench.tearDownClass()


if __name__ == "__main__":
    main()

"""Crash safety (issue 6 Acceptance, "kill -9 after each step in turn").

The 1A request (point in time T, verify, approval, rename, Secret patch, rollout,
cleanup with a final snapshot after 1s) runs, with awssim's renames lagging RENAME_LAG_S
(the old name answers `renaming` before the new one appears, as on RDS), while the test watches status.steps through
the API and kill -9s the operator every time a step is seen to start or to finish (each
(step, phase) transition once), then starts it again. It approves at AwaitingApproval.
At the end: exactly one restored instance, one rename pair, one final snapshot, one
restart of the workload, the data as of T, and every step Succeeded once.
Bounded: CRASH_WAIT_S overall, each restart waits for /readyz.
"""
import http.client
import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scenario import (  # noqa: E402
    GROUP_PATH,     SEED_ORDERS, ScenarioCase, app_info, cli_instances, cli_snapshots, cli_tags, parse_time,
    psql, rfc3339, secret_value, step_of, suffix, url_port, wait_restorable,
    writer_restore_time)
import kube  # noqa: E402
from test_restore_1a import PLAN, pitr_item, writer_ids  # noqa: E402
from awssim_control import control  # noqa: E402

CRASH_WAIT_S = 240
MAX_KILLS = 80            # bound: a restore that never settles ends the test
RR = "orders-pitr-crash"
RENAME_LAG_S = 5          # issue 10: renames take time, as on RDS (old name `renaming` 5 s)


class Killer(threading.Thread):
    """Watches rr/NAME and kill -9s the operator the moment a status write shows a step
    starting (Running) or finishing (Succeeded) that was not seen before; the test's main
    loop restarts it. .kills lists the transitions that triggered each kill. phases: the
    step phases that trigger a kill (e2e/fullenv kills only after each step finishes)."""

    def __init__(self, operator, ns, name, rv, phases=("Running", "Succeeded"),
                 max_kills=MAX_KILLS):
        super().__init__(daemon=True)
        self.operator, self.ns, self.name, self.rv = operator, ns, name, rv
        self.phases, self.max_kills = tuple(phases), max_kills
        self.seen, self.kills, self.latest = set(), [], None
        self._halt = threading.Event()
        self._conn = None

    def stop(self):
        self._halt.set()
        try:
            if self._conn:
                self._conn.close()
        except OSError:
            pass
        self.join(10)

    def handle(self, obj):
        self.latest = obj
        steps = obj.get("status", {}).get("steps", [])
        new = [(s["name"], s.get("phase")) for s in steps
               if s.get("phase") in self.phases
               and (s["name"], s.get("phase")) not in self.seen]
        if not new:
            return
        self.seen.update(new)
        proc = self.operator.proc
        if len(self.kills) >= self.max_kills:
            return
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            self.kills.append(new)
        elif self.kills:
            # the write landed from the process killed a moment ago (sent before SIGKILL):
            # it died right after this transition too, so the transition is covered
            self.kills[-1].extend(new)

    def watch_path(self):
        """The watch (without resourceVersion) whose ADDED/MODIFIED objects go to handle()."""
        return ("%s/namespaces/%s/restorerequests?watch=true&allowWatchBookmarks=true&"
                "fieldSelector=metadata.name%%3D%s" % (GROUP_PATH, self.ns, self.name))

    def run(self):
        path = self.watch_path()
        while not self._halt.is_set():
            try:
                self._conn = kube.connect(timeout=CRASH_WAIT_S)
                self._conn.request("GET", path + "&resourceVersion=" + self.rv, headers={
                    "Accept": "application/json",
                    "Authorization": "Bearer " + kube.token()})
                r = self._conn.getresponse()
                while not self._halt.is_set():
                    line = r.readline()
                    if not line:
                        break
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    o = ev.get("object", {})
                    rv = o.get("metadata", {}).get("resourceVersion")
                    if rv:
                        self.rv = rv
                    if ev.get("type") in ("ADDED", "MODIFIED"):
                        self.handle(o)
            except (OSError, ValueError, AttributeError, http.client.HTTPException):
                time.sleep(0.1)
            finally:
                try:
                    self._conn.close()
                except Exception:  # noqa: BLE001
                    pass


class CrashAfterEveryStep(ScenarioCase):
    @classmethod
    def tearDownClass(cls):
        try:
            control("DELETE")
        finally:
            super().tearDownClass()

    @classmethod
    def scenario(cls):
        control("POST", {"rename_lag_s": RENAME_LAG_S})
        cls.src = "orders-crash-" + suffix()
        cls.target = cls.src + "-restored"
        cls.src_port = cls.seed_instance(cls.src)
        cls.create_secrets(cls.src_port)
        cls.create_service("order-service")
        cls.url_before = secret_value(cls.ns, "shop-secrets", "ORDER_DATABASE_URL")
        cls.pid_before = app_info(cls.ns, "order-service")["pid"]
        cls.writer = cls.start_writer(cls.src_port, interval=0.4)
        cls.T, cls.k = writer_restore_time(cls.writer, after=2, rows_after=3)
        wait_restorable(cls.T, instance=cls.src)
        cls.rows = cls.writer.stop()
        cls.instances_before = set(cli_instances())

    def test_kill9_after_each_step_finishes_exactly_once(self):
        obj = self.apply_rr(self.rr_manifest(RR, [pitr_item(self.src, self.target,
                                                            rfc3339(self.T))],
                                             rollout=["order-service"], approval=True))
        uid = obj["metadata"]["uid"]
        killer = Killer(self.operator, self.ns, RR, obj["metadata"]["resourceVersion"])
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
                    self.approve(RR, "carol")
                    approved = True
                if phase in ("Succeeded", "Failed", "RolledBack"):
                    break
                time.sleep(0.05)
        finally:
            killer.stop()
        kills = killer.kills
        obj = self.rr(RR)
        phase = obj.get("status", {}).get("phase")
        self.assertEqual(phase, "Succeeded", "after %d kills:\n%s\n--- log tail:\n%s" % (
            len(kills), self.describe_rr(obj), self.operator.log_tail()))
        # killed right after every step was seen to start or to finish
        killed_at = {name for batch in kills for name, _ in batch}
        self.assertEqual(sorted(set(PLAN) - killed_at), [], kills)
        self.assert_timeline(obj, PLAN)

        # the cleanup may finish once the deletion is under way: bounded wait for it to end
        kube.wait_for(lambda: not [i for i in cli_instances() if i.startswith(self.src + "-old")],
                      timeout=30, interval=0.5, message="old instance deleted")
        inst = cli_instances()
        # one restored instance: the only instance carrying this request's uid is the
        # promoted copy, now under the source's name; no stray copies or renamed leftovers
        owned = sorted(i for i, d in inst.items()
                       if cli_tags(d["DBInstanceArn"]).get("lifeboat.dev/uid") == uid)
        self.assertEqual(owned, [self.src])
        self.assertEqual(set(inst), self.instances_before)
        self.assertNotIn(self.target, inst)
        self.assertFalse([i for i in inst if i.startswith(self.src + "-old")])
        # one rename pair and one final snapshot: exactly one old name ever existed
        finals = sorted((s, d["DBInstanceIdentifier"]) for s, d in cli_snapshots().items()
                        if d.get("DBInstanceIdentifier", "").startswith(self.src + "-old-"))
        self.assertEqual(len(finals), 1, finals)
        started = parse_time(step_of(obj, "orders-db/promote")["startedAt"])
        self.assertEqual(finals[0][1], "%s-old-%s" % (self.src, started.strftime("%Y%m%d%H%M%S")))
        # data as of T on the promoted instance
        port = inst[self.src]["Endpoint"]["Port"]
        self.assertNotEqual(port, self.src_port)
        self.assertEqual(writer_ids(port), [i for i, t in self.rows if t < self.T])
        self.assertEqual(psql(port, "SELECT COUNT(*) FROM orders WHERE source = 'seed'"),
                         str(SEED_ORDERS))
        # one restart of the workload: one spec change, restartedAt = the rollout step's
        # persisted start, a new process serving the restored instance
        dep = kube.kubectl_json("get", "deployment", "order-service", "-n", self.ns)
        self.assertEqual(dep["metadata"]["generation"], 2)
        restarted = dep["spec"]["template"]["metadata"]["annotations"][
            "kubectl.kubernetes.io/restartedAt"]
        self.assertEqual(parse_time(restarted), parse_time(
            step_of(obj, "rollout/Deployment/order-service")["startedAt"]))
        info = app_info(self.ns, "order-service")
        self.assertNotEqual(info["pid"], self.pid_before)
        self.assertEqual(url_port(info["value"]), ("127.0.0.1", port))
        pods = kube.kubectl_json("get", "pods", "-n", self.ns, "-l", "app=order-service")
        self.assertEqual(len(pods["items"]), 1, [p["metadata"]["name"] for p in pods["items"]])
        # the Secret was patched once to the new endpoint (rest of the URL unchanged)
        url = secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL")
        self.assertEqual(re.sub(r"@[^/]+/", "@/", url), re.sub(r"@[^/]+/", "@/", self.url_before))
        print("# crash scenario: %d kill -9s at %s" % (len(kills), kills), file=sys.stderr)

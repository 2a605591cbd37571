"""`kubectl lifeboat` (cmd/kubectl-lifeboat) through kubectl's plugin discovery on PATH,
against the real control plane (the approval names the user the API server says the
caller is, through SelfSubjectReview) and awssim, with the operator of the restore suite.

One scenario (runbook 000 1A shape): a "production" instance, the app reading it, and a
second app that is ready only on a database holding a table made after the restore time,
so that a restore to that time holds in its cutover until it is aborted. The tests run
in name order: the abort (which leaves everything as it was) before the approved restore
(which replaces the production instance with its copy).
"""
import datetime as dt
import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "e2e", "controlplane", "tests"))
import cpenv  # noqa: E402

cpenv.ensure()   # before the scenario modules read the environment
sys.path.insert(0, os.path.join(ROOT, "e2e", "restore", "tests"))
sys.path.insert(0, os.path.join(ROOT, "e2e", "restore-lifecycle", "tests"))

import kube  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "e2e", "lib"))
import argohealth  # noqa: E402
from test_restore_lifecycle import pitr_item  # noqa: E402  (a function: no test class is imported)
from scenario import (ScenarioCase, cli_instances, psql, rfc3339, secret_value, step_of,  # noqa: E402
                      suffix, utc_now, wait_restorable, BIN_DIR)

EXAMPLES = os.path.join(ROOT, "examples")


def plugin(*args, input_text=None, timeout=120):
    """kubectl lifeboat ARGS: kubectl finds kubectl-lifeboat on the PATH."""
    env = dict(os.environ, PATH=BIN_DIR + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run(["kubectl", "lifeboat"] + list(args), input=input_text,
                          capture_output=True, text=True, timeout=timeout, env=env)


def whoami():
    out = kube.kubectl("auth", "whoami", "-o", "json").stdout
    return json.loads(out)["status"]["userInfo"]["username"]


class KubectlLifeboat(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.src = "orders-pl-" + suffix()
        cls.port = cls.seed_instance(cls.src)
        t = utc_now()
        cls.T = (t + dt.timedelta(seconds=1)).replace(microsecond=0)
        time.sleep(max(0.0, (cls.T - utc_now()).total_seconds()) + 0.3)
        psql(cls.port, "CREATE TABLE ledger_marker (v int); INSERT INTO ledger_marker VALUES (1)")
        wait_restorable(cls.T + dt.timedelta(seconds=0.3), instance=cls.src)
        cls.create_secrets(cls.port)
        cls.create_service("order-service")
        cls.create_service("stuck-service", ready_sql="SELECT v FROM ledger_marker")
        cls.url_before = secret_value(cls.ns, "shop-secrets", "ORDER_DATABASE_URL")

    def manifest(self, name, target, rollout, approval):
        m = self.rr_manifest(name, [pitr_item(self.src, target, restore_time=rfc3339(self.T))],
                             rollout=rollout, approval=approval)
        m["spec"]["timeouts"] = {"rollout": "10m"}
        return m

    def ensure_waiting(self):
        if not getattr(type(self), "waiting", False):
            self.apply_rr(self.manifest("approve-me", self.src + "-p1", ["order-service"], True))
            type(self).waiting = True
        return self.wait_phase("approve-me", "AwaitingApproval", timeout=120)

    def assert_health(self, obj, want):
        """GitOps health of a live object: Argo CD's Lua (deploy/argocd/health.lua) and the
        kstatus conditions the operator wrote say the same."""
        self.assertEqual(argohealth.health(obj)[0], want, self.describe_rr(obj))
        conds = {c["type"]: c["status"] for c in obj["status"].get("conditions", [])}
        self.assertEqual(conds.get("Reconciling"), "True" if want == "Progressing" else "False")
        self.assertEqual(conds.get("Stalled"), "True" if want == "Degraded" else "False")

    def test_1_plan_is_status_plan(self):
        obj = self.ensure_waiting()
        plan = obj["status"]["plan"]
        p = plugin("plan", "approve-me", "-n", self.ns)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        header = [i for i, l in enumerate(lines) if l.split()[:2] == ["ORDER", "ITEM"]]
        self.assertEqual(len(header), 1, p.stdout)
        rows = lines[header[0] + 1:header[0] + 1 + len(plan)]
        for i, (row, step) in enumerate(zip(rows, plan)):
            cols = row.split(None, 4)
            self.assertEqual(cols[:4], [str(i + 1), step["item"] or "-", step["action"],
                                        "yes" if step.get("destructive") else "no"], row)
            self.assertTrue(step["description"].startswith(cols[4].rstrip(".").rstrip()),
                            (row, step["description"]))
        self.assertIn("Approval releases %d destructive step" % sum(
            1 for s in plan if s.get("destructive")), p.stdout)
        j = plugin("plan", "approve-me", "-n", self.ns, "-o", "json")
        self.assertEqual(json.loads(j.stdout), plan)
        y = plugin("plan", "approve-me", "-n", self.ns, "-o", "yaml")
        self.assertEqual(y.returncode, 0, y.stderr)
        import yaml
        self.assertEqual(yaml.safe_load(y.stdout), plan)

    def test_2_approve_answered_no_changes_nothing(self):
        self.ensure_waiting()
        p = plugin("approve", "approve-me", "-n", self.ns, input_text="n\n")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("not approved", p.stdout)
        obj = self.rr("approve-me")
        self.assertNotIn("lifeboat.dev/approve", obj["metadata"].get("annotations", {}))
        time.sleep(1)
        obj = self.rr("approve-me")
        self.assertEqual(obj["status"]["phase"], "AwaitingApproval")
        self.assert_health(obj, "Suspended")

    def test_4_approve_yes_and_watch_the_timeline_to_the_end(self):
        self.ensure_waiting()
        env = dict(os.environ, PATH=BIN_DIR + os.pathsep + os.environ.get("PATH", ""))
        watch = subprocess.Popen(["kubectl", "lifeboat", "timeline", "approve-me", "-n", self.ns,
                                  "--watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env)
        try:
            time.sleep(1)
            p = plugin("approve", "approve-me", "-n", self.ns, "--yes")
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            out, err = watch.communicate(timeout=240)
        finally:
            if watch.poll() is None:
                watch.kill()
                watch.wait()
        me = whoami()
        obj = self.rr("approve-me")
        self.assertEqual(obj["status"]["phase"], "Succeeded", self.describe_rr(obj))
        self.assertEqual(watch.returncode, 0, out[-2000:] + err)
        self.assertEqual(obj["metadata"]["annotations"]["lifeboat.dev/approve"], me)
        self.assertEqual(obj["status"]["approval"]["approvedBy"], me)
        self.assert_health(obj, "Healthy")
        # the watch redrew as the run went on, and its last frame is the finished run
        frames = out.split("---\n")
        self.assertGreaterEqual(len(frames), 3, out[-2000:])
        self.assertIn("Succeeded", frames[-1].splitlines()[0])
        for s in obj["status"]["steps"]:
            self.assertIn(s["name"], frames[-1])
        # the restored copy serves: the cutover really happened
        self.assertNotEqual(secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL"),
                            self.url_before)

    def test_5_status_lists_all_three_kinds(self):
        for f in ("verificationrun-000-post-restore-checklist.yaml",
                  "backuppolicy-002-nightly-rds-snapshots.yaml"):
            with open(os.path.join(EXAMPLES, f)) as fh:
                text = fh.read().replace("namespace: shop", "namespace: " + self.ns)
            kube.kubectl("apply", "-f", "-", input=text)
        self.rr("approve-me")   # made by the earlier tests
        p = plugin("status", "-A")
        self.assertEqual(p.returncode, 0, p.stderr)
        mine = [l.split() for l in p.stdout.splitlines() if l.startswith(self.ns + " ")]
        kinds = sorted({r[1] for r in mine})
        self.assertEqual(kinds, ["BackupPolicy", "RestoreRequest", "VerificationRun"], p.stdout)
        self.assertIn(["approve-me"], [[r[2]] for r in mine if r[1] == "RestoreRequest"])
        j = json.loads(plugin("status", "-n", self.ns, "-o", "json").stdout)
        self.assertEqual(sorted({o["kind"] for o in j}), kinds)

    def test_3_abort_rolls_back_a_cutover(self):
        target = self.src + "-p2"
        self.apply_rr(self.manifest("abort-me", target, ["order-service", "stuck-service"],
                                    False))
        kube.wait_for(lambda: (step_of(self.rr("abort-me"), "rollout/Deployment/stuck-service")
                               or {}).get("phase") == "Running", timeout=180, interval=0.3,
                      message="abort-me in its cutover")
        self.assertNotEqual(secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL"),
                            self.url_before)
        p = plugin("abort", "abort-me", "-n", self.ns, "--reason", "gateway errors")
        self.assertEqual(p.returncode, 0, p.stderr)
        obj = self.wait_phase("abort-me", "RolledBack", timeout=180)
        self.assertIn("gateway errors", obj["status"]["message"])
        self.assert_health(obj, "Degraded")
        self.assertEqual(secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL"),
                         self.url_before)
        self.assertEqual(plugin("timeline", "abort-me", "-n", self.ns, "--watch").returncode, 4)

    def test_6_bad_usage_names_the_problem(self):
        p = plugin("approve")
        self.assertEqual(p.returncode, 2)
        self.assertIn("approve: a name is required", p.stderr)
        p = plugin("plan", "x", "-o", "xml")
        self.assertEqual(p.returncode, 2)
        self.assertIn("-o xml: must be json or yaml", p.stderr)
        p = plugin("plan", "no-such-request", "-n", self.ns)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no-such-request", p.stderr)


if __name__ == "__main__":
    unittest.main()

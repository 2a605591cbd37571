"""The Kubernetes restore steps (pkg/controller/restore/steps_kube.c) against a live Kubernetes (the real control plane or kubesim).

Each step of a real RestoreRequest (created in a fresh namespace, so owner references carry
its uid) is run to its verdict by tests/integration/restore_kube_steps
($LIFEBOAT_BUILD_DIR, default /work/main/build), the way the step engine calls it; the
oracles are the app's own HTTP answers (PID, the value it read from its Secret), kubectl
and the process table. Needs KUBECONFIG and KUBE_SERVICE_MAP from e2e/env.sh up; no AWS.
"""
import base64
import hashlib
import json
import os
import subprocess
import time
import unittest
import urllib.request
import uuid

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
BUILD = os.environ.get("LIFEBOAT_BUILD_DIR") or os.path.join(REPO, "build")
PROGRAM = os.path.join(BUILD, "tests", "integration", "restore_kube_steps")

OLD_URL = "postgres://app:pw!@old.db:5432/shop?sslmode=require"
NEW_URL = "postgres://app:pw!@new.db:6543/shop?sslmode=require"
RESTORE_TIME = "2026-01-01T00:00:00Z"


def kubectl(*args, input=None, check=True):
    p = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("kubectl %s: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


def apply(ns, obj):
    kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(obj))


def get(ns, kind, name):
    return json.loads(kubectl("-n", ns, "get", kind, name, "-o", "json"))


def secret_value(ns, name, key):
    return base64.b64decode(get(ns, "secret", name)["data"][key]).decode()


def wait_for(fn, what, timeout=60, interval=0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - not there yet
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def item(name, target, **extra):
    it = {"name": name,
          "rdsPointInTime": {"sourceDBInstanceIdentifier": "shop-orders-prod",
                             "restoreTime": RESTORE_TIME, "targetDBInstanceIdentifier": target},
          "credentialsSecretRef": {"name": "orders-db-admin"},
          "database": "shop"}
    it.update(extra)
    return it


class KubeSteps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(PROGRAM, os.X_OK):
            raise AssertionError("missing %s (make build/tests/integration/restore_kube_steps)"
                                 % PROGRAM)
        cls.ns = "kube-steps-" + uuid.uuid4().hex[:6]
        kubectl("apply", "-f", os.path.join(REPO, "crds"))
        kubectl("create", "namespace", cls.ns)
        ns = cls.ns
        apply(ns, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app-db"},
                   "stringData": {"url": OLD_URL, "password": "pw!"}})
        apply(ns, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "orders-db-admin"},
                   "stringData": {"username": "app", "password": "pw!"}})
        apply(ns, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "echo"},
                   "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "echo"}},
                            "template": {"metadata": {"labels": {"app": "echo"}}, "spec": {
                                "containers": [{
                                    "name": "app", "image": "echo-env-app",
                                    "command": ["echo-env-app"],
                                    "env": [{"name": "APP_VALUE", "valueFrom": {
                                        "secretKeyRef": {"name": "app-db", "key": "url"}}}],
                                    "ports": [{"containerPort": 8080}],
                                    "readinessProbe": {"httpGet": {"path": "/ready",
                                                                   "port": 8080},
                                                       "periodSeconds": 1}}]}}}})
        apply(ns, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"},
                   "spec": {"selector": {"app": "echo"},
                            "ports": [{"port": 80, "targetPort": 8080}]}})
        apply(ns, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "worker"},
                   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "worker"}},
                            "template": {"metadata": {"labels": {"app": "worker"}}, "spec": {
                                "containers": [{"name": "w", "image": "sleep",
                                                "command": ["sleep", "3600"]}]}}}})
        # the URL the Job must see, compared by digest so the spec does not hold it
        want = hashlib.sha256(b"postgres://app:pw%21@new.db:6543/shop").hexdigest()
        ok_cmd = ('test "$(printf %%s "$DATABASE_URL" | sha256sum | cut -c1-64)" = "%s" '
                  '&& echo migrated' % want)
        bad_cmd = ('echo "connecting to $DATABASE_URL"; echo "auth with pw!"; '
                   'echo "ERROR: relation orders already exists" >&2; exit 3')
        rr = {"apiVersion": "lifeboat.dev/v1alpha1", "kind": "RestoreRequest",
              "metadata": {"name": "rr-kube"},
              "spec": {"items": [
                  item("orders-db", "orders-restored",
                       secretPatches=[{"secretName": "app-db", "key": "url",
                                       "replaceHost": True}],
                       scaleDown=[{"kind": "Deployment", "name": "worker"}]),
                  item("ok-db", "ok-restored",
                       migrations={"image": "sh", "command": ["sh", "-c", ok_cmd]}),
                  item("bad-db", "bad-restored",
                       migrations={"image": "sh", "command": ["sh", "-c", bad_cmd]}),
              ], "rollout": [{"kind": "Deployment", "name": "echo"}]}}
        apply(ns, rr)
        cls.uid = get(ns, "restorerequest", "rr-kube")["metadata"]["uid"]
        kubectl("-n", ns, "rollout", "status", "deployment/echo", "--timeout=60s")
        kubectl("-n", ns, "rollout", "status", "deployment/worker", "--timeout=60s")

    @classmethod
    def tearDownClass(cls):
        kubectl("delete", "namespace", cls.ns, "--wait=false", check=False)

    def step(self, name, *args, expect=0):
        p = subprocess.run([PROGRAM, self.ns, "rr-kube", name, *args], capture_output=True,
                           text=True, timeout=180)
        if p.returncode != expect:
            self.fail("%s exited %d, want %d:\n%s%s" % (name, p.returncode, expect, p.stdout,
                                                         p.stderr))
        return p.stdout.strip().splitlines()[-1]

    def app(self):
        path = os.environ["KUBE_SERVICE_MAP"]
        with open(path) as f:
            addr = json.load(f)["echo.%s.svc" % self.ns]
        with urllib.request.urlopen("http://%s/" % addr, timeout=5) as r:
            return json.loads(r.read())

    def test_1_patch_secrets_rollout_and_undo(self):
        before = wait_for(self.app, "the echo app answering")
        self.assertEqual(before["value"], OLD_URL)

        last = self.step("orders-db/patch-secrets", "--endpoint", "new.db:6543")
        self.assertTrue(last.startswith("DONE "), last)
        self.assertNotIn("pw!", last)
        self.assertEqual(secret_value(self.ns, "app-db", "url"), NEW_URL)
        rb = get(self.ns, "secret", "lifeboat-rollback-rr-kube")
        self.assertEqual(base64.b64decode(rb["data"]["app-db_url"]).decode(), OLD_URL)
        self.assertEqual([r["uid"] for r in rb["metadata"]["ownerReferences"]], [self.uid])
        # again: nothing to change, the original stays the first one
        last = self.step("orders-db/patch-secrets", "--endpoint", "new.db:6543")
        self.assertIn("0 changed", last)
        rb = get(self.ns, "secret", "lifeboat-rollback-rr-kube")
        self.assertEqual(base64.b64decode(rb["data"]["app-db_url"]).decode(), OLD_URL)

        # the rollout restarts the process, which reads the patched Secret
        last = self.step("rollout/Deployment/echo", "--started-at", "2026-11-21T01:02:03Z")
        self.assertTrue(last.startswith("DONE "), last)
        after = wait_for(self.app, "the restarted app answering")
        self.assertNotEqual(after["pid"], before["pid"])
        # the new pod answers first; the old one is then stopped (its grace period)
        wait_for(lambda: not pid_alive(before["pid"]) or None, "the old process to stop")
        self.assertEqual(after["value"], NEW_URL)
        dep = get(self.ns, "deployment", "echo")
        self.assertEqual(dep["spec"]["template"]["metadata"]["annotations"][
            "kubectl.kubernetes.io/restartedAt"], "2026-11-21T01:02:03Z")
        # a repeat with the same persisted start does not restart again
        self.step("rollout/Deployment/echo", "--started-at", "2026-11-21T01:02:03Z")
        self.assertEqual(self.app()["pid"], after["pid"])

        # undo puts the original back; a rollback rollout restarts once more
        last = self.step("orders-db/patch-secrets", "--rollback")
        self.assertTrue(last.startswith("DONE "), last)
        self.assertEqual(secret_value(self.ns, "app-db", "url"), OLD_URL)
        self.step("orders-db/patch-secrets", "--rollback")  # idempotent
        last = self.step("rollout/Deployment/echo", "--rollback", "--started-at",
                         "2026-11-21T01:02:03Z")
        self.assertTrue(last.startswith("DONE "), last)
        back = wait_for(self.app, "the app after rollback")
        self.assertNotEqual(back["pid"], after["pid"])
        self.assertEqual(back["value"], OLD_URL)

    def test_2_scale_down_and_up(self):
        last = self.step("orders-db/scale-down")
        self.assertTrue(last.startswith("DONE "), last)
        dep = get(self.ns, "deployment", "worker")
        self.assertEqual(dep["spec"]["replicas"], 0)
        self.assertEqual(dep["metadata"]["annotations"]["lifeboat.dev/replicas-before"], "2")
        pods = json.loads(kubectl("-n", self.ns, "get", "pods", "-l", "app=worker", "-o",
                                  "json"))["items"]
        self.assertEqual(pods, [])
        self.step("orders-db/scale-down")  # repeat keeps the annotation
        dep = get(self.ns, "deployment", "worker")
        self.assertEqual(dep["metadata"]["annotations"]["lifeboat.dev/replicas-before"], "2")

        last = self.step("orders-db/scale-up")
        self.assertTrue(last.startswith("DONE "), last)
        dep = get(self.ns, "deployment", "worker")
        self.assertEqual(dep["spec"]["replicas"], 2)
        self.assertNotIn("lifeboat.dev/replicas-before", dep["metadata"].get("annotations", {}))
        self.assertEqual(dep["status"].get("readyReplicas"), 2)

    def test_3_migrations_success_uses_secret_url(self):
        last = self.step("ok-db/migrations", "--endpoint", "new.db:6543")
        self.assertTrue(last.startswith("DONE "), last)
        job = get(self.ns, "job", "lb-rr-kube-ok-db-migrations")
        self.assertEqual(job["spec"]["backoffLimit"], 0)
        self.assertEqual([r["uid"] for r in job["metadata"]["ownerReferences"]], [self.uid])
        env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        self.assertEqual(env, [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {
            "name": "lb-rr-kube-ok-db-migrations-db", "key": "url"}}}])
        self.assertNotIn("pw", json.dumps(job))
        # adopted, not created twice
        last = self.step("ok-db/migrations", "--endpoint", "new.db:6543")
        self.assertTrue(last.startswith("DONE "), last)

    def test_4_migrations_failure_reports_redacted_tail(self):
        last = self.step("bad-db/migrations", "--endpoint", "new.db:6543", expect=2)
        self.assertTrue(last.startswith("FAILED MigrationsFailed "), last)
        self.assertIn("relation orders already exists", last)
        self.assertIn("connecting to", last)
        self.assertNotIn("pw!", last)
        self.assertNotIn("pw%21", last)


if __name__ == "__main__":
    unittest.main()

"""lifeboat-operator against kubesim (issue 4 items 5 and 6).

Runs the real bin/lifeboat-operator ($LIFEBOAT_BIN_DIR, else /work/main/bin) against the
running kubesim ($KUBECONFIG), one fresh namespace per class, the operator limited to that
namespace with --namespaces so that other suites' objects do not disturb the counts. kubectl
is the oracle for what the operator wrote. The restart test runs a private kubesim of its own.
"""
import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "e2e", "kubesim", "tests"))
import kube  # noqa: E402  (kubesim's kubectl helpers)
sys.path.insert(0, os.path.join(ROOT, "e2e", "lib"))
import operator_sa  # noqa: E402  (on the real control plane: deploy/'s ServiceAccount)

BIN = os.path.join(os.environ.get("LIFEBOAT_BIN_DIR") or os.path.join(ROOT, "bin"), "lifeboat-operator")
CRDS = os.path.join(ROOT, "crds")
SINGLE_TEAM_SCOPE = os.path.join(ROOT, "deploy", "scopes", "single-team.yaml")
EXAMPLES = os.path.join(ROOT, "examples")
LEASE_SECONDS = 15

# The planner's steps for examples/restorerequest-dry-run.yaml, read off pkg/controller/plan.h's
# table: rdsPointInTime prepare = validate, restore, wait-available, [verify]; the approval
# gate; cutover = [promote D], [patch-secrets D]; rollout D; cleanup (deleteOld) D.
DRY_RUN_PLAN = [
    ("orders-db/validate", False),
    ("orders-db/restore", False),
    ("orders-db/wait-available", False),
    ("orders-db/verify", False),
    ("approval", False),
    ("orders-db/promote", True),
    ("orders-db/patch-secrets", True),
    ("rollout/Deployment/order-payment-service", True),
    ("orders-db/cleanup", True),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=2):
    """(status, body) of GET http://127.0.0.1:port/path; (0, error) when nothing answers."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


def parse_metrics(text):
    """{'name{labels}': value} from the Prometheus text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
    return out


def run_dir():
    d = os.environ.get("LIFEBOAT_RUN_DIR") or os.path.join(ROOT, "e2e", ".run")
    d = os.path.join(d, "operator")
    os.makedirs(d, exist_ok=True)
    return d


class Operator:
    """One lifeboat-operator process with its own metrics/health ports and log file."""

    def __init__(self, name, kubeconfig, *flags):
        self.name = name
        self.metrics_port, self.health_port = free_port(), free_port()
        self.log_path = os.path.join(run_dir(), "%s-%d.log" % (name, os.getpid()))
        self.log = open(self.log_path, "wb")
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("LIFEBOAT_") and k not in ("LIFEBOAT_RUN_DIR", "LIFEBOAT_BIN_DIR"):
                del env[k]
        self.proc = subprocess.Popen(
            [BIN, "--kubeconfig", kubeconfig, "--metrics-addr", "127.0.0.1:%d" % self.metrics_port,
             "--health-addr", "127.0.0.1:%d" % self.health_port, "--log-format", "json",
             "--log-level", "debug"] + list(flags),
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.identity = "%s_%d" % (socket.gethostname(), self.proc.pid)

    def metrics(self):
        status, body = http_get(self.metrics_port, "/metrics")
        if status != 200:
            raise AssertionError("%s /metrics answered %s: %s" % (self.name, status, body[:200]))
        return parse_metrics(body)

    def metric(self, key):
        return self.metrics().get(key, 0.0)

    def wait_ready(self, timeout=20):
        kube.wait_for(lambda: http_get(self.health_port, "/readyz")[0] == 200, timeout=timeout,
                      message="%s /readyz 200" % self.name)

    def alive(self):
        return self.proc.poll() is None

    def terminate(self, timeout=20):
        """SIGTERM; returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    def kill9(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait(10)
        self.log.close()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self.log.closed:
            self.log.close()

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


def dry_run_example(ns, name=None):
    with open(os.path.join(EXAMPLES, "restorerequest-dry-run.yaml")) as f:
        doc = yaml.safe_load(f)
    doc["metadata"]["namespace"] = ns
    if name:
        doc["metadata"]["name"] = name
    return doc


def example(filename, ns):
    with open(os.path.join(EXAMPLES, filename)) as f:
        doc = yaml.safe_load(f)
    doc["metadata"]["namespace"] = ns
    return doc


def get(kind, ns, name, kubeconfig=None):
    if kubeconfig is None:  # a raw GET: these are polled (kube.get_json)
        return kube.get_json(kind, name, ns)
    return kube.kubectl_json("get", kind, name, "-n", ns, kubeconfig=kubeconfig)


def condition(obj, ctype):
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == ctype:
            return c
    return None


def phase_is(kind, ns, name, phase, kubeconfig=None):
    def check():
        obj = get(kind, ns, name, kubeconfig)
        return obj if obj.get("status", {}).get("phase") == phase else None
    return check


def lease_holder(ns, name, kubeconfig=None):
    if kubeconfig is None:  # polled: one raw GET rather than a kubectl process
        try:
            return kube.get_json("lease", name, ns).get("spec", {}).get("holderIdentity", "")
        except AssertionError:
            return None
    p = kube.kubectl("get", "lease", name, "-n", ns, "-o", "jsonpath={.spec.holderIdentity}",
                     check=False, kubeconfig=kubeconfig)
    return p.stdout.strip() if p.returncode == 0 else None


class OperatorCase(unittest.TestCase):
    """A fresh namespace per class; CRDs applied to the shared kubesim."""

    @classmethod
    def setUpClass(cls):
        if not os.access(BIN, os.X_OK):
            raise AssertionError("%s is missing: run make first" % BIN)
        kube.kubectl("apply", "-f", CRDS)
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", CRDS)
        kube.kubectl("apply", "-f", SINGLE_TEAM_SCOPE)  # deny by default: one broad scope
        cls.ns = kube.unique_ns("op")
        cls.operators = []

    @classmethod
    def tearDownClass(cls):
        kube.delete_ns(cls.ns)

    def start(self, name, *flags, kubeconfig=None):
        op = Operator(name, kubeconfig or operator_sa.kubeconfig(), "--namespaces", self.ns, *flags)
        self.operators.append(op)
        self.addCleanup(op.stop)
        return op

    def fail_with_logs(self, msg):
        logs = "\n".join("--- %s\n%s" % (op.name, op.log_text()[-3000:]) for op in self.operators)
        self.fail("%s\n%s" % (msg, logs))


class TestOperatorFlags(unittest.TestCase):
    def run_op(self, *args):
        return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=10)

    def test_help_lists_every_flag(self):
        p = self.run_op("--help")
        self.assertEqual(p.returncode, 0)
        for flag in ("--kubeconfig", "--namespaces", "--workers", "--leader-elect", "--lease-name",
                     "--lease-namespace", "--metrics-addr", "--health-addr", "--log-format",
                     "--log-level", "--version"):
            self.assertIn(flag, p.stdout)

    def test_version(self):
        p = self.run_op("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^lifeboat-operator \S+")

    def test_bad_flags_name_the_flag(self):
        for args, needle in ((["--no-such-flag"], "--no-such-flag"),
                             (["--workers=zero"], "--workers"),
                             (["--log-format", "xml"], "--log-format"),
                             (["--log-level=loud"], "--log-level"),
                             (["--namespaces=Not_A_Namespace"], "--namespaces")):
            p = self.run_op(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(needle, p.stderr, args)


class TestDryRunAndValidation(OperatorCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.op = Operator("single", operator_sa.kubeconfig(), "--namespaces", cls.ns)
        cls.operators = [cls.op]
        cls.op.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.op.stop()
        super().tearDownClass()

    def test_dry_run_is_planned_with_the_planners_plan(self):
        kube.kubectl("apply", "-f", "-", input=dry_run_example(self.ns))
        # how fast is not asserted here: make bench measures create -> Planned (p50/p99)
        obj = kube.wait_for(phase_is("rr", self.ns, "orders-pitr-plan", "Planned"), timeout=10,
                            interval=0.05, message="phase Planned")
        st = obj["status"]
        self.assertEqual([(s["name"], s["destructive"]) for s in st["plan"]], DRY_RUN_PLAN)
        self.assertEqual(st.get("currentStep"), "")
        self.assertEqual(st["observedGeneration"], obj["metadata"]["generation"])
        valid = condition(obj, "Valid")
        self.assertEqual((valid["status"], valid["observedGeneration"]), ("True", obj["metadata"]["generation"]))
        # kubectl's table shows the phase in its printer column
        table = kube.kubectl("get", "rr", "-n", self.ns).stdout
        self.assertRegex(table, r"orders-pitr-plan\s+Planned")
        # one Normal event for the phase change
        events = kube.kubectl_json("get", "events", "-n", self.ns)["items"]
        planned = [e for e in events if e["involvedObject"]["name"] == "orders-pitr-plan"
                   and e["reason"] == "Planned"]
        self.assertEqual(len(planned), 1, events)
        self.assertEqual(planned[0]["type"], "Normal")

    def test_cel_rule_violation_is_refused_by_kubectl(self):
        doc = dry_run_example(self.ns, "both-times")
        doc["spec"]["items"][0]["rdsPointInTime"]["useLatestRestorableTime"] = True
        p = kube.kubectl("apply", "-f", "-", input=doc, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("restoreTime", p.stderr)
        self.assertNotEqual(kube.kubectl("get", "rr", "both-times", "-n", self.ns, check=False).returncode, 0)

    def test_future_restore_time_is_invalid_spec_and_nothing_else(self):
        doc = dry_run_example(self.ns, "future")
        doc["spec"]["items"][0]["rdsPointInTime"]["restoreTime"] = "2099-01-01T00:00:00Z"
        kube.kubectl("apply", "-f", "-", input=doc)
        obj = kube.wait_for(phase_is("rr", self.ns, "future", "Failed"), timeout=10,
                            message="phase Failed")
        valid = condition(obj, "Valid")
        self.assertEqual(valid["status"], "False")
        self.assertEqual(valid["reason"], "InvalidSpec")
        self.assertIn("spec.items[0].rdsPointInTime.restoreTime", valid["message"])
        time.sleep(1.0)
        obj = get("rr", self.ns, "future")
        self.assertNotIn("plan", obj["status"])
        self.assertIsNone(condition(obj, "Progressing"))
        self.assertEqual(obj["status"].get("observedGeneration"), obj["metadata"]["generation"])
        events = [e for e in kube.kubectl_json("get", "events", "-n", self.ns)["items"]
                  if e["involvedObject"]["name"] == "future"]
        self.assertEqual([(e["type"], e["reason"]) for e in events], [("Warning", "InvalidSpec")])

    def test_not_dry_run_executes_and_a_missing_source_fails_in_validate(self):
        doc = dry_run_example(self.ns, "real")
        doc["spec"]["dryRun"] = False
        kube.kubectl("apply", "-f", "-", input=doc)
        obj = kube.wait_for(phase_is("rr", self.ns, "real", "Failed"), timeout=20,
                            message="phase Failed")
        st = obj["status"]
        self.assertEqual([s["name"] for s in st["plan"]], [n for n, _ in DRY_RUN_PLAN])
        self.assertEqual([s["name"] for s in st["steps"]], [n for n, _ in DRY_RUN_PLAN])
        self.assertEqual(st["steps"][0]["phase"], "Failed")
        self.assertIn("lomash-orders-prod", st["steps"][0]["message"])
        self.assertEqual({s["phase"] for s in st["steps"][1:]}, {"Pending"})
        self.assertIn("nothing live was changed", st["message"])
        self.assertEqual(condition(obj, "Valid")["status"], "True")
        self.assertEqual(condition(obj, "Ready")["status"], "False")
        # events are posted after the status write, asynchronously: wait for them
        def reasons():
            return [e["reason"] for e in kube.kubectl_json("get", "events", "-n", self.ns)["items"]
                    if e["involvedObject"]["name"] == "real"]
        want = ("Running", "StepStarted", "StepFailed", "Failed")
        got = kube.wait_for(lambda: (lambda r: r if all(w in r for w in want) else None)(reasons()),
                            timeout=10, message="events %s" % (want,))
        for r in want:
            self.assertIn(r, got)

    def test_spec_change_is_revalidated(self):
        kube.kubectl("apply", "-f", "-", input=dry_run_example(self.ns, "changes"))
        kube.wait_for(phase_is("rr", self.ns, "changes", "Planned"), timeout=10, message="Planned")
        kube.kubectl("patch", "rr", "changes", "-n", self.ns, "--type=merge", "-p", json.dumps(
            {"spec": {"items": [dict(dry_run_example(self.ns)["spec"]["items"][0],
                                     rdsPointInTime={"sourceDBInstanceIdentifier": "x",
                                                     "restoreTime": "2099-01-01T00:00:00Z"})]}}))
        obj = kube.wait_for(phase_is("rr", self.ns, "changes", "Failed"), timeout=10, message="Failed")
        self.assertEqual(obj["status"]["observedGeneration"], obj["metadata"]["generation"])
        self.assertGreaterEqual(obj["metadata"]["generation"], 2)

    def test_metadata_change_is_a_cheap_no_op(self):
        kube.kubectl("apply", "-f", "-", input=dry_run_example(self.ns, "noop"))
        obj = kube.wait_for(phase_is("rr", self.ns, "noop", "Planned"), timeout=10, message="Planned")
        written = 'lifeboat_reconcile_total{controller="restore",result="written"}'
        nothing_to_do = 'lifeboat_reconcile_total{controller="restore",result="skipped"}'
        unchanged = 'lifeboat_informer_unchanged_total{controller="restore"}'
        time.sleep(0.5)
        before = self.op.metrics()
        # an annotation Lifeboat does not read: the kept view is unchanged but for the
        # resourceVersion, so the event is compared and dropped; no reconcile at all
        kube.kubectl("annotate", "rr", "noop", "-n", self.ns, "example.com/touched=yes")
        kube.wait_for(lambda: self.op.metric(unchanged) > before.get(unchanged, 0), timeout=10,
                      message="an unchanged kept view")
        time.sleep(0.5)
        after = self.op.metrics()
        self.assertEqual(after.get(written), before.get(written))
        self.assertEqual(after.get(nothing_to_do), before.get(nothing_to_do))
        # one it reads (an approval on a dry run) is queued and reconciled
        kube.kubectl("annotate", "rr", "noop", "-n", self.ns, "lifeboat.dev/approve=someone")
        kube.wait_for(lambda: self.op.metric(nothing_to_do) + self.op.metric(written)
                      > after.get(nothing_to_do, 0) + after.get(written, 0), timeout=10,
                      message="a reconcile of the approval")
        self.assertEqual(self.op.metric(unchanged), after.get(unchanged))
        again = get("rr", self.ns, "noop")
        self.assertEqual(again["status"], obj["status"])

    def test_restore_phase_gauge_follows_the_requests(self):
        """lifeboat_restore_phase{phase} is counted by the informer's handlers: it
        equals the requests of each phase the API server lists, before and after
        a delete."""
        def by_phase():
            items = kube.kubectl_json("get", "rr", "-n", self.ns)["items"]
            out = {}
            for o in items:
                p = o.get("status", {}).get("phase")
                if p and not o["metadata"].get("deletionTimestamp"):
                    out[p] = out.get(p, 0) + 1
            return out

        def gauges():
            m = self.op.metrics()
            return {k[len('lifeboat_restore_phase{phase="'):-2]: int(v) for k, v in m.items()
                    if k.startswith("lifeboat_restore_phase{") and v}

        def agree():
            want = by_phase()
            return want if gauges() == want else None
        for name in ("gauge-a", "gauge-b"):
            kube.kubectl("apply", "-f", "-", input=dry_run_example(self.ns, name))
            kube.wait_for(phase_is("rr", self.ns, name, "Planned"), timeout=10, message="Planned")
        counts = kube.wait_for(agree, timeout=15, message="gauges equal to the listed phases")
        self.assertGreaterEqual(counts.get("Planned", 0), 2)
        kube.kubectl("delete", "rr", "gauge-a", "-n", self.ns)
        after = kube.wait_for(agree, timeout=15, message="gauges after a delete")
        self.assertEqual(after.get("Planned", 0), counts["Planned"] - 1)

    def test_verification_run_and_backup_policy_get_valid(self):
        vr = example("verificationrun-003-validation-queries.yaml", self.ns)
        bp = example("backuppolicy-002-nightly-rds-snapshots.yaml", self.ns)
        kube.kubectl("apply", "-f", "-", input=[vr, bp])
        for kind, doc in (("vr", vr), ("bp", bp)):
            name = doc["metadata"]["name"]

            def valid(kind=kind, name=name):
                obj = get(kind, self.ns, name)
                c = condition(obj, "Valid")
                return obj if c and c["status"] == "True" else None
            obj = kube.wait_for(valid, timeout=10, message="%s Valid" % kind)
            self.assertEqual(obj["status"]["observedGeneration"], obj["metadata"]["generation"])
            # what the controllers then do is e2e/verify's and e2e/backup's subject

    def test_readyz_healthz_and_metrics(self):
        self.assertEqual(http_get(self.op.health_port, "/healthz")[0], 200)
        self.assertEqual(http_get(self.op.health_port, "/readyz")[0], 200)
        kube.kubectl("apply", "-f", "-", input=dry_run_example(self.ns, "metrics"))
        kube.wait_for(phase_is("rr", self.ns, "metrics", "Planned"), timeout=10, message="Planned")
        status, text = http_get(self.op.metrics_port, "/metrics")
        self.assertEqual(status, 200)
        m = parse_metrics(text)
        self.assertGreaterEqual(m.get('lifeboat_reconcile_total{controller="restore",result="written"}', 0), 1)
        self.assertGreaterEqual(
            m.get('lifeboat_reconcile_duration_seconds_count{controller="restore",result="written"}', 0), 1)
        self.assertIn('lifeboat_workqueue_depth{controller="restore"}', m)
        self.assertGreaterEqual(m.get('lifeboat_kube_requests_total{verb="LIST",code="200"}', 0), 3)
        self.assertGreaterEqual(m.get('lifeboat_kube_requests_total{verb="UPDATE",code="200"}', 0), 1)
        self.assertEqual(m.get("lifeboat_leader"), 1)
        self.assertTrue(any(k.startswith("lifeboat_build_info{version=") for k in m), m)
        self.assertEqual(http_get(self.op.health_port, "/metrics")[0], 404)


class TestThroughHttp11Proxy(OperatorCase):
    """The operator behind a plain HTTP/1.1 hop (`kubectl proxy`, as an L7 proxy or a
    developer's laptop would put it): no HTTP/2, so each watch holds a connection of its
    own. Requests are made with the ServiceAccount's credentials by the proxy."""

    def test_plans_and_follows_spec_changes_over_http11(self):
        port = free_port()
        proxy_log = open(os.path.join(run_dir(), "kubectl-proxy-%d.log" % os.getpid()), "wb")
        self.addCleanup(proxy_log.close)
        proxy = subprocess.Popen(
            ["kubectl", "--kubeconfig", operator_sa.kubeconfig(), "proxy", "--port", str(port),
             "--address", "127.0.0.1"],
            stdout=proxy_log, stderr=subprocess.STDOUT, start_new_session=True)
        self.addCleanup(lambda: (proxy.terminate(), proxy.wait(10)))
        kube.wait_for(lambda: http_get(port, "/version")[0] == 200, timeout=20,
                      message="kubectl proxy answers")
        with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig", dir=run_dir(),
                                         delete=False) as f:
            yaml.safe_dump({
                "apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "proxy", "cluster": {"server": "http://127.0.0.1:%d" % port}}],
                "users": [{"name": "proxied", "user": {}}],
                "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "proxied"}}],
                "current-context": "proxy"}, f)
        self.addCleanup(os.unlink, f.name)
        op = self.start("http11", kubeconfig=f.name)
        op.wait_ready()
        kube.kubectl("apply", "-f", "-", input=dry_run_example(self.ns, "via-proxy"))
        obj = kube.wait_for(phase_is("rr", self.ns, "via-proxy", "Planned"), timeout=20,
                            message="Planned through the proxy")
        self.assertEqual([(s["name"], s["destructive"]) for s in obj["status"]["plan"]],
                         DRY_RUN_PLAN)
        # a spec change arrives through the watch the proxy carries
        kube.kubectl("patch", "rr", "via-proxy", "-n", self.ns, "--type=merge", "-p", json.dumps(
            {"spec": {"items": [dict(dry_run_example(self.ns)["spec"]["items"][0],
                                     rdsPointInTime={"sourceDBInstanceIdentifier": "x",
                                                     "restoreTime": "2099-01-01T00:00:00Z"})]}}))
        obj = kube.wait_for(phase_is("rr", self.ns, "via-proxy", "Failed"), timeout=20,
                            message="the spec change re-validated through the proxy")
        self.assertEqual(obj["status"]["observedGeneration"], obj["metadata"]["generation"])
        started = [json.loads(l) for l in op.log_text().splitlines()
                   if '"lifeboat-operator starting"' in l]
        self.assertEqual([l.get("server") for l in started], ["http://127.0.0.1:%d" % port])


class TestLeaderElection(OperatorCase):
    def leader_flags(self):
        operator_sa.grant_lease(self.ns)    # deploy/'s leader-election Role, in this namespace
        return ("--leader-elect", "--lease-name", "lifeboat-operator", "--lease-namespace", self.ns)

    def written(self, op):
        return op.metric('lifeboat_reconcile_total{controller="restore",result="written"}')

    def test_one_leader_failover_and_release(self):
        a = self.start("a", *self.leader_flags())
        kube.wait_for(lambda: lease_holder(self.ns, "lifeboat-operator") == a.identity, timeout=20,
                      message="a to hold the lease")
        b = self.start("b", *self.leader_flags())
        a.wait_ready()
        b.wait_ready()  # a standby is ready too
        kube.kubectl("apply", "-f", "-", input=dry_run_example(self.ns, "first"))
        kube.wait_for(phase_is("rr", self.ns, "first", "Planned"), timeout=10, message="Planned")
        time.sleep(1.0)
        self.assertEqual(lease_holder(self.ns, "lifeboat-operator"), a.identity)
        self.assertGreaterEqual(self.written(a), 1)
        self.assertEqual(self.written(b), 0)
        self.assertEqual((a.metric("lifeboat_leader"), b.metric("lifeboat_leader")), (1, 0))

        # kill -9 the leader: the standby takes over within the lease duration (+ retry)
        a.kill9()
        t0 = time.monotonic()
        kube.wait_for(lambda: lease_holder(self.ns, "lifeboat-operator") == b.identity, timeout=25,
                      interval=0.2, message="b to take the lease over")
        takeover = time.monotonic() - t0
        self.assertLessEqual(takeover, 20.0, "takeover took %.1fs" % takeover)
        kube.kubectl("apply", "-f", "-", input=dry_run_example(self.ns, "second"))
        kube.wait_for(phase_is("rr", self.ns, "second", "Planned"), timeout=10, message="second Planned")
        # the metric counts the write once its answer is handled, a moment after the phase shows
        kube.wait_for(lambda: self.written(b) >= 1, timeout=5, message="b's written metric")

        # SIGTERM the new leader: it releases the lease at once, and a standby takes over
        # far sooner than the lease duration
        c = self.start("c", *self.leader_flags())
        c.wait_ready()
        t0 = time.monotonic()
        self.assertEqual(b.terminate(), 0)
        exit_s = time.monotonic() - t0
        holder = lease_holder(self.ns, "lifeboat-operator")
        self.assertIn(holder, ("", c.identity))
        kube.wait_for(lambda: lease_holder(self.ns, "lifeboat-operator") == c.identity, timeout=8,
                      interval=0.1, message="c to take the released lease")
        handover = time.monotonic() - t0
        self.assertLess(handover, LEASE_SECONDS / 2, "handover took %.1fs" % handover)
        self.assertIn("leader lease released", b.log_text())
        print("# leader: kill -9 takeover %.1fs, SIGTERM exit %.1fs, handover %.1fs"
              % (takeover, exit_s, handover))


class TestKubesimRestart(OperatorCase):
    """A private kubesim on a fixed port, stopped and started again under a running operator:
    the new server has lost every object, and objects are created and changed while the
    operator reconnects; it must end with the final state."""

    def start_server(self):
        server = os.path.join(ROOT, "e2e", "kubesim", "server.py")
        log = open(os.path.join(self.dir, "server.log"), "ab")
        proc = subprocess.Popen([sys.executable, server, "--run-dir", self.dir,
                                 "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.addCleanup(self.stop_server, proc)
        token_path = os.path.join(self.dir, "kubesim", "token")

        def answers():
            kube._CONN.pop(self.kubeconfig, None)  # the token changes with every start
            return kube.api("GET", "/version", kubeconfig=self.kubeconfig).status == 200
        kube.wait_for(lambda: os.path.exists(token_path) and answers(), timeout=30,
                      message="private kubesim")
        return proc

    @staticmethod
    def stop_server(proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def operator_kubeconfig(self):
        """The server's kubeconfig, but reading the token from its file (re-read when kubesim
        writes a new one), as a projected service-account token would be."""
        with open(self.kubeconfig) as f:
            cfg = yaml.safe_load(f)
        cfg["users"][0]["user"] = {"tokenFile": os.path.join(self.dir, "kubesim", "token")}
        path = os.path.join(self.dir, "operator-kubeconfig")
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f)
        return path

    def seed(self, restore_time_of_a):
        kc = self.kubeconfig
        kube.kubectl("apply", "-f", CRDS, kubeconfig=kc)
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", CRDS,
                     kubeconfig=kc)
        kube.kubectl("apply", "-f", SINGLE_TEAM_SCOPE, kubeconfig=kc)
        kube.kubectl("create", "namespace", self.ns, kubeconfig=kc, check=False)
        a = dry_run_example(self.ns, "a")
        a["spec"]["items"][0]["rdsPointInTime"]["restoreTime"] = restore_time_of_a
        # CRDs become servable a moment after they are created
        kube.wait_for(lambda: kube.kubectl("apply", "-f", "-", input=a, kubeconfig=kc,
                                           check=False).returncode == 0, timeout=10,
                      message="apply a")

    def test_restart_under_a_running_operator(self):
        self.dir = tempfile.mkdtemp(prefix="op-kubesim-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.dir])
        self.port = free_port()
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        kc = self.kubeconfig

        # a first start makes the CA the operator's kubeconfig pins; then stop it
        self.stop_server(self.start_server())
        op = self.start("restart", "--log-level", "debug", kubeconfig=self.operator_kubeconfig())
        time.sleep(1.0)
        self.assertTrue(op.alive(), op.log_text())
        self.assertEqual(http_get(op.health_port, "/healthz")[0], 200)
        self.assertEqual(http_get(op.health_port, "/readyz")[0], 503)  # nothing synced yet

        srv = self.start_server()
        self.assertEqual(http_get(op.health_port, "/readyz")[0], 503)  # no CRDs: lists fail
        self.seed("2026-02-18T14:30:00Z")
        op.wait_ready(timeout=40)
        kube.wait_for(phase_is("rr", self.ns, "a", "Planned", kc), timeout=40, message="a Planned")

        # restart: the new server has no objects and a new token; during the outage and
        # right after it, a is re-created with a spec that is now invalid and b is new
        self.stop_server(srv)
        time.sleep(2.0)
        self.assertEqual(http_get(op.health_port, "/healthz")[0], 200)
        self.start_server()
        self.seed("2099-01-01T00:00:00Z")
        kube.kubectl("apply", "-f", "-", input=dry_run_example(self.ns, "b"), kubeconfig=kc)
        try:
            a = kube.wait_for(phase_is("rr", self.ns, "a", "Failed", kc), timeout=60,
                              message="a Failed after the restart")
            kube.wait_for(phase_is("rr", self.ns, "b", "Planned", kc), timeout=30,
                          message="b Planned after the restart")
        except AssertionError as e:
            self.fail_with_logs(str(e))
        self.assertEqual(condition(a, "Valid")["reason"], "InvalidSpec")
        self.assertNotIn("plan", a["status"])
        self.assertTrue(op.alive())
        self.assertEqual(op.terminate(), 0)


if __name__ == "__main__":
    unittest.main()

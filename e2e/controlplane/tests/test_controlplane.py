"""Issue 9's acceptance list against the real kube-apiserver, etcd, controllers and the
process kubelet (e2e/controlplane): CRDs and their CEL rules, a Deployment whose pod is
a real process (rollout restart/status), exec with stdin and an exit code, logs of a
Job, a watch with bookmarks, a 410 after etcd compaction, the RBAC of deploy/ (enough
and not more), the operator's Lease held as its ServiceAccount.

kubectl (the real client) and the API's own answers are the oracles; processes are
checked in /proc.
"""
import json
import os
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpenv  # noqa: E402

ROOT = cpenv.ROOT
CRDS = os.path.join(ROOT, "crds")
DEPLOY = os.path.join(ROOT, "deploy")
SA = "system:serviceaccount:lifeboat-system:lifeboat-operator"

kube = None


def setUpModule():
    global kube
    cpenv.ensure()
    import kube as k  # noqa: E402  (kubesim's kubectl helpers, on sys.path via cpenv)
    kube = k


def pod_of(ns, selector):
    pods = kube.get_json("pods", ns=ns, label_selector=selector)["items"]  # polled: raw GET
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    return live


def pid_of(pod):
    cid = pod["status"]["containerStatuses"][0].get("containerID", "")
    assert cid.startswith("lifeboat://"), cid
    return int(cid[len("lifeboat://"):])


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


class ControlPlane(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ns = kube.unique_ns("cp")

    @classmethod
    def tearDownClass(cls):
        kube.delete_ns(cls.ns)

    def test_version_is_the_real_apiserver(self):
        v = json.loads(kube.kubectl("version", "-o", "json").stdout)["serverVersion"]
        self.assertEqual((v["major"], v["minor"]), ("1", "32"))
        self.assertTrue(v["gitVersion"].startswith("v1.32."), v)
        node = kube.kubectl_json("get", "node", "lifeboat-node")
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]
        self.assertEqual(ready["status"], "True")

    def test_crds_established_and_cel_rule_enforced_by_the_apiserver(self):
        kube.kubectl("apply", "-f", CRDS)
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", CRDS)
        bad = {"apiVersion": "lifeboat.dev/v1alpha1", "kind": "RestoreRequest",
               "metadata": {"name": "same-source-target", "namespace": self.ns},
               "spec": {"items": [{
                   "name": "db",
                   "rdsPointInTime": {"sourceDBInstanceIdentifier": "shop",
                                      "targetDBInstanceIdentifier": "shop",
                                      "useLatestRestorableTime": True},
                   "credentialsSecretRef": {"name": "x"}}]}}
        p = kube.kubectl("apply", "-f", "-", input=bad, check=False)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("is invalid", p.stderr)
        self.assertIn("spec.items[0].rdsPointInTime", p.stderr)
        self.assertIn("targetDBInstanceIdentifier", p.stderr)
        got = kube.kubectl("get", "restorerequest", "same-source-target", "-n", self.ns,
                           check=False)
        self.assertNotEqual(got.returncode, 0, "the invalid request was stored")

    def test_rollout_restart_of_a_deployment_whose_pod_is_a_process(self):
        marker = uuid.uuid4().hex
        dep = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "sleeper", "namespace": self.ns},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "sleeper"}},
                        "template": {"metadata": {"labels": {"app": "sleeper"}},
                                     "spec": {"containers": [{
                                         "name": "main", "image": "busybox",
                                         "command": ["sh", "-c", "echo up %s; exec sleep 100000" % marker],
                                         "readinessProbe": {"exec": {"command": ["true"]},
                                                            "periodSeconds": 1}}]}}}}
        kube.kubectl("apply", "-f", "-", input=dep)
        kube.kubectl("rollout", "status", "deployment/sleeper", "-n", self.ns, "--timeout=90s",
                     timeout=120)
        pods = pod_of(self.ns, "app=sleeper")
        self.assertEqual(len(pods), 1)
        old_pid = pid_of(pods[0])
        self.assertTrue(alive(old_pid))
        with open("/proc/%d/cmdline" % old_pid, "rb") as f:
            self.assertIn(b"sleep", f.read())
        kube.kubectl("rollout", "restart", "deployment/sleeper", "-n", self.ns)
        kube.kubectl("rollout", "status", "deployment/sleeper", "-n", self.ns, "--timeout=90s",
                     timeout=120)
        kube.wait_for(lambda: len(pod_of(self.ns, "app=sleeper")) == 1 and
                      pod_of(self.ns, "app=sleeper")[0]["metadata"]["name"] != pods[0]["metadata"]["name"],
                      timeout=60, message="one new pod")
        new = pod_of(self.ns, "app=sleeper")[0]
        new_pid = pid_of(new)
        self.assertNotEqual(new_pid, old_pid)
        self.assertTrue(alive(new_pid))
        kube.wait_for(lambda: not alive(old_pid), timeout=30, message="old process gone")
        st = kube.kubectl_json("get", "deployment", "sleeper", "-n", self.ns)["status"]
        self.assertEqual((st.get("updatedReplicas"), st.get("availableReplicas")), (1, 1))
        logs = kube.kubectl("logs", "-n", self.ns, new["metadata"]["name"]).stdout
        self.assertIn("up " + marker, logs)

    def test_exec_with_stdin_and_exit_code_in_the_pod_mount_namespace(self):
        marker = uuid.uuid4().hex
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "shell", "namespace": self.ns},
               "spec": {"containers": [{
                   "name": "main", "image": "busybox",
                   "command": ["sh", "-c", "echo %s > /data/where; exec sleep 100000" % marker],
                   "volumeMounts": [{"name": "scratch", "mountPath": "/data"}]}],
                   "volumes": [{"name": "scratch", "emptyDir": {}}]}}
        kube.kubectl("apply", "-f", "-", input=pod)
        kube.kubectl("wait", "--for=condition=Ready", "pod/shell", "-n", self.ns,
                     "--timeout=60s", timeout=90)
        p = kube.kubectl("exec", "-i", "-n", self.ns, "shell", "--", "sh", "-c",
                         "cat; cat /data/where; echo to-stderr >&2; exit 7",
                         input="hello from stdin\n", check=False)
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertEqual(p.stdout, "hello from stdin\n%s\n" % marker)
        self.assertIn("to-stderr", p.stderr)
        # /data is the pod's own mount: the host's /data (if any) does not hold the file
        if os.path.exists("/data/where"):
            with open("/data/where") as f:
                self.assertNotIn(marker, f.read())
        ok = kube.kubectl("exec", "-n", self.ns, "shell", "--", "sh", "-c", "exit 0")
        self.assertEqual(ok.returncode, 0)

    def test_logs_of_a_job(self):
        marker = uuid.uuid4().hex
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "printer", "namespace": self.ns},
               "spec": {"backoffLimit": 0, "template": {"spec": {
                   "restartPolicy": "Never",
                   "containers": [{"name": "main", "image": "busybox",
                                   "command": ["sh", "-c", "echo job says %s" % marker]}]}}}}
        # a decoy pod in the same namespace: logs job/X must not pick it
        decoy = {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "decoy", "namespace": self.ns},
                 "spec": {"containers": [{"name": "main", "image": "busybox",
                                          "command": ["sh", "-c", "echo decoy; exec sleep 100000"]}]}}
        kube.kubectl("apply", "-f", "-", input=decoy)
        kube.kubectl("apply", "-f", "-", input=job)
        kube.kubectl("wait", "--for=condition=Complete", "job/printer", "-n", self.ns,
                     "--timeout=90s", timeout=120)
        out = kube.kubectl("logs", "job/printer", "-n", self.ns).stdout
        self.assertEqual(out, "job says %s\n" % marker)
        st = kube.kubectl_json("get", "job", "printer", "-n", self.ns)["status"]
        self.assertEqual(st.get("succeeded"), 1)

    def test_a_running_pods_secret_volume_is_refreshed_atomically(self):
        """The real kubelet refreshes a mounted Secret of a running pod (env never
        changes); so does the process kubelet (KUBELET.md): the pod's process, never
        restarted, reads the new value through the same path after the Secret is
        patched, the files sit behind the atomically swapped ..data link, and the env
        variable from the same Secret keeps its first value."""
        old, new = uuid.uuid4().hex, uuid.uuid4().hex
        kube.kubectl("create", "secret", "generic", "rotating", "-n", self.ns,
                     "--from-literal=v=" + old)
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "reader", "namespace": self.ns},
               "spec": {"containers": [{
                   "name": "main", "image": "busybox",
                   "command": ["sh", "-c", "while true; do echo \"file=$(cat /s/v) env=$V "
                               "link=$(readlink /s/..data)\"; sleep 0.3; done"],
                   "env": [{"name": "V", "valueFrom": {"secretKeyRef": {
                       "name": "rotating", "key": "v"}}}],
                   "volumeMounts": [{"name": "s", "mountPath": "/s", "readOnly": True}]}],
                   "volumes": [{"name": "s", "secret": {"secretName": "rotating"}}]}}
        kube.kubectl("apply", "-f", "-", input=pod)
        kube.kubectl("wait", "--for=condition=Ready", "pod/reader", "-n", self.ns,
                     "--timeout=60s", timeout=90)

        def last_line():
            lines = kube.kubectl("logs", "reader", "-n", self.ns).stdout.strip().splitlines()
            return lines[-1] if lines else ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "file=" + old not in last_line():
            time.sleep(0.2)
        first = last_line()
        self.assertIn("file=%s env=%s link=..2" % (old, old), first)
        pid = pid_of(kube.kubectl_json("get", "pod", "reader", "-n", self.ns))
        kube.kubectl("patch", "secret", "rotating", "-n", self.ns, "-p",
                     json.dumps({"stringData": {"v": new}}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "file=" + new not in last_line():
            time.sleep(0.2)
        line = last_line()
        self.assertIn("file=%s env=%s" % (new, old), line)
        self.assertNotEqual(line.split("link=")[1], first.split("link=")[1],
                            "a new ..<time> folder behind ..data")
        now = kube.kubectl_json("get", "pod", "reader", "-n", self.ns)
        self.assertEqual(pid_of(now), pid, "the same process, not restarted")
        self.assertEqual(now["status"]["containerStatuses"][0]["restartCount"], 0)
        # nothing in the log ever mixed the two values (an atomic swap)
        for ln in kube.kubectl("logs", "reader", "-n", self.ns).stdout.splitlines():
            self.assertIn(ln.split()[0], ("file=" + old, "file=" + new), ln)

    def test_failed_job_counts_the_exit_code(self):
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "failer", "namespace": self.ns},
               "spec": {"backoffLimit": 1, "template": {"spec": {
                   "restartPolicy": "Never",
                   "containers": [{"name": "main", "image": "busybox",
                                   "command": ["sh", "-c", "exit 3"]}]}}}}
        kube.kubectl("apply", "-f", "-", input=job)
        kube.kubectl("wait", "--for=condition=Failed", "job/failer", "-n", self.ns,
                     "--timeout=120s", timeout=150)
        st = kube.kubectl_json("get", "job", "failer", "-n", self.ns)["status"]
        self.assertEqual(st.get("failed"), 2)
        pods = kube.kubectl_json("get", "pods", "-n", self.ns, "-l", "job-name=failer")["items"]
        codes = [p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods]
        self.assertEqual(codes, [3, 3])

    def test_watch_sends_bookmarks(self):
        kube.kubectl("create", "configmap", "w1", "-n", self.ns, "--from-literal=a=1")
        lst = kube.api("GET", "/api/v1/namespaces/%s/configmaps" % self.ns).json()
        rv = lst["metadata"]["resourceVersion"]
        # a streaming list (WatchList): the initial ADDED events end with a BOOKMARK
        events = kube.watch("/api/v1/namespaces/%s/configmaps?watch=true&sendInitialEvents=true"
                            "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
                            "&timeoutSeconds=20" % self.ns,
                            timeout=30, until=lambda e: e["type"] == "BOOKMARK")
        self.assertEqual(events[-1]["type"], "BOOKMARK", events)
        mark = events[-1]["object"]["metadata"]
        self.assertEqual(mark["annotations"].get("k8s.io/initial-events-end"), "true")
        self.assertGreaterEqual(int(mark["resourceVersion"]), int(rv))
        added = [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"]
        self.assertIn("w1", added)

    def test_410_after_etcd_compaction(self):
        kube.kubectl("create", "configmap", "c1", "-n", self.ns, "--from-literal=v=0")
        old = kube.api("GET", "/api/v1/namespaces/%s/configmaps" % self.ns).json()[
            "metadata"]["resourceVersion"]
        for i in range(1, 4):
            kube.kubectl("patch", "configmap", "c1", "-n", self.ns, "-p",
                         json.dumps({"data": {"v": str(i)}}))
        before = kube.api("GET", "/api/v1/namespaces/%s/configmaps?resourceVersion=%s"
                          "&resourceVersionMatch=Exact" % (self.ns, old))
        self.assertEqual(before.status, 200, before)
        subprocess.run([os.environ["CONTROLPLANE_BIN"], "compact", os.environ["CONTROLPLANE_RUN_DIR"]],
                       check=True, capture_output=True, timeout=60)
        r = kube.api("GET", "/api/v1/namespaces/%s/configmaps?resourceVersion=%s"
                     "&resourceVersionMatch=Exact" % (self.ns, old))
        self.assertEqual(r.status, 410, r)
        body = r.json()
        self.assertEqual((body["reason"], body["code"]), ("Expired", 410))


class OperatorRBAC(unittest.TestCase):
    """deploy/'s ServiceAccount and RBAC, as the real authorizer decides."""

    @classmethod
    def setUpClass(cls):
        for f in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):
            kube.kubectl("apply", "-f", os.path.join(DEPLOY, f))
        kube.kubectl("apply", "-f", CRDS)

    def can(self, *args):
        p = kube.kubectl("auth", "can-i", "--as=" + SA, *args, check=False)
        return p.stdout.strip()

    def test_operator_may_do_what_it_needs(self):
        for args in (("get", "secrets", "-n", "shop"), ("patch", "secrets", "-n", "shop"),
                     ("patch", "deployments.apps", "-n", "shop"),
                     ("create", "pods", "--subresource=exec", "-n", "shop"),
                     ("get", "pods", "--subresource=log", "-n", "shop"),
                     ("create", "jobs.batch", "-n", "shop"),
                     ("update", "restorerequests.lifeboat.dev", "--subresource=status", "-n", "shop"),
                     ("create", "verificationruns.lifeboat.dev", "-n", "shop"),
                     ("create", "events", "-n", "shop"),
                     ("update", "leases.coordination.k8s.io", "-n", "lifeboat-system"),
                     # tenancy (DESIGN.md 3.4): the scopes, a namespace's labels, and
                     # SubjectAccessReviews for the requester
                     ("list", "recoveryscopes.lifeboat.dev"),
                     ("watch", "recoveryscopes.lifeboat.dev"),
                     ("get", "namespaces/shop"),
                     ("create", "localsubjectaccessreviews.authorization.k8s.io", "-n", "shop")):
            self.assertEqual(self.can(*args), "yes", args)

    def test_operator_may_not_do_more(self):
        for args in (("list", "secrets", "--all-namespaces"), ("list", "secrets", "-n", "shop"),
                     ("watch", "secrets", "-n", "shop"), ("delete", "secrets", "-n", "shop"),
                     ("create", "serviceaccounts", "--subresource=token", "-n", "shop"),
                     ("create", "serviceaccounts", "--subresource=token", "-n", "lifeboat-system"),
                     ("create", "pods", "-n", "shop"), ("delete", "pods", "-n", "shop"),
                     ("delete", "deployments.apps", "-n", "shop"),
                     ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
                     ("escalate", "clusterroles.rbac.authorization.k8s.io"),
                     ("update", "leases.coordination.k8s.io", "-n", "shop"),
                     ("delete", "restorerequests.lifeboat.dev", "-n", "shop"),
                     ("create", "restorerequests.lifeboat.dev", "-n", "shop"),
                     ("get", "nodes"), ("create", "pods", "--subresource=attach", "-n", "shop"),
                     # issue 11: verbs the code does not use
                     ("delete", "jobs.batch", "-n", "shop"), ("list", "namespaces"),
                     ("update", "secrets", "-n", "shop"),
                     ("create", "recoveryscopes.lifeboat.dev"),
                     ("update", "recoveryscopes.lifeboat.dev"),
                     ("create", "subjectaccessreviews.authorization.k8s.io"),
                     ("patch", "restorerequests.lifeboat.dev", "--subresource=status", "-n",
                      "shop")):
            self.assertEqual(self.can(*args), "no", args)

    def test_the_authorizer_refuses_the_serviceaccount_for_real(self):
        # not only can-i: an actual request with the ServiceAccount's token is refused
        tok = kube.kubectl("create", "token", "lifeboat-operator", "-n", "lifeboat-system").stdout.strip()
        server = kube.server_url()
        p = subprocess.run(["kubectl", "--server", server, "--token", tok,
                            "--certificate-authority", os.path.join(cpenv.cp_dir(), "pki", "ca.crt"),
                            "get", "secrets", "-A"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("forbidden", p.stderr)
        self.assertIn(SA, p.stderr)


class KubeletIdentity(unittest.TestCase):
    """The process kubelet acts with its own node credentials (a client certificate for
    system:node:lifeboat-node in system:nodes, decided by the Node authorizer and
    NodeRestriction), its PV provisioner with another identity; neither is admin."""

    def kubectl_as(self, name, *args):
        return subprocess.run(["kubectl", "--kubeconfig",
                               os.path.join(cpenv.cp_dir(), name + ".kubeconfig")] + list(args),
                              capture_output=True, text=True, timeout=60)

    def whoami(self, name):
        p = self.kubectl_as(name, "auth", "whoami", "-o", "json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)["status"]["userInfo"]

    def test_kubelet_credentials_are_the_nodes(self):
        me = self.whoami("kubelet")
        self.assertEqual(me["username"], "system:node:lifeboat-node")
        self.assertIn("system:nodes", me["groups"])
        self.assertNotIn("system:masters", me["groups"])
        prov = self.whoami("pv-provisioner")
        self.assertEqual(prov["username"], "system:lifeboat-pv-provisioner")
        self.assertNotIn("system:masters", prov.get("groups", []))

    def test_node_authorizer_limits_the_kubelet_to_its_pods(self):
        ns = "cp-node-" + uuid.uuid4().hex[:6]
        kube.kubectl("create", "namespace", ns)
        self.addCleanup(kube.kubectl, "delete", "namespace", ns, "--wait=false", check=False)
        for name in ("used", "unused"):
            kube.kubectl("create", "secret", "generic", name, "-n", ns, "--from-literal=v=" + name)
        # a Secret no pod on the node uses: refused to the node (a real request)
        p = self.kubectl_as("kubelet", "get", "secret", "unused", "-n", ns)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("forbidden", p.stderr)
        self.assertIn("system:node:lifeboat-node", p.stderr)
        # a pod bound to the node that uses "used": the kubelet reads it and the process sees it
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reader", "namespace": ns},
               "spec": {"restartPolicy": "Never", "containers": [{
                   "name": "c", "image": "none", "command": ["sh", "-c", "echo got=$V; sleep 30"],
                   "env": [{"name": "V", "valueFrom": {"secretKeyRef": {"name": "used", "key": "v"}}}]}]}}
        kube.kubectl("apply", "-f", "-", input=json.dumps(pod))
        kube.wait_for(lambda: "got=used" in kube.kubectl("logs", "reader", "-n", ns,
                                                         check=False).stdout,
                      timeout=120, message="the pod's log shows the Secret's value")
        p = self.kubectl_as("kubelet", "get", "secret", "used", "-n", ns, "-o", "name")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotEqual(self.kubectl_as("kubelet", "get", "secret", "unused", "-n", ns).returncode, 0)
        # what a node may not do at all: PVs (the provisioner may), every Secret, RBAC
        for args, want in ((("create", "persistentvolumes"), ("no", "yes")),
                           (("list", "secrets", "-A"), ("no", "no")),
                           (("create", "clusterrolebindings.rbac.authorization.k8s.io"), ("no", "no"))):
            for name, w in zip(("kubelet", "pv-provisioner"), want):
                got = self.kubectl_as(name, "auth", "can-i", *args).stdout.split()[0]
                self.assertEqual(got, w, (name, args))


if __name__ == "__main__":
    unittest.main()

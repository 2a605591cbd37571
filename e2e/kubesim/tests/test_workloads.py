"""kubesim workload contract tests: the kubelet and controllers, driven by the real kubectl.

Each test works in its own namespace and asserts on what kubectl prints and on the real
processes (PIDs under /proc, files in the pods' private mount namespaces).
"""
import base64
import json
import os
import time
import unittest
import urllib.request

import kubesimenv  # noqa: E402
kubesimenv.ensure()   # a private kubesim when env.sh runs the real control plane
from kube import delete_ns, kubectl, kubectl_json, unique_ns, wait_for

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
APP = os.path.join(REPO, "e2e", "apps", "echo-env-app")


# kubectl prints the first with the API server's default partition 0, the second without one
ROLLED_OUT_STS = r"(partitioned roll out complete: 1 new pods have been updated|statefulset rolling update complete)"


def run_dir():
    rd = os.environ.get("LIFEBOAT_RUN_DIR")
    if rd:
        return rd
    return os.path.dirname(os.path.abspath(os.environ["KUBECONFIG"]))


def kdir(*parts):
    return os.path.join(run_dir(), "kubesim", *parts)


def pod_pid(ns, pod, container):
    """PID of the container's live process, from the kubelet's pid file, or None."""
    try:
        with open(kdir("pods", ns, pod, container + ".pid")) as f:
            pid, start = f.read().split()
        with open("/proc/%s/stat" % pid) as f:
            stat = f.read()
        if stat[stat.rindex(")") + 2:].split()[19] != start:
            return None
        return int(pid)
    except (OSError, ValueError, IndexError):
        return None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def services():
    with open(kdir("services.json")) as f:
        return json.load(f)


def http_json(addr, path="/"):
    with urllib.request.urlopen("http://%s%s" % (addr, path), timeout=5) as r:
        return json.loads(r.read())


def pods(ns, selector=None):
    args = ["get", "pods", "-n", ns]
    if selector:
        args += ["-l", selector]
    return kubectl_json(*args)["items"]


def b64(s):
    return base64.b64encode(s.encode()).decode()


def echo_deployment(name, secret):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app", "image": "registry.example/echo:1",
                    "command": [APP],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "env": [{"name": "ECHO_VAR", "value": "APP_VALUE"},
                            {"name": "APP_VALUE", "valueFrom": {"secretKeyRef": {"name": secret, "key": "value"}}}],
                    "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 1},
                }]},
            },
        },
    }


def simple_deployment(name, command, replicas=1):
    """What `kubectl create deployment NAME --image=IMG -- CMD` makes (container named after the image)."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": command[0], "image": command[0],
                                                           "command": command}]}}}}


def service(name, selector, port=80, target="http"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": target}]}}


class WorkloadTest(unittest.TestCase):
    def setUp(self):
        self.ns = unique_ns("wl")

    def tearDown(self):
        delete_ns(self.ns)

    def apply(self, obj):
        return kubectl("apply", "-n", self.ns, "-f", "-", input=obj)

    # ------------------------------------------------------------------ Deployments

    def test_deployment_secret_rollout_restart_serves_new_value(self):
        ns = self.ns
        kubectl("create", "secret", "generic", "app-secret", "-n", ns, "--from-literal=value=first-value")
        self.apply(echo_deployment("echo", "app-secret"))
        self.apply(service("echo", {"app": "echo"}))
        out = kubectl("rollout", "status", "deployment/echo", "-n", ns, "--timeout=60s").stdout
        self.assertIn('deployment "echo" successfully rolled out', out)
        key = "echo.%s.svc" % ns
        addr = wait_for(lambda: services().get(key), timeout=10, message="services.json entry " + key)
        first = http_json(addr)
        self.assertEqual(first["value"], "first-value")
        self.assertTrue(alive(first["pid"]), "the app's PID is a live process")
        old_pod = pods(ns, "app=echo")[0]["metadata"]["name"]

        kubectl("patch", "secret", "app-secret", "-n", ns, "-p",
                json.dumps({"data": {"value": b64("second-value")}}))
        # a patched Secret alone does not change a running process
        self.assertEqual(http_json(addr)["value"], "first-value")

        out = kubectl("rollout", "restart", "deployment/echo", "-n", ns).stdout
        self.assertIn("deployment.apps/echo restarted", out)
        out = kubectl("rollout", "status", "deployment/echo", "-n", ns, "--timeout=60s").stdout
        self.assertIn('deployment "echo" successfully rolled out', out)
        # at the moment rollout status returns, the one remaining pod is the new one
        names = [p["metadata"]["name"] for p in pods(ns, "app=echo")
                 if not p["metadata"].get("deletionTimestamp")]
        self.assertEqual(len(names), 1, names)
        self.assertNotEqual(names[0], old_pod)
        new_pid = pod_pid(ns, names[0], "app")
        self.assertIsNotNone(new_pid, "new pod has a live process")
        self.assertNotEqual(new_pid, first["pid"])

        def served():
            cur = http_json(services()[key])
            return cur if cur["pid"] == new_pid else None
        second = wait_for(served, timeout=10, message="service mapping to the new pod")
        self.assertEqual(second["value"], "second-value")
        wait_for(lambda: not alive(first["pid"]), timeout=10, message="old process gone")
        d = kubectl_json("get", "deployment", "echo", "-n", ns)
        self.assertEqual(d["status"]["observedGeneration"], d["metadata"]["generation"])
        self.assertEqual(d["status"]["updatedReplicas"], 1)
        self.assertEqual(d["status"]["availableReplicas"], 1)
        avail = [c for c in d["status"]["conditions"] if c["type"] == "Available"]
        self.assertEqual(avail[0]["status"], "True")

    def test_scale_to_zero_and_delete_stop_processes(self):
        ns = self.ns
        self.apply(simple_deployment("sleeper", ["sleep", "3600"], replicas=2))
        kubectl("rollout", "status", "deployment/sleeper", "-n", ns, "--timeout=60s")
        items = pods(ns, "app=sleeper")
        self.assertEqual(len(items), 2)
        pids = [pod_pid(ns, p["metadata"]["name"], "sleep") for p in items]
        self.assertTrue(all(pids) and all(alive(p) for p in pids), pids)
        self.assertNotEqual(pids[0], pids[1])

        kubectl("scale", "deployment/sleeper", "-n", ns, "--replicas=0")
        kubectl("rollout", "status", "deployment/sleeper", "-n", ns, "--timeout=60s")
        wait_for(lambda: not any(alive(p) for p in pids), timeout=15, message="processes stopped")
        wait_for(lambda: pods(ns, "app=sleeper") == [], timeout=15, message="pods gone")
        st = kubectl("get", "deployment", "sleeper", "-n", ns, "-o", "jsonpath={.status.replicas}").stdout
        self.assertIn(st, ("0", ""))

        kubectl("scale", "deployment/sleeper", "-n", ns, "--replicas=1")
        kubectl("rollout", "status", "deployment/sleeper", "-n", ns, "--timeout=60s")
        name = pods(ns, "app=sleeper")[0]["metadata"]["name"]
        pid = wait_for(lambda: pod_pid(ns, name, "sleep"), timeout=10, message="process started")
        kubectl("delete", "deployment", "sleeper", "-n", ns)
        wait_for(lambda: not alive(pid), timeout=20, message="process of a deleted Deployment stopped")

    def test_crashing_container_restarts_with_backoff_and_previous_logs(self):
        ns = self.ns
        # $(date ...) is not a valid variable reference: kept as written, run by sh
        self.apply(simple_deployment("crasher", ["sh", "-c", "echo run-$(date +%s%N); exit 1"]))

        def crashlooping():
            for x in pods(ns, "app=crasher"):
                cs = (x["status"].get("containerStatuses") or [{}])[0]
                if cs.get("restartCount", 0) >= 2 and \
                        cs.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff":
                    return x
        p = wait_for(crashlooping, timeout=30, message="restartCount >= 2 and CrashLoopBackOff")
        cs = p["status"]["containerStatuses"][0]
        self.assertEqual(cs["lastState"]["terminated"]["exitCode"], 1)
        self.assertFalse(cs["ready"])
        name = p["metadata"]["name"]
        prev = kubectl("logs", name, "-n", ns, "--previous").stdout
        self.assertRegex(prev, r"^run-\d+\n$")
        cur = kubectl("logs", name, "-n", ns).stdout
        self.assertRegex(cur, r"^run-\d+\n$")
        self.assertNotEqual(prev, cur)
        d = kubectl_json("get", "deployment", "crasher", "-n", ns)
        self.assertEqual(d["status"].get("availableReplicas", 0), 0)

    def test_readiness_probe_gates_rollout_status_and_service_mapping(self):
        ns = self.ns
        dep = echo_deployment("gated", "none")
        c = dep["spec"]["template"]["spec"]["containers"][0]
        c["env"] = [{"name": "READY_FILE", "value": "/state/ready"}]
        c["readinessProbe"] = {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1}
        c["volumeMounts"] = [{"name": "state", "mountPath": "/state"}]
        dep["spec"]["template"]["spec"]["volumes"] = [{"name": "state", "emptyDir": {}}]
        self.apply(dep)
        self.apply(service("gated", {"app": "gated"}))
        p = kubectl("rollout", "status", "deployment/gated", "-n", ns, "--timeout=4s", check=False)
        self.assertNotEqual(p.returncode, 0, "rollout must not complete while the pod is not ready")
        self.assertIn("0 of 1 updated replicas are available", p.stdout)
        self.assertNotIn("gated.%s.svc" % ns, services())
        d = kubectl_json("get", "deployment", "gated", "-n", ns)
        self.assertEqual([x["status"] for x in d["status"]["conditions"] if x["type"] == "Available"], ["False"])
        pod = pods(ns, "app=gated")[0]["metadata"]["name"]
        kubectl("exec", pod, "-n", ns, "--", "touch", "/state/ready")
        kubectl("rollout", "status", "deployment/gated", "-n", ns, "--timeout=30s")
        addr = wait_for(lambda: services().get("gated.%s.svc" % ns), timeout=10, message="service mapping")
        self.assertEqual(http_json(addr)["pid"], pod_pid(ns, pod, "app"))

    # ------------------------------------------------------------------ exec and namespaces

    def test_exec_stdin_stdout_stderr_and_exit_code(self):
        ns = self.ns
        self.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "box"},
                    "spec": {"containers": [{"name": "main", "image": "none", "command": ["sleep", "3600"]}]}})
        kubectl("wait", "--for=condition=Ready", "pod/box", "-n", ns, "--timeout=30s")
        p = kubectl("exec", "-i", "box", "-n", ns, "--", "sh", "-c", "tr a-z A-Z; echo to-stderr >&2",
                    input="hello from stdin\n")
        self.assertEqual(p.stdout, "HELLO FROM STDIN\n")
        self.assertIn("to-stderr", p.stderr)
        p = kubectl("exec", "box", "-n", ns, "--", "sh", "-c", "echo partial; exit 7", check=False)
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertEqual(p.stdout, "partial\n")
        p = kubectl("exec", "box", "-n", ns, "--", "true")
        self.assertEqual(p.returncode, 0)
        big = "x" * 200000 + "\n"
        p = kubectl("exec", "-i", "box", "-n", ns, "--", "wc", "-c", input=big)
        self.assertEqual(p.stdout.strip(), str(len(big)))

    def test_volumes_are_private_per_pod_and_env_sources_resolve(self):
        ns = self.ns
        kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=mode=blue", "--from-literal=level=3")
        kubectl("create", "secret", "generic", "creds", "-n", ns, "--from-literal=password=s3cret")
        for name in ("pa", "pb"):
            self.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"x": name}},
                        "spec": {"volumes": [{"name": "data", "emptyDir": {}},
                                             {"name": "creds", "secret": {"secretName": "creds"}},
                                             {"name": "cfg", "configMap": {"name": "cfg"}}],
                                 "containers": [{
                                     "name": "main", "image": "none", "command": ["sleep", "3600"],
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                                      {"name": "creds", "mountPath": "/etc/kubesim-creds", "readOnly": True},
                                                      {"name": "cfg", "mountPath": "/etc/kubesim-cfg"}],
                                     "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
                                     "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                             {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                                             {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                                             {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
                                             {"name": "GREETING", "value": "hi-$(POD_NAME)"}]}]}})
        for name in ("pa", "pb"):
            kubectl("wait", "--for=condition=Ready", "pod/" + name, "-n", ns, "--timeout=30s")
            kubectl("exec", name, "-n", ns, "--", "sh", "-c", "echo %s > /data/who" % name)
        for name in ("pa", "pb"):
            self.assertEqual(kubectl("exec", name, "-n", ns, "--", "cat", "/data/who").stdout, name + "\n")
        self.assertFalse(os.path.exists("/data/who"), "pod data must not reach the host's /data")
        out = kubectl("exec", "pa", "-n", ns, "--", "sh", "-c",
                      "echo $POD_NAME $POD_NS $POD_IP $MODE $CFG_level $GREETING").stdout
        self.assertEqual(out.split(), ["pa", ns, "127.0.0.1", "blue", "3", "hi-pa"])
        self.assertEqual(kubectl("exec", "pa", "-n", ns, "--", "cat", "/etc/kubesim-creds/password").stdout, "s3cret")
        p = kubectl("exec", "pa", "-n", ns, "--", "sh", "-c", "echo x > /etc/kubesim-creds/new", check=False)
        self.assertNotEqual(p.returncode, 0, "readOnly secret volume refused a write")
        self.assertEqual(kubectl("exec", "pb", "-n", ns, "--", "cat", "/etc/kubesim-cfg/mode").stdout, "blue")

    # ------------------------------------------------------------------ StatefulSets

    def test_statefulset_redis_keeps_data_in_its_private_pvc_across_restart(self):
        ns = self.ns
        self.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "redis"},
                    "spec": {"clusterIP": "None", "selector": {"app": "redis"},
                             "ports": [{"name": "redis", "port": 6379, "targetPort": "redis"}]}})
        self.apply({
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "redis"},
            "spec": {
                "serviceName": "redis", "replicas": 1,
                "selector": {"matchLabels": {"app": "redis"}},
                "template": {"metadata": {"labels": {"app": "redis"}}, "spec": {"containers": [{
                    "name": "redis", "image": "redis:7",
                    "command": ["redis-server"],
                    "args": ["--dir", "/data", "--port", "$(PORT)", "--bind", "127.0.0.1", "--save", ""],
                    "ports": [{"name": "redis", "containerPort": 6379}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "readinessProbe": {"exec": {"command": ["sh", "-c", "redis-cli -p $PORT ping | grep -q PONG"]},
                                       "periodSeconds": 1},
                }]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                          "spec": {"accessModes": ["ReadWriteOnce"],
                                                   "resources": {"requests": {"storage": "1Gi"}}}}],
            }})
        out = kubectl("rollout", "status", "statefulset/redis", "-n", ns, "--timeout=60s").stdout
        self.assertRegex(out, ROLLED_OUT_STS)
        pid1 = pod_pid(ns, "redis-0", "redis")
        self.assertIsNotNone(pid1)
        out = kubectl("exec", "redis-0", "-n", ns, "--", "sh", "-c",
                      "redis-cli -p $PORT SET k v && redis-cli -p $PORT SAVE").stdout
        self.assertEqual(out.split(), ["OK", "OK"])
        pvc_dir = kdir("pvc", ns, "data-redis-0")
        self.assertTrue(os.path.isfile(os.path.join(pvc_dir, "dump.rdb")), "dump.rdb saved in the pod's PVC")
        self.assertFalse(os.path.exists("/data/dump.rdb"), "pod's /data is private, not the host's /data")

        out = kubectl("rollout", "restart", "statefulset/redis", "-n", ns).stdout
        self.assertIn("statefulset.apps/redis restarted", out)
        out = kubectl("rollout", "status", "statefulset/redis", "-n", ns, "--timeout=60s").stdout
        self.assertRegex(out, ROLLED_OUT_STS)
        pid2 = pod_pid(ns, "redis-0", "redis")
        self.assertIsNotNone(pid2)
        self.assertNotEqual(pid1, pid2, "redis was really restarted")
        self.assertFalse(alive(pid1))
        out = kubectl("exec", "redis-0", "-n", ns, "--", "sh", "-c", "redis-cli -p $PORT GET k").stdout
        self.assertEqual(out, "v\n")
        s = kubectl_json("get", "statefulset", "redis", "-n", ns)
        self.assertEqual(s["status"]["currentRevision"], s["status"]["updateRevision"])
        self.assertEqual(s["status"]["readyReplicas"], 1)

    # ------------------------------------------------------------------ Jobs

    def test_job_completes_and_logs_are_served(self):
        ns = self.ns
        self.apply({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "hello"},
                    "spec": {"backoffLimit": 2, "template": {"spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "none",
                                        "command": ["sh", "-c", "echo first-line; echo job=$JOB; echo last-line"],
                                        "env": [{"name": "JOB", "value": "hello"}]}]}}}})
        kubectl("wait", "--for=condition=Complete", "job/hello", "-n", ns, "--timeout=30s")
        out = kubectl("logs", "job/hello", "-n", ns).stdout
        self.assertEqual(out, "first-line\njob=hello\nlast-line\n")
        out = kubectl("logs", "job/hello", "-n", ns, "--tail=1").stdout
        self.assertEqual(out, "last-line\n")
        out = kubectl("logs", "-f", "job/hello", "-n", ns, timeout=15).stdout
        self.assertEqual(out, "first-line\njob=hello\nlast-line\n", "follow ends when the container has exited")
        j = kubectl_json("get", "job", "hello", "-n", ns)
        self.assertEqual(j["status"]["succeeded"], 1)
        self.assertIn("completionTime", j["status"])
        ps = pods(ns, "job-name=hello")
        self.assertEqual(len(ps), 1)
        self.assertEqual(ps[0]["status"]["phase"], "Succeeded")
        self.assertEqual(ps[0]["metadata"]["labels"]["batch.kubernetes.io/job-name"], "hello")
        self.assertEqual(ps[0]["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], 0)

    def test_job_selector_is_defaulted_and_logs_pick_the_jobs_pod(self):
        # issue 9 item 6: spec.selector and the template's controller-uid/job-name labels
        # are defaulted as the API server does, so logs job/X never picks another pod
        ns = self.ns
        self.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "aaa-decoy"},
                    "spec": {"containers": [{"name": "main", "image": "none",
                                             "command": ["sh", "-c", "echo decoy; exec sleep 1000"]}]}})
        self.apply({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "sel"},
                    "spec": {"template": {"spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "none",
                                        "command": ["sh", "-c", "echo from-the-job"]}]}}}})
        j = kubectl_json("get", "job", "sel", "-n", ns)
        uid = j["metadata"]["uid"]
        self.assertEqual(j["spec"]["selector"],
                         {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        labels = j["spec"]["template"]["metadata"]["labels"]
        self.assertEqual((labels["batch.kubernetes.io/controller-uid"], labels["controller-uid"],
                          labels["batch.kubernetes.io/job-name"], labels["job-name"]),
                         (uid, uid, "sel", "sel"))
        kubectl("wait", "--for=condition=Complete", "job/sel", "-n", ns, "--timeout=30s")
        self.assertEqual(kubectl("logs", "job/sel", "-n", ns).stdout, "from-the-job\n")

    def test_indexed_job_runs_each_index_after_its_init_container(self):
        ns = self.ns
        self.apply({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "idx"},
                    "spec": {"completions": 2, "parallelism": 1, "completionMode": "Indexed",
                             "template": {"spec": {
                                 "restartPolicy": "Never",
                                 "volumes": [{"name": "work", "emptyDir": {}}],
                                 "initContainers": [{"name": "prep", "image": "none",
                                                     "command": ["sh", "-c", "echo prepared > /work/state"],
                                                     "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
                                 "containers": [{"name": "main", "image": "none",
                                                 "command": ["sh", "-c", "echo index=$JOB_COMPLETION_INDEX $(cat /work/state)"],
                                                 "volumeMounts": [{"name": "work", "mountPath": "/work"}]}]}}}})
        kubectl("wait", "--for=condition=Complete", "job/idx", "-n", ns, "--timeout=30s")
        outs = sorted(kubectl("logs", p["metadata"]["name"], "-n", ns, "-c", "main").stdout
                      for p in pods(ns, "job-name=idx"))
        self.assertEqual(outs, ["index=0 prepared\n", "index=1 prepared\n"])
        j = kubectl_json("get", "job", "idx", "-n", ns)
        self.assertEqual(j["status"]["succeeded"], 2)
        self.assertEqual(j["status"]["completedIndexes"], "0,1")

    def test_failing_job_retries_to_backoff_limit_then_fails(self):
        ns = self.ns
        self.apply({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bad"},
                    "spec": {"backoffLimit": 1, "template": {"spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "none",
                                        "command": ["sh", "-c", "echo trying; exit 3"]}]}}}})
        kubectl("wait", "--for=condition=Failed", "job/bad", "-n", ns, "--timeout=30s")
        ps = pods(ns, "job-name=bad")
        self.assertEqual(len(ps), 2, [p["metadata"]["name"] for p in ps])
        for p in ps:
            self.assertEqual(p["status"]["phase"], "Failed")
            self.assertEqual(p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], 3)
            self.assertEqual(kubectl("logs", p["metadata"]["name"], "-n", ns).stdout, "trying\n")
        j = kubectl_json("get", "job", "bad", "-n", ns)
        self.assertEqual(j["status"]["failed"], 2)
        self.assertEqual(j["status"].get("succeeded", 0), 0)
        failed = [c for c in j["status"]["conditions"] if c["type"] == "Failed"][0]
        self.assertEqual(failed["reason"], "BackoffLimitExceeded")
        time.sleep(1.5)
        self.assertEqual(len(pods(ns, "job-name=bad")), 2, "no retry after the Job failed")


if __name__ == "__main__":
    unittest.main()

"""Helpers for the Redis suites: a real redis-server 7 in a kubesim StatefulSet.

The pod runs `redis-server` as a local process (kubesim's kubelet) with /data on a
PersistentVolumeClaim from volumeClaimTemplates; its port is picked free at run time and
written both into the arguments (--port) and as the containerPort named "redis", which is
where the operator's exec'd redis-cli connects. Pod IPs are 127.0.0.1, so the tests talk
to Redis directly with the real redis-cli as the oracle.
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "e2e", "restore", "tests"))
sys.path.insert(0, os.path.join(ROOT, "e2e", "kubesim", "tests"))
import kube  # noqa: E402

BUILD = os.environ.get("LIFEBOAT_BUILD_DIR") or os.path.join(ROOT, "build")
EXEC_PROGRAM = os.path.join(BUILD, "tests", "integration", "kube_exec")
REDIS_POD_PROGRAM = os.path.join(BUILD, "tests", "integration", "redis_pod")

# runbook 002's settings
AOF_ARGS = ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "3600 1 300 100 60 10000"]
RDB_ARGS = ["--appendonly", "no", "--save", "3600 1 300 100 60 10000"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def statefulset(ns, name, port, args):
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1, "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "redis", "image": "redis:7.0",
                    "command": ["redis-server"],
                    "args": ["--port", str(port), "--bind", "127.0.0.1", "--dir", "/data"] + args,
                    "ports": [{"name": "redis", "containerPort": port}],
                    "readinessProbe": {"exec": {"command": ["redis-cli", "-p", str(port), "ping"]},
                                       "periodSeconds": 1},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }]},
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                      "spec": {"accessModes": ["ReadWriteOnce"],
                                               "resources": {"requests": {"storage": "1Gi"}}}}],
        },
    }


def cli(port, *args, check=True, timeout=20):
    p = subprocess.run(["redis-cli", "-p", str(port)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("redis-cli %s: %s%s" % (args, p.stdout, p.stderr))
    return p.stdout.strip()


def keys(port):
    """All key names, through SCAN (redis-cli --scan)."""
    out = cli(port, "--scan")
    return sorted(k for k in out.splitlines() if k)


def pod_of(ns, name):
    return kube.kubectl_json("get", "pod", name + "-0", "-n", ns)


def pod_uid(ns, name):
    return pod_of(ns, name)["metadata"]["uid"]


def wait_serving(ns, name, port, timeout=60):
    kube.kubectl("rollout", "status", "statefulset/" + name, "-n", ns, "--timeout=%ds" % timeout,
                 timeout=timeout + 30)

    def ok():
        try:
            return cli(port, "ping", check=False, timeout=5) == "PONG"
        except subprocess.TimeoutExpired:
            return False
    kube.wait_for(ok, timeout=timeout, message="redis on %d answers PING" % port)


def create_redis(ns, name, args):
    port = free_port()
    kube.kubectl("apply", "-f", "-", input=statefulset(ns, name, port, args))
    wait_serving(ns, name, port)
    return port


def kexec(ns, pod, *cmd, container=None, stdin_bytes=None, check=True, timeout=60):
    """kubectl exec (the real client) as an oracle inside the pod."""
    args = ["exec", "-n", ns, pod]
    if container:
        args += ["-c", container]
    if stdin_bytes is not None:
        args.append("-i")
    args += ["--"] + list(cmd)
    p = subprocess.run(["kubectl", "--kubeconfig", os.environ["KUBECONFIG"]] + args,
                       input=stdin_bytes, capture_output=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("kubectl exec %s: %s%s" % (cmd, p.stdout, p.stderr))
    return p


def data_files(ns, name):
    """Names under /data in the pod (recursive), as the pod sees them."""
    p = kexec(ns, name + "-0", "find", "/data", "-mindepth", "1")
    return sorted(p.stdout.decode().split())


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def rdb_of(port):
    """A fresh RDB of the server's current data (redis-cli --rdb, the real client)."""
    path = "/tmp/lifeboat-redis-%d-%d.rdb" % (port, time.time_ns())
    try:
        cli(port, "--rdb", path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def run_exec(*args, timeout=120):
    if not os.access(EXEC_PROGRAM, os.X_OK):
        raise AssertionError("%s is not built (make build/tests/integration/kube_exec)"
                             % EXEC_PROGRAM)
    return subprocess.run([EXEC_PROGRAM] + [str(a) for a in args], capture_output=True,
                          timeout=timeout)


def exec_json(*args, timeout=120):
    p = run_exec(*args, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("kube_exec %s: %d %s" % (args, p.returncode, p.stderr.decode()))
    return json.loads(p.stdout)

#!/usr/bin/env python3
"""Operator figures for `make bench` (DESIGN.md section 7), measured in one run.

Against a running environment (KUBECONFIG from e2e/.run/env.sh) it starts
bin/lifeboat-operator and reports:
  - resident memory idle, with the three kinds watched;
  - watch event -> status written latency (create -> phase Planned seen by a
    watcher), p50/p99 over BENCH_OPERATOR_PACED (200) dry-run RestoreRequests
    created at BENCH_OPERATOR_RATE (5) a second with 1,000 already cached; and
    beside it the same for the 1,000 created one by one as fast as the API
    server answers (more than the operator plans a second here: that figure
    is the queue, not the latency);
  - resident memory with 1,000 and with 10,000 RestoreRequests cached;
  - CPU per no-op event (an annotation change on all 10,000: the operator
    reads each event and finds the status current);
  - beside it, `kubectl get -w` (the Go client) holding the same 10,000 objects;
  - the time to relist the 10,000 after the API server is killed and comes back
    (any broken watch relists as a 410 does: pkg/kube/informer.c).
Nothing passes or fails on these numbers.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "e2e", "kubesim", "tests"))
import kube  # noqa: E402

NS = "bench"
BASE = "/apis/lifeboat.dev/v1alpha1/namespaces/%s/restorerequests" % NS
FIRST = 1000
TOTAL = 10000
PACED = int(os.environ.get("BENCH_OPERATOR_PACED", "200"))
PACE_PER_S = float(os.environ.get("BENCH_OPERATOR_RATE", "5"))
METRICS_PORT, HEALTH_PORT = 18380, 18381
CLK_TCK = os.sysconf("SC_CLK_TCK")


def rr(name):
    return {
        "apiVersion": "lifeboat.dev/v1alpha1",
        "kind": "RestoreRequest",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "dryRun": True,
            "items": [{
                "name": "orders-db",
                "rdsPointInTime": {"sourceDBInstanceIdentifier": "shop-orders-prod",
                                   "useLatestRestorableTime": True},
                "credentialsSecretRef": {"name": "orders-db-admin"},
                "database": "shop_orders",
                "promote": "rename",
                "secretPatches": [{"secretName": "shop-secrets", "key": "ORDER_DATABASE_URL",
                                   "replaceHost": True}],
            }],
            "rollout": [{"kind": "Deployment", "name": "order-service"}],
        },
    }


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else 0


def tree_pids(pid):
    """pid and its descendants still alive."""
    out, to_visit = [], [pid]
    while to_visit:
        p = to_visit.pop()
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    to_visit += [int(c) for c in f.read().split()]
            out.append(p)
        except OSError:
            pass
    return out


def tree_rss_kib(pid):
    return sum(rss_kib(p) for p in tree_pids(pid))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(pid):
    """utime + stime of pid and its descendants (seconds)."""
    return sum(cpu_seconds(p) for p in tree_pids(pid))


def metric(name, labels):
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % METRICS_PORT, timeout=5).read()
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name + "{") and all('%s="%s"' % kv in line for kv in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Watcher(threading.Thread):
    """Records when each object is first seen with status.phase == Planned."""

    def __init__(self, rv):
        super().__init__(daemon=True)
        self.rv, self.planned, self.lock = rv, {}, threading.Lock()

    def run(self):
        c = kube.connect(timeout=600)
        c.request("GET", BASE + "?watch=true&resourceVersion=%s" % self.rv,
                  headers={"Accept": "application/json",
                           "Authorization": "Bearer " + kube.token()})
        r = c.getresponse()
        while True:
            line = r.readline()
            if not line:
                return
            ev = json.loads(line)
            obj = ev.get("object", {})
            if (obj.get("status") or {}).get("phase") == "Planned":
                name = obj["metadata"]["name"]
                with self.lock:
                    self.planned.setdefault(name, time.monotonic())

    def count(self):
        with self.lock:
            return len(self.planned)


def percentiles(watcher, created):
    """p50 and p99 (ms) of create -> first seen Planned over the names in created."""
    lat = sorted((watcher.planned[n] - t) * 1000 for n, t in created.items())
    return lat[len(lat) // 2], lat[max(0, int(len(lat) * 0.99) - 1)]


def apiserver_pid():
    """The pid of this environment's kube-apiserver (e2e/controlplane), or None."""
    run_dir = os.path.dirname(os.path.dirname(kube.kubeconfig_path())).encode()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if len(args) >= 3 and args[0].endswith(b"lifeboat-controlplane") and \
                args[1] == b"apiserver" and args[2] == run_dir:
            return int(d)
    return None


def relist_after_apiserver_kill(op_pid):
    """Kills the API server (its supervisor starts it again): every watch breaks and
    each informer lists its objects again and diffs them against its cache, as after
    a 410. Returns the restore informer's relist seconds and the operator's CPU
    seconds from the kill until then, or (None, None) without a control plane."""
    pid = apiserver_pid()
    if pid is None:
        return None, None
    cpu0 = cpu_seconds(op_pid)
    t_kill = time.time()
    os.kill(pid, signal.SIGKILL)

    def relisted():
        try:
            return metric("lifeboat_informer_last_list_timestamp_seconds",
                          {"controller": "restore"}) > t_kill
        except OSError:
            return False
    wait(relisted, 300, "the relist after the API server restart")
    seconds = metric("lifeboat_informer_last_list_seconds", {"controller": "restore"})
    cpu = cpu_seconds(op_pid) - cpu0  # the three kinds' relists, the restore one's 10,000

    def answers():
        try:
            return kube.api("GET", "/readyz", timeout=5).status == 200
        except OSError:
            return False
    wait(answers, 120, "the API server to answer again")
    return seconds, cpu


def wait(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise SystemExit("bench: timed out waiting for %s" % what)


def main():
    kube.kubectl("apply", "-f", os.path.join(REPO, "crds"))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f",
                 os.path.join(REPO, "crds"))
    kube.kubectl("apply", "-f", os.path.join(REPO, "deploy", "scopes", "single-team.yaml"))  # deny by default: one broad scope
    kube.kubectl("create", "namespace", NS, check=False)
    binary = os.path.join(os.environ.get("LIFEBOAT_BIN_DIR", os.path.join(REPO, "bin")),
                          "lifeboat-operator")
    log = open(os.path.join(tempfile.gettempdir(), "lifeboat-bench-operator.log"), "w")
    op = subprocess.Popen([binary, "--kubeconfig", kube.kubeconfig_path(), "--log-level", "warn",
                           "--metrics-addr", "127.0.0.1:%d" % METRICS_PORT,
                           "--health-addr", "127.0.0.1:%d" % HEALTH_PORT],
                          stdout=log, stderr=subprocess.STDOUT)
    kubectl_w = None
    try:
        def ready():
            try:
                return urllib.request.urlopen("http://127.0.0.1:%d/readyz" % HEALTH_PORT,
                                              timeout=1).status == 200
            except OSError:
                return False
        wait(ready, 30, "/readyz")
        time.sleep(2)
        idle = rss_kib(op.pid)

        rv = kube.api("GET", BASE).json()["metadata"]["resourceVersion"]
        w = Watcher(rv)
        w.start()
        created = {}
        t_burst = time.monotonic()
        for i in range(FIRST):
            name = "rr-%05d" % i
            r = kube.api("POST", BASE, rr(name))
            assert r.status == 201, r
            created[name] = time.monotonic()
        burst_rate = FIRST / (time.monotonic() - t_burst)
        wait(lambda: w.count() >= FIRST, 120, "the first 1,000 to be Planned")
        burst50, burst99 = percentiles(w, created)
        time.sleep(2)
        rss_first = rss_kib(op.pid)

        # Latency, not backlog: with the first 1,000 cached, PACED more are created
        # at a fixed rate below what the operator and the API server sustain here
        # together (an open loop: a slow answer does not slow the creator).
        created = {}
        t0 = time.monotonic()
        for i in range(PACED):
            due = t0 + i / PACE_PER_S
            time.sleep(max(0.0, due - time.monotonic()))
            name = "rr-%05d" % (FIRST + i)
            created[name] = time.monotonic()
            r = kube.api("POST", BASE, rr(name))
            assert r.status == 201, r
        wait(lambda: w.count() >= FIRST + PACED, 120, "the paced requests to be Planned")
        p50, p99 = percentiles(w, created)

        def create(i):
            r = kube.api("POST", BASE, rr("rr-%05d" % i))
            assert r.status == 201, r
        cpu0 = cpu_seconds(op.pid)
        t0 = time.monotonic()
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(create, range(FIRST + PACED, TOTAL)))
        wait(lambda: w.count() >= TOTAL, 600, "10,000 to be Planned")
        fill_secs = time.monotonic() - t0
        fill_cpu = cpu_seconds(op.pid) - cpu0
        time.sleep(2)
        full = rss_kib(op.pid)

        def no_ops():
            # An annotation outside the kept view: each event is compared with the
            # cached view and dropped on the informer thread, nothing queued.
            return metric("lifeboat_informer_unchanged_total", {"controller": "restore"})
        no_ops0 = no_ops()
        cpu0 = cpu_seconds(op.pid)

        def touch_all(value):
            def touch(i):
                r = kube.api("PATCH", BASE + "/rr-%05d" % i,
                             {"metadata": {"annotations": {"bench/touch": value}}},
                             content_type="application/merge-patch+json")
                assert r.status == 200, r
            with ThreadPoolExecutor(4) as ex:
                list(ex.map(touch, range(TOTAL)))
        touch_all("1")
        wait(lambda: no_ops() >= no_ops0 + TOTAL, 300, "10,000 no-op events")
        noop_us = (cpu_seconds(op.pid) - cpu0) / TOTAL * 1e6

        cache = tempfile.mkdtemp()
        kubectl_w = subprocess.Popen(["kubectl", "--kubeconfig", kube.kubeconfig_path(),
                                      "--cache-dir", cache, "get", "restorerequests", "-n", NS,
                                      "-w", "-o", "name"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        seen = 0
        while seen < TOTAL:
            if not kubectl_w.stdout.readline():
                break
            seen += 1
        time.sleep(2)
        kubectl_rss = tree_rss_kib(kubectl_w.pid)

        # The same 10,000 no-op events once more, received by the operator and by
        # `kubectl get -w` (which only decodes each and prints its name) at once:
        # what receiving a watch event costs the Go client on this machine.
        threading.Thread(target=lambda: [None for _ in kubectl_w.stdout], daemon=True).start()
        no_ops0 = no_ops()
        cpu0, kcpu0 = cpu_seconds(op.pid), tree_cpu_seconds(kubectl_w.pid)
        touch_all("2")
        wait(lambda: no_ops() >= no_ops0 + TOTAL, 300, "10,000 more no-op events")
        time.sleep(1)
        noop2_us = (cpu_seconds(op.pid) - cpu0) / TOTAL * 1e6
        kubectl_us = (tree_cpu_seconds(kubectl_w.pid) - kcpu0) / TOTAL * 1e6

        relist_s, relist_cpu = relist_after_apiserver_kill(op.pid)

        print("| figure | measured | target (DESIGN.md 7) |")
        print("|---|---|---|")
        print("| operator RSS, idle, 3 kinds watched | %.1f MiB | <= 8 MiB |" % (idle / 1024))
        print("| operator RSS, %d RestoreRequests cached | %.1f MiB | |" % (FIRST, rss_first / 1024))
        print("| operator RSS, %d RestoreRequests cached | %.1f MiB | <= 32 MiB |"
              % (TOTAL, full / 1024))
        print("| `kubectl get -w` RSS holding the same %d objects (%d seen) | %.1f MiB | "
              "comparison |" % (TOTAL, seen, kubectl_rss / 1024))
        print("| memory ratio kubectl get -w / operator | %.1fx | >= 6x |" % (kubectl_rss / full))
        print("| create -> status Planned seen, %d created at %.1f/s with %d cached, p50 / p99 | "
              "%.1f ms / %.1f ms | p99 <= 50 ms |" % (PACED, PACE_PER_S, FIRST, p50, p99))
        print("| the same, %d created at once (%.0f/s: a backlog), p50 / p99 | %.0f ms / %.0f ms | "
              "|" % (FIRST, burst_rate, burst50, burst99))
        print("| operator CPU per no-op event (decode of the kept view + comparison) | %.0f us | "
              "<= 100 us |" % noop_us)
        print("| the same again beside `kubectl get -w -o name` (same events): operator / kubectl | "
              "%.0f us / %.0f us | comparison |" % (noop2_us, kubectl_us))
        print("| %d dry-run RestoreRequests planned: wall / operator CPU | %.1f s / %.1f s | |"
              % (TOTAL - FIRST - PACED, fill_secs, fill_cpu))
        print("| relist of the %d cached after the API server was killed (-9) and came back: "
              "every page and the diff (lifeboat_informer_last_list_seconds) / operator CPU "
              "from the kill to the relist's end | %s | |"
              % (TOTAL, "%.2f s / %.2f s" % (relist_s, relist_cpu) if relist_s is not None
                 else "n/a (no control plane)"))
    finally:
        if kubectl_w is not None:
            kubectl_w.kill()
        op.terminate()
        try:
            op.wait(15)
        except subprocess.TimeoutExpired:
            op.kill()
        kube.kubectl("delete", "namespace", NS, "--wait=false", check=False)


if __name__ == "__main__":
    main()

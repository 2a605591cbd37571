#!/usr/bin/env python3
"""Operator CPU per no-op watch event, side by side for two (or more) operator
binaries, interleaved so both see the same load (issue 17).

Usage (on a running environment): . e2e/.run/env.sh &&
    python3 e2e/operator/noop_ab.py N OLD_BINARY NEW_BINARY
Creates N dry-run RestoreRequests in namespace "bench" (planned by the first
binary), then twice per binary: starts it, waits for /readyz, patches an
annotation on all N (each a watch event with nothing to do) and prints the
operator's CPU (utime + stime from /proc) divided by N. Figures only.
"""
import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "kubesim", "tests"))
import bench  # noqa: E402
import kube  # noqa: E402
NS = "bench"
BASE = "/apis/lifeboat.dev/v1alpha1/namespaces/%s/restorerequests" % NS


def start(binary):
    op = subprocess.Popen([binary, "--kubeconfig", kube.kubeconfig_path(), "--log-level", "warn",
                           "--metrics-addr", "127.0.0.1:29791",
                           "--health-addr", "127.0.0.1:29790"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def ready():
        try:
            return urllib.request.urlopen("http://127.0.0.1:29790/readyz", timeout=1).status == 200
        except OSError:
            return False
    bench.wait(ready, 60, "readyz")
    return op


def main():
    n, binaries = int(sys.argv[1]), sys.argv[2:]
    kube.kubectl("create", "namespace", NS, check=False)
    op = start(binaries[0])

    def create(i):
        r = kube.api("POST", BASE, bench.rr("rr-%05d" % i))
        assert r.status in (201, 409), r
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(create, range(n)))

    def planned():
        items = kube.api("GET", BASE).json()["items"]
        return sum(1 for o in items if o.get("status", {}).get("phase") == "Planned")
    bench.wait(lambda: planned() >= n, 900, "the requests to be Planned")
    op.terminate()
    op.wait()
    rnd = 0
    for _ in range(2):
        for b in binaries:
            op = start(b)
            time.sleep(3)
            rnd += 1
            cpu0 = bench.cpu_seconds(op.pid)

            def touch(i, rnd=rnd):
                r = kube.api("PATCH", BASE + "/rr-%05d" % i,
                             {"metadata": {"annotations": {"bench/touch": "%d" % rnd}}},
                             content_type="application/merge-patch+json")
                assert r.status == 200, r
            t0 = time.monotonic()
            with ThreadPoolExecutor(4) as ex:
                list(ex.map(touch, range(n)))
            time.sleep(3)
            cpu = bench.cpu_seconds(op.pid) - cpu0
            print("%s: %.0f us per no-op event (operator CPU %.3f s over %d events, wall %.1f s, "
                  "load %.1f)" % (b, cpu / n * 1e6, cpu, n, time.monotonic() - t0,
                                  os.getloadavg()[0]), flush=True)
            op.terminate()
            op.wait()
    kube.kubectl("delete", "namespace", NS, "--wait=false", check=False)


if __name__ == "__main__":
    main()

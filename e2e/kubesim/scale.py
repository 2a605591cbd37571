#!/usr/bin/env python3
"""Scale check for kubesim: 10,000 custom resources and 50 concurrent watches.

Starts a private kubesim (no kubelet) unless --kubeconfig/--pid are given, then prints:
server RSS (idle, after creates, after watches), time to create N objects, time to list
them (one request and paginated, and through kubectl), and watch event latency seen by W
concurrent watchers for a burst of updates.

  python3 e2e/kubesim/scale.py [--objects 10000] [--watchers 50] [--updates 200]
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "tests"))
import kube  # noqa: E402

CRD = os.path.join(HERE, "tests", "data", "widgets-crd.yaml")
NS = "scale"
PATH = "/apis/kubesim.test/v1/namespaces/%s/widgets" % NS


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class Client:
    """One keep-alive connection."""

    def __init__(self, kc):
        self.kc = kc
        self.tok = kube.token(kc)
        self.c = kube.connect(60, kc)

    def req(self, method, path, body=None, ctype="application/json"):
        h = {"Authorization": "Bearer " + self.tok, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = ctype
        self.c.request(method, path, body=data, headers=h)
        r = self.c.getresponse()
        return r.status, r.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--watchers", type=int, default=50)
    ap.add_argument("--updates", type=int, default=200)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--kubeconfig", help="use a running kubesim instead of a private one")
    ap.add_argument("--pid", type=int, help="server pid for RSS (with --kubeconfig)")
    a = ap.parse_args()
    srv = None
    if a.kubeconfig:
        kc, pid = a.kubeconfig, a.pid
    else:
        srv = kube.PrivateServer("--history", str(max(20000, a.objects + a.updates + 100))).__enter__()
        kc, pid = srv.kubeconfig, srv.proc.pid
    try:
        run(a, kc, pid)
    finally:
        if srv is not None:
            srv.__exit__(None, None, None)


def run(a, kc, pid):
    out = {}
    kube.kubectl("apply", "-f", CRD, kubeconfig=kc)
    kube.kubectl("wait", "--for=condition=Established", "crd/widgets.kubesim.test", "--timeout=30s", kubeconfig=kc)
    kube.kubectl("create", "namespace", NS, kubeconfig=kc, check=False)
    if pid:
        out["rss_idle_mib"] = rss_mib(pid)

    # ---- create
    errors = []

    def creator(k):
        c = Client(kc)
        for i in range(k, a.objects, a.threads):
            st, body = c.req("POST", PATH, {"apiVersion": "kubesim.test/v1", "kind": "Widget",
                                            "metadata": {"name": "w%05d" % i, "labels": {"batch": str(i % 10)}},
                                            "spec": {"size": 1 + i % 10, "a": "x", "tags": ["t%d" % (i % 3)]}})
            if st != 201:
                errors.append((st, body[:200]))
    t0 = time.monotonic()
    ths = [threading.Thread(target=creator, args=(k,)) for k in range(a.threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    out["create_seconds"] = time.monotonic() - t0
    out["create_per_second"] = a.objects / out["create_seconds"]
    if errors:
        raise SystemExit("create failed: %r" % errors[:3])
    if pid:
        out["rss_after_create_mib"] = rss_mib(pid)

    # ---- list
    c = Client(kc)
    t0 = time.monotonic()
    st, body = c.req("GET", PATH)
    out["list_one_request_seconds"] = time.monotonic() - t0
    n = len(json.loads(body)["items"])
    assert n == a.objects, "listed %d of %d" % (n, a.objects)
    out["list_body_mib"] = len(body) / 1048576.0
    t0 = time.monotonic()
    total, cont = 0, ""
    while True:
        st, body = c.req("GET", PATH + "?limit=500" + ("&continue=" + cont if cont else ""))
        d = json.loads(body)
        total += len(d["items"])
        cont = d["metadata"].get("continue")
        if not cont:
            break
    out["list_paginated_500_seconds"] = time.monotonic() - t0
    assert total == a.objects
    t0 = time.monotonic()
    p = kube.kubectl("-n", NS, "get", "widgets", "--no-headers", kubeconfig=kc, timeout=300)
    out["kubectl_get_seconds"] = time.monotonic() - t0
    assert len(p.stdout.splitlines()) == a.objects
    t0 = time.monotonic()
    st, body = c.req("GET", PATH + "?labelSelector=batch%3D3")
    out["list_label_selector_seconds"] = time.monotonic() - t0
    assert len(json.loads(body)["items"]) == a.objects // 10

    # ---- watch latency
    rv = json.loads(c.req("GET", PATH + "?limit=1")[1])["metadata"]["resourceVersion"]
    sent = {}
    lat = []
    lock = threading.Lock()
    ready = threading.Barrier(a.watchers + 1)
    done_count = [0]

    def watcher():
        wc = kube.connect(120, kc)
        wc.request("GET", PATH + "?watch=true&resourceVersion=%s&timeoutSeconds=120" % rv,
                   headers={"Authorization": "Bearer " + kube.token(kc)})
        r = wc.getresponse()
        ready.wait()
        got = 0
        while got < a.updates:
            line = r.readline()
            if not line:
                break
            now = time.monotonic()
            ev = json.loads(line)
            name = ev["object"]["metadata"]["name"]
            seq = ev["object"]["spec"].get("settings", {}).get("seq")
            with lock:
                lat.append(now - sent[(name, seq)])
            got += 1
        with lock:
            done_count[0] += got == a.updates
        wc.close()
    ws = [threading.Thread(target=watcher) for _ in range(a.watchers)]
    for t in ws:
        t.start()
    ready.wait()
    time.sleep(0.5)
    if pid:
        out["rss_with_watchers_mib"] = rss_mib(pid)
    t0 = time.monotonic()
    for i in range(a.updates):
        name = "w%05d" % i
        seq = str(i)  # unique per update, so each event maps to its send time
        with lock:
            sent[(name, seq)] = time.monotonic()
        st, body = c.req("PATCH", PATH + "/" + name, {"spec": {"settings": {"seq": seq}}},
                         "application/merge-patch+json")
        if st != 200:
            raise SystemExit("patch failed: %d %s" % (st, body[:200]))
        time.sleep(0.005)
    out["updates_seconds"] = time.monotonic() - t0
    for t in ws:
        t.join(120)
    out["watchers_complete"] = "%d/%d" % (done_count[0], a.watchers)
    lat.sort()
    if lat:
        out["watch_latency_ms_p50"] = 1000 * statistics.median(lat)
        out["watch_latency_ms_p99"] = 1000 * lat[int(len(lat) * 0.99) - 1]
        out["watch_latency_ms_max"] = 1000 * lat[-1]
        out["watch_events_received"] = len(lat)
    if pid:
        out["rss_end_mib"] = rss_mib(pid)
    width = max(len(k) for k in out)
    print("kubesim scale: %d objects, %d watchers, %d updates" % (a.objects, a.watchers, a.updates))
    for k, v in out.items():
        print("  %-*s %s" % (width, k, ("%.3f" % v) if isinstance(v, float) else v))
    if done_count[0] != a.watchers:
        raise SystemExit("not every watcher saw every update")


if __name__ == "__main__":
    main()

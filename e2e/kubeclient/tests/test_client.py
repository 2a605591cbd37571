"""pkg/kube against kubesim: tests/integration/kube_client drives the C client; the real
kubectl checks what the server holds. Needs KUBECONFIG (e2e/env.sh up) and the program
built at $LIFEBOAT_BUILD_DIR/tests/integration/kube_client (default /work/main/build)."""
import atexit
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BUILD = os.environ.get("LIFEBOAT_BUILD_DIR") or os.path.join(REPO, "build")
PROGRAM = os.path.join(BUILD, "tests", "integration", "kube_client")
KUBECTL_CACHE = tempfile.mkdtemp(prefix="kubeclient-kubectl-cache-")
atexit.register(shutil.rmtree, KUBECTL_CACHE, True)

# exit status = 10 - code (tests/integration/kube_client.c)
EXIT = {"LB_ERROR": 11, "LB_ENOTFOUND": 12, "LB_ECONFLICT": 13, "LB_EGONE": 14, "LB_EINVALID": 16}


def kubeconfig():
    path = os.environ.get("KUBECONFIG")
    if not path:
        raise RuntimeError("KUBECONFIG is not set: run e2e/env.sh up and source e2e/.run/env.sh")
    return path


def kubectl(*args, input=None, check=True, config=None):
    cmd = ["kubectl", "--kubeconfig", config or kubeconfig(), "--cache-dir", KUBECTL_CACHE]
    cmd += [str(a) for a in args]
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s%s" % (cmd, p.returncode, p.stdout, p.stderr))
    return p


def kc(*args, config=None, timeout=60):
    """Run the C client; returns CompletedProcess."""
    if not os.access(PROGRAM, os.X_OK):
        raise AssertionError("%s is not built (make build/tests/integration/kube_client)" % PROGRAM)
    cmd = [PROGRAM, "--kubeconfig", config or kubeconfig()] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def kc_json(*args, config=None):
    p = kc(*args, config=config)
    if p.returncode != 0:
        raise AssertionError("kube_client %s failed (%d): %s" % (args, p.returncode, p.stderr))
    return json.loads(p.stdout)


def new_namespace(tc):
    ns = "kc-" + uuid.uuid4().hex[:8]
    kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    tc.addCleanup(kubectl, "delete", "namespace", ns, "--wait=false", check=False)
    return ns


def write_json(tc, obj):
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(obj, f)
    f.close()
    tc.addCleanup(os.unlink, f.name)
    return f.name


def configmap(name, data, labels=None):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    if labels:
        cm["metadata"]["labels"] = labels
    return cm


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.ns = new_namespace(self)

    def test_create_then_get_matches_kubectl(self):
        path = write_json(self, configmap("orders", {"url": "postgres://db/orders"}))
        created = kc_json("create", "v1/configmaps", self.ns, path)
        self.assertEqual(created["metadata"]["namespace"], self.ns)
        got = kc_json("get", "v1/configmaps", self.ns, "orders")
        seen = json.loads(kubectl("get", "configmap", "orders", "-n", self.ns, "-o", "json").stdout)
        self.assertEqual(got["data"], {"url": "postgres://db/orders"})
        self.assertEqual(seen["data"], got["data"])
        self.assertEqual(seen["metadata"]["uid"], got["metadata"]["uid"])
        self.assertEqual(seen["metadata"]["resourceVersion"], got["metadata"]["resourceVersion"])

    def test_list_pages_with_limit_one(self):
        for n in ("a", "b", "c"):
            kc_json("create", "v1/configmaps", self.ns,
                    write_json(self, configmap("page-" + n, {"n": n}, {"set": "paging"})))
        kc_json("create", "v1/configmaps", self.ns, write_json(self, configmap("other", {})))
        p = kc("list", "v1/configmaps", self.ns, "--limit", "1", "--selector", "set=paging")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = [json.loads(l) for l in p.stdout.splitlines()]
        pages, summary = lines[:-1], lines[-1]
        self.assertEqual(len(pages), 3)
        self.assertEqual([len(pg["names"]) for pg in pages], [1, 1, 1])
        self.assertEqual([pg["continue"] for pg in pages], [True, True, False])
        self.assertEqual(sorted(summary["names"]), ["page-a", "page-b", "page-c"])
        names = kubectl("get", "configmaps", "-n", self.ns, "-l", "set=paging",
                        "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
        self.assertEqual(sorted(names), sorted(summary["names"]))

    def test_list_and_watch_decode_only_the_kept_paths(self):
        """With --keep (an informer's kept view), the real API server's LIST pages and
        watch events are decoded into the kept paths plus the identity the list and the
        watch read: the data, the managedFields and every other label are not built."""
        big = {"k%d" % i: "v" * 200 for i in range(20)}
        kc_json("create", "v1/configmaps", self.ns,
                write_json(self, configmap("kept-a", big, {"set": "kept", "team": "a"})))
        keep = "/metadata/labels/team,?/data"
        p = kc("list", "v1/configmaps", self.ns, "--selector", "set=kept", "--keep", keep)
        self.assertEqual(p.returncode, 0, p.stderr)
        page = json.loads(p.stdout.splitlines()[0])
        self.assertEqual(len(page["items"]), 1)
        item = page["items"][0]
        full = json.loads(kubectl("get", "configmap", "kept-a", "-n", self.ns,
                                  "-o", "json").stdout)
        self.assertEqual(item, {"metadata": {
            "name": "kept-a", "namespace": self.ns,
            "resourceVersion": full["metadata"]["resourceVersion"],
            "labels": {"team": "a"}}, "data": {}})
        rv = json.loads(p.stdout.splitlines()[-1])["resourceVersion"]
        w = subprocess.Popen([PROGRAM, "--kubeconfig", kubeconfig(), "watch", "v1/configmaps",
                              self.ns, "--rv", rv, "--field", "metadata.name=kept-a",
                              "--max-events", "1", "--timeout", "30", "--keep", keep],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        kubectl("label", "configmap", "kept-a", "-n", self.ns, "team=b", "--overwrite")
        out, err = w.communicate(timeout=60)
        self.assertEqual(w.returncode, 0, err)
        line = out.splitlines()[1]
        typ, name, erv, obj = line.split(" ", 3)
        self.assertEqual((typ, name), ("MODIFIED", "kept-a"))
        self.assertEqual(json.loads(obj), {"metadata": {
            "name": "kept-a", "namespace": self.ns, "resourceVersion": erv,
            "labels": {"team": "b"}}, "data": {}})

    def test_merge_json_strategic_patches(self):
        kc_json("create", "v1/configmaps", self.ns, write_json(self, configmap("p", {"a": "1"})))
        kc_json("patch", "v1/configmaps", self.ns, "p", "merge", '{"data":{"b":"2"}}')
        kc_json("patch", "v1/configmaps", self.ns, "p", "json",
                '[{"op":"replace","path":"/data/a","value":"10"},'
                '{"op":"add","path":"/data/c","value":"3"}]')
        kc_json("patch", "v1/configmaps", self.ns, "p", "strategic",
                '{"metadata":{"labels":{"patched":"yes"}}}')
        seen = json.loads(kubectl("get", "configmap", "p", "-n", self.ns, "-o", "json").stdout)
        self.assertEqual(seen["data"], {"a": "10", "b": "2", "c": "3"})
        self.assertEqual(seen["metadata"]["labels"], {"patched": "yes"})
        # a JSON patch whose test fails is refused and changes nothing
        p = kc("patch", "v1/configmaps", self.ns, "p", "json",
               '[{"op":"test","path":"/data/a","value":"nope"},'
               '{"op":"remove","path":"/data/a"}]')
        self.assertNotEqual(p.returncode, 0)
        seen = json.loads(kubectl("get", "configmap", "p", "-n", self.ns, "-o", "json").stdout)
        self.assertEqual(seen["data"]["a"], "10")

    def test_not_found_and_conflict_codes_carry_server_message(self):
        p = kc("get", "v1/configmaps", self.ns, "missing")
        self.assertEqual(p.returncode, EXIT["LB_ENOTFOUND"], p.stderr)
        self.assertIn("LB_ENOTFOUND", p.stderr)
        self.assertIn('configmaps "missing" not found', p.stderr)
        kubectl_err = kubectl("get", "configmap", "missing", "-n", self.ns, check=False).stderr
        self.assertIn('configmaps "missing" not found', kubectl_err)

        path = write_json(self, configmap("dup", {}))
        kc_json("create", "v1/configmaps", self.ns, path)
        p = kc("create", "v1/configmaps", self.ns, path)
        self.assertEqual(p.returncode, EXIT["LB_ECONFLICT"], p.stderr)
        self.assertIn("409 AlreadyExists", p.stderr)
        self.assertIn("already exists", p.stderr)

        # a PUT with a stale resourceVersion is a 409 Conflict too
        cur = kc_json("get", "v1/configmaps", self.ns, "dup")
        stale = dict(cur, data={"x": "1"})
        kc_json("patch", "v1/configmaps", self.ns, "dup", "merge", '{"data":{"y":"2"}}')
        p = kc("replace", "v1/configmaps", self.ns, "dup", write_json(self, stale))
        self.assertEqual(p.returncode, EXIT["LB_ECONFLICT"], p.stderr)
        self.assertEqual(json.loads(kubectl("get", "configmap", "dup", "-n", self.ns,
                                            "-o", "json").stdout)["data"], {"y": "2"})

    def test_delete_with_propagation_policy(self):
        kc_json("create", "v1/configmaps", self.ns, write_json(self, configmap("gone", {})))
        p = kc("delete", "v1/configmaps", self.ns, "gone", "--propagation", "Foreground")
        self.assertEqual(p.returncode, 0, p.stderr)
        err = kubectl("get", "configmap", "gone", "-n", self.ns, check=False)
        self.assertNotEqual(err.returncode, 0)
        self.assertIn("NotFound", err.stderr)
        self.assertEqual(kc("delete", "v1/configmaps", self.ns, "gone").returncode,
                         EXIT["LB_ENOTFOUND"])

    def test_watch_sees_added_modified_deleted(self):
        start = kc("list", "v1/configmaps", self.ns)
        self.assertEqual(start.returncode, 0, start.stderr)
        rv = json.loads(start.stdout.splitlines()[-1])["resourceVersion"]
        self.assertTrue(rv)
        w = subprocess.Popen([PROGRAM, "--kubeconfig", kubeconfig(), "watch", "v1/configmaps", self.ns,
                              "--rv", rv, "--field", "metadata.name=w1", "--max-events", "3",
                              "--timeout", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.addCleanup(lambda: w.poll() is None and w.kill())
        self.assertEqual(w.stdout.readline().strip(), "WATCHING")
        kubectl("apply", "-f", "-", "-n", self.ns, input=json.dumps(configmap("w1", {"v": "1"})))
        kc_json("create", "v1/configmaps", self.ns, write_json(self, configmap("w2", {})))  # filtered
        kubectl("patch", "configmap", "w1", "-n", self.ns, "--type", "merge", "-p", '{"data":{"v":"2"}}')
        kubectl("delete", "configmap", "w1", "-n", self.ns)
        out, err = w.communicate(timeout=30)
        self.assertEqual(w.returncode, 0, err)
        events = [l.split() for l in out.splitlines()]
        self.assertEqual([e[0] for e in events[:3]], ["ADDED", "MODIFIED", "DELETED"])
        self.assertEqual({e[1] for e in events[:3]}, {"w1"})
        rvs = [int(e[2]) for e in events[:3]]
        self.assertEqual(rvs, sorted(rvs))
        self.assertGreater(rvs[0], int(rv))
        self.assertEqual(events[3], ["END", str(rvs[2])])

    def test_watch_timeout_ends_cleanly_with_last_rv(self):
        kc_json("create", "v1/configmaps", self.ns, write_json(self, configmap("t", {})))
        p = kc("watch", "v1/configmaps", self.ns, "--rv", "0", "--timeout", "2", timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertIn("ADDED t", " ".join(lines))
        self.assertTrue(lines[-1].startswith("END "))

    def test_tls_verified_with_ca_blob_and_refused_with_wrong_ca(self):
        cfg = yaml.safe_load(open(kubeconfig()))
        tmp = tempfile.mkdtemp(prefix="kc-tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", tmp + "/wrong.key",
                        "-out", tmp + "/wrong.crt", "-days", "1", "-subj", "/CN=wrong-ca"],
                       check=True, capture_output=True)
        wrong = yaml.safe_load(yaml.safe_dump(cfg))
        del wrong["clusters"][0]["cluster"]["certificate-authority-data"]
        wrong["clusters"][0]["cluster"]["certificate-authority"] = "wrong.crt"  # relative path
        with open(tmp + "/wrong.yaml", "w") as f:
            yaml.safe_dump(wrong, f)
        p = kc("get", "v1/namespaces", "-", self.ns, config=tmp + "/wrong.yaml")
        self.assertEqual(p.returncode, EXIT["LB_ERROR"], p.stderr)
        self.assertRegex(p.stderr, "(?i)ssl|certificate")
        # kubectl agrees that this CA does not verify the server
        self.assertNotEqual(kubectl("get", "namespace", self.ns, config=tmp + "/wrong.yaml",
                                    check=False).returncode, 0)
        # the real CA, from the inline data, verifies
        got = kc_json("get", "v1/namespaces", "-", self.ns)
        self.assertEqual(got["metadata"]["name"], self.ns)

    def test_token_file_and_bad_token(self):
        cfg = yaml.safe_load(open(kubeconfig()))
        tmp = tempfile.mkdtemp(prefix="kc-tok-")
        self.addCleanup(shutil.rmtree, tmp, True)
        token = cfg["users"][0]["user"].pop("token")
        with open(tmp + "/token", "w") as f:
            f.write(token + "\n")
        cfg["users"][0]["user"]["tokenFile"] = tmp + "/token"
        with open(tmp + "/config", "w") as f:
            yaml.safe_dump(cfg, f)
        self.assertEqual(kc_json("get", "v1/namespaces", "-", self.ns,
                                 config=tmp + "/config")["metadata"]["name"], self.ns)
        with open(tmp + "/token", "w") as f:
            f.write("not-the-token\n")
        p = kc("get", "v1/namespaces", "-", self.ns, config=tmp + "/config")
        self.assertEqual(p.returncode, EXIT["LB_ERROR"], p.stderr)
        self.assertIn("401", p.stderr)
        self.assertNotIn("not-the-token", p.stderr)


    def test_threads_share_one_client_and_reuse_connections(self):
        kc_json("create", "v1/configmaps", self.ns, write_json(self, configmap("shared", {"k": "v"})))
        p = kc("parallel-get", "v1/configmaps", self.ns, "shared", 4, 25)
        self.assertEqual(p.returncode, 0, p.stderr)
        summary = json.loads(p.stdout)
        self.assertEqual(summary["ok"], 100)
        self.assertEqual(summary["failed"], 0)
        self.assertEqual(summary["requests"], 100)
        # one pool per client: at most a couple of connections per thread, not one per GET
        self.assertGreaterEqual(summary["connections"], 1)
        self.assertLessEqual(summary["connections"], 8)


    def test_informer_cache_follows_changes(self):
        # 15 s: room for three kubectl runs on a loaded machine (the informer stops then).
        # A label selector: the real controller manager publishes kube-root-ca.crt into every
        # namespace (at a moment of its choosing); only this test's ConfigMaps count
        def labelled(name, data):
            return configmap(name, data, labels={"lifeboat-test": "informer"})
        kc_json("create", "v1/configmaps", self.ns, write_json(self, labelled("pre", {"v": "0"})))
        inf = subprocess.Popen([PROGRAM, "--kubeconfig", kubeconfig(), "informer", "v1/configmaps",
                                self.ns, "--seconds", "15", "--limit", "1",
                                "--selector", "lifeboat-test=informer"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: inf.poll() is None and inf.kill())
        self.assertEqual(inf.stdout.readline().strip(), "ADD pre " +
                         kc_json("get", "v1/configmaps", self.ns, "pre")["metadata"]["resourceVersion"])
        self.assertEqual(inf.stdout.readline().strip(), "SYNCED 1")
        kubectl("apply", "-f", "-", "-n", self.ns, input=json.dumps(labelled("new", {"v": "1"})))
        kubectl("patch", "configmap", "pre", "-n", self.ns, "--type", "merge", "-p", '{"data":{"v":"2"}}')
        kubectl("delete", "configmap", "new", "-n", self.ns)
        out, err = inf.communicate(timeout=30)
        self.assertEqual(inf.returncode, 0, err)
        lines = out.splitlines()
        self.assertEqual([l.split()[:2] for l in lines[:-1]],
                         [["ADD", "new"], ["UPDATE", "pre"], ["DELETE", "new"]])
        cache = json.loads(lines[-1][len("CACHE "):])
        self.assertEqual(cache["keys"], [self.ns + "/pre"])
        live = json.loads(kubectl("get", "configmap", "pre", "-n", self.ns, "-o", "json").stdout)
        self.assertEqual(cache["resourceVersions"][self.ns + "/pre"], live["metadata"]["resourceVersion"])
        self.assertEqual(cache["lists"], 1)


class Candidate:
    """A `kube_client leader` process whose output lines are read on a thread."""

    def __init__(self, tc, ns, identity, lease=3):
        self.p = subprocess.Popen([PROGRAM, "--kubeconfig", kubeconfig(), "leader", ns, "lifeboat",
                                   identity, "--lease", str(lease)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        tc.addCleanup(lambda: self.p.poll() is None and self.p.kill())
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.strip())

    def wait_for(self, text, timeout):
        """Seconds until `text` was printed, or None."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if self.lines.get(timeout=0.1) == text:
                    return time.monotonic() - start
            except queue.Empty:
                pass
        return None


class LeaderTest(unittest.TestCase):
    def setUp(self):
        self.ns = new_namespace(self)

    def holder(self):
        p = kubectl("get", "lease", "lifeboat", "-n", self.ns, "-o",
                    "jsonpath={.spec.holderIdentity}", check=False)
        return p.stdout.strip() if p.returncode == 0 else None

    def test_one_leader_kill9_takeover_and_sigterm_release(self):
        a = Candidate(self, self.ns, "pod-a")
        self.assertIsNotNone(a.wait_for("LEADER", 10))
        self.assertEqual(self.holder(), "pod-a")
        b = Candidate(self, self.ns, "pod-b")
        self.assertIsNotNone(b.wait_for("CANDIDATE", 5))
        self.assertIsNone(b.wait_for("LEADER", 4))  # a keeps renewing: b stays standby
        self.assertEqual(self.holder(), "pod-a")
        a.p.send_signal(signal.SIGKILL)
        a.p.wait(5)
        took = b.wait_for("LEADER", 15)
        self.assertIsNotNone(took, "b did not take over after a was killed")
        self.assertLessEqual(took, 3 + 1 + 3)  # lease 3 s + retry 1 s + slack
        self.assertEqual(self.holder(), "pod-b")
        # SIGTERM: b releases the lease at once and a newcomer gets it within a retry period
        b.p.send_signal(signal.SIGTERM)
        self.assertEqual(b.p.wait(10), 0)
        self.assertEqual(self.holder(), "")
        c = Candidate(self, self.ns, "pod-c")
        took = c.wait_for("LEADER", 10)
        self.assertIsNotNone(took)
        self.assertLess(took, 2.5)
        self.assertEqual(self.holder(), "pod-c")
        c.p.send_signal(signal.SIGTERM)
        self.assertEqual(c.p.wait(10), 0)


class PrivateServer(unittest.TestCase):
    """A private kubesim that keeps 3 events of history (a watch from an older
    resourceVersion must end with LB_EGONE) and sends bookmarks every BOOKMARK_S."""

    BOOKMARK_S = "0.5"

    def setUp(self):
        self.run_dir = tempfile.mkdtemp(prefix="kc-gone-")
        self.addCleanup(shutil.rmtree, self.run_dir, True)
        port = free_port()
        self.log = open(os.path.join(self.run_dir, "kubesim.log"), "w")
        self.addCleanup(self.log.close)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(REPO, "e2e", "kubesim", "server.py"), "--run-dir",
             self.run_dir, "--port", str(port), "--history", "3",
             "--bookmark-interval", self.BOOKMARK_S],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.addCleanup(self.stop)
        self.config = os.path.join(self.run_dir, "kubeconfig")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail("private kubesim exited; see its log")
            if os.path.exists(self.config) and kc("list", "v1/namespaces", "-",
                                                  config=self.config).returncode == 0:
                return
            time.sleep(0.2)
        self.fail("private kubesim did not answer within 30 s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()



class PrivateServerTest(PrivateServer):
    def test_watch_from_too_old_version_is_gone(self):
        first = kc_json("create", "v1/configmaps", "default",
                        write_json(self, configmap("g0", {})), config=self.config)
        old_rv = first["metadata"]["resourceVersion"]
        for i in range(1, 8):
            kc_json("patch", "v1/configmaps", "default", "g0", "merge",
                    json.dumps({"data": {"i": str(i)}}), config=self.config)
        p = kc("watch", "v1/configmaps", "default", "--rv", old_rv, "--timeout", "5",
               config=self.config)
        self.assertEqual(p.returncode, EXIT["LB_EGONE"], p.stdout + p.stderr)
        self.assertIn("LB_EGONE", p.stderr)
        self.assertIn("410", p.stderr)
        # kubectl sees the same history limit from the same server
        latest = kc_json("get", "v1/configmaps", "default", "g0", config=self.config)
        self.assertEqual(latest["data"], {"i": "7"})
        # from the current version the watch works
        p = kc("watch", "v1/configmaps", "default", "--rv",
               latest["metadata"]["resourceVersion"], "--timeout", "1", config=self.config)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_bookmarks_move_the_resource_version(self):
        created = kc_json("create", "v1/configmaps", "default",
                          write_json(self, configmap("b0", {})), config=self.config)
        # later changes elsewhere move the server's resourceVersion past b0's
        kubectl("create", "namespace", "kc-bm-" + uuid.uuid4().hex[:6], config=self.config)
        # no --rv: the current state (b0, synthetic ADDED at b0's rv), then only bookmarks,
        # which carry the newer resourceVersion of the namespace change
        p = kc("watch", "v1/configmaps", "default", "--timeout", "2", config=self.config)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = [l.split() for l in p.stdout.splitlines()]
        self.assertEqual(lines[1], ["ADDED", "b0", created["metadata"]["resourceVersion"]])
        bookmarks = [l for l in lines if l[0] == "BOOKMARK"]
        self.assertTrue(bookmarks, p.stdout)
        self.assertEqual(len(bookmarks), len(lines) - 3, p.stdout)
        self.assertEqual(lines[-1], ["END", bookmarks[-1][2]])  # the rv came from the bookmark
        self.assertGreater(int(bookmarks[-1][2]), int(created["metadata"]["resourceVersion"]))



class NoBookmarkServerTest(PrivateServer):
    """Bookmarks would carry the newer version to the informer; without them its
    re-watch must hit the 3-event history limit."""

    BOOKMARK_S = "600"

    def test_informer_relists_after_410_and_loses_nothing(self):
        cfg = self.config
        kc_json("create", "v1/configmaps", "default", write_json(self, configmap("target", {"v": "0"})),
                config=cfg)
        # The watch sees only "target" and re-watches every second from the last version it
        # saw, so changes to other objects push that version out of the 3-event history:
        # the next re-watch gets a 410 and relists. 20 s: room for 13 client runs under load.
        inf = subprocess.Popen([PROGRAM, "--kubeconfig", cfg, "informer", "v1/configmaps", "default",
                                "--seconds", "20", "--timeout", "1", "--field", "metadata.name=target"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: inf.poll() is None and inf.kill())
        self.assertTrue(inf.stdout.readline().startswith("ADD target"))
        self.assertEqual(inf.stdout.readline().strip(), "SYNCED 1")
        time.sleep(0.3)
        # more changes than the 3 events of history, none of them to "target", then one to it
        for i in range(6):
            kc_json("create", "v1/configmaps", "default",
                    write_json(self, configmap("noise-%d" % i, {})), config=cfg)
        kubectl("patch", "configmap", "target", "--type", "merge", "-p", '{"data":{"v":"final"}}',
                config=cfg)
        for i in range(6):
            kc("delete", "v1/configmaps", "default", "noise-%d" % i, config=cfg)
        out, err = inf.communicate(timeout=30)
        self.assertEqual(inf.returncode, 0, err)
        cache = json.loads(out.splitlines()[-1][len("CACHE "):])
        live = json.loads(kubectl("get", "configmap", "target", "-o", "json", config=cfg).stdout)
        self.assertEqual(cache["keys"], ["default/target"])
        self.assertEqual(cache["resourceVersions"]["default/target"], live["metadata"]["resourceVersion"])
        self.assertIn("UPDATE target " + live["metadata"]["resourceVersion"], out)
        self.assertGreaterEqual(cache["watches"], 3)
        self.assertGreaterEqual(cache["lists"], 2, out)  # a 410 made it relist



if __name__ == "__main__":
    unittest.main()

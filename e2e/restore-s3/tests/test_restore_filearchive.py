"""fileArchive items through the operator (runbook 004 Procedure 3): RestoreRequest ->
Jobs running `lifeboat-agent archive-restore` in kubesim (a Job's pod is a local
process; bin/ is on its PATH; a PersistentVolumeClaim is a folder bind-mounted at its
mountPath/subPath) -> files served over HTTP by a Deployment that mounts the same claim.
Archives live in awssim's S3.

- the runbook's `.tar.gz.enc` (made with its exact `openssl enc -aes-256-cbc -pbkdf2`
  command) is checked before the approval without touching the volume, extracted after
  it into the claim's subPath while the Deployment is scaled to zero (its process is gone
  during the extract and a new one serves the restored files after);
- an archive holding `../escape` is refused in the prepare, nothing is extracted and the
  volume is untouched;
- a subPath with `..` is refused by validation naming the field.
"""
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "restore", "tests"))  # the restore helpers
import scenario  # noqa: E402
from scenario import ScenarioCase, app_get, b64, kube  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "agent", "tests"))
from agentlib import new_bucket, put, sha256  # noqa: E402

KEY = "mykadoo-backup-encryption-key-42"
CLAIM = "mykadoo-files"
AVATAR = bytes(range(256)) * 64        # binary content, 16 KiB


def tar_gz(entries):
    """A .tar.gz of [(name, bytes)] as the runbook's backup script makes it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def openssl_enc(plain, passphrase):
    """The runbook's command: openssl enc -aes-256-cbc -pbkdf2 ... -pass pass:KEY."""
    work = tempfile.mkdtemp(prefix="lbp3")
    src, dst = os.path.join(work, "restore.tar.gz"), os.path.join(work, "restore.tar.gz.enc")
    try:
        with open(src, "wb") as f:
            f.write(plain)
        subprocess.run(["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-in", src, "-out", dst,
                        "-pass", "pass:" + passphrase], check=True)
        with open(dst, "rb") as f:
            return f.read()
    finally:
        subprocess.run(["rm", "-rf", work], check=False)


_claim_dirs = {}


def claim_dir(ns):
    """The claim's backing folder on this host (only to seed and inspect the fixture)."""
    if ns not in _claim_dirs:
        _claim_dirs[ns] = scenario.claim_path(ns, CLAIM)
    return _claim_dirs[ns]


class FileArchiveRestoreTest(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.bucket = new_bucket()
        env = os.environ
        kube.kubectl("apply", "-f", "-", input=[
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "lifeboat-agent-aws", "namespace": cls.ns},
             "data": {"AWS_ACCESS_KEY_ID": b64(env["AWS_ACCESS_KEY_ID"]),
                      "AWS_SECRET_ACCESS_KEY": b64(env["AWS_SECRET_ACCESS_KEY"])}},
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "mykadoo-backup-secrets", "namespace": cls.ns},
             "data": {"BACKUP_ENCRYPTION_KEY": b64(KEY)}},
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": CLAIM, "namespace": cls.ns},
             "spec": {"accessModes": ["ReadWriteOnce"],
                      "resources": {"requests": {"storage": "1Gi"}}}},
        ])
        # What the web tier served before the incident: one corrupted file.
        os.makedirs(os.path.join(claim_dir(cls.ns), "app", "uploads", "docs"), exist_ok=True)
        with open(os.path.join(claim_dir(cls.ns), "app", "uploads", "docs", "readme.txt"),
                  "w") as f:
            f.write("corrupted\n")
        # A Deployment serving /app from the claim (subPath app), as the runbook's /app/.
        kube.kubectl("apply", "-f", "-", input=[
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "mykadoo-web", "namespace": cls.ns},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "mykadoo-web"}},
                      "template": {
                          "metadata": {"labels": {"app": "mykadoo-web"}},
                          "spec": {
                              "containers": [{
                                  "name": "web", "image": "python:3.11",
                                  "command": ["sh", "-c", 'exec python3 -m http.server "$PORT" '
                                              '--bind 127.0.0.1 --directory /app'],
                                  "ports": [{"containerPort": 8080, "name": "http"}],
                                  "volumeMounts": [{"name": "files", "mountPath": "/app",
                                                    "subPath": "app"}],
                                  "readinessProbe": {"httpGet": {"path": "/", "port": "http"},
                                                     "periodSeconds": 1,
                                                     "failureThreshold": 1}}],
                              "volumes": [{"name": "files",
                                           "persistentVolumeClaim": {"claimName": CLAIM}}]}}}},
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "mykadoo-web", "namespace": cls.ns},
             "spec": {"selector": {"app": "mykadoo-web"},
                      "ports": [{"port": 80, "targetPort": "http"}]}},
        ])
        kube.kubectl("rollout", "status", "deployment/mykadoo-web", "-n", cls.ns,
                     "--timeout=90s", timeout=120)
        kube.wait_for(lambda: app_get(cls.ns, "mykadoo-web", "/uploads/docs/readme.txt")[0]
                      == 200, timeout=60, message="mykadoo-web serves the claim")

    def item(self, name, key, sub="app", **extra):
        src = {"source": {"bucket": self.bucket, "key": key},
               "target": {"persistentVolumeClaim": CLAIM, "subPath": sub}}
        src.update(extra)
        return {"name": name, "fileArchive": src}

    def step(self, obj, name):
        for s in obj["status"]["steps"]:
            if s["name"] == name:
                return s
        raise AssertionError("no step %s in %s" % (name, [s["name"] for s in obj["status"]["steps"]]))

    def web_pods(self):
        return kube.kubectl_json("get", "pods", "-n", self.ns, "-l", "app=mykadoo-web")["items"]

    def web_pid(self, pod):
        path = os.path.join(scenario.kubelet_dir(), "pods", self.ns, pod, "web.pid")
        with open(path) as f:
            return int(f.read().split()[0])

    def test_runbook_004_p3_encrypted_archive_into_the_claim(self):
        plain = tar_gz([("uploads/avatar.png", AVATAR),
                        ("uploads/docs/readme.txt", b"restored from backup\n"),
                        ("uploads/2026/02/invoice-1.pdf", b"%PDF-1.4 invoice 1\n")])
        enc = openssl_enc(plain, KEY)
        key = "files/production/uploads/latest.tar.gz.enc"
        put(self.bucket, key, enc)
        put(self.bucket, "files/production/uploads/latest.manifest.json",
            json.dumps({"sha256": sha256(enc)}).encode())
        before = self.web_pods()
        self.assertEqual(len(before), 1)
        old_pid = self.web_pid(before[0]["metadata"]["name"])

        self.apply_rr(self.rr_manifest("files-restore", [self.item(
            "uploads", key, manifest="required",
            decryption={"keySecretRef": {"name": "mykadoo-backup-secrets",
                                         "key": "BACKUP_ENCRYPTION_KEY"}},
            scaleDown=[{"kind": "Deployment", "name": "mykadoo-web"}])]))
        obj = self.wait_phase("files-restore", "AwaitingApproval")
        msg = self.step(obj, "uploads/download")["message"]
        self.assertIn("matches the manifest", msg)
        self.assertIn("aes-256-cbc", msg)
        self.assertIn("3 files", msg)
        # Nothing live changed before the approval: the same process serves the old file.
        self.assertEqual(app_get(self.ns, "mykadoo-web", "/uploads/docs/readme.txt"),
                         (200, "corrupted\n"))
        self.assertEqual([p["metadata"]["uid"] for p in self.web_pods()],
                         [before[0]["metadata"]["uid"]])
        plan = {p["name"]: p for p in obj["status"]["plan"]}
        self.assertTrue(plan["uploads/extract"]["destructive"])
        self.assertTrue(plan["uploads/scale-down"]["destructive"])

        self.approve("files-restore")
        obj = self.wait_phase("files-restore", "Succeeded", timeout=180)
        down, extract, up = (self.step(obj, "uploads/" + a)
                             for a in ("scale-down", "extract", "scale-up"))
        self.assertLessEqual(down["finishedAt"], extract["startedAt"])
        self.assertLessEqual(extract["finishedAt"], up["startedAt"])
        self.assertIn("3 files", extract["message"])
        # The old process is gone (it was stopped for the extract) and a new pod serves
        # the restored files.
        with self.assertRaises(ProcessLookupError):
            os.kill(old_pid, 0)
        kube.kubectl("rollout", "status", "deployment/mykadoo-web", "-n", self.ns,
                     "--timeout=90s", timeout=120)
        kube.wait_for(lambda: app_get(self.ns, "mykadoo-web", "/uploads/docs/readme.txt")
                      == (200, "restored from backup\n"), timeout=60,
                      message="the restored readme is served")
        after = self.web_pods()
        self.assertEqual(len(after), 1)
        self.assertNotEqual(after[0]["metadata"]["uid"], before[0]["metadata"]["uid"])
        self.assertEqual(app_get(self.ns, "mykadoo-web", "/uploads/2026/02/invoice-1.pdf"),
                         (200, "%PDF-1.4 invoice 1\n"))
        with open(os.path.join(claim_dir(self.ns), "app", "uploads", "avatar.png"), "rb") as f:
            self.assertEqual(f.read(), AVATAR)
        dep = kube.kubectl_json("get", "deployment", "mykadoo-web", "-n", self.ns)
        self.assertEqual(dep["spec"]["replicas"], 1)
        # The passphrase reached the agent only as a secretKeyRef.
        jobs = json.dumps(kube.kubectl_json("get", "jobs", "-n", self.ns))
        self.assertNotIn(KEY, jobs)
        self.assertIn("secretKeyRef", jobs)

    def test_archive_with_dotdot_is_refused_and_nothing_is_extracted(self):
        key = "files/production/config/evil.tar.gz"
        put(self.bucket, key, tar_gz([("config/app.yaml", b"harmless: true\n"),
                                      ("../escape", b"owned\n")]))
        listing_before = sorted(os.listdir(claim_dir(self.ns)))
        self.apply_rr(self.rr_manifest("evil-restore", [self.item(
            "config", key, sub="app", manifest="none")], approval=False))
        obj = self.wait_phase("evil-restore", "Failed", timeout=120)
        msg = self.step(obj, "config/download")["message"]
        self.assertIn("s3://%s/%s" % (self.bucket, key), msg)
        self.assertIn("../escape", msg)
        self.assertEqual(self.step(obj, "config/extract")["phase"], "Pending")
        # Nothing extracted anywhere: not in the claim, not beside it.
        self.assertEqual(sorted(os.listdir(claim_dir(self.ns))), listing_before)
        self.assertFalse(os.path.exists(os.path.join(claim_dir(self.ns), "escape")))
        self.assertFalse(os.path.exists(os.path.join(claim_dir(self.ns), "app", "config")))
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(claim_dir(self.ns)),
                                                     "escape")))
        jobs = kube.kubectl_json("get", "jobs", "-n", self.ns)["items"]
        self.assertNotIn("lb-evil-restore-config-extract",
                         [j["metadata"]["name"] for j in jobs])

    def test_subpath_with_dotdot_is_invalid(self):
        self.apply_rr(self.rr_manifest("bad-subpath", [self.item(
            "up", "files/x.tar.gz", sub="app/../../etc", manifest="none")]))
        obj = self.wait_phase("bad-subpath", "Failed")
        valid = [c for c in obj["status"]["conditions"] if c["type"] == "Valid"][0]
        self.assertEqual((valid["status"], valid["reason"]), ("False", "InvalidSpec"))
        self.assertIn("spec.items[0].fileArchive.target.subPath", valid["message"])
        jobs = kube.kubectl_json("get", "jobs", "-n", self.ns)["items"]
        self.assertEqual([j["metadata"]["name"] for j in jobs
                          if j["metadata"]["name"].startswith("lb-bad-subpath-")], [])

"""GitOps health of the three kinds (issue 18, item 3).

  - deploy/argocd/health.lua, run by lua5.4 as Argo CD runs it, gives each object of
    deploy/argocd/health_test.yaml (Argo's health-test format) the expected health and
    message; every sample object is valid against its CRD, status included;
  - the operator's own verdict (pkg/api/health.c, through tests/integration/health_of)
    agrees on every object, and the kstatus conditions it writes are right: Reconciling
    True exactly when Progressing, Stalled True exactly when Degraded;
  - deploy/argocd renders to argocd-cm with one valid ConfigMap key per kind.
"""
import json
import os
import re
import subprocess
import sys
import unittest

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "e2e", "lib"))
sys.path.insert(0, os.path.join(ROOT, "e2e", "crds", "tests"))
import argohealth  # noqa: E402
import crdcheck  # noqa: E402

ARGO = os.path.join(ROOT, "deploy", "argocd")
BUILD = os.environ.get("LIFEBOAT_BUILD_DIR") or os.path.join(ROOT, "build")


def cases():
    with open(os.path.join(ARGO, "health_test.yaml")) as f:
        tests = yaml.safe_load(f)["tests"]
    for t in tests:
        with open(os.path.join(ARGO, t["inputPath"])) as f:
            yield t["inputPath"], yaml.safe_load(f), t["healthStatus"]


def operator_verdict(obj):
    p = subprocess.run([os.path.join(BUILD, "tests", "integration", "health_of")],
                       input=json.dumps(obj), capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError("health_of: %s" % p.stderr)
    return json.loads(p.stdout)


class ArgoHealth(unittest.TestCase):
    def test_every_sample_is_a_valid_object(self):
        crds = crdcheck.load_crds()
        n = 0
        for path, obj, _ in cases():
            with self.subTest(path=path):
                self.assertEqual(crdcheck.validate(obj, crds[obj["kind"]]), [])
            n += 1
        self.assertGreaterEqual(n, 15)

    def test_lua_gives_the_expected_health(self):
        seen = set()
        for path, obj, want in cases():
            with self.subTest(path=path):
                self.assertEqual(argohealth.health(obj), (want["status"], want["message"]))
            seen.add((obj["kind"], want["status"]))
        # representative objects: every health Argo shows, for each kind that has it
        for kind in ("RestoreRequest", "VerificationRun", "BackupPolicy"):
            for h in ("Progressing", "Healthy", "Degraded"):
                self.assertIn((kind, h), seen)
        self.assertIn(("RestoreRequest", "Suspended"), seen)
        self.assertIn(("BackupPolicy", "Suspended"), seen)

    def test_operator_agrees_and_writes_kstatus_conditions(self):
        for path, obj, want in cases():
            with self.subTest(path=path):
                got = operator_verdict(obj)
                self.assertEqual(got["health"], want["status"])
                self.assertEqual(got["reconciling"],
                                 "True" if want["status"] == "Progressing" else "False")
                self.assertEqual(got["stalled"],
                                 "True" if want["status"] == "Degraded" else "False")

    def test_a_script_error_is_not_hidden(self):
        # the harness itself can fail: a script that errors is reported, not read as healthy
        bad = os.path.join(os.environ.get("TMPDIR", "/tmp"), "lifeboat-bad-health.lua")
        with open(bad, "w") as f:
            f.write("return obj.status.nothing.here\n")
        try:
            with self.assertRaises(AssertionError):
                argohealth.health({"kind": "RestoreRequest", "status": {}}, script=bad)
        finally:
            os.unlink(bad)

    def test_kustomize_renders_argocd_cm(self):
        p = subprocess.run(["kubectl", "kustomize", ARGO], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        docs = [d for d in yaml.safe_load_all(p.stdout) if d]
        self.assertEqual([(d["kind"], d["metadata"]["name"], d["metadata"]["namespace"])
                          for d in docs], [("ConfigMap", "argocd-cm", "argocd")])
        data = docs[0]["data"]
        with open(os.path.join(ARGO, "health.lua")) as f:
            script = f.read()
        self.assertEqual(sorted(data), ["resource.customizations.health.lifeboat.dev_%s" % k
                                        for k in ("BackupPolicy", "RestoreRequest",
                                                  "VerificationRun")])
        for k, v in data.items():
            self.assertRegex(k, r"^[-._a-zA-Z0-9]+$")  # the API server's ConfigMap key rule
            self.assertEqual(v, script)


if __name__ == "__main__":
    unittest.main()

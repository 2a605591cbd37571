"""Contract tests of crds/, examples/ and deploy/.

Two layers:
- Offline (OfflineCRDTests, OfflineExampleTests, DeployTests): the generated CRDs are up
  to date and structural; every example validates against its CRD's openAPIV3Schema and
  CEL rules (crdcheck + celmini); broken manifests are refused naming the field;
  `kubectl kustomize deploy/` renders what the operator needs.
- Against kubesim (KubesimCRDTests, needs KUBECONFIG from e2e/env.sh up): the CRDs apply
  and become Established, every example is accepted by `kubectl apply --dry-run=server`,
  the broken manifests are refused by the server with a message naming the field, and
  `kubectl get rr|vr|bp` show the printer columns.
"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import celmini  # noqa: E402
import crdcheck  # noqa: E402

KUBECTL = os.environ.get("KUBECTL", "kubectl")
CRD_NAMES = ["restorerequests.lifeboat.dev", "verificationruns.lifeboat.dev",
             "backuppolicies.lifeboat.dev", "recoveryscopes.lifeboat.dev"]


def example(fname, index=0):
    return crdcheck.load_yaml_docs(os.path.join(crdcheck.EXAMPLES_DIR, fname))[index]


def pitr():
    return example("restorerequest-000-1a-rds-point-in-time.yaml")


def _item0(o):
    return o["spec"]["items"][0]


def _set(path_fn, key, value):
    def mutate(o):
        path_fn(o)[key] = value
    return mutate


def _both(*fns):
    def mutate(o):
        for f in fns:
            f(o)
    return mutate


# (name, base example, mutation, words the refusal must contain - field names)
BROKEN = [
    ("two-sources-in-one-item", pitr,
     _set(_item0, "rdsSnapshot", {"dbSnapshotIdentifier": "lomash-orders-prod-pre-deploy-1"}),
     ["exactly one source", "rdsPointInTime", "rdsSnapshot"]),
    ("restore-time-and-latest", pitr,
     _set(lambda o: _item0(o)["rdsPointInTime"], "useLatestRestorableTime", True),
     ["restoreTime", "useLatestRestorableTime"]),
    ("no-restore-time", pitr,
     lambda o: _item0(o)["rdsPointInTime"].pop("restoreTime"),
     ["restoreTime", "useLatestRestorableTime"]),
    ("restore-time-not-rfc3339", pitr,
     _set(lambda o: _item0(o)["rdsPointInTime"], "restoreTime", "2026-02-18 14:30"),
     ["restoreTime"]),
    ("rds-id-double-hyphen", pitr,
     _set(lambda o: _item0(o)["rdsPointInTime"], "sourceDBInstanceIdentifier", "orders--prod"),
     ["sourceDBInstanceIdentifier"]),
    ("rds-id-digit-first", pitr,
     _set(lambda o: _item0(o)["rdsPointInTime"], "targetDBInstanceIdentifier", "1orders"),
     ["targetDBInstanceIdentifier"]),
    ("rds-id-trailing-hyphen", pitr,
     _set(lambda o: _item0(o)["rdsPointInTime"], "sourceDBInstanceIdentifier", "orders-"),
     ["sourceDBInstanceIdentifier"]),
    ("rds-id-too-long", pitr,
     _set(lambda o: _item0(o)["rdsPointInTime"], "sourceDBInstanceIdentifier", "a" * 64),
     ["sourceDBInstanceIdentifier"]),
    ("bad-enum-promote", pitr, _set(_item0, "promote", "swap"), ["promote"]),
    ("unknown-field", pitr,
     _set(lambda o: _item0(o)["rdsPointInTime"], "restoreTimestamp", "2026-02-18T14:30:00Z"),
     ["restoreTimestamp"]),
    ("unknown-spec-field", pitr, _set(lambda o: o["spec"], "dryrun", True), ["dryrun"]),
    ("bad-instance-class", pitr,
     _set(lambda o: _item0(o)["rdsPointInTime"], "dbInstanceClass", "r6g.large"),
     ["dbInstanceClass"]),
    ("bad-duration", pitr, _set(lambda o: _item0(o)["cleanup"], "after", "one day"), ["after"]),
    ("duplicate-item-names", pitr,
     lambda o: o["spec"]["items"].append(copy.deepcopy(_item0(o))), ["name"]),
    ("depends-on-unknown-item", pitr, _set(_item0, "dependsOn", ["payments-db"]),
     ["dependsOn"]),
    ("check-with-two-kinds", lambda: example("verificationrun-000-post-restore-checklist.yaml"),
     _set(lambda o: o["spec"]["checks"][0], "sql",
          {"query": "SELECT 1", "expect": {"equals": 1}}), ["sql", "http"]),
    ("check-with-no-kind", lambda: example("verificationrun-000-post-restore-checklist.yaml"),
     lambda o: o["spec"]["checks"][0].pop("http"), ["sql", "http"]),
    ("verify-check-not-sql", pitr,
     _set(lambda o: _item0(o)["verify"]["checks"][0], "http", {"url": "http://x.shop.svc/"}),
     ["http"]),
    ("secret-patch-without-value-source", pitr,
     lambda o: _item0(o)["secretPatches"][0].pop("replaceHost"), ["replaceHost", "template"]),
    ("bad-bucket", lambda: example("restorerequest-000-3a-s3-undelete.yaml"),
     _set(lambda o: _item0(o)["s3Objects"], "bucket", "Lomash_Media"), ["bucket"]),
    ("keys-and-prefix", lambda: example("restorerequest-000-3a-s3-undelete.yaml"),
     _set(lambda o: _item0(o)["s3Objects"], "prefix", "products/"), ["keys", "prefix"]),
    ("version-mode-without-version-id",
     lambda: example("restorerequest-000-3a-s3-undelete.yaml"),
     _set(lambda o: _item0(o)["s3Objects"], "mode", "version"), ["versionId"]),
    ("bad-s3-mode", lambda: example("restorerequest-000-3a-s3-undelete.yaml"),
     _set(lambda o: _item0(o)["s3Objects"], "mode", "restore"), ["mode"]),
    ("jobs-over-64", lambda: example("restorerequest-000-1c-pg-dump.yaml"),
     _set(lambda o: _item0(o)["pgDump"], "jobs", 65), ["jobs"]),
    ("pg-key-and-latest-under", lambda: example("restorerequest-000-1c-pg-dump.yaml"),
     _set(lambda o: _item0(o)["pgDump"]["source"], "latestUnder", "pg-logical/"),
     ["key", "latestUnder"]),
    ("bad-manifest-enum", lambda: example("restorerequest-000-1c-pg-dump.yaml"),
     _set(lambda o: _item0(o)["pgDump"], "manifest", "maybe"), ["manifest"]),
    ("snapshot-id-and-latest-from", lambda: example("restorerequest-000-1b-rds-snapshot.yaml"),
     _set(lambda o: _item0(o)["rdsSnapshot"], "latestFrom",
          {"dbInstanceIdentifier": "lomash-orders-prod"}),
     ["dbSnapshotIdentifier", "latestFrom"]),
    ("bad-snapshot-type", lambda: example("restorerequest-000-1b-rds-snapshot.yaml", 1),
     _set(lambda o: _item0(o)["rdsSnapshot"]["latestFrom"], "snapshotType", "shared"),
     ["snapshotType"]),
    ("cluster-time-and-latest",
     lambda: example("restorerequest-003-1-aurora-point-in-time.yaml"),
     _set(lambda o: _item0(o)["rdsClusterPointInTime"], "useLatestRestorableTime", True),
     ["restoreToTime", "useLatestRestorableTime"]),
    ("bad-workload-kind", pitr,
     lambda o: o["spec"]["rollout"].append({"kind": "Pod", "name": "x"}), ["kind"]),
    ("bp-bad-cron", lambda: example("backuppolicy-002-offsite-copy.yaml"),
     _set(lambda o: o["spec"], "schedule", "every sunday"), ["schedule"]),
    ("bp-six-field-cron", lambda: example("backuppolicy-002-offsite-copy.yaml"),
     _set(lambda o: o["spec"], "schedule", "0 0 4 * * 0"), ["schedule"]),
    ("bp-target-two-kinds", lambda: example("backuppolicy-002-offsite-copy.yaml"),
     _set(lambda o: o["spec"]["targets"][0], "rdsSnapshot",
          {"dbInstanceIdentifier": "lomash-orders-prod"}), ["rdsSnapshot", "s3Copy"]),
    ("bp-keep-last-zero", lambda: example("backuppolicy-002-weekly-pg-dump.yaml"),
     _set(lambda o: o["spec"]["retention"], "keepLast", 0), ["keepLast"]),
    ("vr-two-target-kinds", lambda: example("verificationrun-003-validation-queries.yaml"),
     _set(lambda o: o["spec"]["target"], "rdsInstance",
          {"dbInstanceIdentifier": "loanserve-prod-aurora",
           "credentialsSecretRef": {"name": "x"}, "database": "loanserve"}),
     ["connectionSecretRef", "rdsInstance"]),
    ("vr-timeout-too-large", lambda: example("verificationrun-003-validation-queries.yaml"),
     _set(lambda o: o["spec"], "timeoutSeconds", 86401), ["timeoutSeconds"]),
]


def broken_manifest(case):
    name, base, mutate, _ = case
    o = copy.deepcopy(base())
    mutate(o)
    o["metadata"]["name"] = "broken-" + name
    return o


class CelMiniTests(unittest.TestCase):
    """The offline evaluator must be able to say no, or the offline layer proves nothing."""

    def test_exactly_one_counts_fields(self):
        rule = "[has(self.a), has(self.b), has(self.c)].filter(x, x).size() == 1"
        self.assertFalse(celmini.evaluate(rule, {}))
        self.assertTrue(celmini.evaluate(rule, {"b": 1}))
        self.assertFalse(celmini.evaluate(rule, {"a": 1, "c": 2}))

    def test_unique_names(self):
        rule = "self.all(x, self.exists_one(y, y.name == x.name))"
        self.assertTrue(celmini.evaluate(rule, [{"name": "a"}, {"name": "b"}]))
        self.assertFalse(celmini.evaluate(rule, [{"name": "a"}, {"name": "a"}]))

    def test_unset_field_without_has_is_an_error(self):
        with self.assertRaises(celmini.CelError):
            celmini.evaluate("self.a == 1", {})

    def test_outside_subset_does_not_parse(self):
        for src in ("self.a.matches('x')", "self.a ? 1 : 2", "int(self.a) > 1"):
            with self.assertRaises(celmini.CelError, msg=src):
                celmini.parse(src)


class OfflineCRDTests(unittest.TestCase):
    def setUp(self):
        self.crds = crdcheck.load_crds()

    def test_generated_files_are_up_to_date(self):
        p = subprocess.run([sys.executable, os.path.join(crdcheck.CRD_DIR, "generate.py"),
                            "--check"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_one_crd_per_kind_with_names(self):
        want = {"RestoreRequest": ("restorerequests", "rr"),
                "VerificationRun": ("verificationruns", "vr"),
                "BackupPolicy": ("backuppolicies", "bp")}
        self.assertEqual(sorted(self.crds), sorted(list(want) + ["RecoveryScope"]))
        scope = self.crds["RecoveryScope"]["spec"]
        self.assertEqual((scope["scope"], scope["names"]["plural"]), ("Cluster", "recoveryscopes"))
        for kind, (plural, short) in want.items():
            spec = self.crds[kind]["spec"]
            self.assertEqual(self.crds[kind]["apiVersion"], "apiextensions.k8s.io/v1")
            self.assertEqual(self.crds[kind]["metadata"]["name"], plural + ".lifeboat.dev")
            self.assertEqual(spec["group"], "lifeboat.dev")
            self.assertEqual(spec["scope"], "Namespaced")
            self.assertEqual(spec["names"]["plural"], plural)
            self.assertEqual(spec["names"]["shortNames"], [short])
            self.assertEqual(spec["names"]["categories"], ["lifeboat"])
            self.assertEqual(len(spec["versions"]), 1)
            v = spec["versions"][0]
            self.assertEqual((v["name"], v["served"], v["storage"]), ("v1alpha1", True, True))
            self.assertEqual(v["subresources"], {"status": {}})

    def test_printer_columns(self):
        def cols(kind):
            v = self.crds[kind]["spec"]["versions"][0]
            return [(c["name"], c["type"], c["jsonPath"]) for c in v["additionalPrinterColumns"]]
        self.assertEqual(cols("RestoreRequest"), [
            ("Phase", "string", ".status.phase"),
            ("Step", "string", ".status.currentStep"),
            ("Approved", "string", '.status.conditions[?(@.type=="Approved")].status'),
            ("Age", "date", ".metadata.creationTimestamp"),
            ("Duration", "integer", ".status.durationSeconds")])
        self.assertEqual(cols("VerificationRun"), [
            ("Phase", "string", ".status.phase"), ("Passed", "string", ".status.summary"),
            ("Age", "date", ".metadata.creationTimestamp")])
        self.assertEqual(cols("BackupPolicy"), [
            ("Schedule", "string", ".spec.schedule"),
            ("Last Backup", "date", ".status.lastSuccessfulTime"),
            ("Stale", "string", '.status.conditions[?(@.type=="BackupStale")].status'),
            ("Age", "date", ".metadata.creationTimestamp")])

    def test_schemas_are_structural_bounded_and_rules_parse(self):
        for kind, crd in self.crds.items():
            probs = crdcheck.structural_problems(crdcheck.schema_of(crd))
            self.assertEqual(probs, [], kind)

    def test_every_design_field_is_declared(self):
        """Field names of DESIGN.md section 3 (spec and status) are all in the schemas."""
        def props(kind, *path):
            node = crdcheck.schema_of(self.crds[kind])
            for p in path:
                node = node["items"] if p == "[]" else node["properties"][p]
            return set(node["properties"])
        rr_item = props("RestoreRequest", "spec", "items", "[]")
        self.assertLessEqual({"name", "dependsOn", "rdsPointInTime", "rdsSnapshot", "rdsInPlace",
                              "rdsClusterPointInTime", "pgDump", "redisRDB", "s3Objects",
                              "s3Sync", "secretVersion", "credentialsSecretRef", "database",
                              "verify", "migrations", "promote", "secretPatches", "cleanup"},
                             rr_item)
        self.assertLessEqual({"dryRun", "approval", "rollbackOnFailure", "items", "rollout",
                              "verification"}, props("RestoreRequest", "spec"))
        self.assertLessEqual({"phase", "currentStep", "plan", "steps", "approval", "outputs",
                              "startedAt", "completedAt", "durationSeconds", "conditions",
                              "observedGeneration"}, props("RestoreRequest", "status"))
        self.assertLessEqual({"sourceDBInstanceIdentifier", "restoreTime",
                              "useLatestRestorableTime", "targetDBInstanceIdentifier",
                              "dbInstanceClass", "dbSubnetGroupName", "vpcSecurityGroupIds",
                              "publiclyAccessible", "region"},
                             props("RestoreRequest", "spec", "items", "[]", "rdsPointInTime"))
        self.assertLessEqual({"source", "manifest", "decryption", "target", "recreateDatabase",
                              "tables", "jobs", "scaleDown"},
                             props("RestoreRequest", "spec", "items", "[]", "pgDump"))
        self.assertLessEqual({"bucket", "keys", "prefix", "mode", "pointInTime", "versionId"},
                             props("RestoreRequest", "spec", "items", "[]", "s3Objects"))
        self.assertLessEqual({"sourceBucket", "sourceRegion", "targetBucket", "targetRegion",
                              "prefix", "deleteExtraneous"},
                             props("RestoreRequest", "spec", "items", "[]", "s3Sync"))
        self.assertLessEqual({"target", "scratchRestore", "checks", "rpo", "report",
                              "timeoutSeconds", "ttlSecondsAfterFinished"},
                             props("VerificationRun", "spec"))
        self.assertLessEqual({"phase", "results", "summary", "scratch", "measured",
                              "reportLocation", "startedAt", "finishedAt", "conditions"},
                             props("VerificationRun", "status"))
        self.assertLessEqual({"schedule", "timeZone", "suspend", "targets", "retention",
                              "staleAfter", "audit", "verification"},
                             props("BackupPolicy", "spec"))
        self.assertLessEqual({"lastScheduleTime", "nextScheduleTime", "lastSuccessfulTime",
                              "targets", "history", "conditions"},
                             props("BackupPolicy", "status"))

    def test_phase_enums(self):
        rr = crdcheck.schema_of(self.crds["RestoreRequest"])["properties"]["status"]
        self.assertEqual(rr["properties"]["phase"]["enum"], [
            "Pending", "Planned", "AwaitingApproval", "Running", "Verifying", "Succeeded",
            "Failed", "RolledBack"])
        vr = crdcheck.schema_of(self.crds["VerificationRun"])["properties"]["status"]
        self.assertEqual(vr["properties"]["phase"]["enum"],
                         ["Pending", "Restoring", "Running", "Passed", "Failed"])
        cond = rr["properties"]["conditions"]["items"]["properties"]
        self.assertEqual(cond["status"]["enum"], ["True", "False", "Unknown"])
        self.assertEqual(cond["lastTransitionTime"]["format"], "date-time")


class OfflineExampleTests(unittest.TestCase):
    def setUp(self):
        self.crds = crdcheck.load_crds()

    def test_every_example_validates(self):
        files = crdcheck.example_files()
        self.assertGreaterEqual(len(files), 20)
        for path in files:
            for doc in crdcheck.load_yaml_docs(path):
                with self.subTest(example=os.path.basename(path), name=doc["metadata"]["name"]):
                    self.assertEqual(doc["apiVersion"], "lifeboat.dev/v1alpha1")
                    if doc["kind"] != "RecoveryScope":   # cluster-scoped
                        self.assertEqual(doc["metadata"]["namespace"], "shop")
                    self.assertEqual(crdcheck.validate(doc, self.crds[doc["kind"]]), [])

    def test_every_example_names_its_runbook_and_is_in_the_readme(self):
        with open(os.path.join(crdcheck.EXAMPLES_DIR, "README.md")) as f:
            readme = f.read()
        for path in crdcheck.example_files():
            with open(path) as f:
                first = f.readline()
            base = os.path.basename(path)
            self.assertRegex(first, r"^# .*(Runbook 00[0-4]|runbook 00[0-4])", base)
            self.assertIn(base, readme)

    def test_every_source_check_and_target_kind_has_an_example(self):
        seen = set()
        for path in crdcheck.example_files():
            for doc in crdcheck.load_yaml_docs(path):
                spec = doc["spec"]
                for item in spec.get("items", []):
                    seen.update(k for k in item if k in crdcheck_sources())
                checks = list(spec.get("checks", [])) + list(
                    spec.get("verification", {}).get("checks", []))
                checks += spec.get("verification", {}).get("template", {}).get("checks", [])
                for c in checks:
                    seen.update(k for k in c if k != "name")
                for t in spec.get("targets", []):
                    seen.update(k for k in t if k != "name")
                if spec.get("dryRun"):
                    seen.add("dryRun")
                if "scratchRestore" in spec or "scratchRestore" in spec.get(
                        "verification", {}).get("template", {}):
                    seen.add("scratchRestore")
        want = set(crdcheck_sources()) | {"sql", "http", "redis", "s3Compare", "workload",
                                          "rdsSnapshot", "pgDump", "redisRDB", "s3Copy",
                                          "dryRun", "scratchRestore"}
        self.assertEqual(want - seen, set())

    def test_broken_manifests_are_refused_naming_the_field(self):
        for case in BROKEN:
            name, _, _, words = case
            with self.subTest(case=name):
                doc = broken_manifest(case)
                errs = crdcheck.validate(doc, self.crds[doc["kind"]])
                self.assertNotEqual(errs, [], "accepted: %s" % name)
                text = "\n".join(errs)
                self.assertNotIn("rule error", text)
                for w in words:
                    self.assertIn(w, text)


def crdcheck_sources():
    return ["rdsPointInTime", "rdsSnapshot", "rdsInPlace", "rdsClusterPointInTime", "pgDump",
            "redisRDB", "s3Objects", "s3Sync", "secretVersion"]


class DeployTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        p = subprocess.run([KUBECTL, "kustomize", crdcheck.DEPLOY_DIR], capture_output=True,
                           text=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError("kubectl kustomize deploy/ failed: %s" % p.stderr)
        cls.docs = [d for d in yaml.safe_load_all(p.stdout) if d]
        cls.by_kind = {}
        for d in cls.docs:
            cls.by_kind.setdefault(d["kind"], []).append(d)

    def test_renders_every_part(self):
        kinds = sorted(self.by_kind)
        for k in ("Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole",
                  "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service"):
            self.assertIn(k, kinds)
        self.assertEqual(sorted(c["metadata"]["name"] for c in
                                self.by_kind["CustomResourceDefinition"]), sorted(CRD_NAMES))
        for d in self.docs:
            if d["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole",
                                 "ClusterRoleBinding", "ValidatingAdmissionPolicy",
                                 "ValidatingAdmissionPolicyBinding"):
                self.assertEqual(d["metadata"]["namespace"], "lifeboat-system", d["kind"])

    def test_cluster_role_grants_what_the_operator_needs(self):
        rules = [c for c in self.by_kind["ClusterRole"]
                 if c["metadata"]["name"] == "lifeboat-operator"][0]["rules"]

        def verbs(group, resource):
            out = set()
            for r in rules:
                if group in r["apiGroups"] and resource in r["resources"]:
                    out |= set(r["verbs"])
            return out
        for res in ("restorerequests", "verificationruns", "backuppolicies"):
            self.assertLessEqual({"get", "list", "watch"}, verbs("lifeboat.dev", res))
            # the status writer replaces /status (update) with the version it read
            self.assertIn("update", verbs("lifeboat.dev", res + "/status"))
        for res in ("restorerequests", "verificationruns"):   # finalizers and annotations
            self.assertIn("patch", verbs("lifeboat.dev", res))
        self.assertIn("create", verbs("lifeboat.dev", "verificationruns"))
        self.assertLessEqual({"get", "create", "patch"}, verbs("", "secrets"))
        self.assertNotIn("list", verbs("", "secrets"))  # never every Secret
        self.assertNotIn("watch", verbs("", "secrets"))
        self.assertIn("create", verbs("", "events"))
        self.assertLessEqual({"get", "create"}, verbs("batch", "jobs"))   # created once, polled
        self.assertEqual({"get"}, verbs("", "pods/log"))
        self.assertIn("create", verbs("", "pods/exec"))
        for res in ("deployments", "statefulsets"):
            self.assertLessEqual({"get", "patch"}, verbs("apps", res))   # restarts are polled
        # one Namespace by name, for a RecoveryScope's namespaceSelector; never listed
        self.assertEqual({"get"}, verbs("", "namespaces"))
        self.assertEqual({"create"}, verbs("authorization.k8s.io", "localsubjectaccessreviews"))
        self.assertEqual(verbs("coordination.k8s.io", "leases"), set())  # namespaced Role
        for r in rules:
            self.assertNotIn("*", r["verbs"])
            self.assertNotIn("*", r["resources"])
        role = self.by_kind["Role"][0]
        self.assertEqual(role["rules"][0]["resources"], ["leases"])
        self.assertEqual(role["rules"][0]["apiGroups"], ["coordination.k8s.io"])
        for kind in ("ClusterRoleBinding", "RoleBinding"):
            subj = self.by_kind[kind][0]["subjects"][0]
            self.assertEqual((subj["kind"], subj["name"], subj["namespace"]),
                             ("ServiceAccount", "lifeboat-operator", "lifeboat-system"))

    def test_deployment(self):
        dep = self.by_kind["Deployment"][0]
        self.assertEqual(dep["spec"]["replicas"], 2)
        pod = dep["spec"]["template"]["spec"]
        self.assertEqual(pod["serviceAccountName"], "lifeboat-operator")
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        c = pod["containers"][0]
        self.assertIn("--leader-elect", c["args"])
        self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"])
        self.assertFalse(c["securityContext"]["allowPrivilegeEscalation"])
        self.assertEqual(c["securityContext"]["capabilities"]["drop"], ["ALL"])
        self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")

        def mib(q):
            units = {"Mi": 1, "Gi": 1024}
            return int(q[:-2]) * units[q[-2:]]
        # DESIGN.md section 7: <= 64 MiB with 10,000 resources cached.
        self.assertGreaterEqual(mib(c["resources"]["requests"]["memory"]), 64)
        self.assertLessEqual(mib(c["resources"]["limits"]["memory"]), 256)
        self.assertIn("cpu", c["resources"]["requests"])
        self.assertNotIn(":latest", c["image"])
        svc = self.by_kind["Service"][0]
        self.assertEqual(svc["spec"]["selector"],
                         dep["spec"]["selector"]["matchLabels"])
        self.assertIn("metrics", [p["name"] for p in svc["spec"]["ports"]])


def _kubeconfig():
    path = os.environ.get("KUBECONFIG")
    if not path:
        raise AssertionError("KUBECONFIG is not set: run e2e/env.sh up and source "
                             "e2e/.run/env.sh (kubesim)")
    return path


class KubesimCRDTests(unittest.TestCase):
    """Against the API emulator, through the real kubectl."""

    @classmethod
    def setUpClass(cls):
        cls.cache = tempfile.mkdtemp(prefix="crds-kubectl-cache-")
        cls.ns = "crds-test-" + uuid.uuid4().hex[:8]
        cls.created_shop = False
        cls.kubectl("apply", "-f", crdcheck.CRD_DIR)
        cls.kubectl("wait", "--for=condition=Established", "--timeout=30s",
                    *["crd/" + n for n in CRD_NAMES])
        if cls.kubectl("get", "namespace", "shop", check=False).returncode != 0:
            cls.kubectl("create", "namespace", "shop")
            cls.created_shop = True
        cls.kubectl("create", "namespace", cls.ns)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.kubectl("delete", "namespace", cls.ns, "--wait=false", check=False)
            if cls.created_shop:
                cls.kubectl("delete", "namespace", "shop", "--wait=false", check=False)
        finally:
            shutil.rmtree(cls.cache, True)

    @classmethod
    def kubectl(cls, *args, input=None, check=True, timeout=60):
        cmd = [KUBECTL, "--kubeconfig", _kubeconfig(), "--cache-dir", cls.cache] + list(args)
        p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("kubectl %s failed rc=%d\nstdout: %s\nstderr: %s"
                                 % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def test_crds_are_established_with_short_names(self):
        for n in CRD_NAMES:
            crd = json.loads(self.kubectl("get", "crd", n, "-o", "json").stdout)
            conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
            self.assertEqual(conds.get("Established"), "True", n)
        out = self.kubectl("api-resources", "--api-group=lifeboat.dev", "-o", "wide").stdout
        for short, kind in (("rr", "RestoreRequest"), ("vr", "VerificationRun"),
                            ("bp", "BackupPolicy")):
            line = next((ln for ln in out.splitlines() if kind in ln), "")
            self.assertIn(short, line.split(), out)
            self.assertIn("lifeboat", line, out)

    def test_every_example_is_accepted_by_server_dry_run(self):
        for path in crdcheck.example_files():
            with self.subTest(example=os.path.basename(path)):
                p = self.kubectl("apply", "--dry-run=server", "-f", path, check=False)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn("(server dry run)", p.stdout)

    def test_broken_manifests_are_refused_naming_the_field(self):
        for case in BROKEN:
            name, _, _, words = case
            with self.subTest(case=name):
                doc = broken_manifest(case)
                p = self.kubectl("apply", "--dry-run=server", "-f", "-",
                                 input=yaml.safe_dump(doc), check=False)
                self.assertNotEqual(p.returncode, 0, "accepted: %s\n%s" % (name, p.stdout))
                for w in words:
                    self.assertIn(w, p.stderr)

    def test_unknown_field_is_a_strict_decoding_error(self):
        doc = broken_manifest(next(c for c in BROKEN if c[0] == "unknown-field"))
        p = self.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(doc),
                         check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('unknown field "spec.items[0].rdsPointInTime.restoreTimestamp"', p.stderr)

    def _apply_in_test_ns(self, fname):
        doc = copy.deepcopy(example(fname))
        doc["metadata"]["namespace"] = self.ns
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
        return doc

    def _table(self, resource):
        """kubectl get's table as (column names, rows of cells); cells are cut at the
        header's column offsets, so empty cells and cells with spaces stay one cell."""
        out = self.kubectl("get", resource, "-n", self.ns).stdout.splitlines()
        starts = [m.start() for m in re.finditer(r"(?:^|(?<=\s\s))\S", out[0])]
        bounds = list(zip(starts, starts[1:] + [None]))
        header = [out[0][a:b].strip() for a, b in bounds]
        return header, [[ln[a:b].strip() for a, b in bounds] for ln in out[1:]]

    def test_get_rr_shows_printer_columns(self):
        doc = self._apply_in_test_ns("restorerequest-dry-run.yaml")
        name = doc["metadata"]["name"]
        status = {"status": {
            "phase": "AwaitingApproval", "currentStep": "orders-db/approval",
            "durationSeconds": 42,
            "conditions": [{"type": "Approved", "status": "False", "reason": "Waiting",
                            "message": "waiting for lifeboat.dev/approve",
                            "lastTransitionTime": "2026-02-18T15:00:00Z"}]}}
        self.kubectl("patch", "rr", name, "-n", self.ns, "--subresource=status",
                     "--type=merge", "-p", json.dumps(status))
        header, rows = self._table("rr")
        self.assertEqual(header, ["NAME", "PHASE", "STEP", "APPROVED", "AGE", "DURATION"])
        row = next(r for r in rows if r[0] == name)
        self.assertEqual(row[1:4], ["AwaitingApproval", "orders-db/approval", "False"])
        self.assertRegex(row[4], r"^[0-9]+[smhd]")
        self.assertEqual(row[5], "42")

    def test_get_vr_and_bp_show_printer_columns(self):
        vr = self._apply_in_test_ns("verificationrun-003-validation-queries.yaml")
        self.kubectl("patch", "vr", vr["metadata"]["name"], "-n", self.ns,
                     "--subresource=status", "--type=merge",
                     "-p", json.dumps({"status": {"phase": "Passed", "summary": "6/6"}}))
        header, rows = self._table("vr")
        self.assertEqual(header, ["NAME", "PHASE", "PASSED", "AGE"])
        self.assertEqual(next(r for r in rows if r[0] == vr["metadata"]["name"])[1:3],
                         ["Passed", "6/6"])
        bp = self._apply_in_test_ns("backuppolicy-002-offsite-copy.yaml")
        self.kubectl("patch", "bp", bp["metadata"]["name"], "-n", self.ns,
                     "--subresource=status", "--type=merge", "-p", json.dumps({"status": {
                         "conditions": [{"type": "BackupStale", "status": "True",
                                         "reason": "TooOld", "message": "older than 8d",
                                         "lastTransitionTime": "2026-02-18T15:00:00Z"}]}}))
        header, rows = self._table("bp")
        self.assertEqual(header, ["NAME", "SCHEDULE", "LAST BACKUP", "STALE", "AGE"])
        row = next(r for r in rows if r[0] == bp["metadata"]["name"])
        # No successful backup yet: LAST BACKUP is empty.
        self.assertEqual(row[1:4], ["0 4 * * 0", "", "True"])

    def test_defaults_are_applied(self):
        doc = copy.deepcopy(example("restorerequest-000-3a-s3-undelete.yaml"))
        doc["metadata"]["name"] = "defaults"
        doc["metadata"]["namespace"] = self.ns
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
        got = json.loads(self.kubectl("get", "rr", "defaults", "-n", self.ns,
                                      "-o", "json").stdout)["spec"]
        self.assertEqual(got["approval"], {"required": True})
        self.assertIs(got["rollbackOnFailure"], True)
        self.assertIs(got["dryRun"], False)
        self.assertEqual(got["items"][0]["promote"], "none")

    def test_category_lists_all_three_kinds(self):
        self._apply_in_test_ns("restorerequest-000-3a-s3-undelete.yaml")
        out = self.kubectl("get", "lifeboat", "-n", self.ns, "-o", "name").stdout
        self.assertIn("restorerequest.lifeboat.dev/media-undelete", out)

    def test_status_is_a_subresource(self):
        doc = self._apply_in_test_ns("restorerequest-000-4a-secret-rollback.yaml")
        name = doc["metadata"]["name"]
        # A write to the object ignores status ...
        self.kubectl("patch", "rr", name, "-n", self.ns, "--type=merge",
                     "-p", json.dumps({"status": {"phase": "Succeeded"}}))
        got = json.loads(self.kubectl("get", "rr", name, "-n", self.ns, "-o", "json").stdout)
        self.assertNotEqual(got.get("status", {}).get("phase"), "Succeeded")
        # ... and a status write with a phase outside the enum is refused.
        p = self.kubectl("patch", "rr", name, "-n", self.ns, "--subresource=status",
                         "--type=merge", "-p", json.dumps({"status": {"phase": "Done"}}),
                         check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("phase", p.stderr)


if __name__ == "__main__":
    unittest.main()

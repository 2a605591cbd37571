"""`job` items through the operator (runbook 004 Procedure 2 and anything Lifeboat does
not model): the request supplies a Job template; it runs at its place in the plan (after
the approval unless marked destructive: false), is waited for, and its failure fails the
step with its log tail and rolls the cutover back as any cutover step does.

- runbook 004 P2's shape: a script from the ConfigMap mykadoo-backup-scripts, with the
  runbook's env (envFrom the Secrets mykadoo-db-credentials and mykadoo-backup-secrets,
  SKIP_CONFIRMATION, TARGET_TIME), runs only after the approval and writes its row into a
  real PostgreSQL database; a `destructive: false` pre-check Job runs before the
  approval; restricted securityContext defaults are on the Job;
- a failing Job after a secretVersion item: the step fails with the script's last log
  lines, the Secret and Secrets Manager are rolled back, the item after it never runs;
  the phase is Failed (a failed destructive Job has no undo), naming the Job's step.
"""
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "restore", "tests"))  # the restore helpers
from scenario import ScenarioCase, b64, secret_value, step_of  # noqa: E402
from test_restore_secrets import cli_versions, sm  # noqa: E402
import kube  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "agent", "tests"))
from agentlib import PgCluster  # noqa: E402

BACKUP_KEY = "mykadoo-backup-encryption-key-42"

# The runbook's restore script, reduced to what can be observed: it refuses to run
# without SKIP_CONFIRMATION, then records what it was asked to do in the database.
PITR_SCRIPT = r"""#!/bin/sh
set -eu
[ "${SKIP_CONFIRMATION:-}" = "true" ] || { echo "refusing: SKIP_CONFIRMATION not set"; exit 2; }
TARGET_TIME="$2"
echo "PITR restore to $TARGET_TIME starting"
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -Xqc "INSERT INTO restore_log (step, target_time, key_len, job) VALUES ('pitr', '$TARGET_TIME', length('$BACKUP_ENCRYPTION_KEY'), '${JOB_TAG:-}')"
echo "PITR restore done"
"""
PRECHECK_SCRIPT = r"""#!/bin/sh
set -eu
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -Xqc "INSERT INTO restore_log (step, job) VALUES ('precheck', '${JOB_TAG:-}')"
"""
FAILING_SCRIPT = r"""#!/bin/sh
echo "restoring base backup from s3://mykadoo-production-backups/wal/production/"
echo "pg_basebackup: error: could not connect to server: Connection refused (marker-7f3a)"
exit 3
"""


def job_template(script, args=(), tag="", destructive=None):
    """A Job template as the runbook's kubectl apply writes it, for the request."""
    c = {"name": "restore", "image": "postgres:16-alpine",
         "command": ["/scripts/" + script] + list(args),
         "env": [{"name": "SKIP_CONFIRMATION", "value": "true"},
                 {"name": "JOB_TAG", "value": tag}],
         "envFrom": [{"secretRef": {"name": "mykadoo-db-credentials"}},
                     {"secretRef": {"name": "mykadoo-backup-secrets"}}],
         "volumeMounts": [{"name": "scripts", "mountPath": "/scripts"}]}
    out = {"template": {"metadata": {"labels": {"runbook": "004-p2"}},
                        "spec": {"template": {"spec": {
                            "restartPolicy": "Never", "containers": [c],
                            "volumes": [{"name": "scripts", "configMap": {
                                "name": "mykadoo-backup-scripts", "defaultMode": 0o755}}]}}}}}
    if destructive is not None:
        out["destructive"] = destructive
    return out


class JobItemTest(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.secrets = []
        cls.pg = PgCluster()
        cls.pg.start()
        cls.pg.createdb("mykadoo")
        cls.pg.script("CREATE TABLE restore_log (id serial PRIMARY KEY, step text, "
                      "target_time text, key_len int, job text); "
                      "GRANT ALL ON restore_log, restore_log_id_seq TO app;", "mykadoo")
        kube.kubectl("apply", "-f", "-", input=[
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "mykadoo-db-credentials", "namespace": cls.ns},
             "data": {"DATABASE_URL": b64(cls.pg.url("mykadoo"))}},
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "mykadoo-backup-secrets", "namespace": cls.ns},
             "data": {"BACKUP_ENCRYPTION_KEY": b64(BACKUP_KEY)}},
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "mykadoo-backup-scripts", "namespace": cls.ns},
             "data": {"postgresql-pitr-restore.sh": PITR_SCRIPT,
                      "precheck.sh": PRECHECK_SCRIPT,
                      "failing-restore.sh": FAILING_SCRIPT}},
        ])

    @classmethod
    def tearDownClass(cls):
        for s in getattr(cls, "secrets", []):
            try:
                sm().delete_secret(SecretId=s, ForceDeleteWithoutRecovery=True)
            except Exception:  # noqa: BLE001
                pass
        super().tearDownClass()
        if getattr(cls, "pg", None):
            cls.pg.destroy()

    def rows(self, tag):
        return self.pg.psql("SELECT step || ':' || coalesce(target_time, '') || ':' || "
                            "coalesce(key_len::text, '') FROM restore_log WHERE job = '%s' "
                            "ORDER BY id" % tag, "mykadoo").splitlines()

    def test_runbook_004_p2_job_runs_after_approval(self):
        tag = "p2-" + uuid.uuid4().hex[:6]
        target = "2024-01-15 10:30:00"
        self.apply_rr(self.rr_manifest("pitr-job", [
            {"name": "precheck", "job": job_template("precheck.sh", tag=tag,
                                                     destructive=False)},
            {"name": "pitr", "job": job_template("postgresql-pitr-restore.sh",
                                                 ["--target-time", target], tag=tag)},
        ]))
        obj = self.wait_phase("pitr-job", "AwaitingApproval")
        plan = {p["name"]: p for p in obj["status"]["plan"]}
        self.assertFalse(plan["precheck/run"]["destructive"])
        self.assertTrue(plan["pitr/run"]["destructive"])
        self.assertIn("postgres:16-alpine", step_of(obj, "pitr/validate")["message"])
        # Only the non-destructive pre-check ran before the approval.
        self.assertEqual(self.rows(tag), ["precheck::"])
        jobs = [j["metadata"]["name"] for j in
                kube.kubectl_json("get", "jobs", "-n", self.ns)["items"]]
        self.assertNotIn("lb-pitr-job-pitr-run", jobs)

        self.approve("pitr-job")
        obj = self.wait_phase("pitr-job", "Succeeded", timeout=180)
        self.assertEqual(self.rows(tag), ["precheck::", "pitr:%s:%d" % (target, len(BACKUP_KEY))])
        self.assertIn("completed", step_of(obj, "pitr/run")["message"])
        job = kube.kubectl_json("get", "job", "lb-pitr-job-pitr-run", "-n", self.ns)
        self.assertEqual(job["metadata"]["labels"]["runbook"], "004-p2")
        self.assertEqual(job["metadata"]["ownerReferences"][0]["uid"], obj["metadata"]["uid"])
        pod = job["spec"]["template"]["spec"]
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
        sc = pod["containers"][0]["securityContext"]
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertEqual(job["spec"]["backoffLimit"], 0)
        # The backup key stayed in its Secret.
        self.assertNotIn(BACKUP_KEY, json.dumps(job))

    def test_failing_job_rolls_back_and_stops_the_items_after_it(self):
        tag = "fail-" + uuid.uuid4().hex[:6]
        sid = "mykadoo/api-key-%s" % uuid.uuid4().hex[:8]
        good, bad = "good-" + uuid.uuid4().hex, "bad-" + uuid.uuid4().hex
        c = sm()
        good_v = c.create_secret(Name=sid, SecretString=good)["VersionId"]
        type(self).secrets.append(sid)
        bad_v = c.put_secret_value(SecretId=sid, SecretString=bad)["VersionId"]
        kube.kubectl("apply", "-f", "-", input=[
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "mykadoo-api-key", "namespace": self.ns},
             "data": {"API_KEY": b64(bad)}}])
        self.apply_rr(self.rr_manifest("fail-job", [
            {"name": "api-key", "secretVersion": {"secretId": sid},
             "secretPatches": [{"secretName": "mykadoo-api-key", "key": "API_KEY"}]},
            {"name": "pitr", "job": job_template("failing-restore.sh", tag=tag)},
            {"name": "after", "job": job_template("postgresql-pitr-restore.sh",
                                                  ["--target-time", "x"], tag=tag)},
        ], approval=False))
        # A failed destructive Job may have changed something and has no undo, so the
        # engine rolls back everything before it and ends Failed (not RolledBack),
        # naming the step it could not undo.
        obj = self.wait_phase("fail-job", "Failed", timeout=180)
        self.assertIn("pitr/run cannot be undone", obj["status"].get("message", "") or
                      json.dumps(obj["status"]["conditions"]))
        for undone in ("api-key/patch-secrets", "api-key/make-current"):
            self.assertEqual(step_of(obj, "rollback/" + undone)["phase"], "Succeeded",
                             self.describe_rr(obj))
        run = step_of(obj, "pitr/run")
        self.assertEqual(run["phase"], "Failed", self.describe_rr(obj))
        self.assertIn("last log lines", run["message"])
        self.assertIn("Connection refused (marker-7f3a)", run["message"])
        # The item after it never ran: no Job, no row.
        self.assertEqual(step_of(obj, "after/run")["phase"], "Pending")
        jobs = [j["metadata"]["name"] for j in
                kube.kubectl_json("get", "jobs", "-n", self.ns)["items"]]
        self.assertNotIn("lb-fail-job-after-run", jobs)
        self.assertEqual(self.rows(tag), [])
        # The cutover before it was rolled back: Secrets Manager and the Secret.
        vers = cli_versions(sid)
        self.assertEqual(vers[bad_v], ["AWSCURRENT"])
        self.assertEqual(vers[good_v], ["AWSPREVIOUS"])
        self.assertEqual(secret_value(self.ns, "mykadoo-api-key", "API_KEY"), bad)
        self.assertNotIn(good, json.dumps(obj))

    def test_template_without_image_is_invalid(self):
        t = job_template("precheck.sh")
        del t["template"]["spec"]["template"]["spec"]["containers"][0]["image"]
        self.apply_rr(self.rr_manifest("bad-job", [{"name": "j", "job": t}]))
        obj = self.wait_phase("bad-job", "Failed")
        valid = [x for x in obj["status"]["conditions"] if x["type"] == "Valid"][0]
        self.assertEqual((valid["status"], valid["reason"]), ("False", "InvalidSpec"))
        self.assertIn("spec.items[0].job.template.spec.template.spec.containers[0].image",
                      valid["message"])

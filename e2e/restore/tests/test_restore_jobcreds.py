"""pgDump restore Jobs under a RecoveryScope that names an AWS role (DESIGN.md 3.4,
restore/jobcreds.h): each Job's agent signs with a session of that role the operator
minted for it (Secret <job>-aws, mounted), never with lifeboat-agent-aws; and the faults
of that side effect (TESTENV / DESIGN section 5): kill -9 of the operator right after the
Secret is written and before the Job exists, and an AssumeRole answered 500 after AWS
applied it.

The request records the scope's role at its start (status.scope.roleArn), so the tests
patch the shared single-team scope only until the request has started.
"""
import json
import os
import signal
import subprocess
import sys
import time

import boto3

from scenario import kube, unb64
from awssim_control import applied, control, request_log
import test_restore_crash
import test_restore_pgdump

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "agent", "tests"))
from agentlib import put, seed_shop  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/lifeboat-pgdump-job"
ACCOUNT = "123456789012"


class SecretAddedKiller(test_restore_crash.Killer):
    """Watches Secret NAME in NS; on its ADDED event stops the operator at once (SIGSTOP,
    so it cannot go on while the test looks), records whether Job JOB already existed and
    the Secret's key, and kill -9s it (once)."""

    def __init__(self, operator, ns, name, job, rv):
        super().__init__(operator, ns, name, rv, max_kills=1)
        self.job, self.killed, self.job_existed, self.first_key = job, False, None, None

    def watch_path(self):
        return ("/api/v1/namespaces/%s/secrets?watch=true&fieldSelector=metadata.name%%3D%s"
                % (self.ns, self.name))

    def handle(self, obj):
        if self.killed:
            return
        proc = self.operator.proc
        os.kill(proc.pid, signal.SIGSTOP)
        self.first_key = unb64(obj["data"]["AWS_ACCESS_KEY_ID"])
        jobs = kube.kubectl_json("get", "jobs", "-n", self.ns)["items"]
        self.job_existed = any(j["metadata"]["name"] == self.job for j in jobs)
        os.kill(proc.pid, signal.SIGKILL)
        self._halt.set()   # the watch thread closes its connection itself (no more events)
        self.killed = True


class PgDumpScopedJobsTest(test_restore_pgdump.PgDumpRestoreTest):
    """pgDump's download and load Jobs under a scope role."""

    test_runbook_000_1c_custom_dump_after_approval = None
    test_runbook_003_off_by_one_manifest_stops_before_the_drop = None
    test_runbook_004_p1_encrypted_with_scale_down = None
    test_restore_into_a_new_database_needs_no_approval = None

    def tearDown(self):
        control("DELETE")
        self.scope_role(None)
        super().tearDown()

    def scope_role(self, role):
        kube.kubectl("patch", "recoveryscope", "single-team", "--type", "merge",
                     "-p", json.dumps({"spec": {"aws": {"roleArn": role}}}))

    def start_scoped(self, name, item):
        """Applies the request under ROLE and takes the role off the scope once the
        request has recorded it."""
        self.scope_role(ROLE)
        try:
            self.apply_rr(self.rr_manifest(name, [item]))
            kube.wait_for(lambda: (kube.kubectl_json("get", "rr", name, "-n", self.ns)
                                   .get("status", {}).get("scope", {}).get("roleArn")),
                          timeout=60, message="status.scope.roleArn of " + name)
        finally:
            self.scope_role(None)

    def copy_item(self, db, rows):
        """A dump of db (rows orders) loaded into the new database <db>_copy: no approval."""
        seed_shop(self.pg, db, orders=rows)
        counts = self.pg.counts(db)
        key = "scoped/%s.dump" % db
        put(self.bucket, key, self.pg.dump(db, "-Fc"))
        self.db_secret(db + "-target", db + "_copy")
        item = self.item("copy", key, db + "-target", manifest="none")
        item["pgDump"]["target"]["createDatabase"] = True
        return item, key, counts

    def session_of(self, job):
        sec = kube.kubectl_json("get", "secret", job + "-aws", "-n", self.ns)
        return sec, {k: unb64(v) for k, v in sec["data"].items()}

    def caller(self, session):
        return boto3.client(
            "sts", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
            region_name=os.environ.get("AWS_REGION", "us-east-1"),
            aws_access_key_id=session["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=session["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=session["AWS_SESSION_TOKEN"]).get_caller_identity()

    def sess_name(self, job):
        return ("lb-%s-%s" % (self.ns, job))[:64]

    def assumes(self, since, job):
        return [e for e in request_log() if e.get("ts", 0) >= since
                and e.get("action") == "AssumeRole"
                and (e.get("params") or {}).get("RoleSessionName") == self.sess_name(job)]

    def test_download_and_load_jobs_sign_with_sessions_of_the_scope_role(self):
        item, key, counts = self.copy_item("scoped", 300)
        self.pg.script("DELETE FROM orders WHERE id > 10", "scoped")
        name, since, mine = "scoped-rr", time.time(), os.environ["AWS_ACCESS_KEY_ID"]
        self.start_scoped(name, item)
        obj = self.wait_phase(name, "Succeeded", timeout=240)
        self.assertEqual(obj["status"]["scope"]["roleArn"], ROLE)
        # the rows are right: the dump's, in the new database
        self.assertEqual(self.pg.counts("scoped_copy"), counts)
        keys, secrets = {}, []
        for job in ("lb-%s-copy-download" % name, "lb-%s-copy-load" % name):
            spec = kube.kubectl_json("get", "job", job, "-n", self.ns)["spec"]["template"]["spec"]
            c = spec["containers"][0]
            self.assertNotIn("envFrom", c, "the Job must not read lifeboat-agent-aws")
            self.assertEqual([v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v],
                             [job + "-aws"])
            sec, session = self.session_of(job)
            self.assertEqual([(r["kind"], r["uid"]) for r in sec["metadata"]["ownerReferences"]],
                             [("RestoreRequest", obj["metadata"]["uid"])])
            self.assertNotEqual(session["AWS_ACCESS_KEY_ID"], mine)
            who = self.caller(session)
            self.assertEqual(who["Arn"], "arn:aws:sts::%s:assumed-role/%s/%s" % (
                ACCOUNT, ROLE.rsplit("/", 1)[1], self.sess_name(job)))
            a = self.assumes(since, job)
            self.assertEqual(len(a), 1, "one AssumeRole per Job with the default 1 h session")
            self.assertEqual((a[0]["params"].get("RoleArn"), a[0]["access_key"]), (ROLE, mine))
            keys[job] = session["AWS_ACCESS_KEY_ID"]
            secrets += [session["AWS_SECRET_ACCESS_KEY"], session["AWS_SESSION_TOKEN"]]
        # every read of the dump was the agents', each with its own Job's minted key
        gets = [e for e in request_log() if e.get("ts", 0) >= since and e.get("service") == "s3"
                and e.get("action") == "GetObject" and (e.get("params") or {}).get("Key") == key]
        self.assertTrue(gets)
        self.assertEqual({e["access_key"] for e in gets}, set(keys.values()))
        on_bucket = [e for e in request_log() if e.get("ts", 0) >= since
                     and e.get("service") == "s3"
                     and (e.get("params") or {}).get("Bucket") == self.bucket]
        self.assertNotIn(mine, {e["access_key"] for e in on_bucket},
                         "nothing on the bucket signed with lifeboat-agent-aws's key")
        # no value of either session in status, events or the operator's log
        text = (json.dumps(obj) + json.dumps(kube.kubectl_json("get", "events", "-n", self.ns))
                + self.operator.log_tail(10 ** 7))
        for v in secrets:
            self.assertNotIn(v, text)

    def hold_jobs(self, on):
        """A ValidatingAdmissionPolicy refusing every Job create in the namespace (on), or
        none (off); returns once the API server enforces the change (a server-side dry-run
        create is refused / admitted). It opens the window between the operator's Secret
        write and its Job create that a kill must land in: without it the Job is created
        within milliseconds, before a watch can even report the Secret."""
        pol = "lifeboat-e2e-hold-jobs-" + self.ns
        if on:
            kube.kubectl("apply", "-f", "-", input=[
                {"apiVersion": "admissionregistration.k8s.io/v1",
                 "kind": "ValidatingAdmissionPolicy", "metadata": {"name": pol},
                 "spec": {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": [
                     {"apiGroups": ["batch"], "apiVersions": ["v1"],
                      "operations": ["CREATE"], "resources": ["jobs"]}]},
                     "validations": [{"expression": "false",
                                      "message": "Job creation held by the test"}]}},
                {"apiVersion": "admissionregistration.k8s.io/v1",
                 "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": pol},
                 "spec": {"policyName": pol, "validationActions": ["Deny"],
                          "matchResources": {"namespaceSelector": {"matchLabels": {
                              "kubernetes.io/metadata.name": self.ns}}}}}])
        else:
            kube.kubectl("delete", "validatingadmissionpolicybinding", pol, "--ignore-not-found")
            kube.kubectl("delete", "validatingadmissionpolicy", pol, "--ignore-not-found")

        def enforced():
            r = subprocess.run(["kubectl", "create", "job", "hold-probe", "-n", self.ns,
                                "--image=x", "--dry-run=server", "--", "true"],
                               capture_output=True, text=True)
            return (r.returncode != 0 and "held by the test" in r.stderr) == on
        kube.wait_for(enforced, timeout=30, message="Job admission %s" % ("held" if on else
                                                                          "open"))

    def test_kill9_after_the_secret_before_the_job_replaces_it_once(self):
        """DESIGN section 5: the operator dies between writing <job>-aws and creating the
        Job (Job creates are refused meanwhile, so the state is exactly that: Secret, no
        Job; the kill lands on the Secret's ADDED event); the next operator finds no Job,
        assumes again and replaces that same Secret (one Secret, its key the new
        session's), creates one Job, and the data is right."""
        item, _, counts = self.copy_item("killsec", 200)
        name = "killsec-rr"
        job = "lb-%s-copy-download" % name
        since = time.time()
        rv = kube.kubectl_json("get", "secrets", "-n", self.ns)["metadata"]["resourceVersion"]
        killer = SecretAddedKiller(self.operator, self.ns, job + "-aws", job, rv)
        self.hold_jobs(True)
        try:
            killer.start()
            try:
                self.start_scoped(name, item)
                kube.wait_for(lambda: killer.killed, timeout=120,
                              message="Secret ADDED, kill -9")
            finally:
                killer.stop()
        finally:
            self.hold_jobs(False)
        self.operator.kill9()   # reaps the process the watcher killed
        self.assertFalse(killer.job_existed, "the kill must land before the Job exists")
        self.assertEqual(len(self.assumes(since, job)), 1)
        self.operator.start()
        obj = self.wait_phase(name, "Succeeded", timeout=240)
        self.assertEqual(self.pg.counts("killsec_copy"), counts)
        jobs = [j["metadata"]["name"] for j in kube.kubectl_json("get", "jobs", "-n", self.ns)
                ["items"] if j["metadata"]["name"].startswith("lb-%s-" % name)]
        self.assertEqual(sorted(jobs), sorted([job, "lb-%s-copy-load" % name]))
        secrets = [s["metadata"]["name"] for s in kube.kubectl_json(
            "get", "secrets", "-n", self.ns)["items"] if s["metadata"]["name"].startswith(job)]
        self.assertEqual(secrets, [job + "-aws"], "the same Secret, not a second one")
        _, session = self.session_of(job)
        self.assertNotEqual(session["AWS_ACCESS_KEY_ID"], killer.first_key,
                            "replaced with the new attempt's session")
        self.assertEqual(len(self.assumes(since, job)), 2)
        self.assertEqual(obj["status"]["scope"]["roleArn"], ROLE)

    def test_assume_role_500_after_apply_is_retried(self):
        """awssim applies the Job's AssumeRole and answers 500: the step retries, the
        session of the retry is the one the Job gets, two AssumeRoles are logged, and the
        request ends Succeeded with no failure in its status."""
        item, _, counts = self.copy_item("sts500", 100)
        name = "sts500-rr"
        job = "lb-%s-copy-download" % name
        since = time.time()
        control("POST", {"action": "AssumeRole", "mode": "apply-then-500", "times": 1,
                         "match": {"RoleSessionName": self.sess_name(job)}})
        self.start_scoped(name, item)
        obj = self.wait_phase(name, "Succeeded", timeout=240)
        self.assertEqual(self.pg.counts("sts500_copy"), counts)
        a = self.assumes(since, job)
        self.assertEqual([(e["status"], applied(e)) for e in a], [(500, True), (200, True)])
        for s in obj["status"]["steps"]:
            self.assertEqual(s["phase"], "Succeeded", s)
            self.assertNotIn("AssumeRole", s.get("message", ""))
        self.assertEqual(self.caller(self.session_of(job)[1])["Arn"].rsplit("/", 1)[1],
                         self.sess_name(job))

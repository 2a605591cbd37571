"""Runbook 000 Restore 4A (issue 14, part 3): a bad rotation of a Secrets Manager secret is
undone by a `secretVersion` item.

  - the previous version is made AWSCURRENT by moving the stage (the bad version stays,
    as AWSPREVIOUS), the Kubernetes Secret holds the restored value (one JSON field of it,
    jsonKey), the auth service (echo-env-app serving the Secret's key from its env) was
    restarted and serves it; an apply-then-500 on UpdateSecretVersionStage still ends with
    exactly one applied stage move (awssim's request log);
  - a failure later in the cutover (a rollout that never becomes ready) rolls both sides
    back: AWSCURRENT on the bad version again, the Secret holding the bad value again;
  - neither value appears in `kubectl get rr -o yaml`, the namespace's events or the
    operator's log.

Oracles: the aws CLI (secretsmanager list-secret-version-ids / get-secret-value), kubectl,
HTTP to the app, awssim's request log.
"""
import base64
import hashlib
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scenario import (  # noqa: E402
    APP, ScenarioCase, app_get, app_info, aws, b64, secret_value, step_of, suffix)
from awssim_control import applied, control, request_log  # noqa: E402
import kube  # noqa: E402

import boto3  # noqa: E402


def sm():
    return boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


def cli_versions(secret_id):
    """{versionId: [stages]} from the aws CLI."""
    out = aws("secretsmanager", "list-secret-version-ids", "--secret-id", secret_id,
              "--include-deprecated")
    return {v["VersionId"]: sorted(v.get("VersionStages", [])) for v in out["Versions"]}


def cli_current_value(secret_id):
    out = aws("secretsmanager", "get-secret-value", "--secret-id", secret_id,
              "--version-stage", "AWSCURRENT")
    return out["VersionId"], out["SecretString"]


def auth_manifest(ns, name, secret, key, ready_sha=None, progress_deadline=None):
    """An auth service: echo-env-app serving $key (from the Secret), ready on /health (or,
    with ready_sha, only while sha256($key) starts with it: a service that works with one
    key only, by an exec probe that never names the value)."""
    env = [{"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}},
           {"name": "ECHO_VAR", "value": key}]
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 1,
             "failureThreshold": 1, "timeoutSeconds": 5}
    if ready_sha:
        probe = {"exec": {"command": ["sh", "-c", 'test "$(printf %%s "$%s" | sha256sum | '
                                      'cut -c1-16)" = %s' % (key, ready_sha)]},
                 "periodSeconds": 1, "failureThreshold": 1, "timeoutSeconds": 5}
    spec = {
        "replicas": 1,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
            "name": "app", "image": "shop/%s:1.0" % name, "command": [APP],
            "ports": [{"containerPort": 8080, "name": "http"}], "env": env,
            "readinessProbe": probe}]}},
    }
    if progress_deadline:
        spec["progressDeadlineSeconds"] = progress_deadline
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": ns}, "spec": spec},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
         "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": "http"}]}},
    ]


class Restore4ASecretVersion(ScenarioCase):
    KEY = "JWT_SIGNING_KEY"

    @classmethod
    def scenario(cls):
        cls.secrets = []

    @classmethod
    def tearDownClass(cls):
        try:
            control("DELETE")
        except Exception:  # noqa: BLE001
            pass
        for s in getattr(cls, "secrets", []):
            try:
                sm().delete_secret(SecretId=s, ForceDeleteWithoutRecovery=True)
            except Exception:  # noqa: BLE001
                pass
        super().tearDownClass()

    def bad_rotation(self, tag):
        """A secret whose good version was rotated to a bad one; the Kubernetes Secret and
        the auth service already carry the bad value. Returns (secret id, good version,
        bad version, good key, bad key, k8s Secret name, service name)."""
        sid = "shop/auth-jwt-%s-%s" % (tag, suffix())
        good_key = "good-%s" % uuid.uuid4().hex
        bad_key = "bad-%s" % uuid.uuid4().hex
        c = sm()
        good = c.create_secret(Name=sid, SecretString=json.dumps(
            {"signingKey": good_key, "issuer": "shop"}))["VersionId"]
        type(self).secrets.append(sid)
        bad = c.put_secret_value(SecretId=sid, SecretString=json.dumps(
            {"signingKey": bad_key, "issuer": "shop"}))["VersionId"]
        vers = cli_versions(sid)
        self.assertEqual(vers[good], ["AWSPREVIOUS"])
        self.assertEqual(vers[bad], ["AWSCURRENT"])
        secret, svc = "auth-secrets-" + tag, "auth-service-" + tag
        kube.kubectl("apply", "-f", "-", input=[
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": secret, "namespace": self.ns}, "type": "Opaque",
             "data": {self.KEY: b64(bad_key), "OTHER": b64("untouched")}}])
        kube.kubectl("apply", "-f", "-", input=auth_manifest(self.ns, svc, secret, self.KEY))
        kube.kubectl("rollout", "status", "deployment/" + svc, "-n", self.ns, "--timeout=60s",
                     timeout=90)
        kube.wait_for(lambda: app_get(self.ns, svc, "/health")[0] == 200, timeout=30,
                      message="%s /health 200" % svc)
        self.assertEqual(app_info(self.ns, svc)["value"], bad_key)
        return sid, good, bad, good_key, bad_key, secret, svc

    def item(self, sid, secret):
        return {"name": "auth-secret",
                "secretVersion": {"secretId": sid, "versionStage": "AWSPREVIOUS"},
                "secretPatches": [{"secretName": secret, "key": self.KEY,
                                   "jsonKey": "signingKey"}]}

    def assert_values_hidden(self, rr_name, values):
        rr_yaml = kube.kubectl("get", "rr", rr_name, "-n", self.ns, "-o", "yaml").stdout
        events = kube.kubectl("get", "events", "-n", self.ns, "-o", "yaml").stdout
        self.assertIn(rr_name, rr_yaml)
        log = open(self.operator.log_path, errors="replace").read()
        for v in values:
            for form in (v, base64.b64encode(v.encode()).decode()):
                self.assertNotIn(form, rr_yaml, "a secret value is in the RestoreRequest")
                self.assertNotIn(form, events, "a secret value is in an event")
                self.assertNotIn(form, log, "a secret value is in the operator log")

    def stage_moves(self, sid):
        return [e for e in request_log() if e.get("action") == "UpdateSecretVersionStage"
                and e.get("params", {}).get("SecretId") == sid]

    def test_previous_version_made_current_secret_patched_service_restarted(self):
        sid, good, bad, good_key, bad_key, secret, svc = self.bad_rotation("ok")
        pid_before = app_info(self.ns, svc)["pid"]
        # the first UpdateSecretVersionStage is applied, but the client is told 500
        control("POST", {"action": "UpdateSecretVersionStage", "mode": "apply-then-500",
                         "times": 1, "match": {"SecretId": sid}})
        name = "auth-4a"
        self.apply_rr(self.rr_manifest(name, [self.item(sid, secret)], rollout=[svc],
                                       approval=False))
        obj = self.wait_phase(name, "Succeeded")
        self.assert_timeline(obj)
        names = [s["name"] for s in obj["status"]["steps"]]
        self.assertEqual(names[:3], ["auth-secret/validate", "auth-secret/make-current",
                                     "auth-secret/patch-secrets"], self.describe_rr(obj))
        out = self.output_of(obj, "auth-secret")
        self.assertEqual(out.get("versionId"), good)
        self.assertEqual(out.get("previousVersionId"), bad)
        # Secrets Manager: the good version is current, the bad one still listed as previous
        vers = cli_versions(sid)
        self.assertEqual(vers[good], ["AWSCURRENT"])
        self.assertEqual(vers[bad], ["AWSPREVIOUS"])
        self.assertEqual(len(vers), 2, "no new version was written")
        cur_id, cur_val = cli_current_value(sid)
        self.assertEqual(cur_id, good)
        self.assertEqual(json.loads(cur_val)["signingKey"], good_key)
        # exactly one stage move took effect, although the client saw a 500 for it
        moves = self.stage_moves(sid)
        self.assertEqual(len([m for m in moves if applied(m)]), 1, moves)
        self.assertTrue(any(m.get("fault") == "apply-then-500" for m in moves), moves)
        # Kubernetes: the key holds the JSON field, the other key is untouched
        self.assertEqual(secret_value(self.ns, secret, self.KEY), good_key)
        self.assertEqual(secret_value(self.ns, secret, "OTHER"), "untouched")
        # the auth service restarted and sees the restored value
        kube.kubectl("rollout", "status", "deployment/" + svc, "-n", self.ns, "--timeout=30s",
                     timeout=45)
        kube.wait_for(lambda: app_get(self.ns, svc, "/")[0] == 200, timeout=30,
                      message="%s answers" % svc)
        info = app_info(self.ns, svc)
        self.assertNotEqual(info["pid"], pid_before)
        self.assertEqual(info["value"], good_key)
        self.assert_values_hidden(name, [good_key, bad_key])

    def test_failure_later_in_the_cutover_rolls_both_sides_back(self):
        sid, good, bad, good_key, bad_key, secret, svc = self.bad_rotation("rb")
        # a second service that only works with the bad key: its restart onto the restored
        # key never becomes ready, so the cutover fails after the secret was moved
        broken = "legacy-token-service"
        sha = hashlib.sha256(bad_key.encode()).hexdigest()[:16]
        kube.kubectl("apply", "-f", "-", input=auth_manifest(
            self.ns, broken, secret, self.KEY, ready_sha=sha, progress_deadline=4))
        kube.kubectl("rollout", "status", "deployment/" + broken, "-n", self.ns,
                     "--timeout=60s", timeout=90)
        name = "auth-4a-rollback"
        self.apply_rr(self.rr_manifest(name, [self.item(sid, secret)], rollout=[svc, broken],
                                       approval=False))
        obj = self.wait_phase(name, "RolledBack", timeout=150)
        self.assertEqual(step_of(obj, "rollout/Deployment/" + broken).get("phase"), "Failed",
                         self.describe_rr(obj))
        by_name = {s["name"]: s for s in obj["status"]["steps"]}
        for undone in ("auth-secret/make-current", "auth-secret/patch-secrets"):
            rec = by_name.get("rollback/" + undone)
            self.assertTrue(by_name[undone].get("phase") == "RolledBack" or
                            (rec is not None and rec.get("phase") == "Succeeded"),
                            "undo of %s not recorded:\n%s" % (undone, self.describe_rr(obj)))
        # both sides are back: the bad version current again, the good one previous
        vers = cli_versions(sid)
        self.assertEqual(vers[bad], ["AWSCURRENT"])
        self.assertEqual(vers[good], ["AWSPREVIOUS"])
        self.assertEqual(len(vers), 2)
        applied_moves = [m for m in self.stage_moves(sid) if applied(m)]
        self.assertEqual(len(applied_moves), 2, "one move forward, one back")
        self.assertEqual(secret_value(self.ns, secret, self.KEY), bad_key)
        # the services were restarted onto the bad key again, the legacy one is ready
        for n in (svc, broken):
            kube.kubectl("rollout", "status", "deployment/" + n, "-n", self.ns,
                         "--timeout=30s", timeout=45)
        kube.wait_for(lambda: app_get(self.ns, svc, "/")[0] == 200, timeout=30,
                      message="%s answers" % svc)
        self.assertEqual(app_info(self.ns, svc)["value"], bad_key)
        self.assert_values_hidden(name, [good_key, bad_key])

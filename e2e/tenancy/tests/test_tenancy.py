"""Tenancy on the real control plane (issue 11, DESIGN.md 3.4): RecoveryScopes deny by
default, refusals before any AWS call, approvals whose identity the API server verifies
(deploy/approval-policy.yaml) and that are bound to the published plan, a spec that cannot
change once the run started, and a kept spec that cannot be forged.

Two tenants, team-a and team-b, each with a RecoveryScope and a real awssim database
(PostgreSQL); team-c has no scope. alice (requester and approver), bob (approver) and carol
(requester without the approve verb) are the control plane's certificate users; the API
server's RBAC authorizer and ValidatingAdmissionPolicy decide what they may do. bob is in
the group developers (the API server's token file says so), through which alone he may read
and patch team-a's Secrets: lifeboat.dev/requested-groups is how he claims it.
"""
import json
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "e2e", "controlplane", "tests"))
import cpenv  # noqa: E402

cpenv.ensure()   # before the scenario modules read the environment

import kube  # noqa: E402
import scenario as sc  # noqa: E402
from awssim_control import request_log  # noqa: E402

DEPLOY = os.path.join(ROOT, "deploy")
SFX = sc.suffix()
NS_A, NS_B, NS_C = "team-a-" + SFX, "team-b-" + SFX, "team-c-" + SFX
NS_R = "team-r-" + SFX   # a scope with an AWS role
ROLE_R = "arn:aws:iam::123456789012:role/lifeboat-team-r"
SECRET_R = "team-r/api-" + SFX
DB_A, DB_B = "team-a-db-" + SFX, "team-b-db-" + SFX
SNAP_B = "team-b-snap-" + SFX
BUCKET_B = "team-b-backups-" + SFX
SECRET_B = "team-b/db-" + SFX
WAIT_S = 180


def scope(name, ns, team, four_eyes=True):
    return {"apiVersion": "lifeboat.dev/v1alpha1", "kind": "RecoveryScope",
            "metadata": {"name": name},
            "spec": {"namespaces": [ns],
                     "aws": {"rdsInstances": [team + "-*"], "rdsSnapshots": [team + "-*"],
                             "rdsClusters": [team + "-*"], "instanceClasses": ["db.t3.*"],
                             "s3": [{"bucket": team + "-*"}], "secretIds": [team + "/*"]},
                     "kubernetes": {"httpHosts": ["*.%s.svc" % ns]},
                     "approval": {"requireDistinctApprover": four_eyes}}}


def awscli(*args):
    """The real aws CLI against awssim, JSON parsed."""
    p = sc.run(["aws", "--endpoint-url", os.environ["AWS_ENDPOINT_URL"]] + list(args) +
               ["--output", "json"])
    return json.loads(p.stdout) if p.stdout.strip() else None


def as_user(user, *args, check=False, input=None):
    return kube.kubectl(*args, kubeconfig=cpenv.user_kubeconfig(user), check=check, input=input)


def rr_manifest(ns, name, item, requester="alice", approval=True, annotations=None):
    ann = {"lifeboat.dev/requested-by": requester}
    ann.update(annotations or {})
    return {"apiVersion": "lifeboat.dev/v1alpha1", "kind": "RestoreRequest",
            "metadata": {"name": name, "namespace": ns, "annotations": ann},
            "spec": {"approval": {"required": approval}, "items": [item]}}


def get_rr(ns, name):
    return kube.get_json("rr", name, ns)  # polled: a raw GET, not a kubectl process


def condition(obj, ctype):
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == ctype:
            return c
    return {}


def wait_rr(ns, name, pred, what):
    """Polls rr/name until pred(obj); returns that object."""
    def ready():
        obj = get_rr(ns, name)
        return obj if pred(obj) else None
    return kube.wait_for(ready, timeout=WAIT_S, interval=0.3,
                         message="rr/%s/%s %s" % (ns, name, what))


def wait_valid(ns, name):
    """Waits for rr/name's Valid condition; returns (status, message, the object)."""
    obj = wait_rr(ns, name, lambda o: condition(o, "Valid").get("status") in ("True", "False"),
                  "a Valid condition")
    c = condition(obj, "Valid")
    return c.get("status"), c.get("message", ""), obj


def events_of(ns, name):
    evs = kube.kubectl_json("get", "events", "-n", ns,
                            "--field-selector", "involvedObject.name=" + name)
    return [(e.get("reason"), e.get("message", "")) for e in evs.get("items", [])]


def setUpModule():
    sc.require_env()
    crds = os.path.join(ROOT, "crds")
    kube.kubectl("apply", "-f", crds)
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", crds)
    # this suite is a multi-team cluster: the broad scope other suites apply (a namespace
    # selected by two scopes is refused) goes; they apply it again when they start
    kube.kubectl("delete", "recoveryscope", "single-team", "--ignore-not-found")
    kube.kubectl("apply", "-f", os.path.join(DEPLOY, "approval-policy.yaml"))
    for ns in (NS_A, NS_B, NS_C, NS_R):
        kube.kubectl("create", "namespace", ns)
    scope_r = scope("team-r-" + SFX, NS_R, "team-r")
    scope_r["spec"]["aws"]["roleArn"] = ROLE_R
    kube.kubectl("apply", "-f", "-", input=[scope("team-a-" + SFX, NS_A, "team-a"),
                                          scope("team-b-" + SFX, NS_B, "team-b"), scope_r])
    # alice requests and may approve; bob approves; carol only requests
    for ns in (NS_A, NS_B, NS_C, NS_R):
        for user, role in (("alice", "lifeboat-restore-requester"),
                           ("alice", "lifeboat-restore-approver"),
                           ("bob", "lifeboat-restore-approver"),
                           ("carol", "lifeboat-restore-requester")):
            kube.kubectl("create", "rolebinding", "%s-%s" % (user, role), "-n", ns,
                         "--clusterrole", role, "--user", user)
        # alice may read and patch the namespace's Secrets herself; carol may not
        # (Lifeboat checks references against the requester: SubjectAccessReview)
        kube.kubectl("create", "role", "secret-editor", "-n", ns, "--verb=get,patch",
                     "--resource=secrets")
        kube.kubectl("create", "rolebinding", "alice-secret-editor", "-n", ns,
                     "--role", "secret-editor", "--user", "alice")
    # the admission policy is in force once a create without requested-by is refused
    probe = rr_manifest(NS_A, "probe", {"name": "x", "secretVersion": {"secretId": "team-a/x"}})
    del probe["metadata"]["annotations"]["lifeboat.dev/requested-by"]
    kube.wait_for(lambda: as_user("alice", "create", "--dry-run=server", "-f", "-",
                                  input=probe).returncode != 0,
                  timeout=60, interval=0.5, message="the ValidatingAdmissionPolicy in force")
    # team-b's production: a database with data, a snapshot, a bucket, a secret
    Tenancy.port_b = sc.create_source_instance(DB_B)
    sc.rds().create_db_snapshot(DBInstanceIdentifier=DB_B, DBSnapshotIdentifier=SNAP_B)
    sc.wait_snapshot_available(SNAP_B)
    awscli("s3api", "create-bucket", "--bucket", BUCKET_B)
    awscli("s3api", "put-object", "--bucket", BUCKET_B, "--key", "pg/orders.dump",
           "--body", "/etc/hostname")
    awscli("secretsmanager", "create-secret", "--name", SECRET_B, "--secret-string", "b-v1")
    Tenancy.port_a = sc.create_source_instance(DB_A)
    Tenancy.operator = sc.Operator(",".join((NS_A, NS_B, NS_C, NS_R)),
                                   os.path.join(sc.run_dir(), "operator-tenancy-%s.log" % SFX))
    Tenancy.operator.start()


def tearDownModule():
    op = getattr(Tenancy, "operator", None)
    if op:
        op.stop()
    # the admission policy and the scopes are cluster-wide: later suites in this
    # environment create RestoreRequests without a recorded requester
    for kind, name in (("validatingadmissionpolicybinding", "lifeboat-restore-approval"),
                       ("validatingadmissionpolicy", "lifeboat-restore-approval")) + tuple(
            ("recoveryscope", t + "-" + SFX) for t in ("team-a", "team-b", "team-r")):
        kube.kubectl("delete", kind, name, "--ignore-not-found", check=False)
    for ident in (DB_A, DB_B, DB_A + "-copy"):
        sc.delete_instance_quietly(ident)
    sc.delete_snapshot_quietly(SNAP_B)


class Tenancy(unittest.TestCase):
    port_a = port_b = None
    operator = None

    def assert_refused_before_aws(self, ns, name, item, field, value, scope_name):
        before = len(request_log())
        p = as_user("alice", "create", "-f", "-", input=rr_manifest(ns, name, item))
        self.assertEqual(p.returncode, 0, p.stderr)
        obj = wait_rr(ns, name, lambda o: condition(o, "Valid").get("status") == "False",
                      "Valid=False")
        msg = condition(obj, "Valid").get("message", "")
        self.assertEqual(obj["status"].get("phase"), "Failed")
        self.assertIn(field, msg)
        self.assertIn(value, msg)
        self.assertIn(scope_name, msg)
        self.assertNotIn("steps", obj["status"], "a refused request must not start")
        # nothing reached AWS for it: no request naming what it would touch was logged
        # since it was created (other suites may share awssim, so filter on the names)
        names = (DB_B, SNAP_B, BUCKET_B, SECRET_B, "team-a-copy-", "team-a-x-", "team-a-y-",
                 "999999999999", "team-c-db", name)
        after = [e for e in request_log()[before:]
                 if any(n in json.dumps(e) for n in names)]
        self.assertEqual(after, [], "AWS calls for a refused request: %s" % after[:3])
        return msg

    def test_team_a_cannot_touch_team_b(self):
        scope_a = "RecoveryScope team-a-" + SFX
        cases = [
            ("inplace", {"name": "i", "rdsInPlace": {"dbInstanceIdentifier": DB_B,
                                                      "latest": True}},
             "spec.items[0].rdsInPlace.dbInstanceIdentifier", DB_B),
            ("promote", {"name": "i", "rdsPointInTime": {
                "sourceDBInstanceIdentifier": DB_B, "useLatestRestorableTime": True,
                "targetDBInstanceIdentifier": "team-a-copy-" + SFX},
                "promote": "rename", "cleanup": {"deleteOld": True, "finalSnapshot": False,
                                                 "after": "0s"}},
             "spec.items[0].rdsPointInTime.sourceDBInstanceIdentifier", DB_B),
            ("snapshot", {"name": "i", "rdsSnapshot": {
                "dbSnapshotIdentifier": SNAP_B, "targetDBInstanceIdentifier": "team-a-x-" + SFX}},
             "spec.items[0].rdsSnapshot.dbSnapshotIdentifier", SNAP_B),
            ("foreign-arn", {"name": "i", "rdsSnapshot": {
                "dbSnapshotIdentifier": "arn:aws:rds:us-east-1:999999999999:snapshot:other",
                "targetDBInstanceIdentifier": "team-a-y-" + SFX}},
             "spec.items[0].rdsSnapshot.dbSnapshotIdentifier", "999999999999"),
            ("pgdump", {"name": "i", "pgDump": {
                "source": {"bucket": BUCKET_B, "key": "pg/orders.dump"},
                "target": {"connectionSecretRef": {"name": "db", "key": "url"}}}},
             "spec.items[0].pgDump.source.key", "s3://%s/pg/orders.dump" % BUCKET_B),
            ("s3", {"name": "i", "s3Objects": {"bucket": BUCKET_B, "prefix": "",
                                               "mode": "undelete"}},
             "spec.items[0].s3Objects.prefix", BUCKET_B),
            ("secrets", {"name": "i", "secretVersion": {"secretId": SECRET_B}},
             "spec.items[0].secretVersion.secretId", SECRET_B),
        ]
        for tag, item, field, value in cases:
            with self.subTest(tag):
                self.assert_refused_before_aws(NS_A, "steal-" + tag, item, field, value,
                                               scope_a)
        # team-b's data is intact
        d = sc.rds().describe_db_instances(DBInstanceIdentifier=DB_B)["DBInstances"][0]
        self.assertEqual(d["DBInstanceStatus"], "available")
        rows = sc.psql(self.port_b, "SELECT COUNT(*) FROM orders").strip()
        self.assertEqual(int(rows), sc.SEED_ORDERS)
        self.assertEqual(awscli("secretsmanager", "get-secret-value", "--secret-id", SECRET_B,
                                "--version-stage", "AWSCURRENT")["SecretString"], "b-v1")

    def test_unscoped_namespace_is_refused(self):
        self.assert_refused_before_aws(
            NS_C, "anything", {"name": "i", "rdsPointInTime": {
                "sourceDBInstanceIdentifier": "team-c-db", "useLatestRestorableTime": True}},
            "no RecoveryScope selects namespace", NS_C, "deny by default")

    def test_approval_identity_plan_and_immutable_spec(self):
        name = "orders-copy"
        target = DB_A + "-copy"
        kube.kubectl("create", "secret", "generic", "app-db", "-n", NS_A,
                     "--from-literal=url=" + sc.db_url(self.port_a))
        item = {"name": "orders", "rdsPointInTime": {
            "sourceDBInstanceIdentifier": DB_A, "useLatestRestorableTime": True,
            "targetDBInstanceIdentifier": target},
            "secretPatches": [{"secretName": "app-db", "key": "url", "replaceHost": True}]}

        # (a) an approve annotation in the creating manifest is refused by the API server
        p = as_user("alice", "create", "-f", "-", input=rr_manifest(
            NS_A, name, item, annotations={"lifeboat.dev/approve": "bob"}))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cannot be set when a RestoreRequest is created", p.stderr)
        # the requester must record their own name
        p = as_user("alice", "create", "-f", "-", input=rr_manifest(NS_A, name, item,
                                                                    requester="bob"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("must be your own username (alice)", p.stderr)

        p = as_user("alice", "create", "-f", "-", input=rr_manifest(NS_A, name, item))
        self.assertEqual(p.returncode, 0, p.stderr)
        obj = wait_rr(NS_A, name, lambda o: o.get("status", {}).get("phase") == "AwaitingApproval",
                      "AwaitingApproval")
        plan_hash = obj["status"]["planHash"]
        self.assertEqual(len(plan_hash), 64)
        self.assertTrue(obj["status"]["scope"]["requireDistinctApprover"])
        rr = "rr/" + name

        # the recorded requester cannot be changed
        p = as_user("alice", "annotate", "--overwrite", rr, "-n", NS_A,
                    "lifeboat.dev/requested-by=carol")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cannot be changed or removed", p.stderr)

        # (b) a running request's spec cannot change (CRD transition rule)
        p = as_user("alice", "patch", rr, "-n", NS_A, "--type=merge", "-p",
                    json.dumps({"spec": {"items": [dict(item, rdsPointInTime=dict(
                        item["rdsPointInTime"], targetDBInstanceIdentifier=DB_A + "-other"))]}}))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("spec is immutable once the restore has started", p.stderr)

        # (c) a user without the approve verb is refused by the API server
        p = as_user("carol", "annotate", rr, "-n", NS_A, "lifeboat.dev/approve=carol",
                    "lifeboat.dev/approve-plan=" + plan_hash)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not authorised to approve", p.stderr)
        # approving in someone else's name is refused
        p = as_user("bob", "annotate", rr, "-n", NS_A, "lifeboat.dev/approve=alice",
                    "lifeboat.dev/approve-plan=" + plan_hash)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("must be your own username (bob)", p.stderr)
        # (d) the requester cannot approve their own request: four eyes
        p = as_user("alice", "annotate", rr, "-n", NS_A, "lifeboat.dev/approve=alice",
                    "lifeboat.dev/approve-plan=" + plan_hash)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("requires an approver other than the requester", p.stderr)

        # (e) forging the kept spec (another target) changes nothing that runs
        forged = json.dumps({"generation": obj["metadata"]["generation"], "spec": {
            "approval": {"required": False}, "items": [dict(item, rdsPointInTime=dict(
                item["rdsPointInTime"], targetDBInstanceIdentifier=DB_A + "-forged"))]}})
        p = as_user("alice", "annotate", "--overwrite", rr, "-n", NS_A,
                    "lifeboat.dev/restore-spec=" + forged)
        self.assertEqual(p.returncode, 0, p.stderr)

        # (f) an approval naming an old plan hash does nothing but an Event
        p = as_user("bob", "annotate", rr, "-n", NS_A, "lifeboat.dev/approve=bob",
                    "lifeboat.dev/approve-plan=" + "0" * 64)
        self.assertEqual(p.returncode, 0, p.stderr)
        obj = wait_rr(NS_A, name,
                      lambda o: condition(o, "Approved").get("reason") == "StalePlanHash",
                      "Approved reason StalePlanHash")
        self.assertEqual(obj["status"]["phase"], "AwaitingApproval")
        self.assertNotIn("approval", obj["status"])
        kube.wait_for(lambda: any(r == "StalePlanHash" for r, _ in events_of(NS_A, name)),
                      timeout=60, message="a StalePlanHash Event")
        self.assertEqual(sc.unb64(kube.kubectl_json("get", "secret", "app-db", "-n", NS_A)[
            "data"]["url"]), sc.db_url(self.port_a), "nothing destructive ran")

        # (g) bob approves the published plan
        p = as_user("bob", "annotate", "--overwrite", rr, "-n", NS_A,
                    "lifeboat.dev/approve=bob", "lifeboat.dev/approve-plan=" + plan_hash)
        self.assertEqual(p.returncode, 0, p.stderr)
        obj = wait_rr(NS_A, name, lambda o: o.get("status", {}).get("phase") in sc.TERMINAL,
                      "a terminal phase")
        self.assertEqual(obj["status"]["phase"], "Succeeded", json.dumps(obj["status"])[:2000])
        self.assertEqual(obj["status"]["approval"]["approvedBy"], "bob")
        self.assertEqual(obj["status"]["approval"]["planHash"], plan_hash)
        out = [o for o in obj["status"]["outputs"] if o.get("item") == "orders"][0]
        self.assertEqual(out["instanceIdentifier"], target)
        url = sc.unb64(kube.kubectl_json("get", "secret", "app-db", "-n", NS_A)["data"]["url"])
        self.assertEqual(sc.url_port(url)[1], out["port"])
        ids = sc.cli_instances()
        self.assertIn(target, ids)
        self.assertNotIn(DB_A + "-forged", ids)
        self.assertNotIn(DB_A + "-other", ids)

    def test_references_are_checked_against_the_requester(self):
        """carol may create RestoreRequests but not read or patch Secrets: a request that
        would make Lifeboat patch one for her is refused (a LocalSubjectAccessReview as
        carol), before anything runs; alice, who may, is not refused for it."""
        kube.kubectl("create", "secret", "generic", "svc-db", "-n", NS_A,
                     "--from-literal=url=postgres://u:p@old-host:5432/app")
        item = {"name": "key", "secretVersion": {"secretId": "team-a/x-" + SFX},
                "secretPatches": [{"secretName": "svc-db", "key": "url", "replaceHost": True}]}
        p = as_user("carol", "create", "-f", "-", input=rr_manifest(
            NS_A, "carol-patch", item, requester="carol", approval=False))
        self.assertEqual(p.returncode, 0, p.stderr)
        valid, msg, obj = wait_valid(NS_A, "carol-patch")
        self.assertEqual(valid, "False", msg)
        self.assertEqual(obj["status"].get("phase"), "Failed")
        self.assertIn("spec.items[0].secretPatches[0].secretName", msg)
        self.assertIn("user carol may not get secrets/svc-db in namespace " + NS_A, msg)
        self.assertIn("user carol may not patch secrets/svc-db", msg)
        self.assertIn("SubjectAccessReview", msg)
        self.assertNotIn("steps", obj["status"], "a refused request must not start")
        self.assertEqual(sc.unb64(kube.kubectl_json("get", "secret", "svc-db", "-n", NS_A)[
            "data"]["url"]), "postgres://u:p@old-host:5432/app")
        # the same request by alice passes the review (it stops at approval instead)
        p = as_user("alice", "create", "-f", "-", input=rr_manifest(NS_A, "alice-patch", item))
        self.assertEqual(p.returncode, 0, p.stderr)
        valid, msg, _ = wait_valid(NS_A, "alice-patch")
        self.assertEqual(valid, "True", msg)

    def test_a_right_held_through_a_group_counts_when_claimed(self):
        """bob may read and patch team-a's Secrets only as a member of the group developers
        (a RoleBinding to the group, none to him). Without lifeboat.dev/requested-groups the
        requester's SubjectAccessReview names bob alone and is refused; claiming developers,
        which the API server admits because bob is in it, the review names the group and
        passes; claiming a group bob is not in is refused by the API server at create."""
        ns, secret = NS_A, "grp-db"
        kube.kubectl("create", "secret", "generic", secret, "-n", ns,
                     "--from-literal=url=postgres://u:p@old-host:5432/app")
        kube.kubectl("create", "rolebinding", "bob-lifeboat-restore-requester", "-n", ns,
                     "--clusterrole", "lifeboat-restore-requester", "--user", "bob")
        kube.kubectl("create", "rolebinding", "developers-secret-editor", "-n", ns,
                     "--role", "secret-editor", "--group", "developers")

        def can_i(*groups):
            extra = ["--as-group=" + g for g in groups]
            p = kube.kubectl("auth", "can-i", "patch", "secrets/" + secret, "-n", ns,
                             "--as=bob", *extra, check=False)
            return p.stdout.strip() == "yes"
        # the premise, as the API server's authorizer sees it: through the group only
        kube.wait_for(lambda: can_i("developers"), timeout=60, interval=0.5,
                      message="bob may patch secrets/%s through developers" % secret)
        self.assertFalse(can_i(), "bob must not hold the right as a user")

        secret_id = "team-a/grp-" + SFX
        awscli("secretsmanager", "create-secret", "--name", secret_id, "--secret-string", "v1")
        awscli("secretsmanager", "put-secret-value", "--secret-id", secret_id,
               "--secret-string", "postgres://u:p@new-host:5432/app")
        item = {"name": "key", "secretVersion": {"secretId": secret_id},
                "secretPatches": [{"secretName": secret, "key": "url", "replaceHost": True}]}
        groups = "lifeboat.dev/requested-groups"

        # a group bob is not in (alice's): the API server refuses the create itself
        p = as_user("bob", "create", "-f", "-", input=rr_manifest(
            ns, "bob-claims-approvers", item, requester="bob",
            annotations={groups: "developers,lifeboat-approvers"}))
        self.assertNotEqual(p.returncode, 0, "a group bob is not in was admitted")
        self.assertIn("metadata.annotations[lifeboat.dev/requested-groups]: may list only "
                      "groups you are in", p.stderr)
        self.assertIn("you are not in: lifeboat-approvers", p.stderr)
        self.assertNotEqual(kube.kubectl("get", "rr/bob-claims-approvers", "-n", ns,
                                         check=False).returncode, 0)

        # no groups claimed: the review names bob alone and is refused, naming the Secret
        p = as_user("bob", "create", "-f", "-", input=rr_manifest(
            ns, "bob-no-groups", item, requester="bob"))
        self.assertEqual(p.returncode, 0, p.stderr)
        valid, msg, obj = wait_valid(ns, "bob-no-groups")
        self.assertEqual(valid, "False", msg)
        self.assertEqual(obj["status"].get("phase"), "Failed")
        self.assertIn("spec.items[0].secretPatches[0].secretName: user bob may not get "
                      "secrets/%s in namespace %s" % (secret, ns), msg)
        self.assertIn("SubjectAccessReview", msg)
        self.assertNotIn("steps", obj["status"], "a refused request must not start")

        # developers claimed: the review names the group and the request proceeds
        p = as_user("bob", "create", "-f", "-", input=rr_manifest(
            ns, "bob-developers", item, requester="bob", annotations={groups: "developers"}))
        self.assertEqual(p.returncode, 0, p.stderr)
        valid, msg, obj = wait_valid(ns, "bob-developers")
        self.assertEqual(valid, "True", msg)
        obj = wait_rr(ns, "bob-developers",
                      lambda o: o.get("status", {}).get("phase") == "AwaitingApproval",
                      "AwaitingApproval")
        # and the claim is frozen like the requester: nobody adds to it later
        p = as_user("bob", "annotate", "--overwrite", "rr/bob-developers", "-n", ns,
                    groups + "=developers,system:authenticated")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("metadata.annotations[lifeboat.dev/requested-groups]: cannot be added, "
                      "changed or removed after create", p.stderr)
        p = as_user("bob", "annotate", "rr/bob-no-groups", "-n", ns, groups + "=developers")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cannot be added, changed or removed after create", p.stderr)
        self.assertEqual(sc.unb64(kube.kubectl_json("get", "secret", secret, "-n", ns)[
            "data"]["url"]), "postgres://u:p@old-host:5432/app", "nothing ran before approval")

    def test_too_many_claimed_groups_fail_validation(self):
        """The operator's own bound on the claim: dave (impersonated by the admin) is in 33
        groups and claims them all; the API server admits the claim (he is in each), the
        operator refuses the request before anything runs, naming the annotation and the
        rule."""
        ns, user = NS_A, "dave"
        groups = ["grp-%02d" % i for i in range(33)]
        kube.kubectl("create", "rolebinding", "grp-00-lifeboat-restore-requester", "-n", ns,
                     "--clusterrole", "lifeboat-restore-requester", "--group", groups[0])
        as_dave = ["--as=" + user] + ["--as-group=" + g for g in groups]
        kube.wait_for(lambda: kube.kubectl("auth", "can-i", "create", "restorerequests", "-n",
                                           ns, *as_dave, check=False).stdout.strip() == "yes",
                      timeout=60, interval=0.5, message="dave may create restorerequests")
        p = kube.kubectl(*as_dave, "create", "-f", "-", check=False, input=rr_manifest(
            ns, "dave-33-groups", {"name": "key", "secretVersion": {"secretId": "team-a/x"}},
            requester=user, annotations={"lifeboat.dev/requested-groups": ",".join(groups)}))
        self.assertEqual(p.returncode, 0, p.stderr)
        valid, msg, obj = wait_valid(ns, "dave-33-groups")
        self.assertEqual(valid, "False", msg)
        self.assertIn("metadata.annotations[lifeboat.dev/requested-groups]: at most 32 groups",
                      msg)
        self.assertEqual(obj["status"].get("phase"), "Failed")
        self.assertNotIn("steps", obj["status"], "a refused request must not start")

    def test_aws_calls_use_the_scopes_assumed_role(self):
        awscli("secretsmanager", "create-secret", "--name", SECRET_R, "--secret-string", "r-v1")
        awscli("secretsmanager", "put-secret-value", "--secret-id", SECRET_R,
               "--secret-string", "r-v2")
        before = len(request_log())
        name = "api-key-back"
        p = as_user("alice", "create", "-f", "-", input=rr_manifest(
            NS_R, name, {"name": "key", "secretVersion": {"secretId": SECRET_R}},
            approval=False))
        self.assertEqual(p.returncode, 0, p.stderr)
        obj = wait_rr(NS_R, name, lambda o: o.get("status", {}).get("phase") in sc.TERMINAL,
                      "a terminal phase")
        self.assertEqual(obj["status"]["phase"], "Succeeded", json.dumps(obj["status"])[:2000])
        self.assertEqual(obj["status"]["scope"]["roleArn"], ROLE_R)
        log = request_log()[before:]   # read before our own check below calls AWS
        self.assertEqual(awscli("secretsmanager", "get-secret-value", "--secret-id", SECRET_R,
                                "--version-stage", "AWSCURRENT")["SecretString"], "r-v1")
        mine = os.environ["AWS_ACCESS_KEY_ID"]
        assumes = [e for e in log if e.get("action") == "AssumeRole"
                   and (e.get("params") or {}).get("RoleArn") == ROLE_R]
        self.assertTrue(assumes, "no sts:AssumeRole into %s in awssim's log" % ROLE_R)
        self.assertEqual(assumes[0]["access_key"], mine)  # assumed with the operator's own key
        self.assertEqual(assumes[0]["params"].get("RoleSessionName"),
                         "lb-%s-%s" % (NS_R, name))
        calls = [e for e in log if e.get("service") == "secretsmanager"
                 and SECRET_R in json.dumps(e.get("params") or {})]
        self.assertTrue(calls, "no Secrets Manager call for %s" % SECRET_R)
        keys = {e.get("access_key") for e in calls}
        self.assertNotIn(mine, keys, "a call for the namespace was made with the operator's "
                                     "own key: %s" % [(e["action"], e["access_key"]) for e in calls])
        self.assertEqual(len(keys), 1, "one cached session for the whole run: %s" % keys)
        self.assertEqual(len(assumes), 1, "the session is cached, not re-assumed per call")

if __name__ == "__main__":
    unittest.main()

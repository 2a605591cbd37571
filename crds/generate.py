#!/usr/bin/env python3
"""Generate the Lifeboat CustomResourceDefinitions (crds/lifeboat.dev_*.yaml).

The three kinds share many fragments (RDS identifiers, bucket names, secret references,
checks), so the schemas are written once here and rendered to YAML. The rendered files are
committed; `python3 crds/generate.py --check` fails when they are out of date (the CRD
contract test runs it).

Usage: python3 crds/generate.py [--check]

Every CEL rule (x-kubernetes-validations) uses only the simple forms a small evaluator
understands: has(), ==, !=, <=, &&, ||, !, `in`, size(), list literals with
.filter(x, x).size(), .all(), .exists(), .exists_one() and .map(). Each rule's message
names the fields it is about. Lists carry maxItems and strings maxLength so the API
server's CEL cost estimate stays bounded.
"""
import os
import sys

import yaml

GROUP = "lifeboat.dev"
VERSION = "v1alpha1"
HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- bounds (named caps)
MAX_ITEMS = 32          # restore items per RestoreRequest
MAX_CHECKS = 64         # checks per verification
MAX_TARGETS = 32        # backup targets per BackupPolicy
MAX_WORKLOADS = 32      # rollout / scaleDown entries
MAX_KEYS = 1000         # explicit S3 keys in one s3Objects item
MAX_TABLES = 256        # pg_restore --table entries
MAX_SGS = 5             # VPC security groups (the RDS limit)
MAX_QUERY = 8192        # bytes of one SQL query
MAX_STATUS_STEPS = 512  # plan / steps entries in status
MAX_CONDITIONS = 16

# ---------------------------------------------------------------- patterns
# Kubernetes DNS-1123 subdomain (object names) and label (item, check and target names).
K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
# RDS DB instance / cluster identifier: a letter first, then letters, digits and single
# hyphens, no trailing hyphen; 1-63 characters (maxLength). Lower case only: RDS stores
# identifiers lower-cased, so "Shop-DB" would create "shop-db" and every later describe of
# "Shop-DB" by its spelling would miss it (an orphan, then failed waits).
RDS_ID = r"^[a-z](-?[a-z0-9])*$"
# Snapshot identifier: the same, optionally "rds:" (automated) or a shared snapshot ARN.
RDS_SNAPSHOT_ID = (r"^(arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:(snapshot|cluster-snapshot):)?"
                   r"(rds:)?[a-z](-?[a-z0-9])*$")
DB_INSTANCE_CLASS = r"^db\..+$"
SUBNET_GROUP = r"^[a-zA-Z0-9 ._-]+$"
SECURITY_GROUP = r"^sg-[0-9a-f]{8,17}$"
REGION = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"
# S3 bucket: 3-63 characters, dot-separated labels of lower-case letters, digits and
# hyphens that start and end with a letter or digit (so no "..", no leading/trailing dot).
BUCKET = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
# Durations: one or more <number><unit> with units s, m, h, d, w ("24h", "90d", "1h30m").
DURATION = r"^([0-9]+(s|m|h|d|w))+$"
# 5-field cron: minute hour day-of-month month day-of-week; month and day-of-week accept
# names (JAN, MON), day-of-week accepts 0-7.
CRON = (r"^\s*[0-9*,/-]+\s+[0-9*,/-]+\s+[0-9*,/?-]+\s+[0-9A-Za-z*,/-]+"
        r"\s+[0-9A-Za-z*,/?-]+\s*$")
TIME_ZONE = r"^[A-Za-z0-9_+/-]+$"
PG_IDENT = r"^[A-Za-z_][A-Za-z0-9_$]*$"
PG_TABLE = r"^([A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
SECRET_ID = r"^[A-Za-z0-9/_+=.@:-]+$"
HTTP_URL = r"^https?://[^\s]+$"
ABS_PATH = r"^/[^\x00]*$"


# ---------------------------------------------------------------- helpers
def s(desc, pattern=None, max_len=None, min_len=None, enum=None, fmt=None, default=None):
    """A string property."""
    out = {"type": "string", "description": desc}
    if pattern:
        out["pattern"] = pattern
    if min_len is not None:
        out["minLength"] = min_len
    if max_len is not None:
        out["maxLength"] = max_len
    if enum:
        out["enum"] = list(enum)
    if fmt:
        out["format"] = fmt
    if default is not None:
        out["default"] = default
    return out


def i(desc, minimum=None, maximum=None, default=None, fmt=None):
    out = {"type": "integer", "description": desc}
    if fmt:
        out["format"] = fmt
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    if default is not None:
        out["default"] = default
    return out


def b(desc, default=None):
    out = {"type": "boolean", "description": desc}
    if default is not None:
        out["default"] = default
    return out


def obj(desc, props, required=(), rules=()):
    out = {"type": "object", "description": desc, "properties": props}
    if required:
        out["required"] = list(required)
    if rules:
        out["x-kubernetes-validations"] = [{"rule": r, "message": m} for r, m in rules]
    return out


def arr(desc, items, max_items, min_items=None, list_type=None, map_keys=None, rules=()):
    out = {"type": "array", "description": desc, "items": items, "maxItems": max_items}
    if min_items is not None:
        out["minItems"] = min_items
    if list_type:
        out["x-kubernetes-list-type"] = list_type
    if map_keys:
        out["x-kubernetes-list-map-keys"] = list(map_keys)
    if rules:
        out["x-kubernetes-validations"] = [{"rule": r, "message": m} for r, m in rules]
    return out


def exactly_one(fields, where):
    """A CEL rule: exactly one of the fields is set."""
    rule = "[%s].filter(x, x).size() == 1" % ", ".join("has(self.%s)" % f for f in fields)
    return rule, "%s: exactly one of %s must be set" % (where, ", ".join(fields))


def unique_names(where):
    return ("self.all(x, self.exists_one(y, y.name == x.name))",
            "%s: names must be unique" % where)


# ---------------------------------------------------------------- shared fragments
def name_prop(what):
    return s("%s name (a DNS label: lower-case letters, digits and '-', at most 63)." % what,
             DNS_LABEL, 63, 1)


def k8s_name(desc):
    return s(desc, K8S_NAME, 253, 1)


def rds_id(desc):
    return s(desc + " (RDS identifier: a lower-case letter first, then lower-case letters, "
             "digits and single hyphens, no trailing hyphen, 1-63 characters; RDS lower-cases "
             "identifiers).", RDS_ID, 63, 1)


def snapshot_id(desc):
    return s(desc + " (RDS snapshot identifier in lower case, optionally 'rds:'-prefixed or "
             "an ARN).",
             RDS_SNAPSHOT_ID, 255, 1)


def bucket(desc):
    return s(desc + " (S3 bucket name, 3-63 characters).", BUCKET, 63, 3)


def duration(desc, default=None):
    return s(desc + " (a duration such as 30m, 24h, 90d or 1h30m).", DURATION, 32, 2,
             default=default)


def cron(desc):
    return s(desc + " (5-field cron: minute hour day-of-month month day-of-week).", CRON, 128, 9)


def timestamp(desc):
    return s(desc + " (RFC 3339).", fmt="date-time", max_len=64)


def region(desc="AWS region (default: the operator's region)."):
    return s(desc, REGION, 32, 9)


def secret_key_ref(desc):
    """{name, key}: one key of a Secret in the object's namespace."""
    return obj(desc, {
        "name": k8s_name("Secret name, in the object's namespace."),
        "key": s("Key in the Secret's data.", SECRET_KEY, 253, 1),
    }, required=["name", "key"])


def credentials_ref():
    return obj("Secret holding the database user and password (never logged).", {
        "name": k8s_name("Secret name, in the object's namespace."),
        "usernameKey": s("Key of the user name.", SECRET_KEY, 253, 1, default="username"),
        "passwordKey": s("Key of the password.", SECRET_KEY, 253, 1, default="password"),
    }, required=["name"])


def database():
    return s("PostgreSQL database name.", PG_IDENT, 63, 1)


def workload_ref(kinds, desc):
    return obj(desc, {
        "kind": s("Workload kind.", enum=kinds),
        "name": k8s_name("Workload name, in the object's namespace."),
    }, required=["kind", "name"])


def s3_source(desc):
    return obj(desc, {
        "bucket": bucket("Bucket holding the backup"),
        "key": s("Object key of the backup file.", max_len=1024, min_len=1),
        "latestUnder": s("Use the newest object under this prefix (manifests excluded).",
                         max_len=1024, min_len=1),
        "region": region(),
    }, required=["bucket"], rules=[
        ("has(self.key) != has(self.latestUnder)",
         "source: exactly one of key, latestUnder must be set"),
    ])


def s3_destination(desc):
    return obj(desc, {
        "bucket": bucket("Destination bucket"),
        "prefix": s("Key prefix for the backup objects.", max_len=1024),
        "region": region(),
    }, required=["bucket"])


def rds_target_fields():
    """Placement of a new DB instance (restore target)."""
    return {
        "dbInstanceClass": s("Instance class of the new instance (db.*); default: the "
                             "source's.", DB_INSTANCE_CLASS, 64, 4),
        "dbSubnetGroupName": s("DB subnet group of the new instance.", SUBNET_GROUP, 255, 1),
        "vpcSecurityGroupIds": arr("VPC security groups of the new instance.",
                                   s("Security group id.", SECURITY_GROUP, 20, 11), MAX_SGS,
                                   list_type="set"),
        "publiclyAccessible": b("Whether the new instance gets a public address.", False),
        "region": region(),
    }


def time_xor_latest(time_field, where):
    return ("has(self.%s) != (has(self.useLatestRestorableTime) && self.useLatestRestorableTime)"
            % time_field,
            "%s: exactly one of %s, useLatestRestorableTime: true must be set"
            % (where, time_field))


def rds_point_in_time(with_target=True):
    props = {
        "sourceDBInstanceIdentifier": rds_id("Instance to restore from"),
        "restoreTime": timestamp("Point in time to restore to; must lie in the restorable "
                                 "window"),
        "useLatestRestorableTime": b("Restore to the latest restorable time instead."),
    }
    rules = [time_xor_latest("restoreTime", "rdsPointInTime")]
    if with_target:
        props["targetDBInstanceIdentifier"] = rds_id(
            "New instance to restore into (default <source>-lb-<hash>)")
        props.update(rds_target_fields())
        rules.append(("!has(self.targetDBInstanceIdentifier) || "
                      "self.targetDBInstanceIdentifier != self.sourceDBInstanceIdentifier",
                      "rdsPointInTime: targetDBInstanceIdentifier must differ from sourceDBInstanceIdentifier"))
    return obj("RDS point-in-time restore into a new instance (runbooks 000 1A, 001 S1).",
               props, required=["sourceDBInstanceIdentifier"], rules=rules)


def latest_from(with_type=True):
    props = {"dbInstanceIdentifier": rds_id("Instance whose newest available snapshot is used")}
    if with_type:
        props["snapshotType"] = s("Which snapshots to consider.",
                                  enum=["manual", "automated", "any"], default="any")
    return obj("Pick the newest available snapshot of an instance.", props,
               required=["dbInstanceIdentifier"])


def rds_snapshot(with_target=True):
    props = {
        "dbSnapshotIdentifier": snapshot_id("Snapshot to restore"),
        "latestFrom": latest_from(),
    }
    if with_target:
        props["targetDBInstanceIdentifier"] = rds_id(
            "New instance to restore into (default <instance>-lb-<hash>)")
        props.update(rds_target_fields())
    return obj("RDS snapshot restore into a new instance (runbooks 000 1B, 001 S2).", props,
               rules=[("has(self.dbSnapshotIdentifier) != has(self.latestFrom)",
                       "rdsSnapshot: exactly one of dbSnapshotIdentifier, latestFrom must be set")])


def expectation(desc):
    return obj(desc, {
        "equals": {"description": "The value must equal this (number or text).",
                   "x-kubernetes-int-or-string": True},
        "min": {"type": "number", "description": "The value must be at least this."},
        "max": {"type": "number", "description": "The value must be at most this."},
        "notEmpty": b("The result must have at least one row and a non-null value."),
    }, rules=[
        ("[has(self.equals), has(self.min), has(self.max), has(self.notEmpty)]"
         ".filter(x, x).size() >= 1",
         "expect: at least one of equals, min, max, notEmpty must be set"),
        ("!has(self.equals) || (!has(self.min) && !has(self.max))",
         "expect: equals cannot be combined with min or max"),
        ("!has(self.min) || !has(self.max) || self.min <= self.max",
         "expect: min must not be greater than max"),
    ])


def sql_check():
    return obj("SQL query run in a READ ONLY transaction with statement_timeout; the first "
               "column of the first row is compared.", {
                   "query": s("The query.", max_len=MAX_QUERY, min_len=1),
                   "database": s("Database to connect to (default: the target's).", PG_IDENT,
                                 63, 1),
                   "expect": expectation("Expected value."),
               }, required=["query", "expect"])


def check(kinds_only_sql=False):
    props = {"name": name_prop("Check"), "sql": sql_check()}
    kinds = ["sql"]
    if not kinds_only_sql:
        kinds = ["sql", "http", "redis", "s3Compare", "workload"]
        props["http"] = obj("HTTP request to a service.", {
            "url": s("URL (http or https).", HTTP_URL, 2048, 8),
            "method": s("Method.", enum=["GET", "HEAD", "POST"], default="GET"),
            "body": s("Request body (POST), for bodies without secrets.", max_len=65536),
            "bodySecretRef": secret_key_ref("Request body (POST) read from a Secret, for "
                                            "bodies holding credentials (never logged)."),
            "contentType": s("Content-Type of the body.", max_len=256,
                             default="application/json"),
            "expectStatus": i("Expected status code.", 100, 599, 200),
            "expectBodyContains": s("Text the response body must contain.", max_len=4096),
            "expectJSON": obj("A field of the JSON response body must equal a value.", {
                "field": s("Dotted path into the body, e.g. status or checks.db.", max_len=255,
                           min_len=1),
                "equals": {"description": "Expected value (number or text), compared as text.",
                           "x-kubernetes-int-or-string": True},
            }, required=["field", "equals"]),
        }, required=["url"], rules=[
            ("!(has(self.body) && has(self.bodySecretRef))",
             "http: body and bodySecretRef cannot both be set"),
        ])
        props["redis"] = obj("Redis check through exec in the pod (SCAN, never KEYS).", {
            "pod": k8s_name("Redis pod."),
            "container": s("Container (default: the first).", DNS_LABEL, 63, 1),
            "scanCount": s("Count keys matching this glob with SCAN.", max_len=1024, min_len=1),
            "ping": b("Only check that Redis answers PING."),
            "expect": expectation("Expected key count."),
        }, required=["pod"], rules=[
            ("has(self.scanCount) != (has(self.ping) && self.ping)",
             "redis: exactly one of scanCount, ping: true must be set"),
            ("!has(self.scanCount) || has(self.expect)",
             "redis: expect is required with scanCount"),
        ])
        props["s3Compare"] = obj("Compare key sets and ETags of two buckets.", {
            "bucketA": bucket("First bucket"),
            "bucketB": bucket("Second bucket"),
            "prefix": s("Only keys under this prefix.", max_len=1024),
            "tolerance": i("Number of differing keys tolerated.", 0, 1000000, 0),
            "compareETags": b("Compare ETags, not only key sets.", True),
        }, required=["bucketA", "bucketB"], rules=[
            ("self.bucketA != self.bucketB", "s3Compare: bucketA and bucketB must differ"),
        ])
        props["workload"] = obj("The workload is fully rolled out and available.", {
            "kind": s("Workload kind.", enum=["Deployment", "StatefulSet", "DaemonSet"]),
            "name": k8s_name("Workload name."),
        }, required=["kind", "name"])
    rules = [exactly_one(kinds, "checks[]")] if len(kinds) > 1 else []
    required = ["name"] if len(kinds) > 1 else ["name", "sql"]
    return obj("A named check with exactly one kind.", props, required=required, rules=rules)


def checks_list(only_sql=False):
    return arr("Checks, run in order.", check(only_sql), MAX_CHECKS, min_items=1,
               list_type="map", map_keys=["name"], rules=[unique_names("checks")])


def verification_spec(in_restore=False):
    """The VerificationRun spec (also RestoreRequest.spec.verification and
    BackupPolicy.spec.verification.template)."""
    scratch_props = {
        "rdsSnapshot": obj("Restore the drill from a snapshot.", {
            "dbSnapshotIdentifier": snapshot_id("Snapshot to restore"),
            "latestFrom": latest_from(),
            "selection": obj("Which snapshot of latestFrom's instance: the newest (default), "
                             "or one picked at random among the available snapshots not older "
                             "than randomWithin (tests more than the newest point).", {
                                 "randomWithin": duration("Window of the random pick, e.g. 7d"),
                             }),
        }, rules=[("has(self.dbSnapshotIdentifier) != has(self.latestFrom)",
                   "scratchRestore.rdsSnapshot: exactly one of dbSnapshotIdentifier, "
                   "latestFrom must be set"),
                  ("!has(self.selection) || has(self.latestFrom)",
                   "scratchRestore.rdsSnapshot: selection needs latestFrom")]),
        "rdsPointInTime": rds_point_in_time(with_target=False),
        "dbInstanceClass": s("Class of the temporary instance.", DB_INSTANCE_CLASS, 64, 4),
        "dbSubnetGroupName": s("DB subnet group of the temporary instance.", SUBNET_GROUP,
                               255, 1),
        "vpcSecurityGroupIds": arr("VPC security groups of the temporary instance.",
                                   s("Security group id.", SECURITY_GROUP, 20, 11), MAX_SGS,
                                   list_type="set"),
        "credentialsSecretRef": credentials_ref(),
        "database": database(),
    }
    props = {
        "target": obj("Where sql checks connect (exactly one kind).", {
            "connectionSecretRef": secret_key_ref("A libpq URI in a Secret."),
            "rdsInstance": obj("An RDS instance.", {
                "dbInstanceIdentifier": rds_id("Instance"),
                "credentialsSecretRef": credentials_ref(),
                "database": database(),
                "region": region(),
            }, required=["dbInstanceIdentifier", "credentialsSecretRef", "database"]),
        }, rules=[exactly_one(["connectionSecretRef", "rdsInstance"], "target")]),
        "scratchRestore": obj("Restore drill into a temporary instance, always deleted "
                              "afterwards (no final snapshot); sql checks run against it.",
                              scratch_props,
                              required=["credentialsSecretRef", "database"],
                              rules=[exactly_one(["rdsSnapshot", "rdsPointInTime"],
                                                 "scratchRestore")]),
        "checks": checks_list(),
        "rpo": obj("Measured RPO: the newest timestamp the query returns must be younger "
                   "than maxAge.", {
                       "query": s("Query returning one timestamp.", max_len=MAX_QUERY, min_len=1),
                       "maxAge": duration("Largest acceptable age"),
                   }, required=["query", "maxAge"]),
        "report": obj("Write a JSON report to S3.", {
            "bucket": bucket("Report bucket"),
            "prefix": s("Key prefix of the report.", max_len=1024),
            "region": region(),
        }, required=["bucket"]),
        "slo": obj("Recovery objectives the measured values are compared with (condition "
                   "SLOMet).", {
                       "rto": duration("Largest acceptable measured RTO"),
                       "rpo": duration("Largest acceptable measured RPO"),
                   }),
        "timeoutSeconds": i("Time limit of the whole run.", 1, 86400, 600),
        "ttlSecondsAfterFinished": i("Delete the run this long after it finished.", 0,
                                     31536000),
    }
    rules = [
        ("!(has(self.target) && has(self.scratchRestore))",
         "target and scratchRestore cannot both be set"),
        ("!self.checks.exists(c, has(c.sql)) || has(self.target) || has(self.scratchRestore)",
         "checks[].sql needs target or scratchRestore"),
        ("!has(self.rpo) || has(self.target) || has(self.scratchRestore)",
         "rpo needs target or scratchRestore"),
    ]
    desc = ("Post-restore verification (a VerificationRun spec owned by the request)."
            if in_restore else "What to verify and where.")
    return obj(desc, props, required=["checks"], rules=rules)


# ---------------------------------------------------------------- status fragments
def conditions():
    cond = obj("A condition in the Kubernetes shape.", {
        "type": s("Condition type.", r"^([a-z0-9.-]+/)?[A-Za-z][A-Za-z0-9_]*$", 316, 1),
        "status": s("Condition status.", enum=["True", "False", "Unknown"]),
        "reason": s("Machine-readable reason (CamelCase).", r"^([A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?)?$",
                    1024),
        "message": s("Human-readable message.", max_len=32768),
        "lastTransitionTime": timestamp("When status last changed"),
        "observedGeneration": i("Generation the condition was set for.", 0, fmt="int64"),
    }, required=["type", "status"])
    return arr("Conditions.", cond, MAX_CONDITIONS, list_type="map", map_keys=["type"])


def observed_generation():
    return i("Generation of the spec last acted on.", 0, fmt="int64")


def status_obj(desc, props):
    out = {"observedGeneration": observed_generation(), "conditions": conditions()}
    out.update(props)
    return obj(desc, out)


# ---------------------------------------------------------------- RestoreRequest
SOURCES = ["rdsPointInTime", "rdsSnapshot", "rdsInPlace", "rdsClusterPointInTime", "pgDump",
           "redisRDB", "s3Objects", "s3Sync", "secretVersion", "fileArchive", "job"]
DB_SOURCES = ["rdsPointInTime", "rdsSnapshot", "rdsInPlace", "rdsClusterPointInTime", "pgDump"]


def restore_item():
    rds_in_place = obj("In-place restore under the original name (runbook 001 S3): snapshot "
                       "<id>-pre-restore-<ts>, delete, restore; always destructive.", {
                           "dbInstanceIdentifier": rds_id("Instance to replace"),
                           "dbSnapshotIdentifier": snapshot_id("Snapshot to restore"),
                           "latest": b("Restore the newest available snapshot of the instance."),
                           "snapshotType": s("With latest: which snapshots to consider.",
                                             enum=["manual", "automated", "any"], default="any"),
                           "dbInstanceClass": s("Instance class (default: the deleted "
                                                "instance's).", DB_INSTANCE_CLASS, 64, 4),
                           "dbSubnetGroupName": s("DB subnet group.", SUBNET_GROUP, 255, 1),
                           "vpcSecurityGroupIds": arr("VPC security groups.",
                                                      s("Security group id.", SECURITY_GROUP,
                                                        20, 11), MAX_SGS, list_type="set"),
                           "region": region(),
                       }, required=["dbInstanceIdentifier"], rules=[
                           ("has(self.dbSnapshotIdentifier) != (has(self.latest) && self.latest)",
                            "rdsInPlace: exactly one of dbSnapshotIdentifier, latest: true must be set"),
                       ])
    cluster = obj("Aurora cluster point-in-time restore plus a writer instance (runbook 003 "
                  "section 1).", {
                      "sourceDBClusterIdentifier": rds_id("Cluster to restore from"),
                      "restoreToTime": timestamp("Point in time to restore to"),
                      "useLatestRestorableTime": b("Restore to the latest restorable time."),
                      "targetDBClusterIdentifier": rds_id("New cluster (default "
                                                          "<source>-lb-<hash>)"),
                      "writerInstanceIdentifier": rds_id("Writer instance (default "
                                                         "<target>-writer)"),
                      "writerInstanceClass": s("Class of the writer instance.",
                                               DB_INSTANCE_CLASS, 64, 4),
                      "engine": s("Cluster engine.", enum=["aurora-postgresql"],
                                  default="aurora-postgresql"),
                      "dbSubnetGroupName": s("DB subnet group.", SUBNET_GROUP, 255, 1),
                      "vpcSecurityGroupIds": arr("VPC security groups.",
                                                 s("Security group id.", SECURITY_GROUP, 20,
                                                   11), MAX_SGS, list_type="set"),
                      "region": region(),
                  }, required=["sourceDBClusterIdentifier", "writerInstanceClass"], rules=[
                      time_xor_latest("restoreToTime", "rdsClusterPointInTime"),
                      ("!has(self.targetDBClusterIdentifier) || "
                       "self.targetDBClusterIdentifier != self.sourceDBClusterIdentifier",
                       "rdsClusterPointInTime: targetDBClusterIdentifier must differ from "
                       "sourceDBClusterIdentifier"),
                  ])
    pg_dump = obj("Logical restore of a pg_dump or .sql(.gz) file from S3 by a Job (runbooks "
                  "000 1C, 003 section 2, 004 P1).", {
                      "source": s3_source("The dump in S3."),
                      "manifest": s("The <key>.manifest.json (sha256, sizeBytes): required, "
                                    "optional (checked when present) or none.",
                                    enum=["required", "optional", "none"], default="required"),
                      "decryption": obj("Decrypt the file before restoring.", {
                          "keySecretRef": secret_key_ref("Secret holding the key or "
                                                         "passphrase."),
                          "algorithm": s("aes-256-gcm (Lifeboat's backups) or "
                                         "aes-256-cbc-pbkdf2 (openssl enc -aes-256-cbc "
                                         "-pbkdf2). Default: from the manifest's encryption.",
                                         enum=["aes-256-gcm", "aes-256-cbc-pbkdf2"]),
                      }, required=["keySecretRef"]),
                      "target": obj("Database to restore into.", {
                          "connectionSecretRef": secret_key_ref("A libpq URI in a Secret."),
                          "createDatabase": b("The database in the URI is a new copy: the "
                                              "agent creates it (and fails if it exists), so "
                                              "the load, verify and migrations change nothing "
                                              "live and run before the approval.", False),
                      }, required=["connectionSecretRef"]),
                      "recreateDatabase": b("DROP and CREATE the database first (destructive).",
                                            False),
                      "tables": arr("Restore only these tables (pg_restore --table).",
                                    s("Table, optionally schema-qualified.", PG_TABLE, 127, 1),
                                    MAX_TABLES, list_type="set"),
                      "jobs": i("Parallel pg_restore jobs (-j).", 1, 64, 1),
                      "scaleDown": arr("Workloads scaled to 0 before loading and back after.",
                                       workload_ref(["Deployment", "StatefulSet"],
                                                    "Workload to scale down."), MAX_WORKLOADS),
                  }, required=["source", "target"], rules=[
                      ("!(has(self.recreateDatabase) && self.recreateDatabase && "
                       "has(self.tables))",
                       "pgDump: recreateDatabase cannot be combined with tables"),
                      ("!(has(self.recreateDatabase) && self.recreateDatabase && "
                       "has(self.target.createDatabase) && self.target.createDatabase)",
                       "pgDump: recreateDatabase cannot be combined with target.createDatabase"),
                      ("!has(self.decryption) || has(self.decryption.algorithm) || "
                       "!has(self.manifest) || self.manifest != 'none'",
                       "pgDump: decryption.algorithm is required when manifest is none"),
                  ])
    redis = obj("Load a Redis RDB file from S3 into a StatefulSet's pod (runbook 000 2A).", {
        "source": s3_source("The RDB file in S3."),
        "target": obj("Where Redis runs.", {
            "statefulSet": k8s_name("StatefulSet to restart."),
            "pod": k8s_name("Pod to load the file into (default <statefulSet>-0)."),
            "container": s("Container (default: the first).", DNS_LABEL, 63, 1),
            "dataDir": s("Data directory (default: CONFIG GET dir).", ABS_PATH, 4096, 1),
        }, required=["statefulSet"]),
        "expect": obj("Expected result after the restart.", {
            "minKeys": i("At least this many keys (counted with SCAN).", 0),
        }),
    }, required=["source", "target"])
    s3_objects = obj("Restore S3 objects from versions (runbooks 000 3A, 001).", {
        "bucket": bucket("Versioned bucket"),
        "keys": arr("Keys to restore.", s("Object key.", max_len=1024, min_len=1), MAX_KEYS,
                    min_items=1, list_type="set"),
        "prefix": s("Restore every key under this prefix.", max_len=1024),
        "mode": s("undelete removes delete markers; pointInTime restores the version current "
                  "at pointInTime; version restores versionId of one key.",
                  enum=["undelete", "pointInTime", "version"]),
        "pointInTime": timestamp("With mode pointInTime: the time to go back to"),
        "versionId": s("With mode version: the version to make current.", max_len=1024,
                       min_len=1),
        "removeNewerObjects": b("With mode pointInTime: also delete objects created after "
                                "pointInTime (default: keep them).", False),
        "region": region(),
    }, required=["bucket", "mode"], rules=[
        ("has(self.keys) != has(self.prefix)", "s3Objects: exactly one of keys, prefix must be set"),
        ("(self.mode == 'pointInTime') == has(self.pointInTime)",
         "s3Objects: pointInTime is required with mode pointInTime and only then"),
        ("(self.mode == 'version') == has(self.versionId)",
         "s3Objects: versionId is required with mode version and only then"),
        ("self.mode != 'version' || (has(self.keys) && self.keys.size() == 1)",
         "s3Objects: mode version needs exactly one entry in keys"),
        ("!has(self.removeNewerObjects) || !self.removeNewerObjects || "
         "self.mode == 'pointInTime'",
         "s3Objects: removeNewerObjects needs mode pointInTime"),
    ])
    s3_sync = obj("Server-side copy from a replica bucket, then compare key sets and ETags "
                  "(runbook 000 3B).", {
                      "sourceBucket": bucket("Bucket to copy from"),
                      "sourceRegion": region(
                          "Region of sourceBucket, where it is listed and read (default: the "
                          "operator's region). A bucket of another region fails validate "
                          "naming this field and the bucket's region."),
                      "targetBucket": bucket("Bucket to copy into"),
                      "targetRegion": region(
                          "Region of targetBucket, where it is listed, copied into (CopyObject "
                          "reads the source across regions) and deleted from (default: the "
                          "operator's region)."),
                      "prefix": s("Only keys under this prefix.", max_len=1024),
                      "deleteExtraneous": b("Delete target keys missing from the source.",
                                            False),
                      "concurrency": i("Copies in flight.", 1, 256, 16),
                  }, required=["sourceBucket", "targetBucket"], rules=[
                      ("self.sourceBucket != self.targetBucket",
                       "s3Sync: sourceBucket and targetBucket must differ"),
                  ])
    secret_version = obj("Make a previous Secrets Manager version current (runbook 000 4A).", {
        "secretId": s("Secret name or ARN.", SECRET_ID, 2048, 1),
        "versionStage": s("Stage of the version to restore (default AWSPREVIOUS).",
                          r"^[A-Za-z0-9_+=.@-]+$", 256, 1),
        "versionId": s("Version to restore.", r"^[A-Za-z0-9-]+$", 64, 32),
        "region": region(),
    }, required=["secretId"], rules=[
        ("!(has(self.versionStage) && has(self.versionId))",
         "secretVersion: versionStage and versionId cannot both be set"),
    ])
    secret_patch = obj("Patch one key of a Kubernetes Secret (previous value kept in "
                       "lifeboat-rollback-<name>).", {
                           "secretName": k8s_name("Secret to patch."),
                           "key": s("Key in the Secret's data.", SECRET_KEY, 253, 1),
                           "replaceHost": b("Rewrite host:port of the URL already stored "
                                            "there with the restored endpoint."),
                           "template": s("New value; $(ENDPOINT), $(PORT) and $(secret:KEY) "
                                         "are substituted.", max_len=4096, min_len=1),
                           "jsonKey": s("secretVersion items: write this top-level field of "
                                        "the JSON secret value instead of the whole value.",
                                        r"^[-._a-zA-Z0-9]+$", 253, 1),
                       }, required=["secretName", "key"], rules=[
                           ("!has(self.jsonKey) || !((has(self.replaceHost) && self.replaceHost)"
                            " || has(self.template))",
                            "secretPatches: jsonKey cannot be combined with replaceHost or "
                            "template"),
                           ("!(has(self.replaceHost) && self.replaceHost && has(self.template))",
                            "secretPatches: replaceHost and template cannot both be set"),
                       ])
    file_archive = obj("Extract a .tar.gz[.enc] from S3 into a PersistentVolumeClaim by a Job "
                       "(runbook 004 P3); absolute paths, '..' and links leaving the target "
                       "are refused and nothing is extracted.", {
                           "source": s3_source("The archive in S3."),
                           "manifest": s("The <key>.manifest.json (sha256): required, optional "
                                         "(checked when present) or none.",
                                         enum=["required", "optional", "none"],
                                         default="optional"),
                           "decryption": obj("Decrypt the archive first (openssl enc "
                                             "-aes-256-cbc -pbkdf2 or Lifeboat's AES-256-GCM, "
                                             "recognised from the file).", {
                               "keySecretRef": secret_key_ref("Secret holding the key or "
                                                              "passphrase."),
                           }, required=["keySecretRef"]),
                           "target": obj("Where to extract.", {
                               "persistentVolumeClaim": k8s_name("Claim to extract into."),
                               "subPath": s("Directory inside the volume (relative; no '..').",
                                            r"^[^/][^\x00]*$", 1024, 1),
                           }, required=["persistentVolumeClaim"]),
                           "scaleDown": arr("Workloads scaled to 0 before extracting and back "
                                            "after.", workload_ref(["Deployment", "StatefulSet"],
                                                                   "Workload to scale down."),
                                            MAX_WORKLOADS),
                           "serviceAccountName": k8s_name("Service account of the agent's pod "
                                                          "(IRSA for S3)."),
                       }, required=["source", "target"])
    job = obj("Run a Job the request supplies at its place in the plan (runbook 004 P2 and "
              "anything Lifeboat does not model), wait for it, its log tail in the step "
              "message on failure.", {
                  "destructive": b("The Job changes something live: it runs after the approval "
                                   "(false: it runs in prepare).", True),
                  "template": {"type": "object",
                               "description": "A batch/v1 JobTemplateSpec: metadata (labels, "
                               "annotations) and spec (the Job's spec; its pod template must "
                               "have containers with images). Restricted securityContext "
                               "defaults are added where unset.",
                               "x-kubernetes-preserve-unknown-fields": True},
                  "timeoutSeconds": i("Job deadline (activeDeadlineSeconds) when the template "
                                      "sets none.", 1, 86400, 3600),
              }, required=["template"])
    props = {
        "name": name_prop("Item"),
        "dependsOn": arr("Items that must finish first (within the canonical order).",
                         s("Item name.", DNS_LABEL, 63, 1), MAX_ITEMS, list_type="set"),
        "rdsPointInTime": rds_point_in_time(),
        "rdsSnapshot": rds_snapshot(),
        "rdsInPlace": rds_in_place,
        "rdsClusterPointInTime": cluster,
        "pgDump": pg_dump,
        "redisRDB": redis,
        "s3Objects": s3_objects,
        "s3Sync": s3_sync,
        "secretVersion": secret_version,
        "fileArchive": file_archive,
        "job": job,
        "credentialsSecretRef": credentials_ref(),
        "database": database(),
        "verify": obj("SQL checks on the restored copy, before cutover.", {
            "checks": checks_list(only_sql=True),
        }, required=["checks"]),
        "migrations": obj("A Job run against the restored copy before cutover.", {
            "image": s("Container image.", max_len=1024, min_len=1),
            "command": arr("Command.", s("Argument.", max_len=4096), 64, min_items=1),
            "args": arr("Arguments.", s("Argument.", max_len=4096), 64),
            "databaseURLEnv": s("Environment variable that receives the restored URL.",
                                ENV_NAME, 253, 1, default="DATABASE_URL"),
            "env": arr("Extra environment (plain values).", obj("Variable.", {
                "name": s("Name.", ENV_NAME, 253, 1),
                "value": s("Value.", max_len=32768),
            }, required=["name"]), 64, list_type="map", map_keys=["name"]),
            "serviceAccountName": k8s_name("Service account of the Job's pod."),
            "timeoutSeconds": i("Job deadline.", 1, 86400, 1800),
            "backoffLimit": i("Job retries.", 0, 10, 0),
        }, required=["image", "command"]),
        "promote": s("rename: the restored copy takes the source's name (source renamed "
                     "<source>-old-<ts>); none: keep both.", enum=["rename", "none"],
                     default="none"),
        "secretPatches": arr("Secrets to point at the restored data.", secret_patch, 32),
        "scaleDown": arr("Workloads scaled to 0 before cutover and back after.",
                         workload_ref(["Deployment", "StatefulSet"], "Workload to scale down."),
                         MAX_WORKLOADS),
        "cleanup": obj("What happens to the replaced instance.", {
            "deleteOld": b("Delete the renamed old instance.", False),
            "finalSnapshot": b("Take a final snapshot when deleting.", True),
            "deleteAutomatedBackups": b("Also delete the automated backups (the point-in-time "
                                        "history) of every DB instance this item deletes (the "
                                        "old instance at cleanup, the original of an in-place "
                                        "restore); false keeps them.", False),
            "after": duration("Wait this long after cutover", default="24h"),
        }),
    }
    one_of = "[%s].filter(x, x).size() == 1" % ", ".join("has(self.%s)" % f for f in SOURCES)
    db_has = " || ".join("has(self.%s)" % f for f in DB_SOURCES)
    rds_new = "has(self.rdsPointInTime) || has(self.rdsSnapshot) || has(self.rdsClusterPointInTime)"
    rules = [
        (one_of, "items[]: exactly one source must be set: " + ", ".join(SOURCES)),
        ("!has(self.dependsOn) || !(self.name in self.dependsOn)",
         "items[].dependsOn: an item cannot depend on itself"),
        ("!has(self.verify) || " + db_has,
         "items[].verify: only for database sources (%s)" % ", ".join(DB_SOURCES)),
        ("!has(self.migrations) || " + db_has,
         "items[].migrations: only for database sources (%s)" % ", ".join(DB_SOURCES)),
        ("!has(self.promote) || self.promote == 'none' || " + rds_new,
         "items[].promote: rename only for rdsPointInTime, rdsSnapshot, rdsClusterPointInTime"),
        ("!has(self.cleanup) || !has(self.cleanup.deleteOld) || !self.cleanup.deleteOld || "
         "(has(self.promote) && self.promote == 'rename')",
         "items[].cleanup.deleteOld needs promote: rename"),
        ("!has(self.secretPatches) || has(self.secretVersion) || " + db_has,
         "items[].secretPatches: only for secretVersion and database sources"),
        ("!has(self.secretPatches) || has(self.secretVersion) || "
         "self.secretPatches.all(p, (has(p.replaceHost) && p.replaceHost) || has(p.template))",
         "items[].secretPatches[]: replaceHost: true or template is required for database "
         "sources"),
        ("!has(self.secretPatches) || has(self.secretVersion) || "
         "self.secretPatches.all(p, !has(p.jsonKey))",
         "items[].secretPatches[].jsonKey: only for secretVersion items"),
        ("!(has(self.verify) || has(self.migrations)) || has(self.pgDump) || "
         "(has(self.credentialsSecretRef) && has(self.database))",
         "items[]: verify and migrations on an RDS source need credentialsSecretRef and "
         "database"),
    ]
    return obj("One thing to restore: a name and exactly one source.", props,
               required=["name"], rules=rules)


# spec.timeouts keys: the step actions (plan.h) in camelCase, and `default` for the others.
TIMEOUT_KEYS = ["default", "validate", "restore", "restoreCluster", "createWriter",
                "waitAvailable", "verify", "migrations", "scaleDown", "promote",
                "patchSecrets", "makeCurrent", "scaleUp", "preRestoreSnapshot", "waitSnapshot", "delete",
                "waitDeleted", "rollout", "verification", "cleanup"]


def restore_request_schema():
    spec = obj("What to restore, in which order, with which checks.", {
        "dryRun": b("Only publish status.plan (phase Planned); change nothing.", False),
        "approval": dict(obj("Approval gate before destructive steps.", {
            "required": b("Destructive steps wait for the lifeboat.dev/approve annotation. A plan without a destructive step (a copy into new targets only) has no gate.",
                          True),
        }), default={}),
        "rollbackOnFailure": b("Undo cutover steps when a later step or the verification "
                               "fails.", True),
        "items": arr("Things to restore, run in the canonical order (secrets, databases, "
                     "Redis, S3), then dependsOn, then as written.", restore_item(), MAX_ITEMS,
                     min_items=1, list_type="map", map_keys=["name"], rules=[
                         unique_names("items"),
                         ("self.all(i, !has(i.dependsOn) || "
                          "i.dependsOn.all(d, self.exists(j, j.name == d)))",
                          "items[].dependsOn: every name must be an item of this request"),
                     ]),
        "rollout": arr("Workloads restarted in this order after all items (the gateway last).",
                       workload_ref(["Deployment", "StatefulSet", "DaemonSet"],
                                    "Workload to restart."), MAX_WORKLOADS),
        "verification": verification_spec(in_restore=True),
        "timeouts": obj("Deadlines of the steps, by action, measured from each step's start "
                        "(defaults in the README's Restores section); a step still unfinished "
                        "at its deadline fails (in the cutover the request rolls back).", {
                            k: duration("Deadline of %s steps" % k) for k in TIMEOUT_KEYS}),
        "onAbort": obj("What an abort (annotation lifeboat.dev/abort) before the cutover does "
                       "with the copies this request made.", {
                           "deleteCopies": b("Delete the restored copies (default: keep them, "
                                             "named in status.outputs).", False),
                       }),
        "onDelete": obj("What deleting this RestoreRequest before the cutover does with the "
                        "copies it made.", {
                            "keepCopies": b("Keep the restored copies (default: delete them, "
                                            "since nothing names them afterwards).", False),
                        }),
    }, required=["items"])
    status = status_obj("Observed state: the plan and the audit timeline.", {
        "phase": s("Phase.", enum=["Pending", "Planned", "AwaitingApproval", "Running",
                                   "Verifying", "Succeeded", "Failed", "RolledBack"]),
        "message": s("Why the request is in this phase (the cause of a failure).",
                     max_len=32768),
        "currentStep": s("Step being worked on (<item>/<action>).", max_len=512),
        "plan": arr("Every step, in order, before anything runs.", obj("Planned step.", {
            "name": s("Step name (<item>/<action>).", max_len=512),
            "item": s("Item name.", max_len=63),
            "action": s("Action.", max_len=128),
            "destructive": b("Changes something live; waits for approval."),
            "description": s("What the step does.", max_len=4096),
        }, required=["name"]), MAX_STATUS_STEPS),
        "steps": arr("The audit timeline.", obj("Step record.", {
            "name": s("Step name.", max_len=512),
            "phase": s("Step phase (Pending, Running, Succeeded, Failed, Skipped, "
                       "RolledBack).", max_len=32),
            "startedAt": timestamp("Start"),
            "finishedAt": timestamp("End"),
            "attempts": i("Attempts so far.", 0, fmt="int32"),
            "message": s("Result or error (AWS error code and message).", max_len=32768),
        }, required=["name"]), MAX_STATUS_STEPS),
        "approval": obj("Who approved.", {
            "approvedBy": s("The approver's API-server username (the lifeboat.dev/approve "
                            "annotation, which deploy/'s ValidatingAdmissionPolicy admits only "
                            "with the approving user's own name).", max_len=253),
            "approvedAt": timestamp("When"),
            "planHash": s("The status.planHash the approval was given for.", max_len=64),
        }),
        "planHash": s("Hash of the plan and the spec it was built from; an approval counts "
                      "only with the annotation lifeboat.dev/approve-plan set to it.",
                      max_len=64),
        "runSpecHash": s("sha256 of the spec the run started with; a kept copy of the spec "
                         "that does not hash to it is never executed.", max_len=64),
        "scope": obj("The RecoveryScope that admitted this request and its approval rules "
                     "(read by deploy/'s ValidatingAdmissionPolicy).", {
                         "name": s("RecoveryScope name.", max_len=253),
                         "roleArn": s("AWS role every AWS call of this run is made as.",
                                      max_len=2048),
                         "requireDistinctApprover": b("The requester cannot approve."),
                         "approverUsers": arr("Users who may approve (empty: anyone "
                                              "authorised to approve).",
                                              s("User.", max_len=253), 64),
                         "approverGroups": arr("Groups whose members may approve.",
                                               s("Group.", max_len=253), 64),
                     }),
        "outputs": arr("What the restore produced.", obj("Output of one item.", {
            "item": s("Item name.", max_len=63),
            "instanceIdentifier": s("DB instance.", max_len=63),
            "replacedInstanceIdentifier": s("The original DB instance promote renamed away "
                                            "(<source>-old-<ts>); what cleanup deletes.",
                                            max_len=63),
            "clusterIdentifier": s("DB cluster.", max_len=63),
            "endpoint": s("Endpoint host.", max_len=253),
            "port": i("Endpoint port.", 0, 65535),
            "snapshotIdentifier": s("Snapshot taken or used.", max_len=255),
            "location": s("Other location (s3://..., secret version).", max_len=2048),
            "versionId": s("secretVersion: the Secrets Manager version made current.",
                           max_len=64),
            "previousVersionId": s("secretVersion: the version that held AWSCURRENT before "
                                   "(AWSPREVIOUS after the cutover; the undo moves it back).",
                                   max_len=64),
        }, required=["item"]), 128),
        "startedAt": timestamp("Start"),
        "completedAt": timestamp("End"),
        "durationSeconds": i("completedAt - startedAt (or so far).", 0, fmt="int64"),
        "measured": obj("Measured recoverability of a Succeeded restore.", {
            "rtoSeconds": i("Creation (apply) to Succeeded.", 0, fmt="int64"),
            "rtoAfterApprovalSeconds": i("Approval to Succeeded.", 0, fmt="int64"),
            "rpoSeconds": i("Age of the oldest restore point at apply time.", 0, fmt="int64"),
        }),
        "verificationRun": obj("The VerificationRun the verification step created (owned by "
                               "this request) and its result.", {
            "name": s("Its name, in this namespace.", max_len=253),
            "uid": s("Its uid.", max_len=64),
            "phase": s("Its phase (Pending, Restoring, Running, Passed, Failed).", max_len=32),
            "summary": s("Checks passed / checks run.", max_len=32),
        }),
    })
    return spec, status


# ---------------------------------------------------------------- VerificationRun
def verification_run_schema():
    spec = verification_spec()
    status = status_obj("Results.", {
        "phase": s("Phase.", enum=["Pending", "Restoring", "Running", "Passed", "Failed"]),
        "message": s("Why the run is in this phase.", max_len=32768),
        "results": arr("One result per check.", obj("Check result.", {
            "name": s("Check name.", max_len=63),
            "passed": b("Whether the check passed."),
            "observed": s("Observed value.", max_len=4096),
            "expected": s("Expectation.", max_len=4096),
            "message": s("Details.", max_len=32768),
            "durationMs": i("Duration.", 0, fmt="int64"),
        }, required=["name", "passed"]), MAX_CHECKS + 1),
        "summary": s("passed/total, e.g. 9/10.", r"^[0-9]+/[0-9]+$", 16),
        "scratch": obj("The temporary instance of the drill.", {
            "instanceIdentifier": s("Instance.", max_len=63),
            "restoreSeconds": i("Time to available.", 0, fmt="int64"),
            "deleted": b("The instance has been deleted."),
            "snapshotIdentifier": s("Snapshot restored.", max_len=255),
            "restorePoint": s("Time of the data restored (the snapshot's creation time, the "
                              "point in time); measured RPO is counted to it.", max_len=64),
            "state": s("Where the drill's instance is.",
                       enum=["restore", "wait", "available", "deleting", "deleted"]),
            "restoreStartedAt": timestamp("The restore call"),
            "endpoint": s("Endpoint while the checks run.", max_len=255),
            "port": i("Port while the checks run.", 0, 65535),
        }),
        "verdict": s("The checks' outcome, set before the cleanup; the phase follows once "
                     "the scratch instance is gone.", enum=["Passed", "Failed"]),
        "measured": obj("Measured objectives.", {
            "rtoSeconds": i("Recovery time.", 0, fmt="int64"),
            "rpoSeconds": i("Recovery point age.", 0, fmt="int64"),
        }),
        "reportLocation": s("s3:// URI of the JSON report.", max_len=2048),
        "startedAt": timestamp("Start"),
        "finishedAt": timestamp("End"),
    })
    return spec, status


# ---------------------------------------------------------------- BackupPolicy
def backup_policy_schema():
    target = obj("A named backup target with exactly one kind.", {
        "name": name_prop("Target"),
        "rdsSnapshot": obj("Manual RDS snapshot <id>-lifeboat-<ts>.", {
            "dbInstanceIdentifier": rds_id("Instance"),
            "region": region(),
        }, required=["dbInstanceIdentifier"]),
        "rdsClusterSnapshot": obj("Aurora cluster snapshot.", {
            "dbClusterIdentifier": rds_id("Cluster"),
            "region": region(),
        }, required=["dbClusterIdentifier"]),
        "pgDump": obj("pg_dump -Fc streamed to S3 as <prefix><db>_<ts>.dump plus a manifest.", {
            "connectionSecretRef": secret_key_ref("A libpq URI in a Secret."),
            "destination": s3_destination("Where the dump goes."),
            "encryption": obj("Encrypt with AES-256-GCM.", {
                "keySecretRef": secret_key_ref("Secret holding the 32-byte key."),
            }, required=["keySecretRef"]),
            "jobs": i("Parallel dump jobs.", 1, 64, 1),
            "serviceAccountName": k8s_name("ServiceAccount of the backup Job (IRSA)."),
        }, required=["connectionSecretRef", "destination"]),
        "redisRDB": obj("BGSAVE, then copy the RDB file to S3.", {
            "pod": k8s_name("Redis pod."),
            "container": s("Container (default: the first).", DNS_LABEL, 63, 1),
            "destination": s3_destination("Where the RDB goes."),
        }, required=["pod", "destination"]),
        "s3Copy": obj("Server-side copy of a bucket (offsite copy).", {
            "sourceBucket": bucket("Bucket to copy"),
            "sourceRegion": region(),
            "destinationBucket": bucket("Destination bucket"),
            "destinationRegion": region(),
            "prefix": s("Only keys under this prefix.", max_len=1024),
        }, required=["sourceBucket", "destinationBucket"], rules=[
            ("self.sourceBucket != self.destinationBucket",
             "s3Copy: sourceBucket and destinationBucket must differ"),
        ]),
    }, required=["name"], rules=[
        exactly_one(["rdsSnapshot", "rdsClusterSnapshot", "pgDump", "redisRDB", "s3Copy"],
                    "targets[]"),
    ])
    spec = obj("When and what to back up, how long to keep it, and what to audit.", {
        "schedule": cron("When to back up"),
        "timeZone": s("IANA time zone of the schedule.", TIME_ZONE, 64, 1, default="Etc/UTC"),
        "suspend": b("Stop scheduling (backup-now still works).", False),
        "startingDeadlineSeconds": i("A tick missed by more than this (operator down) is "
                                     "skipped and recorded, not run; unset: the newest missed "
                                     "tick runs once.", 1, 31622400),
        "targets": arr("What to back up.", target, MAX_TARGETS, min_items=1, list_type="map",
                       map_keys=["name"], rules=[unique_names("targets")]),
        "retention": obj("What to keep of the backups this policy made.", {
            "keepLast": i("Keep at least the newest N.", 1, 10000),
            "maxAge": duration("Delete older ones (beyond keepLast)"),
        }, rules=[("has(self.keepLast) || has(self.maxAge)",
                   "retention: at least one of keepLast, maxAge must be set")]),
        "staleAfter": duration("BackupStale=True when the newest successful backup is older"),
        "audit": obj("Settings checked on every run (ConfigDrift condition).", {
            "rdsBackupRetentionDays": i("Expected BackupRetentionPeriod of the policy's "
                                        "instances.", 1, 35),
            "rdsInstances": arr("Instances to audit (default: the rdsSnapshot targets').",
                                rds_id("Instance"), 64, list_type="set"),
            "s3Versioning": arr("Buckets that must have versioning Enabled.",
                                bucket("Bucket"), 64, list_type="set"),
            "s3Replication": arr("Buckets that must replicate to a destination.", obj(
                "Replication pair.", {
                    "bucket": bucket("Source bucket"),
                    "destinationBucket": bucket("Replica bucket"),
                }, required=["bucket"]), 64),
            "redisPersistence": obj("Expected Redis persistence settings (CONFIG GET).", {
                "pod": k8s_name("Redis pod."),
                "container": s("Container (default: the first).", DNS_LABEL, 63, 1),
                "appendonly": s("Expected appendonly.", enum=["yes", "no"]),
                "appendfsync": s("Expected appendfsync.", enum=["always", "everysec", "no"]),
                "save": s("Expected save setting, e.g. \"3600 1 300 100 60 10000\".",
                          r"^([0-9]+ [0-9]+( [0-9]+ [0-9]+)*)?$", 256),
            }, required=["pod"]),
        }),
        "verification": obj("Scheduled restore drill: creates a VerificationRun from the "
                            "template.", {
                                "schedule": cron("When to verify"),
                                "timeZone": s("IANA time zone.", TIME_ZONE, 64, 1,
                                              default="Etc/UTC"),
                                "template": verification_spec(),
                            }, required=["schedule", "template"]),
    }, required=["schedule", "targets"])
    status = status_obj("Backup history and health.", {
        "lastScheduleTime": timestamp("Last scheduled run"),
        "nextScheduleTime": timestamp("Next scheduled run"),
        "lastSuccessfulTime": timestamp("Last run in which every target succeeded"),
        "lastBackupNowToken": s("Last lifeboat.dev/backup-now value acted on.", max_len=253),
        "targets": arr("Per target.", obj("Target state.", {
            "name": s("Target name.", max_len=63),
            "lastBackup": obj("Newest backup made.", {
                "id": s("Snapshot id or object key.", max_len=1024),
                "location": s("s3:// URI or ARN.", max_len=2048),
                "time": timestamp("When"),
                "sizeBytes": i("Size.", 0, fmt="int64"),
                "sha256": s("Hex digest.", r"^[0-9a-f]{64}$", 64),
                "rows": i("Rows dumped (pgDump).", 0, fmt="int64"),
                "keys": i("Keys saved (redisRDB).", 0, fmt="int64"),
                "suspicious": s("Why this backup is not counted as good (empty, shrank).",
                                max_len=1024),
            }),
            "lastGood": obj("Newest backup that passed the never-empty checks.", {
                "id": s("Snapshot id or object key.", max_len=1024),
                "time": timestamp("When"),
                "sizeBytes": i("Size.", 0, fmt="int64"),
                "rows": i("Rows dumped (pgDump).", 0, fmt="int64"),
                "keys": i("Keys saved (redisRDB).", 0, fmt="int64"),
            }),
            "lastSuccessTime": timestamp("When this target last made a good backup"),
            "lastError": s("Error of the last failed attempt.", max_len=32768),
        }, required=["name"]), MAX_TARGETS),
        "run": obj("The run in progress (recorded before anything is created).", {
            "trigger": s("What started it.", enum=["schedule", "backup-now"]),
            "tick": timestamp("The schedule tick it runs for"),
            "token": s("The backup-now token it runs for.", max_len=253),
            "startedAt": timestamp("Start; backup names derive from it"),
            "stamp": s("UTC start as YYYYMMDDTHHMMSSZ.", max_len=16),
            "targets": arr("Per target.", obj("Target progress.", {
                "name": s("Target name.", max_len=63),
                "phase": s("Progress.", enum=["Pending", "Running", "Succeeded", "Suspicious",
                                              "Failed"]),
                "startedAt": timestamp("First called"),
                "attempts": i("Transient failures.", 0),
                "id": s("Backup made.", max_len=1024),
                "message": s("Progress or error.", max_len=4096),
            }, required=["name"]), MAX_TARGETS),
        }),
        "lastAuditTime": timestamp("Last comparison of the audit settings"),
        "drift": arr("Differences found by the last audit.", s("One difference.", max_len=1024),
                     64),
        "history": arr("The last 10 runs.", obj("Run.", {
            "time": timestamp("When"),
            "phase": s("Result.", enum=["Running", "Succeeded", "Failed", "PartiallyFailed",
                                        "Suspicious", "Skipped"]),
            "trigger": s("What started it.", enum=["schedule", "backup-now"]),
            "tick": timestamp("The schedule tick"),
            "token": s("The backup-now token.", max_len=253),
            "finishedAt": timestamp("End"),
            "message": s("Why (a skipped tick).", max_len=1024),
            "targets": arr("Per target.", obj("Target result.", {
                "name": s("Target name.", max_len=63),
                "phase": s("Result.", enum=["Succeeded", "Failed", "Skipped", "Suspicious"]),
                "id": s("Backup made.", max_len=1024),
                "message": s("Error.", max_len=4096),
            }, required=["name"]), MAX_TARGETS),
        }, required=["time"]), 10),
        "lastVerification": obj("Last scheduled verification.", {
            "name": s("VerificationRun name.", max_len=253),
            "time": timestamp("When"),
            "phase": s("Its phase.", max_len=32),
        }),
    })
    return spec, status


# ---------------------------------------------------------------- RecoveryScope
MAX_PATTERNS = 64


def patterns(desc):
    return arr(desc + " Shell-style patterns (fnmatch: *, ?, [..]); empty or absent: none.",
               s("Pattern.", max_len=2048, min_len=1), MAX_PATTERNS)


def recovery_scope_schema():
    spec = obj("Which namespaces this scope selects and what their requests may act on. "
               "Deny by default: a namespace no scope selects can restore nothing, and a "
               "name no pattern below allows is refused (Valid=False) before any AWS call.", {
        "namespaces": arr("Namespaces selected by name (patterns).",
                          s("Namespace or pattern.", max_len=253, min_len=1), MAX_PATTERNS),
        "namespaceSelector": obj("Namespaces selected by label.", {
            "matchLabels": {"type": "object", "description": "Labels that must all match.",
                            "additionalProperties": {"type": "string", "maxLength": 63},
                            "maxProperties": 32},
        }),
        "aws": obj("AWS resources and identity.", {
            "roleArn": s("Role assumed (sts:AssumeRole) for every AWS call made for these "
                         "namespaces; empty: the operator's own credentials.",
                         r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", 2048, 20),
            "rdsInstances": patterns("DB instance identifiers (sources, targets, in-place)."),
            "rdsClusters": patterns("DB cluster identifiers."),
            "rdsSnapshots": patterns("DB snapshot identifiers or ARNs restored from."),
            "instanceClasses": patterns("Instance classes of new instances."),
            "subnetGroups": patterns("DB subnet groups of new instances."),
            "securityGroups": patterns("VPC security group ids of new instances."),
            "allowPublic": b("Whether copies may be publiclyAccessible.", False),
            "s3": arr("S3 locations: a bucket pattern and a key prefix.", obj("Location.", {
                "bucket": s("Bucket (pattern).", max_len=255, min_len=1),
                "prefix": s("Key prefix (empty: the whole bucket).", max_len=1024),
            }, required=["bucket"]), MAX_PATTERNS),
            "secretIds": patterns("Secrets Manager secret names or ARNs."),
        }),
        "kubernetes": obj("What Jobs and checks may use.", {
            "images": patterns("Container images of migrations and job items."),
            "serviceAccounts": patterns("ServiceAccounts of migrations and job items "
                                        "(the namespace's default is always allowed)."),
            "httpHosts": patterns("Hosts HTTP checks may call."),
        }),
        "approval": obj("Who may approve.", {
            "users": arr("Users who may approve (empty: anyone authorised to approve).",
                         s("User.", max_len=253, min_len=1), 64),
            "groups": arr("Groups whose members may approve.",
                          s("Group.", max_len=253, min_len=1), 64),
            "requireDistinctApprover": b("The requester cannot approve their own request "
                                         "(four eyes).", True),
        }),
    }, rules=[("has(self.namespaces) || has(self.namespaceSelector)",
               "RecoveryScope: namespaces or namespaceSelector must be set")])
    return spec, None


# ---------------------------------------------------------------- CRDs
def crd(kind, plural, short, spec_status, columns, scope="Namespaced", root_rules=()):
    spec, status = spec_status
    schema = {
        "type": "object",
        "description": "%s (lifeboat.dev/%s); see DESIGN.md section 3." % (kind, VERSION),
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        "required": ["spec"],
    }
    if status is None:
        del schema["properties"]["status"]
    if root_rules:
        schema["x-kubernetes-validations"] = [dict(r) for r in root_rules]
    version = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "additionalPrinterColumns": columns,
        "schema": {"openAPIV3Schema": schema},
    }
    if status is None:
        del version["subresources"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "%s.%s" % (plural, GROUP),
            "labels": {"app.kubernetes.io/name": "lifeboat",
                       "app.kubernetes.io/part-of": "lifeboat"},
        },
        "spec": {
            "group": GROUP,
            "scope": scope,
            "names": {
                "kind": kind,
                "listKind": kind + "List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
                "categories": ["lifeboat"],
            },
            "versions": [version],
        },
    }


def col(name, typ, path, desc, priority=None):
    out = {"name": name, "type": typ, "jsonPath": path, "description": desc}
    if priority is not None:
        out["priority"] = priority
    return out


AGE = col("Age", "date", ".metadata.creationTimestamp", "Time since creation.")


def all_crds():
    return {
        "lifeboat.dev_restorerequests.yaml": crd(
            "RestoreRequest", "restorerequests", "rr", restore_request_schema(), [
                col("Phase", "string", ".status.phase", "Phase of the restore."),
                col("Step", "string", ".status.currentStep", "Step being worked on."),
                col("Approved", "string", '.status.conditions[?(@.type=="Approved")].status',
                    "Approval condition."),
                AGE,
                col("Duration", "integer", ".status.durationSeconds", "Seconds taken."),
            ], root_rules=[{
                "rule": "!has(oldSelf.status) || !has(oldSelf.status.startedAt) || "
                        "self.spec == oldSelf.spec",
                "message": "spec is immutable once the restore has started (status.startedAt "
                           "is set); create a new RestoreRequest",
                "reason": "FieldValueForbidden",
            }]),
        "lifeboat.dev_recoveryscopes.yaml": crd(
            "RecoveryScope", "recoveryscopes", "rscope", recovery_scope_schema(), [
                col("Role", "string", ".spec.aws.roleArn", "AWS role assumed."),
                AGE,
            ], scope="Cluster"),
        "lifeboat.dev_verificationruns.yaml": crd(
            "VerificationRun", "verificationruns", "vr", verification_run_schema(), [
                col("Phase", "string", ".status.phase", "Phase of the run."),
                col("Passed", "string", ".status.summary", "Checks passed / total."),
                AGE,
            ]),
        "lifeboat.dev_backuppolicies.yaml": crd(
            "BackupPolicy", "backuppolicies", "bp", backup_policy_schema(), [
                col("Schedule", "string", ".spec.schedule", "Cron schedule."),
                col("Last Backup", "date", ".status.lastSuccessfulTime",
                    "Time since the last successful backup."),
                col("Stale", "string", '.status.conditions[?(@.type=="BackupStale")].status',
                    "Newest backup older than staleAfter."),
                AGE,
            ]),
    }


HEADER = ("# Generated by crds/generate.py - do not edit by hand; edit the generator and run\n"
          "# python3 crds/generate.py\n")


def render(doc):
    return HEADER + "---\n" + yaml.safe_dump(doc, sort_keys=False, width=100,
                                             default_flow_style=False)


def main(argv):
    check = "--check" in argv[1:]
    stale = []
    for fname, doc in all_crds().items():
        path = os.path.join(HERE, fname)
        text = render(doc)
        if check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(fname)
            except FileNotFoundError:
                stale.append(fname)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("out of date: %s (run python3 crds/generate.py)" % ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""kubesim: a Kubernetes API emulator that the real kubectl 1.32 accepts.

python3 server.py --run-dir DIR [--port 6443] [--history N] [--bookmark-interval S]
Writes DIR/kubesim/{ca,server}.{crt,key}, DIR/kubesim/token, DIR/kubeconfig.
See README.md for what is emulated.
"""
import argparse
import base64
import copy
import datetime
import hashlib
import http.server
import json
import logging
import os
import queue
import random
import re
import secrets
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import yaml  # noqa: E402

import builtin_fields  # noqa: E402
import jsonpatch  # noqa: E402
import patch as patchmod  # noqa: E402
import protobuf  # noqa: E402
import tables  # noqa: E402
import validation  # noqa: E402
from resources import REVIEWS, VERBS, ResourceType, builtin_types  # noqa: E402
from store import Gone, Store  # noqa: E402

log = logging.getLogger("kubesim")

MAX_BODY_BYTES = 3 * 1024 * 1024          # etcd's default request limit
MAX_DRAIN_BYTES = 16 * 1024 * 1024      # oversized bodies read (and dropped) before a 413
MAX_LIST_LIMIT = 100000
VERSION_INFO = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-kubesim", "gitCommit": "kubesim",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                "compiler": "gc", "platform": "linux/amd64"}
DNS1123_SUB = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
OBJECTMETA_FIELDS = {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                     "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
                     "annotations", "ownerReferences", "finalizers", "managedFields"}


def now_ts():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self):
        s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            s["details"] = self.details
        return s


MAX_NESTING = 100  # object/list depth accepted in a body (deeper ones would exhaust recursion)


def check_depth(v):
    """400 when v nests deeper than MAX_NESTING (iterative, so it cannot overflow itself)."""
    stack = [(v, 1)]
    while stack:
        x, d = stack.pop()
        if d > MAX_NESTING:
            raise bad_request("request body nests deeper than %d levels" % MAX_NESTING)
        if isinstance(x, dict):
            stack.extend((y, d + 1) for y in x.values())
        elif isinstance(x, list):
            stack.extend((y, d + 1) for y in x)
    return v


def load_yaml_body(raw):
    """YAML request body -> object. Aliases are refused: they would let a small body expand
    exponentially once serialised (the 'billion laughs' shape)."""
    try:
        text = raw.decode("utf-8")
        for ev in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(ev, yaml.AliasEvent):
                raise bad_request("error decoding YAML: aliases are not allowed")
        return check_depth(yaml.safe_load(text))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as e:
        raise bad_request("error decoding YAML: %s" % e)


def not_found(rt, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (rt.qualified(), name),
                    {"name": name, "group": rt.group, "kind": rt.plural})


def conflict(rt, name):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                    'please apply your changes to the latest version and try again' % (rt.qualified(), name),
                    {"name": name, "group": rt.group, "kind": rt.plural})


def invalid(rt, name, causes):
    """causes: list of (field, message, reason)."""
    msg = "; ".join("%s: %s" % (f, m) if f else m for f, m, _r in causes)
    if len(causes) > 1:
        msg = "[" + ", ".join("%s: %s" % (f, m) if f else m for f, m, _r in causes) + "]"
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (rt.kind_qualified(), name, msg),
                    {"name": name, "group": rt.group, "kind": rt.kind,
                     "causes": [{"reason": r, "message": m, "field": f} for f, m, r in causes]})


def bad_request(msg):
    return ApiError(400, "BadRequest", msg)


# ---------------------------------------------------------------- label / field selectors
_SEL_SET = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_SEL_OP = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|!=|=)\s*([A-Za-z0-9_./-]*)\s*$")
_SEL_EXISTS = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*$")


def _split_selector(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def parse_label_selector(s):
    """Returns predicate(labels dict) -> bool; raises ApiError(400) on syntax errors."""
    reqs = []
    for p in _split_selector(s or ""):
        m = _SEL_SET.match(p)
        if m:
            vals = {v.strip() for v in m.group(3).split(",") if v.strip()}
            reqs.append((m.group(1), m.group(2), vals))
            continue
        m = _SEL_OP.match(p)
        if m:
            reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
            continue
        m = _SEL_EXISTS.match(p)
        if m:
            reqs.append((m.group(2), "!" if m.group(1) else "exists", None))
            continue
        raise bad_request("unable to parse requirement: labelSelector %r" % p.strip())

    def pred(labels):
        labels = labels or {}
        for k, op, v in reqs:
            if op == "=" and labels.get(k) != v:
                return False
            if op == "!=" and labels.get(k) == v:
                return False
            if op == "in" and labels.get(k) not in v:
                return False
            if op == "notin" and k in labels and labels[k] in v:
                return False
            if op == "exists" and k not in labels:
                return False
            if op == "!" and k in labels:
                return False
        return True
    return pred


def parse_field_selector(s):
    reqs = []
    for p in _split_selector(s or ""):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*?)\s*$", p)
        if not m:
            raise bad_request("invalid field selector: %r" % p.strip())
        reqs.append((m.group(1).split("."), m.group(2) != "!=", m.group(3)))

    def pred(obj):
        for path, eq, v in reqs:
            cur = obj
            for k in path:
                cur = cur.get(k) if isinstance(cur, dict) else None
            cur = "" if cur is None else (str(cur).lower() if isinstance(cur, bool) else str(cur))
            if (cur == v) != eq:
                return False
        return True
    return pred


# ---------------------------------------------------------------- the simulator state
class Sim:
    def __init__(self, args):
        self.args = args
        self.store = Store(history=args.history)
        self.types = {}
        self.types_lock = threading.RLock()
        for rt in builtin_types():
            self.types[rt.gr] = rt
        self.token = None
        self.stopping = threading.Event()
        self.gc_wake = threading.Event()
        self.openapi_cache = {}

    # -- type registry
    def find_type(self, group, version, plural):
        with self.types_lock:
            rt = self.types.get((group, plural))
            if rt is None or version not in rt.versions:
                return None
            return rt

    def group_versions(self):
        """{group: [versions]} of everything served, core excluded."""
        with self.types_lock:
            out = {}
            for rt in self.types.values():
                if rt.group:
                    for v in rt.versions:
                        lst = out.setdefault(rt.group, [])
                        if v not in lst:
                            lst.append(v)
            return out

    def types_in(self, group, version):
        with self.types_lock:
            return [rt for rt in self.types.values() if rt.group == group and version in rt.versions]

    def crd_changed(self, crd, deleted=False):
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        gr = (spec.get("group", ""), names.get("plural", ""))
        with self.types_lock:
            if deleted:
                rt = self.types.pop(gr, None)
            else:
                served = [v["name"] for v in spec.get("versions", []) if v.get("served", True)]
                storage = next((v["name"] for v in spec.get("versions", []) if v.get("storage")),
                               served[0] if served else "v1")
                rt = ResourceType(gr[0], storage, gr[1], names.get("kind", ""),
                                  namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                                  short=names.get("shortNames", []), categories=names.get("categories", []),
                                  status=any("status" in (v.get("subresources") or {}) for v in spec.get("versions", [])),
                                  scale=any("scale" in (v.get("subresources") or {}) for v in spec.get("versions", [])),
                                  builtin=False, singular=names.get("singular") or names.get("kind", "").lower(),
                                  crd=copy.deepcopy(crd), versions=served or [storage])
                self.types[gr] = rt
            self.openapi_cache.clear()
        if deleted:
            self.store.drop_resource(gr)


SIM = None


# ---------------------------------------------------------------- object lifecycle
def schema_for(rt, version):
    for v in (rt.crd or {}).get("spec", {}).get("versions", []):
        if v.get("name") == version:
            return (v.get("schema") or {}).get("openAPIV3Schema")
    return None


def validate_meta(rt, obj, causes):
    md = obj.get("metadata")
    if not isinstance(md, dict):
        causes.append(("metadata", "Required value", "FieldValueRequired"))
        return
    name = md.get("name", "")
    if not isinstance(name, str) or not name:
        causes.append(("metadata.name", "Required value: name or generateName is required", "FieldValueRequired"))
    elif rt.gr == ("", "namespaces") or rt.gr == ("", "services"):
        if not DNS1123_LABEL.match(name) or len(name) > 63:
            causes.append(("metadata.name", 'Invalid value: "%s": a lowercase RFC 1123 label must consist of lower '
                           "case alphanumeric characters or '-', and must start and end with an alphanumeric "
                           "character" % name, "FieldValueInvalid"))
    elif not DNS1123_SUB.match(name) or len(name) > 253:
        if not (rt.gr == ("rbac.authorization.k8s.io", "clusterroles") or rt.gr[0] == "rbac.authorization.k8s.io"):
            causes.append(("metadata.name", 'Invalid value: "%s": a lowercase RFC 1123 subdomain must consist of '
                           "lower case alphanumeric characters, '-' or '.', and must start and end with an "
                           "alphanumeric character" % name, "FieldValueInvalid"))
    for fld in ("labels", "annotations"):
        v = md.get(fld)
        if v is not None and (not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values())):
            causes.append(("metadata." + fld, "Invalid value: must be a map of strings", "FieldValueInvalid"))
    if md.get("finalizers") is not None and not isinstance(md.get("finalizers"), list):
        causes.append(("metadata.finalizers", "Invalid value: must be a list of strings", "FieldValueInvalid"))


def builtin_defaults(rt, obj, old=None):
    gr = rt.gr
    spec = obj.get("spec")
    if gr == ("", "namespaces"):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if not obj["metadata"].get("deletionTimestamp"):
            obj.setdefault("status", {})["phase"] = "Active"
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif gr == ("", "secrets"):
        obj.setdefault("type", "Opaque")
        sd = obj.pop("stringData", None)
        if isinstance(sd, dict):
            data = obj.setdefault("data", {}) or {}
            for k, v in sd.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
    elif gr == ("", "services") and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        if "clusterIP" not in spec:
            if old is not None and old.get("spec", {}).get("clusterIP"):
                spec["clusterIP"] = old["spec"]["clusterIP"]
            else:
                spec["clusterIP"] = "10.96.%d.%d" % (random.randint(0, 255), random.randint(1, 254))
            spec["clusterIPs"] = [spec["clusterIP"]]
        for p in spec.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
                p.setdefault("targetPort", p.get("port"))
        spec.setdefault("sessionAffinity", "None")
    elif gr in (("apps", "deployments"), ("apps", "statefulsets"), ("apps", "replicasets")) and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        if gr == ("apps", "deployments"):
            spec.setdefault("strategy", {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
        if gr == ("apps", "statefulsets"):
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    elif gr == ("batch", "jobs") and isinstance(spec, dict):
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        if old is None and not spec.get("manualSelector"):
            # as the API server: the selector is the Job's uid, the template carries it
            # (so `kubectl logs job/X` picks this Job's pod, not any of the namespace)
            md = obj.setdefault("metadata", {})
            uid = md.setdefault("uid", str(uuid.uuid4()))
            ids = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                   "batch.kubernetes.io/job-name": md.get("name", ""), "job-name": md.get("name", "")}
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            tmpl = spec.get("template")
            if isinstance(tmpl, dict):
                tmd = tmpl.setdefault("metadata", {})
                if isinstance(tmd, dict):
                    tmd["labels"] = dict(tmd.get("labels") or {}, **ids)
    if gr == ("", "pods") and isinstance(spec, dict):
        spec.setdefault("restartPolicy", "Always")
        if old is None:
            obj.setdefault("status", {}).setdefault("phase", "Pending")


def builtin_validate(rt, obj, causes):
    gr = rt.gr
    spec = obj.get("spec")
    if gr in (("apps", "deployments"), ("apps", "statefulsets"), ("apps", "replicasets"), ("batch", "jobs")):
        if not isinstance(spec, dict):
            causes.append(("spec", "Required value", "FieldValueRequired"))
            return
        tmpl = spec.get("template")
        if not isinstance(tmpl, dict) or not isinstance(tmpl.get("spec"), dict):
            causes.append(("spec.template.spec", "Required value", "FieldValueRequired"))
            return
        if not tmpl["spec"].get("containers"):
            causes.append(("spec.template.spec.containers", "Required value", "FieldValueRequired"))
        if gr != ("batch", "jobs"):
            sel = (spec.get("selector") or {}).get("matchLabels")
            if spec.get("selector") is None:
                causes.append(("spec.selector", "Required value", "FieldValueRequired"))
            elif sel:
                lbl = (tmpl.get("metadata") or {}).get("labels") or {}
                if any(lbl.get(k) != v for k, v in sel.items()):
                    causes.append(("spec.template.metadata.labels", 'Invalid value: %s: `selector` does not match '
                                   'template `labels`' % json.dumps(lbl), "FieldValueInvalid"))
            r = spec.get("replicas")
            if r is not None and (not isinstance(r, int) or isinstance(r, bool) or r < 0):
                causes.append(("spec.replicas", "Invalid value: %s: must be greater than or equal to 0"
                               % json.dumps(r), "FieldValueInvalid"))
    elif gr == ("", "pods"):
        if not isinstance(spec, dict) or not spec.get("containers"):
            causes.append(("spec.containers", "Required value", "FieldValueRequired"))
    elif gr == ("coordination.k8s.io", "leases") and isinstance(spec, dict):
        d = spec.get("leaseDurationSeconds")
        if d is not None and (not isinstance(d, int) or d <= 0):
            causes.append(("spec.leaseDurationSeconds", "Invalid value: %s: must be greater than 0"
                           % json.dumps(d), "FieldValueInvalid"))
    elif gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
        validation.validate_crd(obj, causes)


def spec_changed(rt, old, new):
    """generation moves when anything but metadata (and status with a status
    subresource) changes."""
    skip = {"metadata", "status"} if rt.status else {"metadata"}
    a = {k: v for k, v in old.items() if k not in skip}
    b = {k: v for k, v in new.items() if k not in skip}
    return a != b


class Request:
    """Parsed per-request options."""

    def __init__(self, query):
        self.query = query

    def q(self, k, default=None):
        v = self.query.get(k)
        return v[0] if v else default

    @property
    def dry_run(self):
        return "All" in self.query.get("dryRun", [])


def crd_status(obj):
    spec = obj.get("spec", {})
    ts = now_ts()
    names = dict(spec.get("names", {}))
    names.setdefault("singular", names.get("kind", "").lower())
    names.setdefault("listKind", names.get("kind", "") + "List")
    old = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions", [])}

    def cond(t, reason, msg):
        c = old.get(t)
        return {"type": t, "status": "True", "reason": reason, "message": msg,
                "lastTransitionTime": c["lastTransitionTime"] if c and c.get("status") == "True" else ts}
    obj["status"] = {
        "acceptedNames": names,
        "conditions": [cond("NamesAccepted", "NoConflicts", "no conflicts found"),
                       cond("Established", "InitialNamesAccepted", "the initial names have been accepted")],
        "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
    }


def strict_unknown(unknown, req, warnings):
    """fieldValidation: Strict -> 400, Warn (the server default; kubectl sends Strict) ->
    Warning headers, Ignore -> nothing. The fields are already removed."""
    if not unknown:
        return
    mode = req.q("fieldValidation", "Warn")
    if mode == "Strict":
        raise ApiError(400, "BadRequest", "strict decoding error: " +
                       ", ".join('unknown field "%s"' % u for u in unknown))
    if mode == "Warn":
        warnings.extend('unknown field "%s"' % u for u in unknown)


def check_custom(rt, version, obj, old, req, warnings, causes):
    """Schema (unknown fields, types, defaults) for custom resources. CEL rules
    (x-kubernetes-validations) are not evaluated: the real API server does that in
    the suites (README "Retired")."""
    schema = schema_for(rt, version)
    if schema is None:
        return
    strict_unknown(validation.prune(obj, schema, top=True), req, warnings)
    validation.apply_defaults(obj, schema)
    validation.validate_schema(obj, schema, causes)


def admit(rt, version, obj, old, req, warnings, subresource=None):
    """Validation + defaulting shared by create/update/patch; raises ApiError(422)."""
    causes = []
    validate_meta(rt, obj, causes)
    if causes:
        raise invalid(rt, obj.get("metadata", {}).get("name", "") if isinstance(obj.get("metadata"), dict) else "",
                      causes)
    if rt.builtin:
        unknown = builtin_fields.unknown_fields(rt.gr, obj)
        strict_unknown(unknown, req, warnings)
        builtin_defaults(rt, obj, old)
        builtin_validate(rt, obj, causes)
    else:
        check_custom(rt, version, obj, old, req, warnings, causes)
    if causes:
        raise invalid(rt, obj["metadata"]["name"], causes)


def _strip_server_fields(md):
    for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
              "selfLink", "managedFields"):
        md.pop(k, None)


def storage_type(rt):
    return SIM.types[rt.store_gr]


def from_view(rt, body, req, warnings):
    """A view type's body (events.k8s.io Event) -> the stored form (core Event); unknown
    fields are judged on the view's own field list first."""
    if not isinstance(body, dict):
        raise bad_request("the body of the request was in an unknown format")
    body = copy.deepcopy(body)
    strict_unknown(builtin_fields.unknown_fields(rt.gr, body), req, warnings)
    return rt.unview(body)


def do_create(rt, version, ns, body, req, warnings):
    if rt.view is not None:
        srt = storage_type(rt)
        return rt.view(do_create(srt, srt.version, ns, from_view(rt, body, req, warnings), req, warnings))
    sim = SIM
    st = sim.store
    if not isinstance(body, dict):
        raise bad_request("the body of the request was in an unknown format")
    obj = copy.deepcopy(body)
    want_api = rt.api_version(version)
    if obj.get("kind") and obj.get("kind") != rt.kind:
        raise bad_request("the API version in the data (%s) does not match the expected API version (%s)"
                          % (obj.get("apiVersion"), want_api) if obj.get("apiVersion") != want_api else
                          "kind %s does not match the resource %s" % (obj.get("kind"), rt.kind))
    obj["apiVersion"] = want_api
    obj["kind"] = rt.kind
    md = obj.setdefault("metadata", {})
    if not isinstance(md, dict):
        raise bad_request("metadata must be an object")
    if not md.get("name") and md.get("generateName"):
        md["name"] = md["generateName"] + "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
    if rt.namespaced:
        if md.get("namespace") and ns and md["namespace"] != ns:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        md["namespace"] = ns
    else:
        md.pop("namespace", None)
    _strip_server_fields(md)
    md.pop("resourceVersion", None)
    if rt.status and rt.gr not in (("", "pods"),):
        obj.pop("status", None)
    admit(rt, version, obj, None, req, warnings)
    if rt.gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
        crd_status(obj)
    md["uid"] = md.get("uid") or str(uuid.uuid4())   # a Job's is set by its defaults
    md["creationTimestamp"] = now_ts()
    md["generation"] = 1
    with st.lock:
        if rt.namespaced:
            nsobj = st.objects[("", "namespaces")].get(("", ns))
            if nsobj is None:
                raise ApiError(404, "NotFound", 'namespaces "%s" not found' % ns,
                               {"name": ns, "kind": "namespaces"})
            if nsobj["metadata"].get("deletionTimestamp"):
                raise ApiError(403, "Forbidden", '%s "%s" is forbidden: unable to create new content in namespace '
                               '%s because it is being terminated' % (rt.qualified(), md["name"], ns),
                               {"name": md["name"], "group": rt.group, "kind": rt.plural,
                                "causes": [{"reason": "NamespaceTerminating",
                                            "message": "namespace %s is being terminated" % ns,
                                            "field": "metadata.namespace"}]})
        if (md.get("namespace", ""), md["name"]) in st.objects[rt.gr]:
            raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (rt.qualified(), md["name"]),
                           {"name": md["name"], "group": rt.group, "kind": rt.plural})
        if req.dry_run:
            md["resourceVersion"] = st.current_rv()
            return obj
        md["resourceVersion"] = st.next_rv()
        st.put(rt.gr, obj, "ADDED")
    if rt.gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
        sim.crd_changed(obj)
    return obj


def do_update(rt, version, ns, name, new, req, warnings, subresource=None, check_rv=True, create_ok=False):
    """PUT semantics: (object, created). A PUT without resourceVersion is unconditional, so
    a write that lands between our read and our commit just makes us go again."""
    for _attempt in range(20):
        try:
            return _update_once(rt, version, ns, name, new, req, warnings, subresource, check_rv, create_ok)
        except _Retry:
            continue
    raise conflict(rt, name)


def _update_once(rt, version, ns, name, new, req, warnings, subresource=None, check_rv=True, create_ok=False,
                 base_rv=None):
    """One attempt of an update on an already computed new object (patch uses this directly
    and recomputes the patch on _Retry). base_rv: the resourceVersion the caller computed new
    from (a patch); a store that has moved past it is a _Retry, so no write is lost."""
    if rt.view is not None:
        srt = storage_type(rt)
        obj, created = _update_once(srt, srt.version, ns, name, from_view(rt, new, req, warnings), req, warnings,
                                    subresource, check_rv, create_ok, base_rv)
        return rt.view(obj), created
    st = SIM.store
    if not isinstance(new, dict):
        raise bad_request("the body of the request was in an unknown format")
    with st.lock:
        old = st.objects[rt.gr].get((ns or "", name))
        if old is None:
            if create_ok:
                pass
            else:
                raise not_found(rt, name)
        if old is not None and base_rv is not None and old["metadata"]["resourceVersion"] != base_rv:
            raise _Retry()  # written since the patch was computed: compute it again
        old = copy.deepcopy(old) if old is not None else None
    if old is None:
        new.setdefault("metadata", {})["name"] = name
        return do_create(rt, version, ns, new, req, warnings), True
    obj = copy.deepcopy(new)
    md = obj.get("metadata")
    if not isinstance(md, dict):
        raise bad_request("metadata must be an object")
    if md.get("name") and md["name"] != name:
        raise bad_request('the name of the object (%s) does not match the name on the URL (%s)' % (md["name"], name))
    if rt.namespaced and md.get("namespace") and md["namespace"] != ns:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    want_rv = md.get("resourceVersion")
    if check_rv and want_rv and want_rv != old["metadata"]["resourceVersion"]:
        raise conflict(rt, name)
    if subresource == "status":
        # only status changes; everything else comes from the stored object
        st_new = obj.get("status")
        obj = copy.deepcopy(old)
        if st_new is None:
            obj.pop("status", None)
        else:
            obj["status"] = st_new
    else:
        obj["apiVersion"] = rt.api_version(version)
        obj["kind"] = rt.kind
        if rt.status:
            if "status" in old:
                obj["status"] = copy.deepcopy(old["status"])
            else:
                obj.pop("status", None)
        omd = old["metadata"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if k in omd:
                md[k] = omd[k]
            else:
                md.pop(k, None)
        md["name"] = name
        if rt.namespaced:
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        admit(rt, version, obj, old, req, warnings)
        if rt.gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
            crd_status(obj)
        if spec_changed(rt, old, obj):
            md["generation"] = int(omd.get("generation", 1)) + 1
    if not rt.builtin and subresource == "status":
        causes = []
        schema = schema_for(rt, version)
        if schema is not None:
            validation.prune(obj, schema, top=True)
            validation.validate_schema(obj, schema, causes)
        if causes:
            raise invalid(rt, name, causes)
    with st.lock:
        cur = st.objects[rt.gr].get((ns or "", name))
        if cur is None:
            raise not_found(rt, name)
        if cur["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]:
            # someone wrote in between: a client-supplied rv is a conflict, else retry
            if check_rv and want_rv:
                raise conflict(rt, name)
            raise _Retry()
        cmp_old = {k: v for k, v in old.items()}
        cmp_new = dict(obj)
        cmp_new["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        cmp_old["metadata"] = {k: v for k, v in old["metadata"].items() if k != "resourceVersion"}
        if cmp_old == cmp_new:
            return old, False  # no-op writes do not move resourceVersion
        if req.dry_run:
            return obj, False
        obj["metadata"]["resourceVersion"] = st.next_rv()
        if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
            st.put(rt.gr, obj, "MODIFIED")
            st.remove(rt.gr, ns or "", name)
            SIM.gc_wake.set()
        else:
            st.put(rt.gr, obj, "MODIFIED")
    if rt.gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
        SIM.crd_changed(obj)
    return obj, False


class _Retry(Exception):
    pass


def do_patch(rt, version, ns, name, ptype, body, req, warnings, subresource=None):
    st = SIM.store
    for _attempt in range(20):
        old = st.get(rt.store_gr, ns or "", name)
        if old is not None and rt.view is not None:
            old = rt.view(old)  # patches apply to the form the client sees
        if ptype == "application/apply-patch+yaml":
            applied = load_yaml_body(body)
            if not isinstance(applied, dict):
                raise bad_request("apply patch must be an object")
            if not req.q("fieldManager"):
                raise bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                                  "is required for apply patch")
            if old is None:
                if subresource:
                    raise not_found(rt, name)
                applied.setdefault("metadata", {})["name"] = name
                return do_create(rt, version, ns, applied, req, warnings), 201
            new = patchmod.apply_merge(old, applied, rt.builtin)
        else:
            if old is None:
                raise not_found(rt, name)
            try:
                p = check_depth(json.loads(body.decode("utf-8") or "null"))
            except (ValueError, UnicodeDecodeError, RecursionError) as e:
                raise bad_request("error decoding patch: %s" % e)
            if ptype == "application/merge-patch+json":
                if not isinstance(p, dict):
                    raise bad_request("merge patch must be a JSON object")
                new = patchmod.merge_patch(old, p)
            elif ptype == "application/json-patch+json":
                try:
                    new = jsonpatch.JsonPatch(p).apply(old)
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError,
                        KeyError, IndexError, AttributeError) as e:
                    # failed "test" ops and missing paths: 422 like the real server
                    raise ApiError(422, "Invalid", "the server rejected our request due to an error in our "
                                   "request: %s" % e)
            elif ptype == "application/strategic-merge-patch+json":
                if not rt.builtin:
                    raise ApiError(415, "UnsupportedMediaType",
                                   "the body of the request was in an unknown format - accepted media types "
                                   "include: application/json-patch+json, application/merge-patch+json, "
                                   "application/apply-patch+yaml")
                if not isinstance(p, dict):
                    raise bad_request("strategic merge patch must be a JSON object")
                new = patchmod.strategic_merge(old, p)
            else:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                               "accepted media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml")
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            raise bad_request("patch produced an invalid object")
        try:
            obj, _created = _update_once(rt, version, ns, name, new, req, warnings, subresource=subresource,
                                         check_rv=new["metadata"].get("resourceVersion") != old["metadata"]["resourceVersion"],
                                         base_rv=old["metadata"]["resourceVersion"])
            return obj, 200
        except _Retry:
            continue
    raise conflict(rt, name)


def do_delete(rt, ns, name, opts, req):
    """Returns (code, body)."""
    if rt.view is not None:
        code, obj = do_delete(storage_type(rt), ns, name, opts, req)
        return code, rt.view(obj)
    st = SIM.store
    policy = (opts or {}).get("propagationPolicy") or req.q("propagationPolicy")
    if policy is None and opts and opts.get("orphanDependents") is True:
        policy = "Orphan"
    if policy is None:
        # ReplicaSets/Deployments/Jobs default to Background here (real Jobs default to Orphan via kubectl)
        policy = "Background"
    if policy not in ("Background", "Foreground", "Orphan"):
        raise ApiError(422, "Invalid", "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: "
                       "Unsupported value: \"%s\": supported values: \"Foreground\", \"Background\", \"Orphan\"" % policy)
    pre = (opts or {}).get("preconditions") or {}
    with st.lock:
        cur = st.objects[rt.gr].get((ns or "", name))
        if cur is None:
            raise not_found(rt, name)
        if pre.get("uid") and pre["uid"] != cur["metadata"]["uid"]:
            raise ApiError(409, "Conflict", "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                           % (pre["uid"], cur["metadata"]["uid"]))
        if pre.get("resourceVersion") and pre["resourceVersion"] != cur["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "Precondition failed: ResourceVersion in precondition: %s, "
                           "ResourceVersion in object meta: %s" % (pre["resourceVersion"], cur["metadata"]["resourceVersion"]))
        if req.dry_run:
            return 200, copy.deepcopy(cur)
        obj = copy.deepcopy(cur)
        md = obj["metadata"]
        fins = list(md.get("finalizers") or [])
        if policy == "Foreground" and "foregroundDeletion" not in fins:
            fins.append("foregroundDeletion")
        if policy == "Orphan" and "orphan" not in fins and any(
                r.get("uid") == md["uid"] for objs in st.objects.values() for o in objs.values()
                for r in o["metadata"].get("ownerReferences") or ()):
            fins.append("orphan")
        if rt.gr == ("", "namespaces"):
            obj.setdefault("status", {})["phase"] = "Terminating"
            fins_ns = (obj.get("spec") or {}).get("finalizers") or []
        else:
            fins_ns = []
        if fins or fins_ns:
            changed = md.get("finalizers") != fins or not md.get("deletionTimestamp")
            md["finalizers"] = fins
            if not fins:
                md.pop("finalizers")
            md.setdefault("deletionTimestamp", now_ts())
            md.setdefault("deletionGracePeriodSeconds", 0)
            if changed or rt.gr == ("", "namespaces"):
                md["resourceVersion"] = st.next_rv()
                st.put(rt.gr, obj, "MODIFIED")
            SIM.gc_wake.set()
            return 202 if rt.gr != ("", "namespaces") else 200, obj
        gone = st.remove(rt.gr, ns or "", name)
    SIM.gc_wake.set()
    if rt.gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
        SIM.crd_changed(gone, deleted=True)
    return 200, gone


# ---------------------------------------------------------------- garbage collector
def gc_loop():
    """Background: ownerReference GC (Background/Foreground/Orphan), namespace
    finalization, foregroundDeletion/orphan finalizers."""
    sim = SIM
    st = sim.store
    last_rv = None
    while not sim.stopping.is_set():
        woken = sim.gc_wake.wait(1.0)
        sim.gc_wake.clear()
        rv = st.current_rv()
        if not woken and rv == last_rv:
            continue  # nothing changed since the last sweep
        try:
            while gc_pass():
                pass
        except Exception:  # noqa: BLE001 - keep the collector alive, but say why
            log.exception("gc pass failed")
        last_rv = st.current_rv()


def _owner_index(st):
    """uid -> list of (gr, ns, name, obj) of dependents."""
    deps = {}
    for gr, objs in st.objects.items():
        for (ns, name), o in objs.items():
            for ref in o["metadata"].get("ownerReferences") or []:
                deps.setdefault(ref.get("uid"), []).append((gr, ns, name, o))
    return deps


def gc_pass():
    """One sweep; returns True when it changed something (so the caller sweeps again)."""
    st = SIM.store
    actions = []
    with st.lock:
        deps = _owner_index(st)
        for gr, objs in list(st.objects.items()):
            for (ns, name), o in list(objs.items()):
                md = o["metadata"]
                refs = md.get("ownerReferences") or []
                if refs and not md.get("deletionTimestamp"):
                    live = [r for r in refs if r.get("uid") in st.by_uid]
                    if not live:
                        actions.append(("delete", gr, ns, name, "Background"))
                        continue
                    owners_fg = []
                    for r in refs:
                        loc = st.by_uid.get(r.get("uid"))
                        if loc is None:
                            continue
                        ow = st.objects[loc[0]].get((loc[1], loc[2]))
                        if ow and ow["metadata"].get("deletionTimestamp") and \
                                "foregroundDeletion" in (ow["metadata"].get("finalizers") or []):
                            owners_fg.append(r)
                    if owners_fg and len(owners_fg) == len(live):
                        actions.append(("delete", gr, ns, name, "Foreground"))
                if md.get("deletionTimestamp"):
                    fins = md.get("finalizers") or []
                    if "foregroundDeletion" in fins:
                        if not deps.get(md["uid"]):
                            actions.append(("unfinalize", gr, ns, name, "foregroundDeletion"))
                    if "orphan" in fins:
                        actions.append(("orphan", gr, ns, name, md["uid"]))
                    if gr == ("", "namespaces"):
                        actions.append(("ns", gr, ns, name, None))
    changed = False
    for act, gr, ns, name, arg in actions:
        rt = SIM.types.get(gr)
        if rt is None:
            continue
        if act == "delete":
            try:
                do_delete(rt, ns, name, {"propagationPolicy": arg}, Request({}))
                changed = True
            except ApiError:
                pass
        elif act == "unfinalize":
            changed |= _remove_finalizer(rt, ns, name, arg)
        elif act == "orphan":
            with st.lock:
                for dgr, dns, dname, _o in _owner_index(st).get(arg, []):
                    d = copy.deepcopy(st.objects[dgr].get((dns, dname)))
                    if d is None:
                        continue
                    d["metadata"]["ownerReferences"] = [r for r in d["metadata"].get("ownerReferences", [])
                                                        if r.get("uid") != arg]
                    if not d["metadata"]["ownerReferences"]:
                        d["metadata"].pop("ownerReferences")
                    d["metadata"]["resourceVersion"] = st.next_rv()
                    st.put(dgr, d, "MODIFIED")
            changed |= _remove_finalizer(rt, ns, name, "orphan")
        elif act == "ns":
            changed |= _finalize_namespace(name)
    return changed


def _remove_finalizer(rt, ns, name, fin):
    st = SIM.store
    with st.lock:
        o = st.objects[rt.gr].get((ns, name))
        if o is None or fin not in (o["metadata"].get("finalizers") or []):
            return False
        o = copy.deepcopy(o)
        o["metadata"]["finalizers"] = [f for f in o["metadata"]["finalizers"] if f != fin]
        if not o["metadata"]["finalizers"]:
            o["metadata"].pop("finalizers")
        o["metadata"]["resourceVersion"] = st.next_rv()
        st.put(rt.gr, o, "MODIFIED")
        if not o["metadata"].get("finalizers"):
            st.remove(rt.gr, ns, name)
    return True


def _finalize_namespace(name):
    st = SIM.store
    left = 0
    changed = False
    for gr, rt in list(SIM.types.items()):
        if not rt.namespaced or rt.view is not None:
            continue
        with st.lock:
            keys = [k for k in st.objects[gr] if k[0] == name]
        for (ns, n) in keys:
            o = st.get(gr, ns, n)
            if o is None:
                continue
            left += 1
            if not o["metadata"].get("deletionTimestamp"):
                try:
                    do_delete(rt, ns, n, {"propagationPolicy": "Background"}, Request({}))
                    changed = True
                except ApiError:
                    pass
    if left == 0:
        with st.lock:
            o = st.objects[("", "namespaces")].get(("", name))
            if o is not None and not o["metadata"].get("finalizers"):
                st.remove(("", "namespaces"), "", name)
                return True
    return changed


# ---------------------------------------------------------------- discovery / openapi
def api_resource_list(group, version):
    out = []
    for rt in sorted(SIM.types_in(group, version), key=lambda r: r.plural):
        e = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced, "kind": rt.kind,
             "verbs": ["create"] if rt.gr in REVIEWS else list(VERBS)}
        if rt.short:
            e["shortNames"] = rt.short
        if rt.categories:
            e["categories"] = rt.categories
        e["storageVersionHash"] = base64.b64encode(hashlib.sha256(("%s/%s/%s" % (group, version, rt.kind)).encode())
                                                   .digest()[:8]).decode()
        out.append(e)
        if rt.status:
            out.append({"name": rt.plural + "/status", "singularName": "", "namespaced": rt.namespaced,
                        "kind": rt.kind, "verbs": ["get", "patch", "update"]})
        if rt.scale:
            out.append({"name": rt.plural + "/scale", "singularName": "", "namespaced": rt.namespaced,
                        "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
        if rt.gr == ("", "pods"):
            for sub, verbs in (("exec", ["create", "get"]), ("attach", ["create", "get"]), ("log", ["get"])):
                out.append({"name": "pods/" + sub, "singularName": "", "namespaced": True,
                            "kind": "PodExecOptions" if sub != "log" else "Pod", "verbs": verbs})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (group, version) if group
            else version, "resources": out}


def api_group_list():
    groups = []
    order = []
    for rt in builtin_types():
        if rt.group and rt.group not in order:
            order.append(rt.group)
    gv = SIM.group_versions()
    for g in sorted(gv, key=lambda g: (order.index(g) if g in order else len(order), g)):
        vs = gv[g]
        pref = vs[0]
        with SIM.types_lock:
            for rt in SIM.types.values():
                if rt.group == g:
                    pref = rt.version
        groups.append({"name": g, "versions": [{"groupVersion": "%s/%s" % (g, v), "version": v} for v in vs],
                       "preferredVersion": {"groupVersion": "%s/%s" % (g, pref), "version": pref}})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def openapi_root():
    paths = {"api/v1": {}, "apis": {}}
    for g, vs in SIM.group_versions().items():
        for v in vs:
            paths["apis/%s/%s" % (g, v)] = {}
    out = {"paths": {}}
    for p in paths:
        doc = openapi_gv_doc(p)
        h = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64].upper()
        out["paths"][p] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (p, h)}
    return out


def openapi_gv_doc(path):
    """OpenAPI v3 document for one group-version: every resource's patch operation
    carries x-kubernetes-group-version-kind and the fieldValidation parameter (kubectl
    then relies on server-side field validation). Custom resources get their schema."""
    with SIM.types_lock:
        cached = SIM.openapi_cache.get(path)
        if cached is not None:
            return cached
    parts = path.split("/")
    if parts[0] == "api":
        group, version = "", parts[1]
    elif len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        group = version = None
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": {},
           "components": {"schemas": {}}}
    if group is not None:
        params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
        for rt in SIM.types_in(group, version):
            gvk = {"group": group, "version": version, "kind": rt.kind}
            prefix = "/api/%s" % version if not group else "/apis/%s/%s" % (group, version)
            scope = "/namespaces/{namespace}" if rt.namespaced else ""
            base = "%s%s/%s/{name}" % (prefix, scope, rt.plural)
            ref_name = "%s.%s.%s" % (".".join(reversed(group.split("."))) if group else "io.k8s.api.core",
                                     version, rt.kind)
            op = {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
                  "operationId": "patch%s" % rt.kind, "parameters": params,
                  "responses": {"200": {"description": "OK", "content": {"application/json": {
                      "schema": {"$ref": "#/components/schemas/" + ref_name}}}}}}
            doc["paths"][base] = {"get": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get",
                                          "responses": {"200": {"description": "OK"}}},
                                  "put": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "put",
                                          "parameters": params, "responses": {"200": {"description": "OK"}}},
                                  "patch": op}
            if rt.status:
                doc["paths"][base + "/status"] = {"patch": dict(op, operationId="patch%sStatus" % rt.kind)}
            schema = schema_for(rt, version) if not rt.builtin else None
            if schema is not None:
                s = copy.deepcopy(schema)
                s.setdefault("properties", {})
                s["properties"].setdefault("apiVersion", {"type": "string"})
                s["properties"].setdefault("kind", {"type": "string"})
                s["properties"]["metadata"] = {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
                s["x-kubernetes-group-version-kind"] = [gvk]
                doc["components"]["schemas"][ref_name] = s
            else:
                doc["components"]["schemas"][ref_name] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"] = {
            "type": "object", "properties": {k: {} for k in OBJECTMETA_FIELDS}}
    with SIM.types_lock:
        SIM.openapi_cache[path] = doc
    return doc


# ---------------------------------------------------------------- HTTP
def wants_table(accept):
    return "as=Table" in (accept or "")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubesim"
    sys_version = ""

    def log_message(self, fmt, *args):  # access log at debug level only
        log.debug("%s %s", self.address_string(), fmt % args)

    # --- responses
    def send_json(self, code, obj, headers=None):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            if isinstance(v, list):
                for x in v:
                    self.send_header(k, x)
            else:
                self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_status(self, err):
        self.send_json(err.code, err.status(), err.headers)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline(64)
                n = int(line.strip().split(b";")[0] or b"0", 16)
                if n == 0:
                    self.rfile.readline(64)
                    break
                if len(data) + n > MAX_BODY_BYTES:
                    self.close_connection = True
                    raise ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is %d"
                                   % MAX_BODY_BYTES)
                data += self.rfile.read(n)
                self.rfile.readline(64)
            return data
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY_BYTES:
            self.close_connection = True
            self.drain(n)
            raise ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is %d" % MAX_BODY_BYTES)
        return self.rfile.read(n) if n > 0 else b""

    def drain(self, n):
        """Discard an oversized body (up to MAX_DRAIN_BYTES) so the client reads our 413."""
        left = min(n, MAX_DRAIN_BYTES)
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            left -= len(chunk)

    def decode_body(self, raw):
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        if ctype == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(raw)
            except protobuf.UnsupportedKind as e:
                raise ApiError(415, "UnsupportedMediaType", "%s" % e)
            except protobuf.ProtoError as e:
                raise bad_request("protobuf: %s" % e)
        if ctype in ("application/yaml",):
            return load_yaml_body(raw)
        if ctype not in ("application/json", "", "*/*"):
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                           "accepted media types include: application/json, application/yaml, "
                           "application/vnd.kubernetes.protobuf")
        try:
            return check_depth(json.loads(raw.decode("utf-8"))) if raw else None
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise bad_request("error decoding request body: %s" % e)

    # --- dispatch
    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def dispatch(self):
        try:
            u = urllib.parse.urlsplit(self.path)
            path = u.path.rstrip("/") or "/"
            query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
            if path in ("/healthz", "/readyz", "/livez"):
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            auth = self.headers.get("Authorization", "")
            if not secrets.compare_digest(auth.encode(), ("Bearer " + SIM.token).encode()):
                self.read_body_quietly()
                raise ApiError(401, "Unauthorized", "Unauthorized")
            self.route(path, query)
        except ApiError as e:
            try:
                self.send_error_status(e)
            except OSError:
                pass
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - an unexpected bug answers 500 with its message
            log.exception("internal error on %s %s", self.command, self.path)
            try:
                self.send_error_status(ApiError(500, "InternalError", "Internal error occurred: %s" % e))
            except OSError:
                pass

    def read_body_quietly(self):
        try:
            n = int(self.headers.get("Content-Length") or 0)
            if 0 < n <= MAX_BODY_BYTES:
                self.rfile.read(n)
            elif n:
                self.close_connection = True
        except (OSError, ValueError):
            self.close_connection = True

    def route(self, path, query):
        m = self.command
        if path == "/version":
            return self.send_json(200, VERSION_INFO)
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % SIM.args.port}]})
        if path == "/apis":
            return self.send_json(200, api_group_list())
        if path == "/openapi/v3":
            return self.send_json(200, openapi_root())
        if path.startswith("/openapi/v3/"):
            p = path[len("/openapi/v3/"):]
            if p != "apis" and p != "api/v1" and not p.startswith("apis/"):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            if p.startswith("apis/") and (len(p.split("/")) != 3 or
                                          p.split("/")[2] not in SIM.group_versions().get(p.split("/")[1], [])):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self.send_json(200, openapi_gv_doc(p))
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
            if version != "v1":
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
            if version not in SIM.group_versions().get(group, []):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
        elif parts[0] == "apis" and len(parts) == 2:
            g = parts[1]
            vs = SIM.group_versions().get(g)
            if not vs:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self.send_json(200, [gr for gr in api_group_list()["groups"] if gr["name"] == g][0] |
                                  {"kind": "APIGroup", "apiVersion": "v1"})
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return self.send_json(200, api_resource_list(group, version))
        if rest[0] == "watch" and len(rest) > 1 and m == "GET":
            # deprecated /watch/ prefix: same as ?watch=true (with a name: fieldSelector)
            rest = rest[1:]
            query["watch"] = ["true"]
            if len(rest) in (2, 4):
                query["fieldSelector"] = ["metadata.name=" + rest[-1]]
                rest = rest[:-1]
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            ns = rest[1]
            rest = rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        rt = SIM.find_type(group, version, plural)
        if rt is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if ns is not None and not rt.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rt.namespaced and name is not None and ns is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        req = Request(query)
        if sub is not None:
            if sub == "finalize" and rt.gr == ("", "namespaces"):
                sub = "status"
            if rt.gr == ("", "pods") and sub in ("exec", "attach", "log"):
                return self.pod_stream(ns, name, sub, query)
            if sub == "scale" and rt.scale:
                return self.scale(rt, version, ns, name, req)
            if sub != "status" or not rt.status:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rt.gr in REVIEWS:
            if m != "POST" or name is not None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            body = self.decode_body(self.read_body())
            if not isinstance(body, dict):
                raise bad_request("the body of the request was in an unknown format")
            body = dict(body, apiVersion=rt.api_version(version), kind=rt.kind,
                        status={"allowed": True, "reason": "kubesim authorizes every authenticated request"})
            return self.send_json(201, body)
        if m in ("GET", "HEAD"):
            if name is None:
                if req.q("watch") in ("true", "1"):
                    return self.watch(rt, version, ns, req)
                return self.list(rt, version, ns, req)
            obj = SIM.store.get(rt.store_gr, ns or "", name)
            if obj is None:
                raise not_found(rt, name)
            return self.send_obj(200, rt, version, rt.view(obj) if rt.view else obj)
        if m == "POST":
            if name is not None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            body = self.decode_body(self.read_body())
            warnings = []
            obj = do_create(rt, version, ns, body, req, warnings)
            return self.send_obj(201, rt, version, obj, warnings)
        if m == "PUT":
            if name is None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            body = self.decode_body(self.read_body())
            if not rt.builtin and isinstance(body, dict) and isinstance(body.get("metadata"), dict) and \
                    not body["metadata"].get("resourceVersion"):
                raise invalid(rt, name, [("metadata.resourceVersion", "Invalid value: 0x0: must be specified "
                                          "for an update", "FieldValueInvalid")])
            warnings = []
            obj, created = do_update(rt, version, ns, name, body, req, warnings, subresource=sub,
                                     create_ok=rt.gr == ("coordination.k8s.io", "leases"))
            return self.send_obj(201 if created else 200, rt, version, obj, warnings)
        if m == "PATCH":
            if name is None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            raw = self.read_body()
            warnings = []
            obj, code = do_patch(rt, version, ns, name, ctype, raw, req, warnings, subresource=sub)
            return self.send_obj(code, rt, version, obj, warnings)
        if m == "DELETE":
            raw = self.read_body()
            opts = self.decode_body(raw) if raw else None
            if name is None:
                return self.delete_collection(rt, version, ns, req, opts)
            code, obj = do_delete(rt, ns, name, opts, req)
            return self.send_obj(code, rt, version, obj)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def send_obj(self, code, rt, version, obj, warnings=None):
        obj = dict(obj)
        obj["apiVersion"] = rt.api_version(version)
        headers = {}
        if warnings:
            headers["Warning"] = ['299 - "%s"' % w.replace('"', '\\"') for w in warnings]
        if wants_table(self.headers.get("Accept")) and self.command == "GET":
            return self.send_json(code, tables.to_table(rt, version, [obj], obj["metadata"].get("resourceVersion", ""),
                                                        self.include_object()), headers)
        return self.send_json(code, obj, headers)

    def include_object(self):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        return (q.get("includeObject") or ["Metadata"])[0]

    def predicate(self, req, optional=False, rt=None):
        """Selector predicate over stored objects (judged in rt's view form); with
        optional=True None when there is no selector."""
        if optional and not req.q("labelSelector") and not req.q("fieldSelector"):
            return None
        lp = parse_label_selector(req.q("labelSelector", ""))
        fp = parse_field_selector(req.q("fieldSelector", ""))
        if rt is not None and rt.view is not None:
            return lambda o: lp(o["metadata"].get("labels")) and fp(rt.view(o))
        return lambda o: lp(o["metadata"].get("labels")) and fp(o)

    def list(self, rt, version, ns, req):
        pred = self.predicate(req, optional=True, rt=rt)
        try:
            limit = int(req.q("limit", "0") or 0)
        except ValueError:
            raise bad_request("limit: must be an integer")
        limit = max(0, min(limit, MAX_LIST_LIMIT))
        after = None
        rv_tok = None
        cont = req.q("continue")
        if cont:
            try:
                tok = json.loads(base64.urlsafe_b64decode(cont.encode() + b"==").decode())
                after = (tok["ns"], tok["name"])
                rv_tok = tok["rv"]
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, "BadRequest", "continue key is not valid: malformed token")
        items, last, remaining, rv = SIM.store.list_after(rt.store_gr, ns, after, limit, pred)
        if rt.view is not None:
            items = [rt.view(o) for o in items]
        rv = rv_tok or rv
        md = {"resourceVersion": rv}
        next_cont = None
        if limit and remaining and last is not None:
            next_cont = base64.urlsafe_b64encode(json.dumps({"ns": last[0], "name": last[1], "rv": rv})
                                                 .encode()).decode().rstrip("=")
            md["continue"] = next_cont
            if pred is None:
                md["remainingItemCount"] = remaining
        api_v = rt.api_version(version)
        items = [dict(o, apiVersion=api_v) for o in items]  # shallow: stored objects stay untouched
        if wants_table(self.headers.get("Accept")):
            return self.send_json(200, tables.to_table(rt, version, items, rv, self.include_object(), next_cont,
                                                       remaining if next_cont and pred is None else None))
        return self.send_json(200, {"kind": rt.kind + "List", "apiVersion": api_v, "metadata": md, "items": items})

    def delete_collection(self, rt, version, ns, req, opts):
        pred = self.predicate(req, rt=rt)
        items, rv = SIM.store.list(rt.store_gr, ns, pred)
        out = []
        for o in items:
            try:
                _c, d = do_delete(rt, o["metadata"].get("namespace"), o["metadata"]["name"], opts, req)
                out.append(d)
            except ApiError as e:
                if e.code != 404:
                    raise
        return self.send_json(200, {"kind": rt.kind + "List", "apiVersion": rt.api_version(version),
                                    "metadata": {"resourceVersion": SIM.store.current_rv()}, "items": out})

    def scale(self, rt, version, ns, name, req):
        obj = SIM.store.get(rt.store_gr, ns or "", name)
        if obj is None:
            raise not_found(rt, name)
        if self.command in ("PUT", "PATCH"):
            raw = self.read_body()
            if self.command == "PUT":
                body = self.decode_body(raw)
            else:
                cur = self.scale_obj(rt, obj)
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                p = json.loads(raw or b"{}")
                body = jsonpatch.JsonPatch(p).apply(cur) if ctype == "application/json-patch+json" else \
                    patchmod.merge_patch(cur, p)
            replicas = (body.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise invalid(rt, name, [("spec.replicas", "Invalid value: %s: must be greater than or equal to 0"
                                          % json.dumps(replicas), "FieldValueInvalid")])
            obj, _ = do_patch(rt, version, ns, name, "application/merge-patch+json",
                              json.dumps({"spec": {"replicas": replicas}}).encode(), req, [])
        return self.send_json(200, self.scale_obj(rt, obj))

    def scale_obj(self, rt, obj):
        md = obj["metadata"]
        sel = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": md["name"], "namespace": md.get("namespace"), "uid": md["uid"],
                             "resourceVersion": md["resourceVersion"], "creationTimestamp": md["creationTimestamp"]},
                "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                           "selector": ",".join("%s=%s" % kv for kv in sorted(sel.items()))}}

    # --- watch
    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def client_gone(self):
        try:
            r, _w, _x = select.select([self.connection], [], [], 0)
            if not r:
                return False
            data = self.connection.recv(1)
            return not data
        except (OSError, ValueError, ssl.SSLError):
            return True

    def watch(self, rt, version, ns, req):
        pred = self.predicate(req, rt=rt)
        rv_s = req.q("resourceVersion", "") or "0"
        try:
            since = int(rv_s)
        except ValueError:
            raise bad_request('invalid resource version "%s"' % rv_s)
        try:
            timeout = float(req.q("timeoutSeconds", "0") or 0)
        except ValueError:
            raise bad_request("timeoutSeconds: must be a number")
        if timeout <= 0:
            timeout = 1800 + random.random() * 1800
        bookmarks = req.q("allowWatchBookmarks") in ("true", "1")
        table = wants_table(self.headers.get("Accept"))
        inc = self.include_object()
        api_v = rt.api_version(version)
        try:
            w, initial = SIM.store.watch(rt.store_gr, ns, since)
        except Gone as e:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            st = ApiError(410, "Expired", str(e)).status()
            self.write_chunk(json.dumps({"type": "ERROR", "object": st}).encode() + b"\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            self.wfile.flush()
            first = [True]
            last_rv = [since if since else int(SIM.store.current_rv())]

            def emit(ev):
                rv, _gr, _ns, etype, obj, prev = ev
                now_m = pred(obj)
                was_m = prev is not None and pred(prev)
                if etype == "DELETED":
                    if not was_m:
                        return
                elif etype == "ADDED":
                    if not now_m:
                        return
                elif now_m and not was_m:
                    etype = "ADDED"
                elif was_m and not now_m:
                    etype = "DELETED"
                elif not now_m:
                    return
                last_rv[0] = max(last_rv[0], rv)
                obj = rt.view(obj) if rt.view is not None else dict(obj)
                obj["apiVersion"] = api_v
                if table:
                    out = tables.to_table(rt, version, [obj], obj["metadata"]["resourceVersion"], inc,
                                          headers=first[0])
                    first[0] = False
                else:
                    out = obj
                self.write_chunk(json.dumps({"type": etype, "object": out}, separators=(",", ":")).encode() + b"\n")

            for ev in initial:
                emit(ev)
            deadline = time.monotonic() + timeout
            interval = SIM.args.bookmark_interval
            next_bm = time.monotonic() + interval
            while not SIM.stopping.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = min(deadline - now, 0.5, max(0.0, next_bm - now) if bookmarks else 0.5)
                try:
                    ev = w.q.get(timeout=max(wait, 0.01))
                except queue.Empty:
                    ev = None
                if w.overflowed:
                    break
                if ev is not None:
                    emit(ev)
                    continue
                if bookmarks and time.monotonic() >= next_bm:
                    next_bm = time.monotonic() + interval
                    with SIM.store.lock:
                        # events are queued under the store lock: an empty queue here means
                        # everything up to the global rv has reached this watcher
                        if w.q.empty():
                            last_rv[0] = max(last_rv[0], int(SIM.store.rv))
                    bm = {"kind": rt.kind, "apiVersion": api_v,
                          "metadata": {"resourceVersion": str(last_rv[0])}}
                    self.write_chunk(json.dumps({"type": "BOOKMARK", "object": bm}).encode() + b"\n")
                if self.client_gone():
                    break
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            SIM.store.unwatch(w)

    # --- pod exec / attach / log
    def pod_stream(self, ns, name, sub, query):
        """kubesim runs no pods (the real control plane's process kubelet does, issue 9):
        pods/exec, attach and log are 501 for an existing pod."""
        pod = SIM.store.get(("", "pods"), ns, name)
        if pod is None:
            raise not_found(SIM.types[("", "pods")], name)
        raise ApiError(501, "NotImplemented",
                       "pods/%s is not available: kubesim runs no pods (use the real control "
                       "plane, e2e/controlplane)" % sub)


class TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, handler, sslctx):
        self.sslctx = sslctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # headers and body go out in separate writes: without NODELAY, Nagle + delayed ACK
        # add ~40 ms to every response
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # the handshake happens in the handler thread on first read
        return self.sslctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionResetError, BrokenPipeError, socket.timeout, OSError)):
            return
        super().handle_error(request, client_address)


# ---------------------------------------------------------------- certificates / kubeconfig
def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd[:3]), p.stderr.strip()))


def make_pki(d):
    os.makedirs(d, mode=0o700, exist_ok=True)
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, crt = os.path.join(d, "server.key"), os.path.join(d, "server.crt")
    if all(os.path.exists(p) for p in (ca_key, ca_crt, key, crt)):
        return ca_crt, crt, key
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", ca_key, "-out", ca_crt, "-days", "3650", "-subj", "/CN=kubesim-ca",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    csr = os.path.join(d, "server.csr")
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", csr, "-subj", "/CN=kubesim"])
    ext = os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
         "-out", crt, "-days", "3650", "-extfile", ext])
    for p in (ca_key, key):
        os.chmod(p, 0o600)
    return ca_crt, crt, key


def write_kubeconfig(path, server, ca_crt, token):
    with open(ca_crt, "rb") as f:
        ca_data = base64.b64encode(f.read()).decode()
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "kubesim", "preferences": {},
           "clusters": [{"name": "kubesim", "cluster": {"server": server, "certificate-authority-data": ca_data}}],
           "users": [{"name": "kubesim", "user": {"token": token}}],
           "contexts": [{"name": "kubesim", "context": {"cluster": "kubesim", "user": "kubesim",
                                                         "namespace": "default"}}]}
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(cfg, f, default_flow_style=False)
    os.replace(tmp, path)


def seed(sim):
    req = Request({})
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        do_create(sim.types[("", "namespaces")], "v1", None, {"metadata": {"name": ns}}, req, [])
    do_create(sim.types[("", "nodes")], "v1", None, {"metadata": {"name": "kubesim", "labels": {
        "kubernetes.io/hostname": "kubesim", "kubernetes.io/os": "linux"}}}, req, [])
    do_create(sim.types[("", "serviceaccounts")], "v1", "default", {"metadata": {"name": "default"}}, req, [])


def main():
    global SIM
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--port", type=int, default=6443)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--history", type=int, default=int(os.environ.get("KUBESIM_HISTORY", "20000")),
                    help="watch events kept for resuming (older resourceVersions get 410)")
    ap.add_argument("--bookmark-interval", type=float,
                    default=float(os.environ.get("KUBESIM_BOOKMARK_INTERVAL", "5")))
    ap.add_argument("--log-level", default=os.environ.get("KUBESIM_LOG_LEVEL", "INFO"))
    args = ap.parse_args()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def on_signal(signum, _frame):  # handlers only set a flag
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run_dir = os.path.abspath(args.run_dir)
    kdir = os.path.join(run_dir, "kubesim")
    ca_crt, crt, key = make_pki(kdir)
    SIM = Sim(args)
    SIM.token = secrets.token_urlsafe(32)
    seed(SIM)
    sslctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sslctx.load_cert_chain(crt, key)
    sslctx.set_alpn_protocols(["http/1.1"])
    try:
        srv = TLSServer((args.host, args.port), Handler, sslctx)
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", args.host, args.port, e.strerror or e)
        return 1
    url = "https://127.0.0.1:%d" % srv.server_address[1]
    # the token file and kubeconfig are written only once we own the port
    tok_path = os.path.join(kdir, "token")
    fd = os.open(tok_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(SIM.token)
    write_kubeconfig(os.path.join(run_dir, "kubeconfig"), url, ca_crt, SIM.token)
    threading.Thread(target=gc_loop, name="gc", daemon=True).start()
    t = threading.Thread(target=srv.serve_forever, name="http", daemon=True)
    t.start()
    log.info("kubesim listening on %s (history %d, bookmark interval %.1fs)", url, args.history,
             args.bookmark_interval)
    while not stop.wait(1):
        pass
    log.info("shutting down")
    SIM.stopping.set()
    srv.shutdown()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

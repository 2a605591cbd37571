"""Server-side Table output (meta.k8s.io/v1) for kubectl get."""
import datetime
import logging

import jsonpath

log = logging.getLogger("kubesim.tables")


def parse_time(s):
    if not s:
        return None
    try:
        return datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def human_duration(seconds):
    """kubectl's duration.HumanDuration."""
    s = int(seconds)
    if s < 0:
        s = 0
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm%ds" % (m, s % 60) if s % 60 else "%dm" % m
    if m < 180:
        return "%dm" % m
    h = s // 3600
    if h < 8:
        return "%dh%dm" % (h, m % 60) if m % 60 else "%dh" % h
    if h < 48:
        return "%dh" % h
    d = h // 24
    if h < 24 * 8:
        return "%dd%dh" % (d, h % 24) if h % 24 else "%dd" % d
    if h < 24 * 365 * 2:
        return "%dd" % d
    if h < 24 * 365 * 8:
        y = d // 365
        return "%dy%dd" % (y, d % 365) if d % 365 else "%dy" % y
    return "%dy" % (d // 365)


def age(ts):
    t = parse_time(ts)
    if t is None:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())


def _col(name, typ="string", fmt="", desc="", priority=0):
    return {"name": name, "type": typ, "format": fmt, "description": desc or name, "priority": priority}


def _g(o, *path, default=None):
    for p in path:
        if isinstance(o, dict) and p in o:
            o = o[p]
        elif isinstance(o, list) and isinstance(p, int) and -len(o) <= p < len(o):
            o = o[p]
        else:
            return default
    return o


def _pod_row(o):
    cs = _g(o, "status", "containerStatuses", default=[]) or []
    n = len(_g(o, "spec", "containers", default=[]) or [])
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in cs)
    status = _g(o, "status", "reason") or _g(o, "status", "phase", default="Pending")
    for c in cs:
        w = _g(c, "state", "waiting", "reason")
        t = _g(c, "state", "terminated")
        if w:
            status = w
        elif t is not None and not _g(o, "status", "reason"):
            status = t.get("reason") or ("Signal:%s" % t["signal"] if t.get("signal") else
                                         "ExitCode:%s" % t.get("exitCode", 0))
    if _g(o, "metadata", "deletionTimestamp"):
        status = "Terminating"
    return ["%d/%d" % (ready, n), status, restarts, age(_g(o, "metadata", "creationTimestamp")),
            _g(o, "status", "podIP", default="<none>"), _g(o, "spec", "nodeName", default="<none>")]


def _ready_of(o):
    return "%d/%d" % (_g(o, "status", "readyReplicas", default=0) or 0, _g(o, "spec", "replicas", default=0) or 0)


def _event_obj(o):
    io = o.get("involvedObject") or o.get("regarding") or {}
    return "%s/%s" % ((io.get("kind") or "").lower(), io.get("name", ""))


def _event_last(o):
    ts = o.get("lastTimestamp") or o.get("eventTime") or _g(o, "series", "lastObservedTime") or \
        o.get("deprecatedLastTimestamp") or _g(o, "metadata", "creationTimestamp")
    return age(ts)


def _job_status(o):
    for c in _g(o, "status", "conditions", default=[]) or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed", "Suspended"):
            return c["type"]
    return "Running"


def _ctime(o):
    return age(_g(o, "metadata", "creationTimestamp"))


BUILTIN_COLUMNS = {
    ("", "pods"): ([_col("Ready"), _col("Status"), _col("Restarts", "string"), _col("Age"),
                    _col("IP", priority=1), _col("Node", priority=1)], _pod_row),
    ("", "namespaces"): ([_col("Status"), _col("Age")],
                         lambda o: [_g(o, "status", "phase", default="Active"), _ctime(o)]),
    ("", "services"): ([_col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), _col("Age")],
                       lambda o: [_g(o, "spec", "type", default="ClusterIP"), _g(o, "spec", "clusterIP", default="<none>"),
                                  "<none>", ",".join("%s/%s" % (p.get("port"), p.get("protocol", "TCP"))
                                                     for p in _g(o, "spec", "ports", default=[]) or []) or "<none>",
                                  _ctime(o)]),
    ("", "secrets"): ([_col("Type"), _col("Data", "integer"), _col("Age")],
                      lambda o: [o.get("type", "Opaque"), len(o.get("data") or {}), _ctime(o)]),
    ("", "configmaps"): ([_col("Data", "integer"), _col("Age")],
                         lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {}), _ctime(o)]),
    ("", "serviceaccounts"): ([_col("Secrets", "integer"), _col("Age")],
                              lambda o: [len(o.get("secrets") or []), _ctime(o)]),
    ("", "events"): ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")],
                     lambda o: [_event_last(o), o.get("type", ""), o.get("reason", ""), _event_obj(o),
                                o.get("message") or o.get("note", "")]),
    ("events.k8s.io", "events"): ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")],
                                  lambda o: [_event_last(o), o.get("type", ""), o.get("reason", ""), _event_obj(o),
                                             o.get("note") or o.get("message", "")]),
    ("", "persistentvolumeclaims"): ([_col("Status"), _col("Volume"), _col("Capacity"), _col("Age")],
                                     lambda o: [_g(o, "status", "phase", default="Pending"),
                                                _g(o, "spec", "volumeName", default=""),
                                                _g(o, "status", "capacity", "storage", default=""), _ctime(o)]),
    ("apps", "deployments"): ([_col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), _col("Age")],
                              lambda o: [_ready_of(o), _g(o, "status", "updatedReplicas", default=0) or 0,
                                         _g(o, "status", "availableReplicas", default=0) or 0, _ctime(o)]),
    ("apps", "statefulsets"): ([_col("Ready"), _col("Age")], lambda o: [_ready_of(o), _ctime(o)]),
    ("apps", "replicasets"): ([_col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"), _col("Age")],
                              lambda o: [_g(o, "spec", "replicas", default=0) or 0, _g(o, "status", "replicas", default=0) or 0,
                                         _g(o, "status", "readyReplicas", default=0) or 0, _ctime(o)]),
    ("batch", "jobs"): ([_col("Status"), _col("Completions"), _col("Duration"), _col("Age")],
                        lambda o: [_job_status(o), "%d/%d" % (_g(o, "status", "succeeded", default=0) or 0,
                                                               _g(o, "spec", "completions", default=1) or 1),
                                   _job_duration(o), _ctime(o)]),
    ("batch", "cronjobs"): ([_col("Schedule"), _col("Suspend"), _col("Active", "integer"), _col("Last Schedule"), _col("Age")],
                            lambda o: [_g(o, "spec", "schedule", default=""), str(bool(_g(o, "spec", "suspend"))),
                                       len(_g(o, "status", "active", default=[]) or []),
                                       age(_g(o, "status", "lastScheduleTime")) if _g(o, "status", "lastScheduleTime") else "<none>",
                                       _ctime(o)]),
    ("coordination.k8s.io", "leases"): ([_col("Holder"), _col("Age")],
                                        lambda o: [_g(o, "spec", "holderIdentity", default=""), _ctime(o)]),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ([_col("Created At", "date")],
                                                            lambda o: [_g(o, "metadata", "creationTimestamp", default="")]),
}


def _job_duration(o):
    st = parse_time(_g(o, "status", "startTime"))
    if st is None:
        return ""
    end = parse_time(_g(o, "status", "completionTime")) or datetime.datetime.now(datetime.timezone.utc)
    return human_duration((end - st).total_seconds())


def _cell_value(typ, results):
    if not results:
        return None
    v = results[0]
    if typ == "date":
        return age(v) if isinstance(v, str) else v
    if typ == "integer":
        try:
            return int(v)
        except (TypeError, ValueError):
            return v
    if typ == "number":
        try:
            return float(v)
        except (TypeError, ValueError):
            return v
    if typ == "boolean":
        return bool(v) if isinstance(v, bool) else v
    if isinstance(v, (dict, list)):
        import json
        return json.dumps(v, separators=(",", ":"))
    if len(results) > 1 and all(not isinstance(r, (dict, list)) for r in results):
        return ",".join(str(r) for r in results)
    return v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else v


def columns_for(rt, version):
    """(column definitions, row function) for a ResourceType."""
    name_col = _col("Name", "string", "name", "Name must be unique within a namespace.")
    if rt.builtin:
        defs, fn = BUILTIN_COLUMNS.get(rt.gr, ([_col("Age")], lambda o: [_ctime(o)]))
        return [name_col] + defs, fn
    spec_v = None
    for v in (rt.crd or {}).get("spec", {}).get("versions", []):
        if v.get("name") == version:
            spec_v = v
    cols = (spec_v or {}).get("additionalPrinterColumns") or []
    if not cols:
        return [name_col, _col("Age", "date")], lambda o: [_ctime(o)]
    compiled = []
    defs = [name_col]
    for c in cols:
        try:
            steps = jsonpath.compile_path(c.get("jsonPath", ""))
        except jsonpath.JSONPathError as e:
            log.warning("printer column %s: %s", c.get("name"), e)
            steps = None
        compiled.append((c.get("type", "string"), steps))
        defs.append(_col(c.get("name", ""), c.get("type", "string"), c.get("format", ""),
                         c.get("description", ""), c.get("priority", 0)))

    def fn(o):
        out = []
        for typ, steps in compiled:
            out.append(_cell_value(typ, jsonpath.evaluate(steps, o)) if steps is not None else None)
        return out
    return defs, fn


def partial_metadata(o):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata", {})}


def to_table(rt, version, objs, rv, include_object="Metadata", cont=None, remaining=None, headers=True):
    defs, fn = columns_for(rt, version)
    rows = []
    for o in objs:
        cells = [o.get("metadata", {}).get("name", "")]
        try:
            cells += fn(o)
        except Exception as e:  # noqa: BLE001 - a broken column must not break get
            log.warning("table row for %s: %s", o.get("metadata", {}).get("name"), e)
            cells += [None] * (len(defs) - 1)
        row = {"cells": cells}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = partial_metadata(o)
        rows.append(row)
    md = {"resourceVersion": rv}
    if cont:
        md["continue"] = cont
    if remaining:
        md["remainingItemCount"] = remaining
    t = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": md,
         "columnDefinitions": defs if headers else [], "rows": rows}
    return t

"""awssim's request log and fault control: a WSGI middleware in front of moto.

Every request to an AWS API (not /moto-api/ nor /awssim/) appends one JSON line to
the request log:

  {"ts": 1767225600.123, "service": "rds", "action": "ModifyDBInstance", "method": "POST",
   "path": "/", "access_key": "AKID" | null, "status": 200, "fault": null | "<mode>",
   "params": {"DBInstanceIdentifier": "...", ...}}   (+ "delay_ms" for a delayed call)

params holds only identifying parameters (PARAM_KEYS); secret values (SecretString,
SecretBinary, MasterUserPassword, any *Password*) never reach the log.

Run-time control (JSON over HTTP on awssim's own port):

  GET    /awssim/faults   {"faults": [...], "rename_lag_s": N}
  POST   /awssim/faults   {"action": "ModifyDBInstance", "mode": "apply-then-500",
                           "times": 1, "service": "rds", "match": {"DBInstanceIdentifier": "x"}}
                          and/or {"rename_lag_s": 5}
  DELETE /awssim/faults   clears every fault and sets rename_lag_s back to its start value

Modes: apply-then-500 (the call runs, the client gets a 500), drop-after-apply (the call
runs, the connection is closed without an answer), 500-no-apply (500, nothing runs),
throttle (nothing runs; 400 Throttling for the query protocols, 400 ThrottlingException
for JSON services, 503 SlowDown for S3), apply-then-hold (the call runs and is logged at
once, with "held": true; the answer - a 500 - is held until the faults are cleared or
HOLD_MAX_S pass: a test kills the client while it waits, i.e. right after the call), delay
(the request waits `delay_ms` - required, 1..MAX_DELAY_MS - BEFORE the call runs, then it
runs and is answered as moto answers, logged once with its real status when it has run:
a slow but successful service, so a test can hold a client mid-work and kill it; a call
still waiting when its client dies still runs, as a request already accepted by AWS
would). `action` is an operation name or an fnmatch
pattern ("Describe*", "*"); `times` (default 1) counts the requests the fault is applied
to, -1 for every request; `match` narrows it to requests whose params match the values
(fnmatch patterns: "shop-orders-prod", "shop-orders-prod-old-*").
"""

import fnmatch
import io
import json
import socket
import threading
import time
import urllib.parse
import uuid
from xml.sax.saxutils import escape

MODES = ("apply-then-500", "drop-after-apply", "500-no-apply", "throttle", "apply-then-hold",
         "delay")
HOLD_MAX_S = 120  # apply-then-hold: the longest an answer is held
MAX_DELAY_MS = 30000  # delay: the longest a request is made to wait
MAX_QUERY_BODY_BYTES = 1024 * 1024  # bodies of the query/JSON protocols parsed for the log
MAX_CONTROL_BODY_BYTES = 64 * 1024  # a /awssim/faults request
MAX_FAULTS = 256  # rules held at once
MAX_PARAM_CHARS = 256  # one logged param value

# Identifying parameters copied into the log (query protocol names, JSON names).
PARAM_KEYS = (
    "DBInstanceIdentifier", "NewDBInstanceIdentifier", "NewDBClusterIdentifier",
    "SourceDBInstanceIdentifier",
    "TargetDBInstanceIdentifier", "DBSnapshotIdentifier", "DBClusterIdentifier",
    "SourceDBClusterIdentifier", "FinalDBSnapshotIdentifier", "DBClusterSnapshotIdentifier",
    "DeleteAutomatedBackups", "SkipFinalSnapshot", "RestoreTime", "RestoreToTime",
    "UseLatestRestorableTime", "ApplyImmediately", "ResourceName", "Filters.Filter.1.Name",
    "RoleArn", "RoleSessionName", "SecretId", "Name", "VersionId", "VersionStage",
    "MoveToVersionId", "RemoveFromVersionId", "ClientRequestToken",
)
SECRET_HINTS = ("password", "secretstring", "secretbinary", "secretaccesskey", "token")


def _is_secret(key):
    k = key.lower()
    if k == "clientrequesttoken":
        return False  # an idempotency token, not a secret
    return any(h in k for h in SECRET_HINTS)


class Fault:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a fault must be a JSON object")
        self.action = spec.get("action")
        if not isinstance(self.action, str) or not self.action:
            raise ValueError("action: required, an operation name or pattern (e.g. "
                             "ModifyDBInstance, Describe*)")
        self.mode = spec.get("mode")
        if self.mode not in MODES:
            raise ValueError(f"mode: must be one of {', '.join(MODES)}")
        self.times = spec.get("times", 1)
        if not isinstance(self.times, int) or isinstance(self.times, bool) or \
                (self.times < 1 and self.times != -1):
            raise ValueError("times: must be a positive integer, or -1 for every request")
        self.delay_ms = spec.get("delay_ms")
        if self.mode == "delay":
            if not isinstance(self.delay_ms, int) or isinstance(self.delay_ms, bool) or \
                    not 1 <= self.delay_ms <= MAX_DELAY_MS:
                raise ValueError(f"delay_ms: required for mode delay, an integer number of "
                                 f"milliseconds in [1, {MAX_DELAY_MS}]")
        elif self.delay_ms is not None:
            raise ValueError("delay_ms: only for mode delay")
        self.service = spec.get("service")
        if self.service is not None and not isinstance(self.service, str):
            raise ValueError("service: must be a string (rds, s3, secretsmanager, sts)")
        self.match = spec.get("match") or {}
        if not isinstance(self.match, dict) or \
                not all(isinstance(v, str) for v in self.match.values()):
            raise ValueError("match: must be an object of parameter name -> string value")
        self.id = uuid.uuid4().hex[:8]
        self.applied = 0

    def matches(self, service, action, params):
        if self.times != -1 and self.applied >= self.times:
            return False
        if self.service is not None and self.service != service:
            return False
        if action is None or not fnmatch.fnmatchcase(action, self.action):
            return False
        return all(k in params and fnmatch.fnmatchcase(params[k], v)
                   for k, v in self.match.items())

    def as_dict(self):
        return {"id": self.id, "action": self.action, "mode": self.mode, "times": self.times,
                "service": self.service, "match": self.match, "applied": self.applied,
                "delay_ms": self.delay_ms}


class Control:
    """Faults and the rename lag, shared by the middleware and awssim's RDS patches."""

    def __init__(self, log_path, rename_lag_s=0.0):
        self.lock = threading.Lock()
        self.faults = []
        self.start_rename_lag_s = rename_lag_s
        self.rename_lag_s = rename_lag_s
        self.log_path = log_path
        self.log_lock = threading.Lock()
        self.log_file = open(log_path, "a", buffering=1) if log_path else None
        self.release = threading.Event()  # set by clear(): held answers go out

    def take(self, service, action, params):
        """(mode, delay_ms) of the fault to apply to this request (its count taken), or
        (None, None)."""
        with self.lock:
            for f in self.faults:
                if f.matches(service, action, params):
                    f.applied += 1
                    return f.mode, f.delay_ms
        return None, None

    def state(self):
        with self.lock:
            return {"faults": [f.as_dict() for f in self.faults],
                    "rename_lag_s": self.rename_lag_s}

    def configure(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("the body must be a JSON object")
        lag = spec.get("rename_lag_s")
        if lag is not None and (isinstance(lag, bool) or not isinstance(lag, (int, float))
                                or lag < 0 or lag > 3600):
            raise ValueError("rename_lag_s: must be a number of seconds in [0, 3600]")
        fault = Fault(spec) if ("action" in spec or "mode" in spec) else None
        if fault is None and lag is None:
            raise ValueError("give a fault (action, mode, times) and/or rename_lag_s")
        with self.lock:
            if fault is not None:
                if len(self.faults) >= MAX_FAULTS:
                    raise ValueError(f"at most {MAX_FAULTS} faults at once")
                self.faults.append(fault)
            if lag is not None:
                self.rename_lag_s = float(lag)
        return fault.as_dict() if fault is not None else None

    def clear(self):
        with self.lock:
            self.faults = []
            self.rename_lag_s = self.start_rename_lag_s
            held, self.release = self.release, threading.Event()
        held.set()

    def hold(self):
        """apply-then-hold: waits until clear() or HOLD_MAX_S."""
        with self.lock:
            ev = self.release
        ev.wait(HOLD_MAX_S)

    def record(self, entry):
        if self.log_file is None:
            return
        line = json.dumps(entry, sort_keys=True)
        with self.log_lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()


# --------------------------------------------------------------------------------------
# request classification
# --------------------------------------------------------------------------------------

def _credential_parts(environ):
    """The SigV4 credential (key/date/region/service/aws4_request) of the Authorization
    header or a presigned URL, split at "/"; [] when there is none."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    cred = None
    if "Credential=" in auth:
        cred = auth.split("Credential=", 1)[1].split(",", 1)[0].strip()
    else:
        q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        if "X-Amz-Credential" in q:
            cred = q["X-Amz-Credential"][0]
    return cred.split("/") if cred else []


def _credential(environ):
    """(access key, service) from the SigV4 Authorization header or a presigned URL."""
    parts = _credential_parts(environ)
    if not parts:
        return None, None
    return parts[0] or None, parts[3] if len(parts) >= 5 else None


def _s3_action(method, path, query, copy_source=None):
    parts = path.lstrip("/").split("/", 1)
    bucket = urllib.parse.unquote(parts[0]) if parts[0] else None
    key = urllib.parse.unquote(parts[1]) if len(parts) > 1 and parts[1] else None
    q = urllib.parse.parse_qs(query, keep_blank_values=True)
    params = {}
    if bucket:
        params["Bucket"] = bucket
    if key:
        params["Key"] = key
    if "versionId" in q:
        params["VersionId"] = q["versionId"][0]
    if bucket is None:
        return "ListBuckets", params
    if key is None:
        sub = {"GET": [("versioning", "GetBucketVersioning"), ("versions", "ListObjectVersions"),
                       ("location", "GetBucketLocation"), ("uploads", "ListMultipartUploads"),
                       ("tagging", "GetBucketTagging"), ("policy", "GetBucketPolicy")],
               "PUT": [("versioning", "PutBucketVersioning"), ("tagging", "PutBucketTagging"),
                       ("policy", "PutBucketPolicy")],
               "POST": [("delete", "DeleteObjects")],
               "DELETE": [("tagging", "DeleteBucketTagging"), ("policy", "DeleteBucketPolicy")]}
        for name, action in sub.get(method, []):
            if name in q:
                return action, params
        if method == "GET":
            return ("ListObjectsV2" if q.get("list-type") == ["2"] else "ListObjects"), params
        return {"PUT": "CreateBucket", "HEAD": "HeadBucket",
                "DELETE": "DeleteBucket"}.get(method, method), params
    if method == "PUT":
        if copy_source:
            # a server-side copy has the method and path of a PUT: name it by its header
            src = urllib.parse.unquote(copy_source.split("?", 1)[0]).lstrip("/")
            params["CopySource"] = src
            return ("UploadPartCopy" if "partNumber" in q else "CopyObject"), params
        if "partNumber" in q:
            return "UploadPart", params
        if "tagging" in q:
            return "PutObjectTagging", params
        return "PutObject", params
    if method == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload", params
        if "uploadId" in q:
            return "CompleteMultipartUpload", params
        return "PostObject", params
    if method == "DELETE":
        return ("AbortMultipartUpload" if "uploadId" in q else "DeleteObject"), params
    if method == "GET" and "tagging" in q:
        return "GetObjectTagging", params
    return {"GET": "GetObject", "HEAD": "HeadObject"}.get(method, method), params


def _pick(src):
    params = {}
    for k in PARAM_KEYS:
        if k in src and not _is_secret(k):
            v = src[k]
            if isinstance(v, list):
                v = v[0] if v else ""
            if not isinstance(v, str):
                v = json.dumps(v) if not isinstance(v, bool) else ("true" if v else "false")
            params[k] = v[:MAX_PARAM_CHARS]
    return params


def classify(environ, body):
    """(service, action, params) of a request; body is bytes or None (not read)."""
    access_key, service = _credential(environ)
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/")
    query = environ.get("QUERY_STRING", "")
    target = environ.get("HTTP_X_AMZ_TARGET")
    action, params = None, {}
    if target:
        action = target.rsplit(".", 1)[-1]
        if service is None:
            service = target.split(".", 1)[0].split("_", 1)[0].lower()
        try:
            doc = json.loads(body or b"{}")
            if isinstance(doc, dict):
                params = _pick(doc)
        except ValueError:
            pass
    elif service == "s3" or (service is None and "Action=" not in query and not body):
        service = service or "s3"
        action, params = _s3_action(method, path, query,
                                    environ.get("HTTP_X_AMZ_COPY_SOURCE"))
    else:
        form = urllib.parse.parse_qs(query, keep_blank_values=True)
        ctype = environ.get("CONTENT_TYPE", "")
        if body and "x-www-form-urlencoded" in ctype:
            form.update(urllib.parse.parse_qs(body.decode("utf-8", "replace"),
                                              keep_blank_values=True))
        action = form.get("Action", [None])[0]
        params = _pick(form)
    return access_key, service, action, params


# --------------------------------------------------------------------------------------
# error answers in each protocol's shape
# --------------------------------------------------------------------------------------

def _error_response(service, kind):
    """(status line, headers, body) of a throttling or internal-error answer."""
    rid = str(uuid.uuid4())
    if service == "s3":
        if kind == "throttle":
            status, code, msg = "503 Slow Down", "SlowDown", "Please reduce your request rate."
        else:
            status, code, msg = ("500 Internal Server Error", "InternalError",
                                 "We encountered an internal error. Please try again.")
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{escape(msg)}</Message>"
                f"<RequestId>{rid}</RequestId></Error>").encode()
        return status, [("Content-Type", "application/xml"), ("x-amz-request-id", rid)], body
    if service == "secretsmanager":
        if kind == "throttle":
            status, code, msg = "400 Bad Request", "ThrottlingException", "Rate exceeded"
        else:
            status, code, msg = ("500 Internal Server Error", "InternalServiceError",
                                 "awssim: injected internal error")
        body = json.dumps({"__type": code, "message": msg}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.1"),
                        ("x-amzn-RequestId", rid)], body
    if kind == "throttle":
        status, code, typ, msg = "400 Bad Request", "Throttling", "Sender", "Rate exceeded"
    else:
        status, code, typ, msg = ("500 Internal Server Error", "InternalFailure", "Receiver",
                                  "awssim: injected internal failure")
    body = (f"<ErrorResponse><Error><Type>{typ}</Type><Code>{code}</Code>"
            f"<Message>{escape(msg)}</Message></Error><RequestId>{rid}</RequestId>"
            "</ErrorResponse>").encode()
    return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body


def _json_answer(start_response, status, doc):
    body = json.dumps(doc).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def _scope_region(environ):
    """The region of the SigV4 credential scope (header or presigned URL), or None."""
    parts = _credential_parts(environ)
    return parts[2] if len(parts) >= 5 and parts[2] else None


def _wrong_region_response(method, bucket, bucket_region):
    """S3's answer to a request for a bucket of another region sent to (and signed for)
    a regional endpoint, path-style as every awssim client is: 301 PermanentRedirect with
    the bucket's region in header x-amz-bucket-region (what SDKs read to redirect) and
    the bucket's endpoint in <Endpoint>; a HEAD gets the status and headers only.
    (AuthorizationHeaderMalformed is S3's answer when a request reaches the bucket's own
    region signed for another, e.g. virtual-hosted on the global endpoint: awssim has one
    endpoint, so the signing region stands for the endpoint the client chose.)"""
    rid = str(uuid.uuid4())
    msg = ("The bucket you are attempting to access must be addressed using the specified "
           "endpoint. Please send all future requests to this endpoint.")
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>PermanentRedirect</Code><Message>{escape(msg)}</Message>"
            f"<Endpoint>{escape(bucket)}.s3.{escape(bucket_region)}.amazonaws.com</Endpoint>"
            f"<Bucket>{escape(bucket)}</Bucket><RequestId>{rid}</RequestId>"
            "</Error>").encode()
    if method == "HEAD":
        body = b""
    return "301 Moved Permanently", [("Content-Type", "application/xml"),
                                     ("x-amz-request-id", rid),
                                     ("x-amz-bucket-region", bucket_region)], body


class Middleware:
    """bucket_region (optional): bucket name -> its region (LocationConstraint; us-east-1
    when none) or None when no such bucket; with it an S3 request on an existing bucket
    signed for another region is answered as S3's regional endpoints do: 301
    PermanentRedirect (_wrong_region_response)."""

    def __init__(self, app, control, bucket_region=None):
        self.app = app
        self.control = control
        self.bucket_region = bucket_region

    def control_endpoint(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO", "").rstrip("/") != "/awssim/faults":
            return _json_answer(start_response, "404 Not Found",
                                {"error": "unknown awssim control path; use /awssim/faults"})
        if method == "GET":
            return _json_answer(start_response, "200 OK", self.control.state())
        if method == "DELETE":
            self.control.clear()
            return _json_answer(start_response, "200 OK", self.control.state())
        if method != "POST":
            return _json_answer(start_response, "405 Method Not Allowed",
                                {"error": "GET, POST or DELETE"})
        try:
            n = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            n = -1
        if n < 0 or n > MAX_CONTROL_BODY_BYTES:
            return _json_answer(start_response, "413 Request Entity Too Large",
                                {"error": f"body: at most {MAX_CONTROL_BODY_BYTES} bytes"})
        try:
            spec = json.loads(environ["wsgi.input"].read(n) or b"null")
            added = self.control.configure(spec)
        except ValueError as e:
            return _json_answer(start_response, "400 Bad Request", {"error": str(e)})
        doc = self.control.state()
        doc["added"] = added
        return _json_answer(start_response, "200 OK", doc)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path.startswith("/awssim/"):
            return self.control_endpoint(environ, start_response)
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)

        body = None
        ctype = environ.get("CONTENT_TYPE", "")
        try:
            n = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            n = 0
        if 0 < n <= MAX_QUERY_BODY_BYTES and ("x-www-form-urlencoded" in ctype
                                              or "x-amz-json" in ctype):
            body = environ["wsgi.input"].read(n)
            environ["wsgi.input"] = io.BytesIO(body)
        access_key, service, action, params = classify(environ, body)
        if service == "s3" and self.bucket_region is not None and params.get("Bucket") \
                and action not in ("CreateBucket", "ListBuckets"):
            signed = _scope_region(environ)
            home = self.bucket_region(params["Bucket"])
            if signed and home and signed != home:
                status, headers, payload = _wrong_region_response(
                    environ.get("REQUEST_METHOD"), params["Bucket"], home)
                self.control.record({
                    "ts": round(time.time(), 6), "service": service, "action": action,
                    "method": environ.get("REQUEST_METHOD"), "path": path,
                    "access_key": access_key, "status": 301, "fault": None,
                    "wrong_region": signed, "params": params})
                start_response(status, headers + [("Content-Length", str(len(payload)))])
                return [payload]

        mode, delay_ms = self.control.take(service, action, params)
        entry = {"ts": round(time.time(), 6), "service": service, "action": action,
                 "method": environ.get("REQUEST_METHOD"), "path": path,
                 "access_key": access_key, "status": None, "fault": mode, "params": params}

        if mode in ("throttle", "500-no-apply"):
            status, headers, payload = _error_response(
                service, "throttle" if mode == "throttle" else "500")
            entry["status"] = int(status.split()[0])
            self.control.record(entry)
            start_response(status, headers + [("Content-Length", str(len(payload)))])
            return [payload]

        if mode == "delay":
            time.sleep(delay_ms / 1000.0)  # then the call runs and is answered as usual
            entry["delay_ms"] = delay_ms
            mode = None
            entry["ts"] = round(time.time(), 6)  # when it ran

        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = headers
            if mode is None:
                return start_response(status, headers, exc_info)
            return lambda _data: None

        result = self.app(environ, capture)
        if mode is None:
            entry["status"] = int(str(captured.get("status", "500")).split()[0])
            self.control.record(entry)
            return result
        # The call ran; drain and drop what moto answered.
        try:
            for _ in result:
                pass
        finally:
            if hasattr(result, "close"):
                result.close()
        entry["applied_status"] = int(str(captured.get("status", "500")).split()[0])
        if mode == "drop-after-apply":
            entry["status"] = None
            self.control.record(entry)
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            raise ConnectionResetError("awssim: connection dropped after applying (fault)")
        if mode == "apply-then-hold":
            self.control.record(dict(entry, held=True))  # visible while held; the final
            # entry (status 500) follows when the answer goes out
            self.control.hold()
        status, headers, payload = _error_response(service, "500")
        entry["status"] = int(status.split()[0])
        self.control.record(entry)
        start_response(status, headers + [("Content-Length", str(len(payload)))])
        return [payload]

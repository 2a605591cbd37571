"""awssim's fault control and request log (e2e/awssim/faults.py) for the restore suites."""
import json
import os
import urllib.request


def control(method, doc=None):
    """GET/POST/DELETE $AWSSIM_CONTROL_URL; returns the decoded answer."""
    url = os.environ.get("AWSSIM_CONTROL_URL") or \
        "http://127.0.0.1:%s/awssim/faults" % os.environ["AWSSIM_PORT"]
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def request_log():
    """Every line of $AWSSIM_REQUEST_LOG, decoded."""
    path = os.environ.get("AWSSIM_REQUEST_LOG")
    if not path:
        raise AssertionError("AWSSIM_REQUEST_LOG is not set: source e2e/.run/env.sh")
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def applied(entry):
    """The call took effect: moto answered 2xx, whatever the client was told."""
    code = entry.get("applied_status", entry.get("status"))
    return code is not None and 200 <= code < 300

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


def request_log_path():
    """$AWSSIM_REQUEST_LOG, or an AssertionError saying to source the environment."""
    path = os.environ.get("AWSSIM_REQUEST_LOG")
    if not path:
        raise AssertionError("AWSSIM_REQUEST_LOG is not set: source e2e/.run/env.sh")
    return path


def complete_entries(data):
    """(entries, rest): the decoded lines of data that end in a newline, and the bytes
    after the last newline (a line awssim is still writing: a reader can see the first
    part of a write in progress)."""
    end = data.rfind(b"\n") + 1
    return [json.loads(line) for line in data[:end].splitlines() if line.strip()], data[end:]


def request_log():
    """Every complete line of $AWSSIM_REQUEST_LOG, decoded."""
    with open(request_log_path(), "rb") as f:
        return complete_entries(f.read())[0]


class RequestLogTail:
    """Reads the entries awssim appends to its request log, from entry number `start` on,
    each complete line once."""

    def __init__(self, start=0):
        self.f = open(request_log_path(), "rb")
        self.rest = b""
        self.ahead = start

    def new_entries(self):
        """The complete entries written since the last call (may be empty)."""
        entries, self.rest = complete_entries(self.rest + self.f.read())
        if self.ahead:
            n = min(self.ahead, len(entries))
            entries, self.ahead = entries[n:], self.ahead - n
        return entries

    def close(self):
        self.f.close()


def applied(entry):
    """The call took effect: moto answered 2xx, whatever the client was told."""
    code = entry.get("applied_status", entry.get("status"))
    return code is not None and 200 <= code < 300

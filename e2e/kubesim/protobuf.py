"""A small decoder for Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf):
the 'k8s\\0' magic, the runtime.Unknown wrapper, and the Secret / ConfigMap messages that
kubectl create secret|configmap send. Other kinds answer ProtoError (-> 400/415)."""
import base64

MAGIC = b"k8s\x00"
MAX_DEPTH = 8


class ProtoError(ValueError):
    pass


class UnsupportedKind(ProtoError):
    pass


def _varint(buf, i):
    shift = 0
    val = 0
    while True:
        if i >= len(buf):
            raise ProtoError("truncated varint")
        b = buf[i]
        i += 1
        val |= (b & 0x7F) << shift
        if not b & 0x80:
            return val, i
        shift += 7
        if shift > 63:
            raise ProtoError("varint too long")


def fields(buf):
    """Yield (field number, wire type, value) where value is int or bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ProtoError("truncated length-delimited field %d" % num)
            v = buf[i:i + n]
            i += n
        elif wt == 1:
            v = buf[i:i + 8]
            i += 8
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ProtoError("unsupported wire type %d" % wt)
        yield num, wt, v


def _s(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtoError("invalid UTF-8 in a string field")


def _map_entry(b):
    k = v = b""
    for num, _wt, val in fields(b):
        if num == 1:
            k = val
        elif num == 2:
            v = val
    return k, v


def _object_meta(b):
    md = {}
    for num, wt, v in fields(b):
        if num == 1:
            md["name"] = _s(v)
        elif num == 2:
            md["generateName"] = _s(v)
        elif num == 3:
            md["namespace"] = _s(v)
        elif num == 6:
            md["resourceVersion"] = _s(v)
        elif num == 11:
            k, val = _map_entry(v)
            md.setdefault("labels", {})[_s(k)] = _s(val)
        elif num == 12:
            k, val = _map_entry(v)
            md.setdefault("annotations", {})[_s(k)] = _s(val)
        elif num == 14:
            md.setdefault("finalizers", []).append(_s(v))
        elif num == 13:
            ref = {}
            for n2, _w2, v2 in fields(v):
                if n2 == 1:
                    ref["kind"] = _s(v2)
                elif n2 == 3:
                    ref["name"] = _s(v2)
                elif n2 == 4:
                    ref["uid"] = _s(v2)
                elif n2 == 5:
                    ref["apiVersion"] = _s(v2)
                elif n2 == 6:
                    ref["controller"] = bool(v2)
                elif n2 == 7:
                    ref["blockOwnerDeletion"] = bool(v2)
            md.setdefault("ownerReferences", []).append(ref)
    return md


def _secret(raw):
    o = {"apiVersion": "v1", "kind": "Secret", "metadata": {}}
    for num, wt, v in fields(raw):
        if num == 1:
            o["metadata"] = _object_meta(v)
        elif num == 2:
            k, val = _map_entry(v)
            o.setdefault("data", {})[_s(k)] = base64.b64encode(val).decode()
        elif num == 3:
            o["type"] = _s(v)
        elif num == 4:
            k, val = _map_entry(v)
            o.setdefault("stringData", {})[_s(k)] = _s(val)
        elif num == 5:
            o["immutable"] = bool(v)
    return o


def _configmap(raw):
    o = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
    for num, wt, v in fields(raw):
        if num == 1:
            o["metadata"] = _object_meta(v)
        elif num == 2:
            k, val = _map_entry(v)
            o.setdefault("data", {})[_s(k)] = _s(val)
        elif num == 3:
            k, val = _map_entry(v)
            o.setdefault("binaryData", {})[_s(k)] = base64.b64encode(val).decode()
        elif num == 4:
            o["immutable"] = bool(v)
    return o


# Generic schema-driven decoding for a few more kinds kubectl create sends as protobuf.
# A schema maps field number -> (json name, type); type is "str", "int", "bool",
# ("rep", type), ("map", "str"|"bytes"), or a nested schema dict. Unknown fields are skipped.
LABEL_SELECTOR = {1: ("matchLabels", ("map", "str")),
                  2: ("matchExpressions", ("rep", {1: ("key", "str"), 2: ("operator", "str"),
                                                    3: ("values", ("rep", "str"))}))}
CONTAINER = {1: ("name", "str"), 2: ("image", "str"), 3: ("command", ("rep", "str")), 4: ("args", ("rep", "str")),
             5: ("workingDir", "str"),
             6: ("ports", ("rep", {1: ("name", "str"), 2: ("hostPort", "int"), 3: ("containerPort", "int"),
                                   4: ("protocol", "str")})),
             7: ("env", ("rep", {1: ("name", "str"), 2: ("value", "str")})),
             8: ("resources", {}), 14: ("imagePullPolicy", "str")}
POD_SPEC = {2: ("containers", ("rep", CONTAINER)), 3: ("restartPolicy", "str"), 20: ("initContainers", ("rep", CONTAINER))}
POD_TEMPLATE = {1: ("metadata", "meta"), 2: ("spec", POD_SPEC)}
SCHEMAS = {
    ("v1", "Namespace"): {1: ("metadata", "meta"), 2: ("spec", {1: ("finalizers", ("rep", "str"))})},
    ("v1", "ServiceAccount"): {1: ("metadata", "meta"), 4: ("automountServiceAccountToken", "bool")},
    ("apps/v1", "Deployment"): {1: ("metadata", "meta"), 2: ("spec", {
        1: ("replicas", "int"), 2: ("selector", LABEL_SELECTOR), 3: ("template", POD_TEMPLATE),
        4: ("strategy", {1: ("type", "str")})})},
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {1: ("metadata", "meta"), 2: ("spec", {
        1: ("resourceAttributes", {1: ("namespace", "str"), 2: ("verb", "str"), 3: ("group", "str"),
                                   4: ("version", "str"), 5: ("resource", "str"), 6: ("subresource", "str"),
                                   7: ("name", "str")}),
        2: ("nonResourceAttributes", {1: ("path", "str"), 2: ("verb", "str")})})},
    ("batch/v1", "Job"): {1: ("metadata", "meta"), 2: ("spec", {
        1: ("parallelism", "int"), 2: ("completions", "int"), 3: ("activeDeadlineSeconds", "int"),
        4: ("selector", LABEL_SELECTOR), 5: ("manualSelector", "bool"), 6: ("template", POD_TEMPLATE),
        7: ("backoffLimit", "int")})},
}


def _int(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def _scalar(typ, wt, v, depth):
    if typ == "str":
        return _s(v)
    if typ == "bytes":
        return base64.b64encode(v).decode()
    if typ == "int":
        return _int(v)
    if typ == "bool":
        return bool(v)
    if typ == "meta":
        return _object_meta(v)
    if isinstance(typ, dict):
        return _generic(v, typ, depth + 1)
    raise ProtoError("bad schema type %r" % (typ,))


def _generic(raw, schema, depth=0):
    if depth > MAX_DEPTH:
        raise ProtoError("message nesting too deep")
    o = {}
    for num, wt, v in fields(raw):
        ent = schema.get(num)
        if ent is None:
            continue
        name, typ = ent
        if isinstance(typ, tuple) and typ[0] == "rep":
            o.setdefault(name, []).append(_scalar(typ[1], wt, v, depth))
        elif isinstance(typ, tuple) and typ[0] == "map":
            k, val = _map_entry(v)
            o.setdefault(name, {})[_s(k)] = _scalar(typ[1], 2, val, depth)
        else:
            o[name] = _scalar(typ, wt, v, depth)
    return o


def _generic_decoder(api_version, kind):
    def dec(raw):
        o = _generic(raw, SCHEMAS[(api_version, kind)])
        o.setdefault("metadata", {})
        o["apiVersion"] = api_version
        o["kind"] = kind
        return o
    return dec


DECODERS = {("v1", "Secret"): _secret, ("v1", "ConfigMap"): _configmap}
for _k in SCHEMAS:
    DECODERS[_k] = _generic_decoder(*_k)


def decode(body):
    """bytes -> JSON-shaped dict; raises ProtoError."""
    if not body.startswith(MAGIC):
        raise ProtoError("missing k8s protobuf magic prefix")
    api_version = kind = ""
    raw = b""
    for num, _wt, v in fields(body[len(MAGIC):]):
        if num == 1:
            for n2, _w2, v2 in fields(v):
                if n2 == 1:
                    api_version = _s(v2)
                elif n2 == 2:
                    kind = _s(v2)
        elif num == 2:
            raw = v
        elif num == 3 and v:
            raise ProtoError("contentEncoding %r is not supported" % _s(v))
    dec = DECODERS.get((api_version, kind))
    if dec is None:
        raise UnsupportedKind("no protobuf decoder for %s %s (send JSON)" % (api_version, kind))
    return _omit_empty(dec(raw))


def _omit_empty(v, key=None):
    """Go's protobuf structs carry zero values that JSON would omit (omitempty)."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            x = _omit_empty(x, k)
            if x == "" or (k == "hostPort" and x == 0):
                continue
            if x == {} and k not in ("resources", "metadata", "data", "spec"):
                continue
            out[k] = x
        return out
    if isinstance(v, list):
        return [_omit_empty(x) for x in v]
    return v

"""Custom resource validation against a CRD's openAPIV3Schema: unknown-field detection
(pruning), defaults, jsonschema validation with Kubernetes-style causes, and
x-kubernetes-validations through the CEL subset in cel.py."""
import copy
import json

import jsonschema


META_KEYS = {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
             "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
             "annotations", "ownerReferences", "finalizers", "managedFields"}


def _fmt_path(parts):
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += "[%d]" % p
        else:
            out += ("." if out else "") + str(p)
    return out


def prune(obj, schema, top=False):
    """Remove fields the schema does not know (in place); returns their paths."""
    unknown = []
    if top:
        for k in list(obj):
            if k in ("apiVersion", "kind"):
                continue
            if k == "metadata":
                md = obj["metadata"]
                if isinstance(md, dict):
                    for mk in list(md):
                        if mk not in META_KEYS:
                            unknown.append("metadata." + mk)
                            del md[mk]
                continue
            props = schema.get("properties") or {}
            if k not in props and not schema.get("x-kubernetes-preserve-unknown-fields"):
                unknown.append(k)
                del obj[k]
            elif k in props:
                unknown += _prune(obj[k], props[k], k)
        return unknown
    return _prune(obj, schema, "")


def _prune(v, s, path):
    out = []
    if not isinstance(s, dict):
        return out
    if s.get("x-kubernetes-preserve-unknown-fields") and not s.get("properties"):
        return out
    if isinstance(v, dict):
        if s.get("x-kubernetes-embedded-resource"):
            return out
        props = s.get("properties")
        addl = s.get("additionalProperties")
        if props is not None or (addl is None and not s.get("x-kubernetes-preserve-unknown-fields")):
            props = props or {}
            for k in list(v):
                if k in props:
                    out += _prune(v[k], props[k], path + "." + k if path else k)
                elif isinstance(addl, dict):
                    out += _prune(v[k], addl, path + "." + k if path else k)
                elif addl is True or s.get("x-kubernetes-preserve-unknown-fields"):
                    continue
                else:
                    out.append(path + "." + k if path else k)
                    del v[k]
        elif isinstance(addl, dict):
            for k in list(v):
                out += _prune(v[k], addl, path + "." + k if path else k)
    elif isinstance(v, list) and isinstance(s.get("items"), dict):
        for i, it in enumerate(v):
            out += _prune(it, s["items"], "%s[%d]" % (path, i))
    return out


def apply_defaults(v, s):
    """Fill 'default' values for absent properties of present objects (in place)."""
    if not isinstance(s, dict):
        return
    if isinstance(v, dict):
        for k, ps in (s.get("properties") or {}).items():
            if k not in v and isinstance(ps, dict) and "default" in ps:
                v[k] = copy.deepcopy(ps["default"])
            if k in v:
                apply_defaults(v[k], ps)
        if isinstance(s.get("additionalProperties"), dict):
            for k in v:
                apply_defaults(v[k], s["additionalProperties"])
    elif isinstance(v, list) and isinstance(s.get("items"), dict):
        for it in v:
            apply_defaults(it, s["items"])


# Formats kube-apiserver validates in CRD schemas (k8s.io/kube-openapi strfmt) that the
# machine's jsonschema can check; an unknown format is ignored, as the apiserver ignores it.
FORMATS = ("date", "date-time", "email", "ipv4", "ipv6", "uuid")
FORMAT_CHECKER = jsonschema.FormatChecker(formats=FORMATS)


def to_jsonschema(s):
    """OpenAPI v3 (Kubernetes structural) -> JSON Schema draft 7."""
    if isinstance(s, list):
        return [to_jsonschema(x) for x in s]
    if not isinstance(s, dict):
        return s
    out = {}
    for k, v in s.items():
        if k.startswith("x-kubernetes-") or k in ("nullable", "example", "externalDocs", "default"):
            continue
        if k in ("properties", "patternProperties", "definitions"):
            out[k] = {pk: to_jsonschema(pv) for pk, pv in v.items()}
        elif k in ("items", "additionalProperties", "not"):
            out[k] = to_jsonschema(v) if isinstance(v, dict) else v
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [to_jsonschema(x) for x in v]
        elif k == "format":
            # Enforced for the formats kube-apiserver checks too (see FORMATS); others pass.
            if v in FORMATS:
                out[k] = v
        else:
            out[k] = v
    if s.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}] + out.get("anyOf", [])
    if s.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else out["type"] + ["null"]
    if s.get("x-kubernetes-preserve-unknown-fields") and "type" not in out and "anyOf" not in out:
        pass
    return out


def _cause(err):
    path = _fmt_path(list(err.absolute_path))
    inst = err.instance
    v = err.validator
    val = json.dumps(inst) if not isinstance(inst, (dict, list)) else ("object" if isinstance(inst, dict) else "array")
    if v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        field = (path + "." if path else "") + missing
        return field, "Required value", "FieldValueRequired"
    if v == "type":
        want = err.validator_value if isinstance(err.validator_value, str) else err.validator_value[0]
        got = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
            type(inst), "number" if isinstance(inst, float) else "integer")
        return path, 'Invalid value: "%s": %s in body must be of type %s: "%s"' % (got, path, want, got), \
            "FieldValueTypeInvalid"
    if v == "enum":
        return path, "Unsupported value: %s: supported values: %s" % (
            val, ", ".join(json.dumps(x) for x in err.validator_value)), "FieldValueNotSupported"
    if v == "pattern":
        return path, "Invalid value: %s: %s in body should match '%s'" % (val, path, err.validator_value), \
            "FieldValueInvalid"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        rel = {"minimum": "greater than or equal to", "maximum": "less than or equal to",
               "exclusiveMinimum": "greater than", "exclusiveMaximum": "less than"}[v]
        return path, "Invalid value: %s: %s in body should be %s %s" % (val, path, rel, err.validator_value), \
            "FieldValueInvalid"
    if v in ("minLength", "maxLength"):
        if v == "maxLength":
            return path, "Too long: may not be more than %d bytes" % err.validator_value, "FieldValueTooLong"
        return path, "Invalid value: %s: %s in body should be at least %d chars long" % (
            val, path, err.validator_value), "FieldValueInvalid"
    if v in ("minItems", "maxItems"):
        if v == "maxItems":
            return path, "Too many: %d: must have at most %d items" % (len(inst), err.validator_value), \
                "FieldValueTooMany"
        return path, "Invalid value: %d: %s in body should have at least %d items" % (
            len(inst), path, err.validator_value), "FieldValueInvalid"
    if v in ("minProperties", "maxProperties"):
        return path, "Invalid value: %s in body should have %s %d properties" % (
            path, "at least" if v == "minProperties" else "at most", err.validator_value), "FieldValueInvalid"
    return path, "Invalid value: %s: %s" % (val, err.message), "FieldValueInvalid"


def validate_schema(obj, schema, causes):
    js = to_jsonschema(schema)
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    props = js.get("properties") or {}
    props = {k: v for k, v in props.items() if k not in ("apiVersion", "kind", "metadata")}
    js = dict(js, properties=props)
    js["required"] = [r for r in js.get("required", []) if r not in ("apiVersion", "kind", "metadata")]
    validator = jsonschema.Draft7Validator(js, format_checker=FORMAT_CHECKER)
    for err in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
        causes.append(_cause(err))


def _short(v):
    if isinstance(v, dict):
        return '"object"'
    if isinstance(v, list):
        return '"array"'
    return json.dumps(v)


def validate_crd(obj, causes):
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        causes.append(("spec", "Required value", "FieldValueRequired"))
        return
    names = spec.get("names") or {}
    group = spec.get("group") or ""
    if not group or "." not in group:
        causes.append(("spec.group", 'Invalid value: "%s": should be a domain with at least one dot' % group,
                       "FieldValueInvalid"))
    for f in ("plural", "kind"):
        if not names.get(f):
            causes.append(("spec.names." + f, "Required value", "FieldValueRequired"))
    if names.get("plural") and group and obj["metadata"].get("name") != "%s.%s" % (names["plural"], group):
        causes.append(("metadata.name", 'Invalid value: "%s": must be spec.names.plural+"."+spec.group'
                       % obj["metadata"].get("name"), "FieldValueInvalid"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(("spec.scope", 'Unsupported value: %s: supported values: "Cluster", "Namespaced"'
                       % json.dumps(spec.get("scope")), "FieldValueNotSupported"))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(("spec.versions", "Required value", "FieldValueRequired"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(("spec.versions", "Invalid value: must have exactly one version marked as storage version",
                       "FieldValueInvalid"))
    for i, v in enumerate(versions):
        sch = (v.get("schema") or {}).get("openAPIV3Schema")
        if sch is None:
            causes.append(("spec.versions[%d].schema.openAPIV3Schema" % i, "Required value: schemas are required",
                           "FieldValueRequired"))
            continue
        try:
            jsonschema.Draft7Validator.check_schema(to_jsonschema(sch))
        except jsonschema.SchemaError as e:
            causes.append(("spec.versions[%d].schema.openAPIV3Schema" % i, "Invalid value: %s" % e.message,
                           "FieldValueInvalid"))
        for j, c in enumerate(v.get("additionalPrinterColumns") or []):
            try:
                import jsonpath
                jsonpath.compile_path(c.get("jsonPath", ""))
            except ValueError as e:
                causes.append(("spec.versions[%d].additionalPrinterColumns[%d].JSONPath" % (i, j),
                               "Invalid value: %s" % e, "FieldValueInvalid"))

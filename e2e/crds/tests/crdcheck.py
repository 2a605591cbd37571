"""Offline checks of Lifeboat CRDs: structural-schema rules, and validation of a custom
resource against a CRD's openAPIV3Schema (jsonschema, with unknown fields refused as the
API server's strict field validation does) plus its x-kubernetes-validations rules
(evaluated with celmini).

Used by test_crds.py before (and besides) the kubesim tests.
"""
import glob
import os

import jsonschema
import yaml

import celmini

REPO = os.environ.get("LIFEBOAT_REPO") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
CRD_DIR = os.path.join(REPO, "crds")
EXAMPLES_DIR = os.path.join(REPO, "examples")
DEPLOY_DIR = os.path.join(REPO, "deploy")


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_crds():
    """{kind: crd} for every crds/*.yaml."""
    out = {}
    for path in sorted(glob.glob(os.path.join(CRD_DIR, "*.yaml"))):
        for doc in load_yaml_docs(path):
            out[doc["spec"]["names"]["kind"]] = doc
    return out


def schema_of(crd):
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def structural_problems(schema, path="openAPIV3Schema"):
    """The rules of a structural schema that matter here: every node has a type (unless
    x-kubernetes-int-or-string / preserve-unknown-fields), arrays have items, objects
    with properties list them; plus Lifeboat's own bounds: every array has maxItems, every
    string without enum or format has maxLength, and every CEL rule has a message and
    parses in the simple subset."""
    probs = []
    if not schema.get("x-kubernetes-int-or-string") and "type" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        probs.append("%s: no type" % path)
    t = schema.get("type")
    if t == "array":
        if "items" not in schema:
            probs.append("%s: array without items" % path)
        if "maxItems" not in schema:
            probs.append("%s: array without maxItems" % path)
        else:
            probs += structural_problems(schema["items"], path + "[]")
    if t == "string" and "maxLength" not in schema and "enum" not in schema \
            and schema.get("format") != "date-time" and not path.endswith(
                (".apiVersion", ".kind")):
        probs.append("%s: string without maxLength" % path)
    for name, sub in (schema.get("properties") or {}).items():
        probs += structural_problems(sub, "%s.%s" % (path, name))
    for req in schema.get("required", []):
        if req not in (schema.get("properties") or {}):
            probs.append("%s: required %s is not a property" % (path, req))
    for key in schema.get("x-kubernetes-list-map-keys", []):
        item = schema.get("items", {})
        if key not in item.get("required", []) and "default" not in \
                item.get("properties", {}).get(key, {}):
            probs.append("%s: list-map key %s must be required" % (path, key))
    for rule in schema.get("x-kubernetes-validations", []):
        if not rule.get("message"):
            probs.append("%s: rule without message: %s" % (path, rule.get("rule")))
        try:
            celmini.parse(rule["rule"])
        except celmini.CelError as e:
            probs.append("%s: rule does not parse (%s): %s" % (path, e, rule["rule"]))
    return probs


def to_jsonschema(schema):
    """OpenAPI v3 (structural) -> JSON Schema draft 7; objects with properties refuse
    unknown fields; int-or-string becomes a oneOf."""
    out = {}
    for k, v in schema.items():
        if k.startswith("x-kubernetes") or k in ("description", "default", "nullable"):
            continue
        if k == "properties":
            out[k] = {n: to_jsonschema(s) for n, s in v.items()}
        elif k == "items":
            out[k] = to_jsonschema(v)
        else:
            out[k] = v
    if schema.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if schema.get("type") == "object" and "properties" in schema and \
            not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if schema.get("nullable"):
        out["type"] = [out.get("type"), "null"]
    return out


def _path(parts):
    out = ""
    for p in parts:
        out += "[%d]" % p if isinstance(p, int) else (".%s" % p if out else p)
    return out


def _cel_errors(schema, value, parts):
    errs = []
    if value is None:
        return errs
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"]:
            continue  # a transition rule: the API server checks it on updates only
        try:
            ok = celmini.evaluate(rule["rule"], value)
        except celmini.CelError as e:
            errs.append("%s: rule error (%s): %s" % (_path(parts), e, rule["rule"]))
            continue
        if not ok:
            errs.append("%s: Invalid value: %s" % (_path(parts), rule["message"]))
    t = schema.get("type")
    if t == "object" and isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                errs += _cel_errors(sub, value[name], parts + [name])
    elif t == "array" and isinstance(value, list):
        for n, elem in enumerate(value):
            errs += _cel_errors(schema["items"], elem, parts + [n])
    return errs


def validate(obj, crd):
    """Errors (strings naming the field path) of a custom resource against its CRD."""
    schema = schema_of(crd)
    errs = []
    validator = jsonschema.Draft7Validator(to_jsonschema(schema),
                                           format_checker=jsonschema.FormatChecker())
    for e in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        errs.append("%s: %s" % (_path(list(e.absolute_path)) or "<root>", e.message))
    if errs:
        return errs  # CEL rules run only on a schema-valid object, as on the API server
    return _cel_errors(schema, obj, [])


def example_files():
    return sorted(glob.glob(os.path.join(EXAMPLES_DIR, "*.yaml")))

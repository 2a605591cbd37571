"""A JSONPath subset as used by CRD additionalPrinterColumns and kubectl:
.a.b, ['a.b'], [0], [-1], [*], .., [?(@.x=="v")], [?(@.x!="v")], [?(@.x)] and {.a} wrappers."""
import re


class JSONPathError(ValueError):
    pass


_TOKEN = re.compile(r"""
    \.\.(?P<rname>[A-Za-z0-9_\-]+|\*)?     # recursive descent
  | \.(?P<name>[A-Za-z0-9_\-$]+|\*)
  | \[\s*\?\(\s*@(?P<fpath>(?:\.[A-Za-z0-9_\-]+)+)\s*(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<val>"[^"]*"|'[^']*'|[-0-9.]+|true|false))?\s*\)\s*\]
  | \[\s*(?P<idx>-?\d+)\s*\]
  | \[\s*(?P<slice>-?\d*\s*:\s*-?\d*)\s*\]
  | \[\s*\*\s*\](?P<star>)
  | \[\s*(?P<q>'[^']*'|"[^"]*")\s*\]
""", re.X)


def compile_path(expr):
    """Return a list of steps for expr; raises JSONPathError."""
    e = expr.strip()
    if e.startswith("{") and e.endswith("}"):
        e = e[1:-1].strip()
    if e.startswith("$"):
        e = e[1:]
    if e and not e.startswith((".", "[")):
        e = "." + e
    steps = []
    pos = 0
    while pos < len(e):
        m = _TOKEN.match(e, pos)
        if not m:
            raise JSONPathError("unsupported JSONPath %r at %r" % (expr, e[pos:]))
        g = m.groupdict()
        if m.group(0).startswith(".."):
            steps.append(("recurse", g["rname"] or "*"))
        elif g["name"] is not None:
            steps.append(("field", g["name"]))
        elif g["fpath"] is not None:
            val = g["val"]
            if val is not None:
                if val[0] in "\"'":
                    val = val[1:-1]
                elif val in ("true", "false"):
                    val = val == "true"
                else:
                    val = float(val) if "." in val else int(val)
            steps.append(("filter", g["fpath"][1:].split("."), g["op"], val))
        elif g["idx"] is not None:
            steps.append(("index", int(g["idx"])))
        elif g["slice"] is not None:
            a, b = [x.strip() for x in g["slice"].split(":")]
            steps.append(("slice", int(a) if a else None, int(b) if b else None))
        elif g["star"] is not None:
            steps.append(("field", "*"))
        elif g["q"] is not None:
            steps.append(("field", g["q"][1:-1]))
        pos = m.end()
    return steps


def _children(v):
    if isinstance(v, dict):
        return list(v.values())
    if isinstance(v, list):
        return list(v)
    return []


def _get(v, path):
    for p in path:
        if isinstance(v, dict) and p in v:
            v = v[p]
        else:
            return None, False
    return v, True


def _cmp(a, op, b):
    if op is None:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        return False
    try:
        if isinstance(b, (int, float)) and not isinstance(a, (int, float)):
            a = float(a)
    except (TypeError, ValueError):
        return op == "!="
    try:
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    except TypeError:
        return op == "!="


def evaluate(steps, obj):
    """All matches of compiled steps in obj (a list)."""
    cur = [obj]
    for st in steps:
        nxt = []
        kind = st[0]
        for v in cur:
            if kind == "field":
                if st[1] == "*":
                    nxt.extend(_children(v))
                elif isinstance(v, dict) and st[1] in v:
                    nxt.append(v[st[1]])
            elif kind == "index":
                if isinstance(v, list) and -len(v) <= st[1] < len(v):
                    nxt.append(v[st[1]])
            elif kind == "slice":
                if isinstance(v, list):
                    nxt.extend(v[st[1]:st[2]])
            elif kind == "filter":
                items = v if isinstance(v, list) else (list(v.values()) if isinstance(v, dict) else [])
                for it in items:
                    got, ok = _get(it, st[1])
                    if ok and _cmp(got, st[2], st[3]):
                        nxt.append(it)
            elif kind == "recurse":
                stack = [v]
                while stack:
                    x = stack.pop(0)
                    if st[1] == "*":
                        nxt.extend(_children(x))
                    elif isinstance(x, dict) and st[1] in x:
                        nxt.append(x[st[1]])
                    stack.extend(_children(x))
        cur = nxt
    return cur


def find(expr, obj):
    return evaluate(compile_path(expr), obj)

"""Patch semantics: JSON merge patch (RFC 7386), strategic merge patch for built-in kinds
(merge keys by field name, $patch, $setElementOrder, $retainKeys, $deleteFromPrimitiveList),
and a basic server-side apply merge."""
import copy

from resources import MERGE_KEYS, MERGE_SETS


class PatchError(ValueError):
    pass


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _merge_key(field, items):
    if field == "ports":
        for it in items:
            if isinstance(it, dict):
                return "containerPort" if "containerPort" in it else "port"
        return "port"
    return MERGE_KEYS.get(field)


def strategic_merge(target, patch):
    """Apply a strategic merge patch to target (dicts); returns a new object."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    out = dict(target)
    retain = patch.get("$retainKeys")
    orders = {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            f = k.split("/", 1)[1]
            if isinstance(out.get(f), list):
                out[f] = [x for x in out[f] if x not in (v or [])]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            merged = strategic_merge(out.get(k), v)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _merge_list(k, out.get(k), v)
        else:
            out[k] = copy.deepcopy(v)
    for f, order in orders.items():
        if isinstance(out.get(f), list):
            out[f] = _apply_order(f, out[f], order)
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(field, cur, patch):
    cur = list(cur) if isinstance(cur, list) else []
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and p.get("$patch") == "replace")]
    if field in MERGE_SETS:
        out = list(cur)
        for p in patch:
            if p not in out:
                out.append(p)
        return out
    key = _merge_key(field, patch + cur)
    if key is None or not all(isinstance(p, dict) for p in patch):
        return copy.deepcopy(patch)
    out = [copy.deepcopy(c) for c in cur]
    for p in patch:
        kv = p.get(key)
        idx = next((i for i, c in enumerate(out) if isinstance(c, dict) and c.get(key) == kv), None)
        if p.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(strategic_merge({}, p))
        else:
            out[idx] = strategic_merge(out[idx], p)
    return out


def _apply_order(field, items, order):
    if not order:
        return items
    if all(not isinstance(x, dict) for x in order):
        pos = {v: i for i, v in enumerate(order)}
        return sorted(items, key=lambda x: pos.get(x, len(pos)))
    key = _merge_key(field, order)
    if key is None:
        return items
    pos = {o.get(key): i for i, o in enumerate(order) if isinstance(o, dict)}
    return sorted(items, key=lambda x: pos.get(x.get(key) if isinstance(x, dict) else None, len(pos)))


def apply_merge(current, applied, strategic):
    """Basic server-side apply: fields in 'applied' win; maps merge; lists merge by the
    strategic key for built-in kinds, otherwise are replaced. Nothing is removed."""
    if strategic:
        return strategic_merge(current, applied)
    return _deep_merge(current, applied)


def _deep_merge(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _deep_merge(a.get(k), v)
        return out
    return copy.deepcopy(b)

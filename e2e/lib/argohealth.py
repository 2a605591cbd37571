"""Runs deploy/argocd/health.lua the way Argo CD does (the object as the global `obj`,
the script's returned table as the health) with Debian's lua5.4. The object reaches Lua as
a table literal this module writes (no JSON library in Lua). Shared by
e2e/deploy/tests/test_health.py (sample objects) and the suites that check live objects.
"""
import os
import subprocess

REPO = os.environ.get("LIFEBOAT_REPO") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(REPO, "deploy", "argocd", "health.lua")


def _lua_string(s):
    out = []
    for ch in s:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append("\\%03d" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def lua_literal(v):
    """A Lua expression for a JSON value (null fields are dropped, as Lua tables drop nil)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _lua_string(v)
    if isinstance(v, list):
        return "{" + ", ".join(lua_literal(x) for x in v if x is not None) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join("[%s] = %s" % (_lua_string(k), lua_literal(x))
                               for k, x in v.items() if x is not None) + "}"
    raise TypeError("not a JSON value: %r" % (v,))


def health(obj, script=SCRIPT):
    """(status, message) that the script returns for obj."""
    driver = ("obj = %s\nlocal hs = dofile(%s)\nio.write(hs.status, '\\n', hs.message or '')\n"
              % (lua_literal(obj), _lua_string(script)))
    p = subprocess.run(["lua5.4", "-"], input=driver, capture_output=True, text=True,
                       timeout=30)
    if p.returncode != 0:
        raise AssertionError("lua5.4 %s: %s" % (script, p.stderr))
    status, _, message = p.stdout.partition("\n")
    return status, message

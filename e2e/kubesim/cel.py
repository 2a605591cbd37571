"""A small CEL evaluator for CRD x-kubernetes-validations rules.

Supported: literals (int, double, string, bool, null, lists, maps), self / oldSelf and
bound macro variables, field selection (a.b), indexing (a[0], m['k']), has(a.b),
operators ! - * / % + - < <= > >= == != in && || ?:, size(x) / x.size(),
x.startsWith/endsWith/contains/matches(s), lowerAscii/upperAscii, int(), string(),
double(), the macros all, exists, exists_one, map, filter.
Anything else raises Unsupported: the caller skips the rule with a log line.
"""
import re


class Unsupported(Exception):
    pass


class EvalError(Exception):
    pass


_TOK = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+\.\d+|\d+[uU]?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()\[\]{}])
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)


def tokenize(src):
    out = []
    pos = 0
    while pos < len(src):
        m = _TOK.match(src, pos)
        if not m:
            raise Unsupported("cannot tokenize at %r" % src[pos:pos + 10])
        pos = m.end()
        k = m.lastgroup
        if k == "ws":
            continue
        v = m.group(k)
        if k == "num":
            v = float(v) if "." in v else int(v.rstrip("uU"))
        elif k == "str":
            v = bytes(v[1:-1], "utf-8").decode("unicode_escape")
        out.append((k, v))
    out.append(("end", None))
    return out


class Parser:
    def __init__(self, src):
        self.t = tokenize(src)
        self.i = 0

    def peek(self, v=None):
        k, x = self.t[self.i]
        if v is None:
            return (k, x)
        return k in ("op", "id") and x == v

    def take(self, v=None):
        tok = self.t[self.i]
        if v is not None and tok[1] != v:
            raise Unsupported("expected %r, got %r" % (v, tok[1]))
        self.i += 1
        return tok

    def parse(self):
        e = self.expr()
        if self.t[self.i][0] != "end":
            raise Unsupported("trailing input at %r" % (self.t[self.i][1],))
        return e

    def expr(self):
        c = self.or_()
        if self.peek("?"):
            self.take("?")
            a = self.expr()
            self.take(":")
            b = self.expr()
            return ("cond", c, a, b)
        return c

    def or_(self):
        e = self.and_()
        while self.peek("||"):
            self.take()
            e = ("or", e, self.and_())
        return e

    def and_(self):
        e = self.rel()
        while self.peek("&&"):
            self.take()
            e = ("and", e, self.rel())
        return e

    def rel(self):
        e = self.add()
        while True:
            k, v = self.peek()
            if (k == "op" and v in ("==", "!=", "<", "<=", ">", ">=")) or (k == "id" and v == "in"):
                self.take()
                e = ("bin", v, e, self.add())
            else:
                return e

    def add(self):
        e = self.mul()
        while self.peek("+") or self.peek("-"):
            op = self.take()[1]
            e = ("bin", op, e, self.mul())
        return e

    def mul(self):
        e = self.unary()
        while self.peek("*") or self.peek("/") or self.peek("%"):
            op = self.take()[1]
            e = ("bin", op, e, self.unary())
        return e

    def unary(self):
        if self.peek("!"):
            self.take()
            return ("not", self.unary())
        if self.peek("-"):
            self.take()
            return ("neg", self.unary())
        return self.member()

    def args(self):
        out = []
        self.take("(")
        if not self.peek(")"):
            out.append(self.expr())
            while self.peek(","):
                self.take()
                out.append(self.expr())
        self.take(")")
        return out

    def member(self):
        e = self.primary()
        while True:
            if self.peek("."):
                self.take()
                k, name = self.take()
                if k != "id":
                    raise Unsupported("expected a field name after '.'")
                if self.peek("("):
                    e = ("method", e, name, self.args())
                else:
                    e = ("sel", e, name)
            elif self.peek("["):
                self.take()
                idx = self.expr()
                self.take("]")
                e = ("index", e, idx)
            else:
                return e

    def primary(self):
        k, v = self.take()
        if k == "num" or k == "str":
            return ("lit", v)
        if k == "id":
            if v in ("true", "false"):
                return ("lit", v == "true")
            if v == "null":
                return ("lit", None)
            if self.peek("("):
                return ("call", v, self.args())
            return ("var", v)
        if k == "op" and v == "(":
            e = self.expr()
            self.take(")")
            return e
        if k == "op" and v == "[":
            items = []
            if not self.peek("]"):
                items.append(self.expr())
                while self.peek(","):
                    self.take()
                    items.append(self.expr())
            self.take("]")
            return ("list", items)
        if k == "op" and v == "{":
            pairs = []
            if not self.peek("}"):
                while True:
                    key = self.expr()
                    self.take(":")
                    pairs.append((key, self.expr()))
                    if not self.peek(","):
                        break
                    self.take()
            self.take("}")
            return ("map", pairs)
        raise Unsupported("unexpected token %r" % (v,))


_MACROS = {"all", "exists", "exists_one", "map", "filter"}


def _size(x):
    if isinstance(x, (str, list, dict)):
        return len(x)
    raise EvalError("size() of %s" % type(x).__name__)


def _eq(a, b):
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return a == b


def ev(n, env):
    t = n[0]
    if t == "lit":
        return n[1]
    if t == "var":
        if n[1] not in env:
            raise Unsupported("unknown identifier %r" % n[1])
        return env[n[1]]
    if t == "list":
        return [ev(x, env) for x in n[1]]
    if t == "map":
        return {ev(k, env): ev(v, env) for k, v in n[1]}
    if t == "sel":
        o = ev(n[1], env)
        if isinstance(o, dict):
            if n[2] not in o:
                raise EvalError("no such key: %s" % n[2])
            return o[n[2]]
        raise EvalError("field selection .%s on %s" % (n[2], type(o).__name__))
    if t == "index":
        o = ev(n[1], env)
        i = ev(n[2], env)
        try:
            return o[i]
        except (KeyError, IndexError, TypeError):
            raise EvalError("no such key or index: %r" % (i,))
    if t == "not":
        v = ev(n[1], env)
        if not isinstance(v, bool):
            raise EvalError("! on non-bool")
        return not v
    if t == "neg":
        return -ev(n[1], env)
    if t == "and":
        a = ev(n[1], env)
        if a is False:
            return False
        b = ev(n[2], env)
        return bool(a) and bool(b)
    if t == "or":
        a = ev(n[1], env)
        if a is True:
            return True
        return bool(ev(n[2], env))
    if t == "cond":
        return ev(n[2], env) if ev(n[1], env) else ev(n[3], env)
    if t == "bin":
        op = n[1]
        a, b = ev(n[2], env), ev(n[3], env)
        try:
            if op == "==":
                return _eq(a, b)
            if op == "!=":
                return not _eq(a, b)
            if op == "in":
                return a in b
            if op == "<":
                return a < b
            if op == "<=":
                return a <= b
            if op == ">":
                return a > b
            if op == ">=":
                return a >= b
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            if op == "/":
                return a // b if isinstance(a, int) and isinstance(b, int) else a / b
            if op == "%":
                return a % b
        except (TypeError, ZeroDivisionError) as e:
            raise EvalError(str(e))
    if t == "call":
        name, args = n[1], n[2]
        if name == "has":
            if len(args) != 1 or args[0][0] != "sel":
                raise Unsupported("has() needs a field selection")
            o = ev(args[0][1], env)
            return isinstance(o, dict) and args[0][2] in o
        if name not in ("size", "int", "string", "double"):
            raise Unsupported("function %s()" % name)
        vals = [ev(a, env) for a in args]
        if name == "size" and len(vals) == 1:
            return _size(vals[0])
        if name == "int" and len(vals) == 1:
            try:
                return int(vals[0])
            except (TypeError, ValueError):
                raise EvalError("int()")
        if name == "string" and len(vals) == 1:
            v = vals[0]
            return ("true" if v else "false") if isinstance(v, bool) else str(v)
        if name == "double" and len(vals) == 1:
            return float(vals[0])
        raise Unsupported("function %s()" % name)
    if t == "method":
        target, name, args = n[1], n[2], n[3]
        if name in _MACROS:
            if len(args) != 2 or args[0][0] != "var":
                raise Unsupported("macro %s needs (var, expr)" % name)
            coll = ev(target, env)
            items = list(coll.keys()) if isinstance(coll, dict) else coll
            if not isinstance(items, list):
                raise EvalError("%s on non-list" % name)
            var = args[0][1]
            res = []
            for it in items:
                e2 = dict(env)
                e2[var] = it
                res.append(ev(args[1], e2))
            if name == "all":
                return all(r is True for r in res)
            if name == "exists":
                return any(r is True for r in res)
            if name == "exists_one":
                return sum(1 for r in res if r is True) == 1
            if name == "map":
                return res
            return [it for it, r in zip(items, res) if r is True]
        if name not in ("size", "startsWith", "endsWith", "contains", "matches", "lowerAscii", "upperAscii",
                        "trim"):
            raise Unsupported("method .%s()" % name)
        o = ev(target, env)
        vals = [ev(a, env) for a in args]
        if name == "size" and not vals:
            return _size(o)
        if isinstance(o, str) and len(vals) == 1 and isinstance(vals[0], str):
            if name == "startsWith":
                return o.startswith(vals[0])
            if name == "endsWith":
                return o.endswith(vals[0])
            if name == "contains":
                return vals[0] in o
            if name == "matches":
                try:
                    return re.search(vals[0], o) is not None
                except re.error as e:
                    raise EvalError("bad regex: %s" % e)
        if isinstance(o, str) and not vals and name in ("lowerAscii", "upperAscii", "trim"):
            return {"lowerAscii": o.lower, "upperAscii": o.upper, "trim": o.strip}[name]()
        raise Unsupported("method .%s()" % name)
    raise Unsupported("node %s" % t)


_CACHE = {}


def compile_rule(src):
    ast = _CACHE.get(src)
    if ast is None:
        ast = Parser(src).parse()
        if len(_CACHE) < 4096:
            _CACHE[src] = ast
    return ast


def evaluate(src, env):
    """Evaluate rule src with variables env. Raises Unsupported or EvalError."""
    return ev(compile_rule(src), env)

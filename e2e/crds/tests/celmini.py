"""A deliberately small evaluator for the CEL subset the Lifeboat CRDs use.

It is not CEL: it exists so the contract tests can check, without an API server, that
every x-kubernetes-validations rule in crds/ is written in the simple forms
(crds/generate.py lists them), parses, and gives the intended verdict on the examples and
on broken manifests. Anything outside the subset is a parse error, which is the point: a
rule that needs more than this should be questioned before it reaches an API server.

Grammar (lowest precedence first):
  expr    := or
  or      := and ('||' and)*
  and     := rel ('&&' rel)*
  rel     := unary (('=='|'!='|'<'|'<='|'>'|'>='|'in') unary)?
  unary   := '!' unary | postfix
  postfix := primary ('.' IDENT ['(' args ')'])*
  primary := 'has' '(' postfix ')' | 'size' '(' expr ')' | '[' [expr (',' expr)*] ']'
           | '(' expr ')' | STRING | NUMBER | 'true' | 'false' | 'null' | IDENT
Macros on lists: all, exists, exists_one, filter, map (two arguments: a variable and an
expression); method size().
"""
import re

_TOKEN = re.compile(r"""\s*(?:
    (?P<num>-?[0-9]+(?:\.[0-9]+)?)|
    (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|
    (?P<op>&&|\|\||==|!=|<=|>=|[<>!.,()\[\]])|
    (?P<id>[A-Za-z_][A-Za-z0-9_]*)
)""", re.X)

MACROS = {"all", "exists", "exists_one", "filter", "map"}


class CelError(Exception):
    pass


class _Missing(Exception):
    """Selecting a field that is not set (CEL: 'no such key')."""


def tokenize(src):
    pos, out = 0, []
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise CelError("cannot tokenize at %d: %r" % (pos, src[pos:pos + 20]))
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
    out.append(("end", None))
    return out


class Parser:
    def __init__(self, src):
        self.toks = tokenize(src)
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def take(self, val=None, kind=None):
        tok = self.toks[self.i]
        if (val is not None and tok[1] != val) or (kind is not None and tok[0] != kind):
            raise CelError("expected %s, got %r" % (val or kind, tok[1]))
        self.i += 1
        return tok

    def parse(self):
        node = self.expr()
        if self.peek()[0] != "end":
            raise CelError("trailing input at %r" % (self.peek()[1],))
        return node

    def expr(self):
        node = self.and_()
        while self.peek()[1] == "||":
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self):
        node = self.rel()
        while self.peek()[1] == "&&":
            self.take()
            node = ("and", node, self.rel())
        return node

    def rel(self):
        node = self.unary()
        tok = self.peek()
        if tok[1] in ("==", "!=", "<", "<=", ">", ">=") and tok[0] == "op" or \
                (tok[0] == "id" and tok[1] == "in"):
            self.take()
            node = ("cmp", tok[1], node, self.unary())
        return node

    def unary(self):
        if self.peek()[1] == "!":
            self.take()
            return ("not", self.unary())
        return self.postfix()

    def postfix(self, node=None):
        node = self.primary() if node is None else node
        while self.peek()[1] == ".":
            self.take()
            name = self.take(kind="id")[1]
            if self.peek()[1] == "(":
                self.take("(")
                if name in MACROS:
                    var = self.take(kind="id")[1]
                    self.take(",")
                    body = self.expr()
                    self.take(")")
                    node = ("macro", name, node, var, body)
                elif name == "size":
                    self.take(")")
                    node = ("size", node)
                else:
                    raise CelError("unsupported method %s()" % name)
            else:
                node = ("sel", node, name)
        return node

    def primary(self):
        kind, val = self.peek()
        if kind == "id" and val == "has":
            self.take()
            self.take("(")
            arg = self.postfix()
            self.take(")")
            if arg[0] != "sel":
                raise CelError("has() needs a field selection")
            return ("has", arg)
        if kind == "id" and val == "size":
            self.take()
            self.take("(")
            arg = self.expr()
            self.take(")")
            return ("size", arg)
        if val == "[":
            self.take()
            elems = []
            if self.peek()[1] != "]":
                elems.append(self.expr())
                while self.peek()[1] == ",":
                    self.take()
                    elems.append(self.expr())
            self.take("]")
            return ("list", elems)
        if val == "(":
            self.take()
            node = self.expr()
            self.take(")")
            return node
        self.take()
        if kind == "num":
            return ("lit", float(val) if "." in val else int(val))
        if kind == "str":
            return ("lit", bytes(val[1:-1], "utf-8").decode("unicode_escape"))
        if kind == "id":
            if val in ("true", "false"):
                return ("lit", val == "true")
            if val == "null":
                return ("lit", None)
            return ("var", val)
        raise CelError("unexpected %r" % (val,))


def parse(src):
    return Parser(src).parse()


def _eval(node, env):
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "var":
        if node[1] not in env:
            raise CelError("undeclared reference %s" % node[1])
        return env[node[1]]
    if op == "sel":
        base = _eval(node[1], env)
        if not isinstance(base, dict):
            raise CelError("select .%s on a non-object" % node[2])
        if node[2] not in base:
            raise _Missing(node[2])
        return base[node[2]]
    if op == "has":
        base = _eval(node[1][1], env)
        return isinstance(base, dict) and node[1][2] in base
    if op == "not":
        v = _eval(node[1], env)
        _need_bool(v)
        return not v
    if op in ("and", "or"):
        # CEL's commutative && / ||: an error on one side is absorbed by a decisive other side.
        results = []
        for side in (node[1], node[2]):
            try:
                v = _eval(side, env)
                _need_bool(v)
                results.append(v)
            except _Missing as e:
                results.append(e)
        decisive = (op == "and" and False in results) or (op == "or" and True in results)
        if decisive:
            return op == "or"
        for r in results:
            if isinstance(r, Exception):
                raise r
        return results[0] and results[1] if op == "and" else results[0] or results[1]
    if op == "cmp":
        a, b = _eval(node[2], env), _eval(node[3], env)
        sym = node[1]
        if sym == "in":
            if not isinstance(b, (list, dict)):
                raise CelError("'in' needs a list or map")
            return a in b
        if sym == "==":
            return a == b
        if sym == "!=":
            return a != b
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[sym]
    if op == "size":
        v = _eval(node[1], env)
        return len(v)
    if op == "list":
        return [_eval(e, env) for e in node[1]]
    if op == "macro":
        name, target, var, body = node[1], _eval(node[2], env), node[3], node[4]
        if not isinstance(target, list):
            raise CelError("%s() on a non-list" % name)
        vals = []
        for elem in target:
            sub = dict(env)
            sub[var] = elem
            vals.append(_eval(body, sub))
        if name == "map":
            return vals
        for v in vals:
            _need_bool(v)
        if name == "all":
            return all(vals)
        if name == "exists":
            return any(vals)
        if name == "exists_one":
            return sum(1 for v in vals if v) == 1
        return [e for e, v in zip(target, vals) if v]  # filter
    raise CelError("unknown node %r" % (op,))


def _need_bool(v):
    if not isinstance(v, bool):
        raise CelError("expected a bool, got %r" % (v,))


def evaluate(src, self_value):
    """Evaluate rule src with `self` bound; returns a bool. Raises CelError when the rule
    is outside the subset or an unset field is selected without has()."""
    try:
        out = _eval(parse(src), {"self": self_value})
    except _Missing as e:
        raise CelError("no such key: %s" % e)
    _need_bool(out)
    return out

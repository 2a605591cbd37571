/* cel.c - a small CEL evaluator for CRD validation rules (see cel.h). */
#include "api/cel.h"

#include <ctype.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"

typedef enum {
    N_LIT,
    N_IDENT,
    N_SELECT,
    N_HAS,
    N_INDEX,
    N_NOT,
    N_AND,
    N_OR,
    N_CMP,
    N_IN,
    N_LIST,
    N_SIZE,
    N_MACRO,
} cel_kind;

enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
enum { M_ALL, M_EXISTS, M_EXISTS_ONE, M_FILTER, M_MAP };

typedef struct cel_node {
    cel_kind kind;
    int op;                 /* N_CMP: OP_*, N_MACRO: M_* */
    char *name;             /* N_IDENT, N_SELECT field, N_MACRO variable */
    json_t *lit;            /* N_LIT */
    struct cel_node *a, *b; /* operands; N_MACRO: a target, b body */
    struct cel_node **items;
    size_t n_items;
} cel_node;

typedef struct cel_parser {
    const char *s;
    size_t pos, len;
    size_t nodes;
    int depth;
    int err; /* set once */
} cel_parser;

typedef struct cel_scope {
    const char *name;
    const json_t *value;
    const struct cel_scope *up;
} cel_scope;

static void cel__free(cel_node *n)
{
    if (n == NULL)
        return;
    cel__free(n->a);
    cel__free(n->b);
    for (size_t i = 0; i < n->n_items; i++)
        cel__free(n->items[i]);
    free(n->items);
    free(n->name);
    json_decref(n->lit);
    free(n);
}

static cel_node *cel__node(cel_parser *p, cel_kind kind)
{
    cel_node *n;
    if (++p->nodes > CEL_MAX_NODES) {
        if (!p->err)
            p->err = lb_error_setc(LB_EINVALID, "cel: more than %d nodes", CEL_MAX_NODES);
        return NULL;
    }
    n = lb_calloc(1, sizeof(*n));
    n->kind = kind;
    return n;
}

static cel_node *cel__fail(cel_parser *p, const char *what)
{
    if (!p->err)
        p->err = lb_error_setc(LB_EINVALID, "cel: %s at offset %zu", what, p->pos);
    return NULL;
}

static void cel__ws(cel_parser *p)
{
    while (p->pos < p->len && isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

static bool cel__eat(cel_parser *p, const char *tok)
{
    size_t n = strlen(tok);
    cel__ws(p);
    if (p->len - p->pos >= n && memcmp(p->s + p->pos, tok, n) == 0) {
        /* a word token must not run into an identifier character */
        if (isalpha((unsigned char)tok[0]) && p->pos + n < p->len &&
            (isalnum((unsigned char)p->s[p->pos + n]) || p->s[p->pos + n] == '_'))
            return false;
        p->pos += n;
        return true;
    }
    return false;
}

static char *cel__ident(cel_parser *p)
{
    size_t start;
    cel__ws(p);
    start = p->pos;
    if (p->pos >= p->len || !(isalpha((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_'))
        return NULL;
    while (p->pos < p->len && (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_'))
        p->pos++;
    return lb_strndup(p->s + start, p->pos - start);
}

static cel_node *cel__expr(cel_parser *p);

static cel_node *cel__binary(cel_parser *p, cel_kind kind, int op, cel_node *a, cel_node *b)
{
    cel_node *n;
    if (a == NULL || b == NULL) {
        cel__free(a);
        cel__free(b);
        return NULL;
    }
    n = cel__node(p, kind);
    if (n == NULL) {
        cel__free(a);
        cel__free(b);
        return NULL;
    }
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static cel_node *cel__list(cel_parser *p)
{
    cel_node *n = cel__node(p, N_LIST);
    if (n == NULL)
        return NULL;
    if (cel__eat(p, "]"))
        return n;
    for (;;) {
        cel_node *e = cel__expr(p);
        if (e == NULL) {
            cel__free(n);
            return NULL;
        }
        n->items = lb_realloc(n->items, (n->n_items + 1) * sizeof(*n->items));
        n->items[n->n_items++] = e;
        if (cel__eat(p, "]"))
            return n;
        if (!cel__eat(p, ",")) {
            cel__free(n);
            return cel__fail(p, "expected ',' or ']'");
        }
    }
}

static cel_node *cel__primary(cel_parser *p)
{
    cel_node *n;
    char *id;

    cel__ws(p);
    if (p->pos >= p->len)
        return cel__fail(p, "unexpected end");
    if (cel__eat(p, "(")) {
        n = cel__expr(p);
        if (n != NULL && !cel__eat(p, ")")) {
            cel__free(n);
            return cel__fail(p, "expected ')'");
        }
        return n;
    }
    if (cel__eat(p, "["))
        return cel__list(p);
    if (p->s[p->pos] == '\'' || p->s[p->pos] == '"') {
        char q = p->s[p->pos++];
        size_t start = p->pos;
        char *tmp;
        while (p->pos < p->len && p->s[p->pos] != q) {
            if (p->s[p->pos] == '\\')
                return cel__fail(p, "escapes in string literals are not supported");
            p->pos++;
        }
        if (p->pos >= p->len)
            return cel__fail(p, "unterminated string");
        n = cel__node(p, N_LIT);
        if (n == NULL)
            return NULL;
        tmp = lb_strndup(p->s + start, p->pos - start);
        n->lit = json_string(tmp);
        free(tmp);
        p->pos++;
        if (n->lit == NULL) {
            cel__free(n);
            return cel__fail(p, "string literal is not UTF-8");
        }
        return n;
    }
    if (isdigit((unsigned char)p->s[p->pos])) {
        json_int_t v = 0;
        while (p->pos < p->len && isdigit((unsigned char)p->s[p->pos])) {
            if (v > (INT64_MAX - 9) / 10)
                return cel__fail(p, "integer literal too large");
            v = v * 10 + (p->s[p->pos++] - '0');
        }
        n = cel__node(p, N_LIT);
        if (n != NULL)
            n->lit = json_integer(v);
        return n;
    }
    {
        static const char *const words[] = {"true", "false", "null"};
        for (int w = 0; w < 3; w++) {
            if (!cel__eat(p, words[w]))
                continue;
            n = cel__node(p, N_LIT);
            if (n != NULL)
                n->lit = w == 0 ? json_true() : w == 1 ? json_false() : json_null();
            return n;
        }
    }
    if (cel__eat(p, "has")) {
        cel_node *arg;
        if (!cel__eat(p, "("))
            return cel__fail(p, "expected '(' after has");
        arg = cel__expr(p);
        if (arg == NULL)
            return NULL;
        if (arg->kind != N_SELECT || !cel__eat(p, ")")) {
            cel__free(arg);
            return cel__fail(p, "has() takes one field selection");
        }
        n = cel__node(p, N_HAS);
        if (n == NULL) {
            cel__free(arg);
            return NULL;
        }
        n->a = arg;
        return n;
    }
    if (cel__eat(p, "size")) {
        cel_node *arg;
        if (!cel__eat(p, "("))
            return cel__fail(p, "expected '(' after size");
        arg = cel__expr(p);
        if (arg == NULL)
            return NULL;
        if (!cel__eat(p, ")")) {
            cel__free(arg);
            return cel__fail(p, "expected ')'");
        }
        n = cel__node(p, N_SIZE);
        if (n == NULL) {
            cel__free(arg);
            return NULL;
        }
        n->a = arg;
        return n;
    }
    id = cel__ident(p);
    if (id == NULL)
        return cel__fail(p, "expected an expression");
    n = cel__node(p, N_IDENT);
    if (n == NULL) {
        free(id);
        return NULL;
    }
    n->name = id;
    return n;
}

static cel_node *cel__postfix(cel_parser *p)
{
    cel_node *n = cel__primary(p);
    while (n != NULL) {
        if (cel__eat(p, "[")) {
            cel_node *idx = cel__expr(p);
            if (idx != NULL && !cel__eat(p, "]")) {
                cel__free(idx);
                cel__free(n);
                return cel__fail(p, "expected ']'");
            }
            n = cel__binary(p, N_INDEX, 0, n, idx);
            continue;
        }
        if (!cel__eat(p, "."))
            break;
        char *id = cel__ident(p);
        if (id == NULL) {
            cel__free(n);
            return cel__fail(p, "expected a field name after '.'");
        }
        if (!cel__eat(p, "(")) {
            cel_node *s = cel__node(p, N_SELECT);
            if (s == NULL) {
                free(id);
                cel__free(n);
                return NULL;
            }
            s->a = n;
            s->name = id;
            n = s;
            continue;
        }
        if (strcmp(id, "size") == 0) {
            free(id);
            if (!cel__eat(p, ")")) {
                cel__free(n);
                return cel__fail(p, "size() takes no arguments");
            }
            cel_node *s = cel__node(p, N_SIZE);
            if (s == NULL) {
                cel__free(n);
                return NULL;
            }
            s->a = n;
            n = s;
            continue;
        }
        int m = strcmp(id, "all") == 0          ? M_ALL
                : strcmp(id, "exists") == 0     ? M_EXISTS
                : strcmp(id, "exists_one") == 0 ? M_EXISTS_ONE
                : strcmp(id, "filter") == 0     ? M_FILTER
                : strcmp(id, "map") == 0        ? M_MAP
                                                : -1;
        free(id);
        if (m < 0) {
            cel__free(n);
            return cel__fail(p, "unknown method");
        }
        char *var = cel__ident(p);
        if (var == NULL || !cel__eat(p, ",")) {
            free(var);
            cel__free(n);
            return cel__fail(p, "a macro takes (variable, expression)");
        }
        cel_node *body = cel__expr(p);
        if (body == NULL || !cel__eat(p, ")")) {
            free(var);
            cel__free(body);
            cel__free(n);
            return cel__fail(p, "expected ')' after macro body");
        }
        cel_node *mac = cel__binary(p, N_MACRO, m, n, body);
        if (mac == NULL) {
            free(var);
            return NULL;
        }
        mac->name = var;
        n = mac;
    }
    return n;
}

static cel_node *cel__unary(cel_parser *p)
{
    cel_node *n, *a;
    cel__ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '!' || (p->pos + 1 < p->len && p->s[p->pos + 1] == '='))
        return cel__postfix(p);
    p->pos++;
    if (++p->depth > CEL_MAX_DEPTH)
        return cel__fail(p, "nested too deeply");
    a = cel__unary(p);
    p->depth--;
    if (a == NULL)
        return NULL;
    n = cel__node(p, N_NOT);
    if (n == NULL) {
        cel__free(a);
        return NULL;
    }
    n->a = a;
    return n;
}

static cel_node *cel__relation(cel_parser *p)
{
    static const struct {
        const char *tok;
        int op;
    } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE},
               {">=", OP_GE}, {"<", OP_LT},  {">", OP_GT}};
    cel_node *a = cel__unary(p);
    if (a == NULL)
        return NULL;
    if (cel__eat(p, "in"))
        return cel__binary(p, N_IN, 0, a, cel__unary(p));
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (cel__eat(p, ops[i].tok))
            return cel__binary(p, N_CMP, ops[i].op, a, cel__unary(p));
    return a;
}

static cel_node *cel__and(cel_parser *p)
{
    cel_node *n = cel__relation(p);
    while (n != NULL && cel__eat(p, "&&"))
        n = cel__binary(p, N_AND, 0, n, cel__relation(p));
    return n;
}

static cel_node *cel__expr(cel_parser *p)
{
    cel_node *n;
    if (++p->depth > CEL_MAX_DEPTH)
        return cel__fail(p, "nested too deeply");
    n = cel__and(p);
    while (n != NULL && cel__eat(p, "||"))
        n = cel__binary(p, N_OR, 0, n, cel__and(p));
    p->depth--;
    return n;
}

static int cel__parse(cel_node **out, const char *rule)
{
    cel_parser p = {.s = rule, .len = strlen(rule)};
    cel_node *n;

    if (p.len > CEL_MAX_RULE)
        return lb_error_setc(LB_EINVALID, "cel: rule longer than %d bytes", CEL_MAX_RULE);
    n = cel__expr(&p);
    if (n != NULL) {
        cel__ws(&p);
        if (p.pos != p.len) {
            cel__free(n);
            n = cel__fail(&p, "unexpected text");
        }
    }
    if (n == NULL)
        return p.err ? LB_EINVALID : lb_error_setc(LB_EINVALID, "cel: cannot parse");
    *out = n;
    return 0;
}

/* ---------------------------------------------------------------- evaluation */

typedef struct cel_eval {
    long steps;
    int err;
} cel_eval;

static json_t *cel__err(cel_eval *ev, const char *what)
{
    if (!ev->err)
        ev->err = lb_error_setc(LB_EINVALID, "cel: %s", what);
    return NULL;
}

static json_t *cel__run(cel_eval *ev, const cel_node *n, const cel_scope *sc);

static int cel__truth(cel_eval *ev, const cel_node *n, const cel_scope *sc)
{
    json_t *v = cel__run(ev, n, sc);
    int r;
    if (v == NULL)
        return -1;
    if (!json_is_boolean(v)) {
        json_decref(v);
        cel__err(ev, "expected a bool");
        return -1;
    }
    r = json_is_true(v);
    json_decref(v);
    return r;
}

static bool cel__equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b);
}

static json_t *cel__macro(cel_eval *ev, const cel_node *n, const cel_scope *sc)
{
    json_t *target = cel__run(ev, n->a, sc), *out = NULL, *elem;
    size_t i, count = 0;

    if (target == NULL)
        return NULL;
    if (!json_is_array(target)) {
        json_decref(target);
        return cel__err(ev, "macros apply to lists only");
    }
    if (n->op == M_FILTER || n->op == M_MAP)
        out = json_array();
    json_array_foreach(target, i, elem)
    {
        cel_scope inner = {.name = n->name, .value = elem, .up = sc};
        if (n->op == M_MAP) {
            json_t *v = cel__run(ev, n->b, &inner);
            if (v == NULL)
                goto fail;
            json_array_append_new(out, v);
            continue;
        }
        int t = cel__truth(ev, n->b, &inner);
        if (t < 0)
            goto fail;
        if (n->op == M_ALL && !t) {
            json_decref(target);
            return json_false();
        }
        if (n->op == M_EXISTS && t) {
            json_decref(target);
            return json_true();
        }
        if (t) {
            count++;
            if (n->op == M_FILTER)
                json_array_append(out, elem);
        }
    }
    json_decref(target);
    switch (n->op) {
    case M_ALL:
        return json_true();
    case M_EXISTS:
        return json_false();
    case M_EXISTS_ONE:
        return json_boolean(count == 1);
    default:
        return out;
    }
fail:
    json_decref(target);
    json_decref(out);
    return NULL;
}

/* has(sel): -1 on error, else whether the selected field is present (and not
 * null); false when a parent on the path is missing. */
static int cel__has(cel_eval *ev, const cel_node *sel, const cel_scope *sc)
{
    json_t *parent, *v;
    int r;

    if (sel->a->kind == N_SELECT) {
        r = cel__has(ev, sel->a, sc);
        if (r <= 0)
            return r;
    }
    parent = cel__run(ev, sel->a, sc);
    if (parent == NULL)
        return -1;
    v = json_object_get(parent, sel->name);
    r = json_is_object(parent) && v != NULL && !json_is_null(v);
    json_decref(parent);
    return r;
}

static json_t *cel__run(cel_eval *ev, const cel_node *n, const cel_scope *sc)
{
    json_t *a, *b, *r;

    if (ev->err)
        return NULL;
    if (++ev->steps > CEL_MAX_STEPS)
        return cel__err(ev, "evaluation cost limit exceeded");
    switch (n->kind) {
    case N_LIT:
        return json_incref(n->lit);
    case N_IDENT:
        for (const cel_scope *s = sc; s != NULL; s = s->up)
            if (strcmp(s->name, n->name) == 0)
                return json_incref((json_t *)s->value);
        return cel__err(ev, "undeclared reference");
    case N_SELECT:
        a = cel__run(ev, n->a, sc);
        if (a == NULL)
            return NULL;
        r = json_object_get(a, n->name);
        json_incref(r);
        json_decref(a);
        return r != NULL ? r : cel__err(ev, "no such key");
    case N_HAS: {
        int t = cel__has(ev, n->a, sc);
        return t < 0 ? NULL : json_boolean(t);
    }
    case N_INDEX:
        a = cel__run(ev, n->a, sc);
        b = a ? cel__run(ev, n->b, sc) : NULL;
        r = NULL;
        if (json_is_array(a) && json_is_integer(b))
            r = json_incref(json_array_get(a, (size_t)json_integer_value(b)));
        else if (json_is_object(a) && json_is_string(b))
            r = json_incref(json_object_get(a, json_string_value(b)));
        json_decref(a);
        json_decref(b);
        return r != NULL ? r : cel__err(ev, "index out of range or wrong type");
    case N_NOT: {
        int t = cel__truth(ev, n->a, sc);
        return t < 0 ? NULL : json_boolean(!t);
    }
    case N_AND:
    case N_OR: {
        int t = cel__truth(ev, n->a, sc);
        if (t < 0)
            return NULL;
        if (n->kind == N_AND ? !t : t)
            return json_boolean(t);
        t = cel__truth(ev, n->b, sc);
        return t < 0 ? NULL : json_boolean(t);
    }
    case N_CMP: {
        int c = 0;
        bool ok = true;
        a = cel__run(ev, n->a, sc);
        b = a ? cel__run(ev, n->b, sc) : NULL;
        if (a == NULL || b == NULL) {
            json_decref(a);
            return NULL;
        }
        if (n->op == OP_EQ || n->op == OP_NE) {
            c = cel__equal(a, b) ? 0 : 1;
        } else if (json_is_number(a) && json_is_number(b)) {
            double x = json_number_value(a), y = json_number_value(b);
            c = x < y ? -1 : x > y ? 1 : 0;
        } else if (json_is_string(a) && json_is_string(b)) {
            c = strcmp(json_string_value(a), json_string_value(b));
        } else {
            ok = false;
        }
        json_decref(a);
        json_decref(b);
        if (!ok)
            return cel__err(ev, "cannot order these values");
        switch (n->op) {
        case OP_EQ:
            return json_boolean(c == 0);
        case OP_NE:
            return json_boolean(c != 0);
        case OP_LT:
            return json_boolean(c < 0);
        case OP_LE:
            return json_boolean(c <= 0);
        case OP_GT:
            return json_boolean(c > 0);
        default:
            return json_boolean(c >= 0);
        }
    }
    case N_IN: {
        size_t i;
        json_t *e;
        bool found = false;
        a = cel__run(ev, n->a, sc);
        b = a ? cel__run(ev, n->b, sc) : NULL;
        if (a == NULL || b == NULL) {
            json_decref(a);
            return NULL;
        }
        if (json_is_array(b)) {
            json_array_foreach(b, i, e)
            {
                if (cel__equal(a, e))
                    found = true;
            }
        } else if (json_is_object(b) && json_is_string(a)) {
            found = json_object_get(b, json_string_value(a)) != NULL;
        } else {
            json_decref(a);
            json_decref(b);
            return cel__err(ev, "'in' needs a list or map");
        }
        json_decref(a);
        json_decref(b);
        return json_boolean(found);
    }
    case N_LIST:
        r = json_array();
        for (size_t i = 0; i < n->n_items; i++) {
            a = cel__run(ev, n->items[i], sc);
            if (a == NULL) {
                json_decref(r);
                return NULL;
            }
            json_array_append_new(r, a);
        }
        return r;
    case N_SIZE:
        a = cel__run(ev, n->a, sc);
        if (a == NULL)
            return NULL;
        if (json_is_array(a))
            r = json_integer((json_int_t)json_array_size(a));
        else if (json_is_object(a))
            r = json_integer((json_int_t)json_object_size(a));
        else if (json_is_string(a)) {
            /* CEL counts code points */
            const unsigned char *s = (const unsigned char *)json_string_value(a);
            json_int_t cps = 0;
            for (size_t i = 0; i < json_string_length(a); i++)
                cps += (s[i] & 0xC0) != 0x80;
            r = json_integer(cps);
        } else
            r = NULL;
        json_decref(a);
        return r != NULL ? r : cel__err(ev, "size() of a value without a size");
    case N_MACRO:
        return cel__macro(ev, n, sc);
    }
    return cel__err(ev, "unknown node");
}

struct cel_program {
    cel_node *root;
};

int cel_compile(cel_program **out, const char *rule)
{
    cel_node *n = NULL;
    int rc = cel__parse(&n, rule);
    if (rc != 0)
        return rc;
    *out = lb_malloc(sizeof(**out));
    (*out)->root = n;
    return 0;
}

void cel_program_free(cel_program *prog)
{
    if (prog == NULL)
        return;
    cel__free(prog->root);
    free(prog);
}

int cel_program_eval(const cel_program *prog, const json_t *self_value)
{
    cel_eval ev = {0};
    cel_scope top = {.name = "self", .value = self_value, .up = NULL};
    int rc = cel__truth(&ev, prog->root, &top);
    if (rc < 0)
        return ev.err ? ev.err : LB_EINVALID;
    return rc;
}

int cel_check(const char *rule)
{
    cel_node *n = NULL;
    int rc = cel__parse(&n, rule);
    cel__free(n);
    return rc;
}

int cel_eval_bool(const char *rule, const json_t *self_value)
{
    cel_program *prog = NULL;
    int rc = cel_compile(&prog, rule);

    if (rc != 0)
        return rc;
    rc = cel_program_eval(prog, self_value);
    cel_program_free(prog);
    return rc;
}

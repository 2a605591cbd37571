/* cel.h - the subset of CEL that the CRDs' x-kubernetes-validations use.
 *
 * crds/generate.py writes every rule in simple forms only, and this evaluator
 * understands exactly those: `self`, field selection, `has(a.b)`, literals
 * (int, 'string', "string", true, false, null, [list]), `!`, `&&`, `||`,
 * `==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `size(x)` / `x.size()`, `x[i]`, and
 * the macros `all`, `exists`, `exists_one`, `filter`, `map`. Values are
 * jansson values. `&&` and `||` short-circuit left to right. has() of a path
 * whose parent is missing is false (the rules guard parents anyway).
 *
 * A rule is compiled once into a cel_program (immutable, so one program may
 * be evaluated by several threads at once); a rule is at most CEL_MAX_RULE
 * bytes and CEL_MAX_NODES nodes, and an evaluation does at most
 * CEL_MAX_STEPS node visits, so hostile input cannot make it slow.
 */
#ifndef LB_API_CEL_H
#define LB_API_CEL_H

#include <jansson.h>

#define CEL_MAX_RULE  4096   /* bytes of one rule */
#define CEL_MAX_NODES 1024   /* syntax nodes of one rule */
#define CEL_MAX_DEPTH 64     /* nesting of one rule */
#define CEL_MAX_STEPS 200000 /* node evaluations per rule and value */

typedef struct cel_program cel_program;

/* Compiles rule into *out (free with cel_program_free()). Returns 0, or
 * LB_EINVALID with the position of the syntax error. */
int cel_compile(cel_program **out, const char *rule);

/* Evaluates a compiled rule with `self` bound to self_value; returns as
 * cel_eval_bool(). Thread-safe. */
int cel_program_eval(const cel_program *prog, const json_t *self_value);

void cel_program_free(cel_program *prog);

/* Compiles and evaluates rule with `self` bound to self_value. Returns 1 (true), 0
 * (false), or LB_EINVALID with lb_error naming the problem (syntax error,
 * type mismatch, missing field, a non-bool result, a cap exceeded). */
int cel_eval_bool(const char *rule, const json_t *self_value);

/* Only parses rule: 0 when this evaluator understands it, else LB_EINVALID
 * with the position. */
int cel_check(const char *rule);

#endif

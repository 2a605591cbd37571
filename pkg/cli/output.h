/* cli/output.h - `-o json` and `-o yaml` for kubectl-lifeboat. */
#ifndef LIFEBOAT_CLI_OUTPUT_H
#define LIFEBOAT_CLI_OUTPUT_H

#include <jansson.h>
#include <stdio.h>

/* Writes `v` as indented JSON and a newline. 0, or -1 on a write error. */
int cli_write_json(FILE *f, const json_t *v);

/* Writes `v` as one YAML document through libyaml's emitter (strings that
 * look like other types are quoted by the emitter). 0, or -1 with a message. */
int cli_write_yaml(FILE *f, const json_t *v);

#endif

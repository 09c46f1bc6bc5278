/*
 * Typed access to a YAML document with "file:line: message" errors.
 * Errors are collected (parsing goes on) so that `sandgate -t` reports all of them.
 * Every key that is read is marked; sg_yaml_check_unknown() reports the others.
 */
#ifndef SG_YAMLCONF_H
#define SG_YAMLCONF_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

typedef struct st_sg_yaml_t {
    const char *file;
    yaml_document_t doc;
    int loaded;
    unsigned char *used; /* per node: key was consumed */
    char *errors;        /* newline-separated messages, malloc'd */
    size_t num_errors;
} sg_yaml_t;

/* Loads FILE. Returns 0 on success; on failure records the error and returns -1. */
int sg_yaml_load(sg_yaml_t *y, const char *file);
void sg_yaml_dispose(sg_yaml_t *y);
yaml_node_t *sg_yaml_root(sg_yaml_t *y);

void sg_yaml_error(sg_yaml_t *y, yaml_node_t *node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Formats a message into err (errlen bytes) and returns -1: the error path of parsers that report one message. */
int sg_conf_errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int sg_yaml_line(yaml_node_t *node);

/* Returns the value node of KEY in MAP (marking it used), or NULL. */
yaml_node_t *sg_yaml_get(sg_yaml_t *y, yaml_node_t *map, const char *key);
/* Reports every key of MAP never fetched with sg_yaml_get. */
void sg_yaml_check_unknown(sg_yaml_t *y, yaml_node_t *map, const char *section);
int sg_yaml_is_map(yaml_node_t *n);
int sg_yaml_is_seq(yaml_node_t *n);
size_t sg_yaml_seq_len(yaml_node_t *seq);
yaml_node_t *sg_yaml_seq_at(sg_yaml_t *y, yaml_node_t *seq, size_t i);
/* iterates a mapping: returns 0 at the end; *key_node / *value_node set otherwise; marks the key used */
int sg_yaml_map_next(sg_yaml_t *y, yaml_node_t *map, size_t *iter, yaml_node_t **key_node, yaml_node_t **value_node);
const char *sg_yaml_scalar(yaml_node_t *n); /* NULL unless a scalar */

/* Typed getters. Return 1 if set, 0 if absent, -1 on a type error (recorded). */
int sg_yaml_str(sg_yaml_t *y, yaml_node_t *map, const char *key, const char **out);
int sg_yaml_uint(sg_yaml_t *y, yaml_node_t *map, const char *key, uint64_t *out, uint64_t min, uint64_t max);
int sg_yaml_int(sg_yaml_t *y, yaml_node_t *map, const char *key, int64_t *out);
int sg_yaml_bool(sg_yaml_t *y, yaml_node_t *map, const char *key, int *out);
int sg_yaml_duration_ms(sg_yaml_t *y, yaml_node_t *map, const char *key, uint64_t *out);
int sg_yaml_size(sg_yaml_t *y, yaml_node_t *map, const char *key, uint64_t *out);

/* Pure parsers (unit tested). Return 0 on success, -1 on malformed input. */
int sg_parse_duration_ms(const char *s, uint64_t *out);
/* a decimal integer (the whole string); 0 on success, -1 otherwise */
int sg_parse_int(const char *s, int64_t *out);
/* true/yes/on or false/no/off; 0 on success, -1 otherwise */
int sg_parse_bool(const char *s, int *out);
int sg_parse_size(const char *s, uint64_t *out);

#endif

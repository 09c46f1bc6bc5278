#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/yamlconf.h"

static void append_error(sg_yaml_t *y, const char *msg)
{
    size_t cur = y->errors != NULL ? strlen(y->errors) : 0, add = strlen(msg);
    char *p = realloc(y->errors, cur + add + 2);
    if (p == NULL)
        return;
    memcpy(p + cur, msg, add);
    p[cur + add] = '\n';
    p[cur + add + 1] = '\0';
    y->errors = p;
    y->num_errors++;
}

int sg_yaml_line(yaml_node_t *node)
{
    return node != NULL ? (int)node->start_mark.line + 1 : 0;
}

void sg_yaml_error(sg_yaml_t *y, yaml_node_t *node, const char *fmt, ...)
{
    char prefix[64], body[1024], *msg;
    snprintf(prefix, sizeof(prefix), ":%d: ", node != NULL ? sg_yaml_line(node) : 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    /* one error per line: control characters quoted from the file (a key holding a newline) are shown as '?' */
    for (char *p = body; *p != '\0'; ++p)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    /* the file name can be as long as PATH_MAX: the line is built on the heap, never cut before the message */
    if (asprintf(&msg, "%s%s%s", y->file, prefix, body) < 0)
        return;
    append_error(y, msg);
    free(msg);
}

int sg_yaml_load(sg_yaml_t *y, const char *file)
{
    FILE *fp = NULL;
    yaml_parser_t parser;
    int ret = -1;

    memset(y, 0, sizeof(*y));
    y->file = file;
    if ((fp = fopen(file, "rb")) == NULL) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s:1: cannot open: %s", file, strerror(errno));
        append_error(y, msg);
        return -1;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &y->doc)) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s:%zu: YAML syntax error: %s%s%s", file, parser.problem_mark.line + 1,
                 parser.problem != NULL ? parser.problem : "unknown", parser.context != NULL ? " " : "",
                 parser.context != NULL ? parser.context : "");
        append_error(y, msg);
        goto Exit;
    }
    y->loaded = 1;
    size_t n = (size_t)(y->doc.nodes.top - y->doc.nodes.start);
    y->used = calloc(n + 1, 1);
    if (sg_yaml_root(y) == NULL || !sg_yaml_is_map(sg_yaml_root(y))) {
        sg_yaml_error(y, sg_yaml_root(y), "the configuration must be a mapping");
        goto Exit;
    }
    ret = 0;
Exit:
    yaml_parser_delete(&parser);
    fclose(fp);
    return ret;
}

void sg_yaml_dispose(sg_yaml_t *y)
{
    if (y->loaded)
        yaml_document_delete(&y->doc);
    free(y->used);
    free(y->errors);
    memset(y, 0, sizeof(*y));
}

yaml_node_t *sg_yaml_root(sg_yaml_t *y)
{
    return y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;
}

int sg_yaml_is_map(yaml_node_t *n)
{
    return n != NULL && n->type == YAML_MAPPING_NODE;
}

int sg_yaml_is_seq(yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SEQUENCE_NODE;
}

const char *sg_yaml_scalar(yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

size_t sg_yaml_seq_len(yaml_node_t *seq)
{
    return sg_yaml_is_seq(seq) ? (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start) : 0;
}

yaml_node_t *sg_yaml_seq_at(sg_yaml_t *y, yaml_node_t *seq, size_t i)
{
    return yaml_document_get_node(&y->doc, seq->data.sequence.items.start[i]);
}

static size_t node_index(sg_yaml_t *y, yaml_node_t *n)
{
    return (size_t)(n - y->doc.nodes.start);
}

int sg_yaml_map_next(sg_yaml_t *y, yaml_node_t *map, size_t *iter, yaml_node_t **key_node, yaml_node_t **value_node)
{
    if (!sg_yaml_is_map(map))
        return 0;
    yaml_node_pair_t *pair = map->data.mapping.pairs.start + *iter;
    if (pair >= map->data.mapping.pairs.top)
        return 0;
    ++*iter;
    *key_node = yaml_document_get_node(&y->doc, pair->key);
    *value_node = yaml_document_get_node(&y->doc, pair->value);
    y->used[node_index(y, *key_node)] = 1;
    return 1;
}

yaml_node_t *sg_yaml_get(sg_yaml_t *y, yaml_node_t *map, const char *key)
{
    if (!sg_yaml_is_map(map))
        return NULL;
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; ++pair) {
        yaml_node_t *k = yaml_document_get_node(&y->doc, pair->key);
        const char *s = sg_yaml_scalar(k);
        if (s != NULL && strcmp(s, key) == 0) {
            y->used[node_index(y, k)] = 1;
            return yaml_document_get_node(&y->doc, pair->value);
        }
    }
    return NULL;
}

void sg_yaml_check_unknown(sg_yaml_t *y, yaml_node_t *map, const char *section)
{
    if (!sg_yaml_is_map(map))
        return;
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; ++pair) {
        yaml_node_t *k = yaml_document_get_node(&y->doc, pair->key);
        const char *ks = sg_yaml_scalar(k);
        int dup = 0;
        for (yaml_node_pair_t *prev = map->data.mapping.pairs.start; prev < pair && ks != NULL; ++prev)
            dup |= sg_yaml_scalar(yaml_document_get_node(&y->doc, prev->key)) != NULL &&
                   strcmp(sg_yaml_scalar(yaml_document_get_node(&y->doc, prev->key)), ks) == 0;
        if (dup) {
            sg_yaml_error(y, k, "duplicate key '%s' in %s", ks, section);
        } else if (!y->used[node_index(y, k)]) {
            const char *s = sg_yaml_scalar(k);
            sg_yaml_error(y, k, "unknown key '%s' in %s", s != NULL ? s : "(non-scalar)", section);
        }
    }
}

static yaml_node_t *get_scalar(sg_yaml_t *y, yaml_node_t *map, const char *key, int *ret)
{
    yaml_node_t *n = sg_yaml_get(y, map, key);
    *ret = 0;
    if (n == NULL)
        return NULL;
    if (n->type != YAML_SCALAR_NODE) {
        sg_yaml_error(y, n, "'%s' must be a scalar value", key);
        *ret = -1;
        return NULL;
    }
    *ret = 1;
    return n;
}

int sg_yaml_str(sg_yaml_t *y, yaml_node_t *map, const char *key, const char **out)
{
    int ret;
    yaml_node_t *n = get_scalar(y, map, key, &ret);
    if (n != NULL)
        *out = sg_yaml_scalar(n);
    return ret;
}

int sg_yaml_int(sg_yaml_t *y, yaml_node_t *map, const char *key, int64_t *out)
{
    int ret;
    yaml_node_t *n = get_scalar(y, map, key, &ret);
    if (n == NULL)
        return ret;
    const char *s = sg_yaml_scalar(n);
    if (sg_parse_int(s, out) != 0) {
        sg_yaml_error(y, n, "'%s' must be an integer, got '%s'", key, s);
        return -1;
    }
    return 1;
}

int sg_yaml_uint(sg_yaml_t *y, yaml_node_t *map, const char *key, uint64_t *out, uint64_t min, uint64_t max)
{
    int64_t v;
    int ret = sg_yaml_int(y, map, key, &v);
    if (ret != 1)
        return ret;
    if (v < 0 || (uint64_t)v < min || (uint64_t)v > max) {
        sg_yaml_error(y, sg_yaml_get(y, map, key), "'%s' must be between %llu and %llu", key, (unsigned long long)min,
                      (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)v;
    return 1;
}

int sg_yaml_bool(sg_yaml_t *y, yaml_node_t *map, const char *key, int *out)
{
    int ret;
    yaml_node_t *n = get_scalar(y, map, key, &ret);
    if (n == NULL)
        return ret;
    const char *s = sg_yaml_scalar(n);
    if (sg_parse_bool(s, out) != 0) {
        sg_yaml_error(y, n, "'%s' must be true or false, got '%s'", key, s);
        return -1;
    }
    return 1;
}

int sg_parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0)
        return -1;
    *out = v;
    return 0;
}

int sg_parse_bool(const char *s, int *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

int sg_parse_duration_ms(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    /* strtod would also take hex floats and exponents ("0x10", "1e3") */
    size_t numlen = strspn(s, "0123456789.");
    if (s[numlen] != '\0' && strchr("smh", s[numlen]) == NULL)
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || v < 0)
        return -1;
    double mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -1;
    v *= mult;
    if (v > 1e15)
        return -1;
    *out = (uint64_t)(v + 0.5);
    return 0;
}

int sg_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    uint64_t mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1024, ++end;
    else if (*end == 'm' || *end == 'M')
        mult = 1024 * 1024, ++end;
    else if (*end == 'g' || *end == 'G')
        mult = 1024ull * 1024 * 1024, ++end;
    if (*end == 'b' || *end == 'B')
        ++end;
    if (*end != '\0' || v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

static int typed_scalar(sg_yaml_t *y, yaml_node_t *map, const char *key, uint64_t *out, int (*parse)(const char *, uint64_t *),
                        const char *what)
{
    int ret;
    yaml_node_t *n = get_scalar(y, map, key, &ret);
    if (n == NULL)
        return ret;
    if (parse(sg_yaml_scalar(n), out) != 0) {
        sg_yaml_error(y, n, "'%s' must be %s, got '%s'", key, what, sg_yaml_scalar(n));
        return -1;
    }
    return 1;
}

int sg_yaml_duration_ms(sg_yaml_t *y, yaml_node_t *map, const char *key, uint64_t *out)
{
    return typed_scalar(y, map, key, out, sg_parse_duration_ms, "a duration (e.g. 250ms, 5s, 2m)");
}

int sg_yaml_size(sg_yaml_t *y, yaml_node_t *map, const char *key, uint64_t *out)
{
    return typed_scalar(y, map, key, out, sg_parse_size, "a size (e.g. 512, 64k, 10m)");
}

int sg_conf_errorf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

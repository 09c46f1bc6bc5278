/*
 * The documentation tables checked against the code's tables, so that neither can
 * change alone:
 *   - README.md's error table against gateway/util/errors.h (codes and statuses, both ways),
 *     and the codes the plugins of this repository pass as strings;
 *   - docs/CONFIG.md's tenant `policy.*` and `admission` rows against the tables of
 *     gateway/config/tenant_policy.c and gateway/config/admission_conf.c (names both ways, types, defaults, bounds).
 * argv[1] may name another source tree (to show that a planted difference fails).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/admission.h"
#include "util/errors.h"
#include "test.h"
#include "config/tenant.h"

static const char *srcdir = SG_SOURCE_DIR;

static char *slurp(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", srcdir, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return s;
}

/* splits a markdown table row into at most max cells (trimmed, modified in place); returns the count */
static size_t split_row(char *line, char **cells, size_t max)
{
    size_t n = 0;
    if (*line != '|')
        return 0;
    char *p = line + 1;
    while (n != max) {
        char *bar = strchr(p, '|');
        if (bar == NULL)
            break;
        *bar = '\0';
        while (isspace((unsigned char)*p))
            ++p;
        char *e = bar;
        while (e > p && isspace((unsigned char)e[-1]))
            *--e = '\0';
        cells[n++] = p;
        p = bar + 1;
    }
    return n;
}

/* the backticked words of s, in order; returns the count */
static size_t backticked(const char *s, char out[][128], size_t max)
{
    size_t n = 0;
    while (n != max && (s = strchr(s, '`')) != NULL) {
        const char *e = strchr(s + 1, '`');
        if (e == NULL)
            break;
        snprintf(out[n++], sizeof(out[0]), "%.*s", (int)(e - s - 1), s + 1);
        s = e + 1;
    }
    return n;
}

/* the rows of the first table after the line that starts with header; calls fn per data row */
static void each_row(char *doc, const char *header, void (*fn)(char **cells, size_t n, void *data), void *data)
{
    char *p = strstr(doc, header);
    CHECK(p != NULL);
    if (p == NULL)
        return;
    int in_table = 0;
    for (char *line = p; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (*line == '|') {
            in_table = 1;
            char *cells[8];
            size_t n = split_row(line, cells, 8);
            if (line != p && n != 0 && strncmp(cells[0], "---", 3) != 0)
                fn(cells, n, data);
        } else if (in_table) {
            break;
        }
        if (nl == NULL)
            break;
        *nl = '\n';
        line = nl + 1;
    }
}

/* ---- errors ---- */

static int error_seen[SG_ERR_NUM];

static void on_error_row(char **cells, size_t n, void *data)
{
    (void)data;
    if (n < 2)
        return;
    int statuses[8], num_statuses = 0;
    if (strstr(cells[0], "xx") != NULL) {
        statuses[num_statuses++] = 0; /* 4xx/5xx: the status is the backend's */
    } else {
        for (const char *p = cells[0]; *p != '\0' && num_statuses != 8;) {
            if (isdigit((unsigned char)*p)) {
                statuses[num_statuses++] = (int)strtol(p, (char **)&p, 10);
            } else {
                ++p;
            }
        }
    }
    char codes[8][128];
    size_t num_codes = backticked(cells[1], codes, 8);
    char prefix[256] = "";
    const char *sep = num_codes != 0 ? strstr(codes[0], "::") : NULL;
    if (sep != NULL)
        snprintf(prefix, sizeof(prefix), "%.*s", (int)(sep + 2 - codes[0]), codes[0]);
    for (size_t i = 0; i != num_codes; ++i) {
        char code[512];
        snprintf(code, sizeof(code), "%.200s%.200s", strstr(codes[i], "::") == NULL ? prefix : "", codes[i]);
        int status = num_statuses == 1 ? statuses[0] : (size_t)num_statuses == num_codes ? statuses[i] : -1;
        const sg_error_def_t *e = sg_error_find(code);
        if (e == NULL) {
            fprintf(stderr, "README.md: error %s is not in gateway/util/errors.h\n", code);
            CHECK(e != NULL);
            continue;
        }
        if (e->status != status) {
            fprintf(stderr, "README.md: error %s has status %d, gateway/util/errors.h says %d\n", code, status, e->status);
            CHECK_INT(status, e->status);
        }
        error_seen[e - sg_errors] = 1;
    }
}

/* every respond_error(req, STATUS, "CODE", ...) of a plugin source names a code of the table, with its status */
static void check_plugin_codes(const char *rel)
{
    char *src = slurp(rel);
    CHECK(src != NULL);
    if (src == NULL)
        return;
    size_t found = 0;
    for (const char *p = src; (p = strstr(p, "respond_error(")) != NULL; ++p) {
        const char *comma = strchr(p, ',');
        int status;
        char code[128];
        if (comma == NULL || sscanf(comma + 1, " %d , \"%127[^\"]\"", &status, code) != 2)
            continue;
        ++found;
        const sg_error_def_t *e = sg_error_find(code);
        if (e == NULL || e->status != status)
            fprintf(stderr, "%s: respond_error(%d, %s) does not match gateway/util/errors.h\n", rel, status, code);
        CHECK(e != NULL && e->status == status);
    }
    CHECK(found != 0);
    free(src);
}

static void test_errors(void)
{
    char *readme = slurp("README.md");
    CHECK(readme != NULL);
    if (readme == NULL)
        return;
    each_row(readme, "| status | code | when |", on_error_row, NULL);
    for (size_t i = 0; i != SG_ERR_NUM; ++i) {
        if (!error_seen[i])
            fprintf(stderr, "README.md: the error table lacks %s (gateway/util/errors.h)\n", sg_errors[i].code);
        CHECK(error_seen[i]);
    }
    free(readme);
    check_plugin_codes("lua-free-plugins/builtin/key_auth.c");
    check_plugin_codes("lua-free-plugins/builtin/rate_limit.c");
    check_plugin_codes("lua-free-plugins/example/header_stamp.c");
    /* the table itself: unique codes, statuses of errors, a default message each */
    for (size_t i = 0; i != SG_ERR_NUM; ++i) {
        CHECK(sg_error_find(sg_errors[i].code) == sg_errors + i);
        CHECK(sg_errors[i].status == 0 || (sg_errors[i].status >= 400 && sg_errors[i].status <= 599));
        CHECK(sg_errors[i].message != NULL && sg_errors[i].message[0] != '\0');
    }
}

/* ---- tenant policy and admission keys ---- */

static int policy_seen[16];

static void on_tenant_row(char **cells, size_t n, void *data)
{
    (void)data;
    char names[4][128];
    if (n < 3 || backticked(cells[0], names, 4) != 1 || strncmp(names[0], "policy.", 7) != 0)
        return;
    size_t num;
    const sg_policy_field_t *fields = sg_tenant_policy_fields(&num), *f = NULL;
    for (size_t i = 0; i != num; ++i)
        if (strcmp(fields[i].name, names[0] + 7) == 0)
            f = fields + i;
    if (f == NULL) {
        fprintf(stderr, "docs/CONFIG.md: %s is not in the policy table (gateway/config/tenant_policy.c)\n", names[0]);
        CHECK(f != NULL);
        return;
    }
    ++policy_seen[f - fields];
    static const char *const type_words[] = {
        [SG_POLICY_PATTERNS] = "list of patterns",
        [SG_POLICY_DURATION_S] = "duration",
        [SG_POLICY_BOOL] = "boolean",
        [SG_POLICY_CPU_MILLIS] = "CPU quantity",
        [SG_POLICY_MEMORY_MB] = "memory quantity",
        [SG_POLICY_COUNT] = "integer",
        [SG_POLICY_ENUM] = "one of",
    };
    const char *def = f->type == SG_POLICY_BOOL ? (f->def ? "`true`" : "`false`") : "none";
    if (strstr(cells[1], type_words[f->type]) == NULL || strstr(cells[2], def) == NULL)
        fprintf(stderr, "docs/CONFIG.md: %s should have type '%s' and default '%s' (gateway/config/tenant_policy.c)\n", names[0],
                type_words[f->type], def);
    CHECK(strstr(cells[1], type_words[f->type]) != NULL);
    CHECK(strstr(cells[2], def) != NULL);
}

static int admission_seen[SG_ADM_NUM_KEYS];

static void on_admission_row(char **cells, size_t n, void *data)
{
    (void)data;
    char names[4][128];
    size_t num_names = n >= 3 ? backticked(cells[0], names, 4) : 0;
    sg_admission_t defaults = {0};
    for (size_t i = 0; i != num_names; ++i) {
        size_t key;
        for (key = 0; key != SG_ADM_NUM_KEYS; ++key)
            if (strcmp(sg_admission_key_name(key), names[i]) == 0)
                break;
        if (key == SG_ADM_NUM_KEYS) {
            fprintf(stderr, "docs/CONFIG.md: admission key %s is not in gateway/config/admission_conf.c\n", names[i]);
            CHECK(key != SG_ADM_NUM_KEYS);
            continue;
        }
        ++admission_seen[key];
        int64_t max, num = sg_admission_num(&defaults, key);
        char want_type[64] = "", want_def[1024] = "";
        switch (sg_admission_key_kind(key, &max)) {
        case SG_ADM_KIND_BOOL:
            snprintf(want_type, sizeof(want_type), "boolean");
            snprintf(want_def, sizeof(want_def), "`%s`", num ? "true" : "false");
            break;
        case SG_ADM_KIND_UINT:
            snprintf(want_type, sizeof(want_type), "integer 0–%lld", (long long)max);
            snprintf(want_def, sizeof(want_def), "`%lld`", (long long)num);
            break;
        case SG_ADM_KIND_LIST: {
            size_t len;
            char *const *list = sg_admission_list(&defaults, key, &len, NULL);
            snprintf(want_type, sizeof(want_type), "list");
            for (size_t j = 0, off = 0; j != len && off < sizeof(want_def); ++j)
                off += (size_t)snprintf(want_def + off, sizeof(want_def) - off, "%s`%s`", j != 0 ? ", " : "", list[j]);
            if (len == 0)
                snprintf(want_def, sizeof(want_def), "n"); /* "none" or "not set" */
            break;
        }
        case SG_ADM_KIND_OTHER:
            break;
        }
        if (strstr(cells[1], want_type) == NULL || strncmp(cells[2], want_def, strlen(want_def)) != 0)
            fprintf(stderr,
                    "docs/CONFIG.md: admission.%s should have type '%s' and default '%s' (gateway/config/admission_conf.c)\n",
                    names[i], want_type, want_def);
        CHECK(strstr(cells[1], want_type) != NULL);
        CHECK(strncmp(cells[2], want_def, strlen(want_def)) == 0);
    }
}

static void test_tenant_keys(void)
{
    char *config = slurp("docs/CONFIG.md");
    CHECK(config != NULL);
    if (config == NULL)
        return;
    char *admission = strstr(config, "### `tenants[].admission`");
    CHECK(admission != NULL);
    if (admission == NULL)
        goto Exit;
    admission[-1] = '\0'; /* the tenant table ends where the admission section starts */
    each_row(strstr(config, "## `tenants[]`"), "| key | type | default | reload | meaning |", on_tenant_row, NULL);
    each_row(admission, "| key | type | default | checks (refusal code) |", on_admission_row, NULL);
    size_t num;
    const sg_policy_field_t *fields = sg_tenant_policy_fields(&num);
    CHECK(num <= sizeof(policy_seen) / sizeof(policy_seen[0]));
    for (size_t i = 0; i != num; ++i) {
        if (policy_seen[i] != 1)
            fprintf(stderr, "docs/CONFIG.md: policy.%s has %d rows, not 1\n", fields[i].name, policy_seen[i]);
        CHECK_INT(policy_seen[i], 1);
    }
    for (size_t k = 0; k != SG_ADM_NUM_KEYS; ++k) {
        if (admission_seen[k] != 1)
            fprintf(stderr, "docs/CONFIG.md: admission.%s has %d rows, not 1\n", sg_admission_key_name(k), admission_seen[k]);
        CHECK_INT(admission_seen[k], 1);
    }
Exit:
    free(config);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        srcdir = argv[1];
    test_errors();
    test_tenant_keys();
    return TEST_DONE();
}

/*
 * Helpers of the configuration tests: a scratch directory, files written into it,
 * and checks of the "file:line: message" error lines of sg_config_load().
 */
#ifndef SG_TEST_UTIL_H
#define SG_TEST_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/config.h"
#include "plugin/pipeline.h"
#include "test.h"

/* as main() does: the plugin layer hands its function table to the registry before any config is loaded */
__attribute__((constructor)) static void sg_test_init_plugins(void)
{
    sg_pipeline_init();
}

#define SG_UNUSED __attribute__((unused))

static char sg_tmpdir[256];

/* creates the scratch directory /tmp/sg-unit-NAME-XXXXXX; exits on failure */
SG_UNUSED static void tmpdir_create(const char *name)
{
    snprintf(sg_tmpdir, sizeof(sg_tmpdir), "/tmp/sg-unit-%s-XXXXXX", name);
    if (mkdtemp(sg_tmpdir) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
}

/* removes the scratch directory, unless SG_KEEP_TMP is set (to look at the files) */
SG_UNUSED static void tmpdir_remove(void)
{
    char cmd[512];
    if (getenv("SG_KEEP_TMP") != NULL) {
        fprintf(stderr, "kept %s\n", sg_tmpdir);
        return;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sg_tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", sg_tmpdir);
}

/* the path of NAME in the scratch directory, in buf */
SG_UNUSED static const char *tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", sg_tmpdir, name);
    return buf;
}

/* writes the scratch file NAME (its path in buf); the content is a printf format */
SG_UNUSED __attribute__((format(printf, 4, 5))) static const char *write_file(char *buf, size_t size, const char *name,
                                                                              const char *fmt, ...)
{
    va_list ap;
    FILE *fp;
    tmp_path(buf, size, name);
    if ((fp = fopen(buf, "w")) == NULL) {
        perror(buf);
        exit(2);
    }
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    fclose(fp);
    return buf;
}

/* number of '\n'-terminated lines in s (NULL: 0) */
SG_UNUSED static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s != NULL && *s != '\0'; ++s)
        if (*s == '\n')
            ++n;
    return n;
}

/* returns line i (0-based) of s, without its '\n', into buf ("" if there is none) */
SG_UNUSED static const char *nth_line(const char *s, size_t i, char *buf, size_t size)
{
    buf[0] = '\0';
    while (s != NULL && *s != '\0') {
        const char *nl = strchr(s, '\n');
        size_t len = nl != NULL ? (size_t)(nl - s) : strlen(s);
        if (i-- == 0) {
            snprintf(buf, size, "%.*s", (int)len, s);
            break;
        }
        if (nl == NULL)
            break;
        s = nl + 1;
    }
    return buf;
}

/* the 1-based number of the first line of FILE containing NEEDLE (0: none) */
SG_UNUSED static int line_of(const char *file, const char *needle)
{
    char line[1024];
    int n = 0, found = 0;
    FILE *fp = fopen(file, "r");
    if (fp == NULL)
        return 0;
    while (fgets(line, sizeof(line), fp) != NULL) {
        ++n;
        if (strstr(line, needle) != NULL) {
            found = n;
            break;
        }
    }
    fclose(fp);
    return found;
}

/* loads FILE, which must load; returns the config (release it) */
SG_UNUSED static sg_config_t *load_ok(const char *file)
{
    char *errors = (char *)"unset";
    sg_config_t *conf = sg_config_load(file, &errors);
    CHECK(conf != NULL);
    CHECK(errors == NULL);
    if (conf == NULL)
        fprintf(stderr, "  (%s did not load:\n%s)\n", file, errors != NULL ? errors : "no errors reported");
    if (conf == NULL)
        free(errors);
    return conf;
}

/* loads FILE, which must fail; returns the error text (free it) */
SG_UNUSED static char *load_errors(const char *file)
{
    char *errors = NULL;
    sg_config_t *conf = sg_config_load(file, &errors);
    CHECK(conf == NULL);
    if (conf != NULL) {
        fprintf(stderr, "  (%s loaded although errors were expected)\n", file);
        sg_config_release(conf);
    }
    CHECK(errors != NULL);
    return errors != NULL ? errors : strdup("");
}

/*
 * Checks that ERRORS are exactly the lines "FILE:" + expected[i], in order. An
 * expected line ending in '*' only has to be a prefix of the actual line (for the
 * parts that come from the OS or OpenSSL).
 */
SG_UNUSED static void check_error_lines(const char *what, const char *file, const char *errors, const char *const *expected,
                                        size_t n)
{
    size_t got = count_lines(errors);
    int ok = got == n;
    CHECK_INT(got, n);
    for (size_t i = 0; i != n && i != got; ++i) {
        char line[2048], exp[2048];
        nth_line(errors, i, line, sizeof(line));
        snprintf(exp, sizeof(exp), "%s:%s", file, expected[i]);
        size_t elen = strlen(exp);
        int match;
        if (elen != 0 && exp[elen - 1] == '*') {
            exp[elen - 1] = '\0';
            match = strncmp(line, exp, elen - 1) == 0;
            CHECK(match);
        } else {
            match = strcmp(line, exp) == 0;
            CHECK(match);
        }
        if (!match) {
            fprintf(stderr, "  line %zu\n  got:      \"%s\"\n  expected: \"%s\"\n", i + 1, line, exp);
            ok = 0;
        }
    }
    if (!ok)
        fprintf(stderr, "  (case %s; all errors:\n%s)\n", what, errors != NULL ? errors : "(none)");
}

/* writes the config CONTENT as NAME.yaml, loads it and checks its errors */
#define EXPECT_ERRORS(name, content, ...)                                                                                          \
    do {                                                                                                                           \
        static const char *const sg_expected_[] = {__VA_ARGS__};                                                                   \
        char sg_path_[512];                                                                                                        \
        write_file(sg_path_, sizeof(sg_path_), name ".yaml", "%s", content);                                                       \
        char *sg_errors_ = load_errors(sg_path_);                                                                                  \
        check_error_lines(name " (" __FILE__ ":" SG_STR_(__LINE__) ")", sg_path_, sg_errors_, sg_expected_,                        \
                          sizeof(sg_expected_) / sizeof(sg_expected_[0]));                                                         \
        free(sg_errors_);                                                                                                          \
    } while (0)
#define SG_STR_(x) SG_STR2_(x)
#define SG_STR2_(x) #x

/* lines 1-5 of most test configs: one plain listener and one backend (file:line expectations count on 5 lines) */
#define SG_TEST_BASE_CONF "listen:\n  - address: 127.0.0.1:0\nbackends:\n  - name: a\n    url: http://127.0.0.1:1\n"

#endif

/*
 * Feeds: YAML configuration files to sg_config_load (config/config.c and everything it calls: listeners, limits,
 * backends, routes and plugin chains with the built-in plugins' config parsers, tenants with policy and admission,
 * the store, lifecycle, ports and port_tokens sections, util/yamlconf.c). The input is written to one memfd per
 * process and loaded by its /proc path. Host names are not resolved (getaddrinfo is wrapped to numeric hosts only)
 * and no plugin file is opened (dlopen is wrapped to fail as for a missing file): the run stays fast and local.
 * Process-wide state a config creates by name (backend runtime states, plugin shared states), which the gateway keeps
 * until exit, is freed after each input, so that runs stay independent and fast.
 * Asserts beyond "no crash": exactly one of a config and an error text; the error text is "file:line: message" lines;
 * a loaded config has at least one public listener, backends with names, tenants with valid ids and a tenant tag.
 */
#include <dlfcn.h>
#include <netdb.h>
#include <sys/mman.h>
#include <unistd.h>
#include "config/backend_state.h"
#include "config/config.h"
#include "config/plugin_registry.h"
#include "util/router.h"
#include "fuzz.h"

int __real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);
void *__real_dlopen(const char *file, int mode);

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    struct addrinfo h = hints != NULL ? *hints : (struct addrinfo){0};
    h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
    return __real_getaddrinfo(node, service, &h, res);
}

void *__wrap_dlopen(const char *file, int mode)
{
    (void)file;
    return __real_dlopen("/nonexistent/sandgate-fuzz-plugin.so", mode);
}

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if ((fd = memfd_create("sandgate-fuzz-config", MFD_CLOEXEC)) < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return 0;
}

static void check(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    sg_backend_free_all();
    sg_plugin_unload_all();
    return 0;
}

static void check(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    char *errors = NULL;
    sg_config_t *conf = sg_config_load(path, &errors);
    if (conf == NULL) {
        FUZZ_CHECK(errors != NULL && errors[0] != '\0');
        /* one "file:line: message" per line */
        for (const char *line = errors; *line != '\0';) {
            const char *nl = strchr(line, '\n');
            size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
            if (!(len > strlen(path) + 2 && memcmp(line, path, strlen(path)) == 0 && line[strlen(path)] == ':'))
                fprintf(stderr, "error line: %.*s\n", (int)len, line);
            FUZZ_CHECK(len > strlen(path) + 2 && memcmp(line, path, strlen(path)) == 0 && line[strlen(path)] == ':');
            line += len + (nl != NULL);
        }
        free(errors);
        return;
    }
    FUZZ_CHECK(errors == NULL || errors[0] == '\0');
    free(errors);
    FUZZ_CHECK(conf->num_listeners >= 1 && !conf->listeners[0].is_admin);
    for (size_t i = 0; i != conf->num_backends; ++i)
        FUZZ_CHECK(conf->backends[i].name != NULL && conf->backends[i].name[0] != '\0');
    for (size_t i = 0; i != conf->num_tenants; ++i)
        FUZZ_CHECK(sg_router_valid_id(conf->tenants[i].id, strlen(conf->tenants[i].id)));
    FUZZ_CHECK(conf->lifecycle.tenant_tag != NULL && conf->lifecycle.tenant_tag[0] != '\0');
    sg_config_release(conf);
}

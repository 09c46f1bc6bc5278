/*
 * sandgate: command line.
 *   sandgate -c FILE          run
 *   sandgate -t -c FILE       validate FILE and exit (non-zero on errors)
 *   sandgate hash-key [KEY]   print the hash of KEY (read from stdin when absent)
 *   sandgate gen-key          print a new random key and its hash
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "config/config.h"
#include "util/keyhash.h"
#include "plugin/pipeline.h"
#include "runtime/metric_family.h"
#include "runtime/metrics.h"
#include "core/server.h"
#include "version.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "sandgate %s - multi-tenant API gateway for OpenSandbox servers\n"
            "\n"
            "usage: sandgate [-t] -c FILE\n"
            "       sandgate hash-key [KEY]\n"
            "       sandgate gen-key\n"
            "\n"
            "  -c, --conf FILE   configuration file (YAML)\n"
            "  -t, --test        validate the configuration and exit\n"
            "  -v, --version     print the version and exit\n"
            "  -h, --help        print this help and exit\n"
            "\n"
            "signals: SIGHUP reloads the configuration, SIGTERM drains and exits\n",
            SG_VERSION);
}

static int hash_key(int argc, char **argv)
{
    char buf[4096];
    const char *key;
    if (argc >= 3) {
        key = argv[2];
    } else {
        if (fgets(buf, sizeof(buf), stdin) == NULL) {
            fprintf(stderr, "sandgate hash-key: no key given\n");
            return 2;
        }
        buf[strcspn(buf, "\r\n")] = '\0';
        key = buf;
    }
    if (key[0] == '\0') {
        fprintf(stderr, "sandgate hash-key: the key is empty\n");
        return 2;
    }
    unsigned char hash[SG_KEYHASH_LEN];
    char out[72];
    sg_keyhash_compute(key, strlen(key), hash);
    sg_keyhash_format(hash, out);
    printf("%s\n", out);
    return 0;
}

static int gen_key(void)
{
    char key[64], out[72];
    unsigned char hash[SG_KEYHASH_LEN];
    if (sg_keyhash_generate(key, sizeof(key)) != 0) {
        fprintf(stderr, "sandgate gen-key: no randomness available\n");
        return 1;
    }
    sg_keyhash_compute(key, strlen(key), hash);
    sg_keyhash_format(hash, out);
    printf("key: %s\nhash: %s\n", key, out);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"conf", required_argument, NULL, 'c'},
                                             {"test", no_argument, NULL, 't'},
                                             {"version", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *file = NULL;
    int test = 0, ch, ret = 1;

    sg_pipeline_init();
    sg_metrics_core_init();

    if (argc >= 2 && strcmp(argv[1], "hash-key") == 0)
        return hash_key(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "gen-key") == 0)
        return gen_key();
    while ((ch = getopt_long(argc, argv, "c:tvh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            file = optarg;
            break;
        case 't':
            test = 1;
            break;
        case 'v':
            printf("sandgate %s\n", SG_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (file == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }

    char *errors = NULL;
    sg_config_t *conf = sg_config_load(file, &errors);
    if (conf == NULL) {
        fputs(errors != NULL ? errors : "unknown configuration error\n", stderr);
        free(errors);
        goto Exit;
    }
    if (test) {
        printf("configuration %s is valid\n", file);
        sg_config_release(conf);
        ret = 0;
        goto Exit;
    }
    ret = sg_server_run(conf);
Exit:
    sg_backend_free_all();
    sg_plugin_unload_all();
    sg_metric_dispose_all();
    return ret;
}

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/hashmap.h"
#include "util/log.h"
#include "runtime/metric_family.h"

sg_metric_family_t *sg_metric_refusals;
sg_metric_family_t *sg_metric_store_errors;

typedef struct st_series_t {
    struct st_series_t *next; /* creation order */
    uint64_t hash;
    int64_t value; /* atomic */
    size_t key_len;
    char key[]; /* the label values, each followed by '\0' */
} series_t;

/* an open-addressing table of series; replaced (never changed in place but for filling empty slots) when it grows */
typedef struct st_table_t {
    struct st_table_t *retired; /* older tables, kept until dispose: a reader may still probe them */
    size_t cap;                 /* power of two */
    series_t *slots[];          /* atomic */
} table_t;

struct st_sg_metric_family_t {
    struct st_sg_metric_family_t *next;
    char *name, *help;
    sg_metric_kind_t kind;
    size_t num_labels;
    char *labels[SG_METRIC_MAX_LABELS];
    pthread_mutex_t lock; /* creating series, rendering */
    table_t *table;       /* atomic */
    series_t *first, **last;
    size_t num_series;
};

static pthread_mutex_t families_lock = PTHREAD_MUTEX_INITIALIZER;
static sg_metric_family_t *families, **families_last = &families;
static uint64_t dropped_series; /* atomic */

static int valid_chars(const char *s, const char *first, const char *rest)
{
    if (s == NULL || *s == '\0' || strchr(first, *s) == NULL)
        return 0;
    for (++s; *s != '\0'; ++s)
        if (strchr(rest, *s) == NULL)
            return 0;
    return 1;
}

#define ALPHA "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
#define DIGIT "0123456789"

int sg_metric_valid_name(const char *name)
{
    return strlen(name) <= SG_METRIC_NAME_MAX && valid_chars(name, ALPHA ":", ALPHA DIGIT ":");
}

static table_t *table_new(size_t cap)
{
    table_t *t = calloc(1, sizeof(*t) + sizeof(t->slots[0]) * cap);
    if (t != NULL)
        t->cap = cap;
    return t;
}

static void family_free(sg_metric_family_t *f)
{
    for (series_t *s = f->first; s != NULL;) {
        series_t *next = s->next;
        free(s);
        s = next;
    }
    for (table_t *t = f->table; t != NULL;) {
        table_t *older = t->retired;
        free(t);
        t = older;
    }
    for (size_t i = 0; i != f->num_labels; ++i)
        free(f->labels[i]);
    pthread_mutex_destroy(&f->lock);
    free(f->name);
    free(f->help);
    free(f);
}

/* 1 when f was registered with this kind and these label names */
static int same_shape(const sg_metric_family_t *f, sg_metric_kind_t kind, const char *const *label_names, size_t n)
{
    if (f->kind != kind || f->num_labels != n)
        return 0;
    for (size_t i = 0; i != n; ++i)
        if (strcmp(f->labels[i], label_names[i]) != 0)
            return 0;
    return 1;
}

sg_metric_family_t *sg_metric_register(const char *name, const char *help, sg_metric_kind_t kind, const char *const *label_names,
                                       size_t num_labels)
{
    sg_metric_family_t *f = NULL;
    if (name == NULL || !sg_metric_valid_name(name) || num_labels > SG_METRIC_MAX_LABELS ||
        (kind != SG_METRIC_COUNTER && kind != SG_METRIC_GAUGE))
        return NULL;
    for (size_t i = 0; i != num_labels; ++i)
        if (label_names[i] == NULL || strlen(label_names[i]) > SG_METRIC_NAME_MAX ||
            !valid_chars(label_names[i], ALPHA, ALPHA DIGIT))
            return NULL;
    pthread_mutex_lock(&families_lock);
    for (f = families; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (f != NULL) {
        if (!same_shape(f, kind, label_names, num_labels))
            f = NULL;
        goto Exit;
    }
    if ((f = calloc(1, sizeof(*f))) == NULL)
        goto Exit;
    f->name = strdup(name);
    f->help = strdup(help != NULL ? help : "");
    f->kind = kind;
    f->table = table_new(16);
    f->last = &f->first;
    pthread_mutex_init(&f->lock, NULL);
    int ok = f->name != NULL && f->help != NULL && f->table != NULL;
    for (size_t i = 0; i != num_labels; ++i)
        ok &= (f->labels[f->num_labels++] = strdup(label_names[i])) != NULL;
    if (!ok) {
        family_free(f);
        f = NULL;
        goto Exit;
    }
    *families_last = f;
    families_last = &f->next;
Exit:
    pthread_mutex_unlock(&families_lock);
    return f;
}

/* the series key of label values into buf (or malloc'd when larger: *heap set); its length in *len */
static char *series_key(const sg_metric_family_t *f, const char *const *values, char *buf, size_t bufsize, char **heap, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i != f->num_labels; ++i)
        total += (values[i] != NULL ? strlen(values[i]) : 0) + 1;
    char *key = buf;
    *heap = NULL;
    if (total > bufsize && (key = *heap = malloc(total)) == NULL)
        return NULL;
    char *p = key;
    for (size_t i = 0; i != f->num_labels; ++i) {
        size_t l = values[i] != NULL ? strlen(values[i]) : 0;
        memcpy(p, values[i] != NULL ? values[i] : "", l);
        p += l;
        *p++ = '\0';
    }
    *len = total;
    return key;
}

static series_t *probe(table_t *t, uint64_t hash, const char *key, size_t len)
{
    for (size_t i = hash & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        series_t *s = __atomic_load_n(&t->slots[i], __ATOMIC_ACQUIRE);
        if (s == NULL || (s->hash == hash && s->key_len == len && memcmp(s->key, key, len) == 0))
            return s;
    }
}

static void place(table_t *t, series_t *s)
{
    size_t i = s->hash & (t->cap - 1);
    while (t->slots[i] != NULL)
        i = (i + 1) & (t->cap - 1);
    __atomic_store_n(&t->slots[i], s, __ATOMIC_RELEASE);
}

/* the series (created under the family's lock when missing); NULL when the family is full or out of memory */
static series_t *find(sg_metric_family_t *f, const char *const *values)
{
    char buf[512], *heap;
    size_t len;
    series_t *s = NULL;
    const char *key = series_key(f, values, buf, sizeof(buf), &heap, &len);
    if (key == NULL)
        return NULL;
    uint64_t hash = sg_hashmap_hash(key, len);
    if ((s = probe(__atomic_load_n(&f->table, __ATOMIC_ACQUIRE), hash, key, len)) != NULL)
        goto Exit;
    pthread_mutex_lock(&f->lock);
    table_t *t = f->table;
    if ((s = probe(t, hash, key, len)) != NULL)
        goto Unlock;
    if (f->num_series >= SG_METRIC_MAX_SERIES) {
        if (__atomic_fetch_add(&dropped_series, 1, __ATOMIC_RELAXED) == 0)
            sg_log(SG_LOG_WARN, "metrics: %s has %d series; updates of new label values are dropped", f->name,
                   SG_METRIC_MAX_SERIES);
        goto Unlock;
    }
    if ((f->num_series + 1) * 2 > t->cap) { /* grow: a new table, published whole; the old one stays readable */
        table_t *grown = table_new(t->cap * 2);
        if (grown == NULL)
            goto Unlock;
        for (series_t *o = f->first; o != NULL; o = o->next)
            place(grown, o);
        grown->retired = t;
        __atomic_store_n(&f->table, grown, __ATOMIC_RELEASE);
        t = grown;
    }
    if ((s = calloc(1, sizeof(*s) + len)) == NULL)
        goto Unlock;
    s->hash = hash;
    s->key_len = len;
    memcpy(s->key, key, len);
    *f->last = s;
    f->last = &s->next;
    ++f->num_series;
    place(t, s);
Unlock:
    pthread_mutex_unlock(&f->lock);
Exit:
    free(heap);
    return s;
}

void sg_metric_add(sg_metric_family_t *f, const char *const *label_values, int64_t delta)
{
    series_t *s = f != NULL ? find(f, label_values) : NULL;
    if (s != NULL)
        __atomic_fetch_add(&s->value, delta, __ATOMIC_RELAXED);
}

void sg_metric_set(sg_metric_family_t *f, const char *const *label_values, int64_t value)
{
    series_t *s = f != NULL && f->kind == SG_METRIC_GAUGE ? find(f, label_values) : NULL;
    if (s != NULL)
        __atomic_store_n(&s->value, value, __ATOMIC_RELAXED);
}

int64_t sg_metric_get(sg_metric_family_t *f, const char *const *label_values)
{
    char buf[512], *heap;
    size_t len;
    int64_t v = 0;
    const char *key = f != NULL ? series_key(f, label_values, buf, sizeof(buf), &heap, &len) : NULL;
    if (key == NULL)
        return 0;
    series_t *s = probe(__atomic_load_n(&f->table, __ATOMIC_ACQUIRE), sg_hashmap_hash(key, len), key, len);
    if (s != NULL)
        v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
    free(heap);
    return v;
}

/* ---- rendering ---- */

typedef struct st_out_t {
    char **buf;
    size_t *len, *cap;
    int failed;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (*o->len + n + 1 > *o->cap) {
        size_t cap = (*o->cap + n + 1) * 2;
        char *grown = realloc(*o->buf, cap);
        if (grown == NULL) {
            o->failed = 1;
            return;
        }
        *o->buf = grown;
        *o->cap = cap;
    }
    memcpy(*o->buf + *o->len, s, n);
    *o->len += n;
    (*o->buf)[*o->len] = '\0';
}

static void puts_(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

/* s escaped for the text format: \\ and \n always, \" inside label values */
static void put_escaped(out_t *o, const char *s, int quote)
{
    for (; *s != '\0'; ++s) {
        if (*s == '\\')
            puts_(o, "\\\\");
        else if (*s == '\n')
            puts_(o, "\\n");
        else if (*s == '"' && quote)
            puts_(o, "\\\"");
        else
            put(o, s, 1);
    }
}

static void render_family(out_t *o, sg_metric_family_t *f)
{
    char num[32];
    pthread_mutex_lock(&f->lock);
    if (f->first == NULL)
        goto Exit;
    puts_(o, "# HELP ");
    puts_(o, f->name);
    puts_(o, " ");
    put_escaped(o, f->help, 0);
    puts_(o, "\n# TYPE ");
    puts_(o, f->name);
    puts_(o, f->kind == SG_METRIC_COUNTER ? " counter\n" : " gauge\n");
    for (series_t *s = f->first; s != NULL; s = s->next) {
        puts_(o, f->name);
        const char *v = s->key;
        for (size_t i = 0; i != f->num_labels; ++i) {
            puts_(o, i == 0 ? "{" : ",");
            puts_(o, f->labels[i]);
            puts_(o, "=\"");
            put_escaped(o, v, 1);
            puts_(o, "\"");
            v += strlen(v) + 1;
        }
        snprintf(num, sizeof(num), "%s %lld\n", f->num_labels != 0 ? "}" : "",
                 (long long)__atomic_load_n(&s->value, __ATOMIC_RELAXED));
        puts_(o, num);
    }
Exit:
    pthread_mutex_unlock(&f->lock);
}

int sg_metric_render(char **buf, size_t *len, size_t *cap)
{
    out_t o = {buf, len, cap, 0};
    char num[32];
    pthread_mutex_lock(&families_lock);
    for (sg_metric_family_t *f = families; f != NULL; f = f->next)
        render_family(&o, f);
    pthread_mutex_unlock(&families_lock);
    puts_(&o, "# HELP sandgate_metric_series_dropped_total Metric updates dropped: their family had too many series.\n"
              "# TYPE sandgate_metric_series_dropped_total counter\nsandgate_metric_series_dropped_total ");
    snprintf(num, sizeof(num), "%llu\n", (unsigned long long)__atomic_load_n(&dropped_series, __ATOMIC_RELAXED));
    puts_(&o, num);
    return o.failed ? -1 : 0;
}

void sg_metric_dispose_all(void)
{
    pthread_mutex_lock(&families_lock);
    while (families != NULL) {
        sg_metric_family_t *f = families;
        families = f->next;
        family_free(f);
    }
    families_last = &families;
    sg_metric_refusals = NULL;
    sg_metric_store_errors = NULL;
    pthread_mutex_unlock(&families_lock);
}

/*
 * The quota ledger of the memory store: one table of members per tenant, in the
 * memory store's tables and behind its mutex, so that a reservation's check and
 * insertion are one step for every worker thread (the same semantics as the
 * Redis transaction, without the retries).
 */
#include <stdlib.h>
#include <string.h>
#include "util/clock.h"
#include "util/hashmap.h"
#include "store/store_quota_impl.h"

#define MEMBER_MAX (2 + SG_STORE_ID_MAX)

typedef struct st_member_t {
    char name[MEMBER_MAX + 1]; /* "r:<rid>", "s:<sandbox id>", "n:<snapshot id>" */
    int64_t score;
    char amounts[64];
} member_t;

typedef struct st_ledger_t {
    char tenant[SG_STORE_ID_MAX + 1];
    sg_hashmap_t members;
} ledger_t;

static sg_hashmap_t ledgers;

static ledger_t *ledger_of(const char *tenant, int create)
{
    ledger_t *l = sg_hashmap_get(&ledgers, tenant, strlen(tenant));
    if (l == NULL && create) {
        l = calloc(1, sizeof(*l));
        strcpy(l->tenant, tenant);
        sg_hashmap_set(&ledgers, l->tenant, strlen(l->tenant), l);
    }
    return l;
}

static void drop_member(ledger_t *l, const char *name)
{
    free(sg_hashmap_remove(&l->members, name, strlen(name)));
}

static void set_member(ledger_t *l, const char *name, int64_t score, const char *amounts)
{
    member_t *m = sg_hashmap_get(&l->members, name, strlen(name));
    if (m == NULL) {
        m = calloc(1, sizeof(*m));
        snprintf(m->name, sizeof(m->name), "%s", name);
        sg_hashmap_set(&l->members, m->name, strlen(m->name), m);
    }
    m->score = score;
    snprintf(m->amounts, sizeof(m->amounts), "%s", amounts);
}

/* the usage of l at now (NULL: none); prunes expired members when prune is set */
static void usage_of(ledger_t *l, int64_t now, int prune, sg_quota_usage_t *usage)
{
    memset(usage, 0, sizeof(*usage));
    if (l == NULL)
        return;
    char *expired[64];
    size_t num_expired;
    do {
        num_expired = 0;
        size_t iter = 0;
        member_t *m;
        memset(usage, 0, sizeof(*usage));
        while ((m = sg_hashmap_next(&l->members, &iter)) != NULL) {
            if (!sg_quota_usage_add(usage, m->name, strlen(m->name), m->score, m->amounts, strlen(m->amounts), now) && prune &&
                num_expired < sizeof(expired) / sizeof(expired[0]))
                expired[num_expired++] = m->name;
        }
        for (size_t i = 0; i != num_expired; ++i)
            drop_member(l, expired[i]);
    } while (num_expired == sizeof(expired) / sizeof(expired[0]));
}

void sg_store__memq_run(sg_store_op_t *op)
{
    sg_quota_request_t *q = &op->in.quota;
    int64_t now = (int64_t)(sg_now_us() / 1000);
    char name[MEMBER_MAX + 1];
    ledger_t *l;
    switch (op->req) {
    case SG_STORE_QUOTA_RESERVE: {
        l = ledger_of(q->tenant, 1);
        usage_of(l, now, 1, &op->usage);
        int pending_only;
        op->verdict = sg_quota_check(&q->limits, &op->usage, q->kind, q->cpu_millis, q->memory_mb, &pending_only);
        if (op->verdict == SG_QUOTA_OK) {
            char amounts[64];
            sg_quota_format_amounts(amounts, sizeof(amounts), q->kind, q->cpu_millis, q->memory_mb);
            snprintf(name, sizeof(name), "r:%s", q->rid);
            set_member(l, name, q->lease_until_ms, amounts);
        }
    } break;
    case SG_STORE_QUOTA_RELEASE:
        if ((l = ledger_of(q->tenant, 0)) != NULL) {
            snprintf(name, sizeof(name), "r:%s", q->rid);
            drop_member(l, name);
        }
        break;
    case SG_STORE_QUOTA_FORGET:
        sg_store__memq_del(q->tenant, q->kind == SG_QUOTA_KIND_SNAPSHOT ? SG_QUOTA_KIND_SNAPSHOT : SG_QUOTA_KIND_SANDBOX, op->id);
        break;
    case SG_STORE_QUOTA_USAGE:
        usage_of(ledger_of(q->tenant, 0), now, 0, &op->usage);
        break;
    default:
        break;
    }
}

void sg_store__memq_put(const char *tenant, sg_quota_kind_t kind, const char *id, int64_t expires_at_ms, uint64_t cpu_millis,
                        uint64_t memory_mb, const char *reservation)
{
    ledger_t *l = ledger_of(tenant, 1);
    char name[MEMBER_MAX + 1], amounts[64];
    if (reservation != NULL && reservation[0] != '\0') {
        snprintf(name, sizeof(name), "r:%s", reservation);
        drop_member(l, name);
    }
    snprintf(name, sizeof(name), "%c:%s", (char)kind, id);
    sg_quota_format_amounts(amounts, sizeof(amounts), kind, cpu_millis, memory_mb);
    set_member(l, name, expires_at_ms != 0 ? expires_at_ms : SG_QUOTA_NO_EXPIRY, amounts);
}

void sg_store__memq_del(const char *tenant, sg_quota_kind_t kind, const char *id)
{
    ledger_t *l = ledger_of(tenant, 0);
    if (l == NULL)
        return;
    char name[MEMBER_MAX + 1];
    snprintf(name, sizeof(name), "%c:%s", (char)kind, id);
    drop_member(l, name);
}

void sg_store__memq_dispose(void)
{
    size_t iter = 0;
    ledger_t *l;
    while ((l = sg_hashmap_next(&ledgers, &iter)) != NULL) {
        size_t j = 0;
        member_t *m;
        while ((m = sg_hashmap_next(&l->members, &j)) != NULL)
            free(m);
        sg_hashmap_dispose(&l->members);
        free(l);
    }
    sg_hashmap_dispose(&ledgers);
}

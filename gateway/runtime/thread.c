#include "runtime/thread.h"

static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static sg_config_t *current_config;

static sg_thread_t *all_threads;
static size_t num_all_threads;

sg_config_t *sg_thread_current_config(void)
{
    pthread_mutex_lock(&config_lock);
    sg_config_t *c = current_config;
    sg_config_retain(c);
    pthread_mutex_unlock(&config_lock);
    return c;
}

void sg_thread_publish_config(sg_config_t *conf)
{
    pthread_mutex_lock(&config_lock);
    sg_config_t *old = current_config;
    __atomic_store_n(&current_config, conf, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&config_lock);
    if (old != NULL)
        sg_config_release(old);
}

sg_thread_t *sg_thread_of(h2o_context_t *ctx)
{
    return H2O_STRUCT_FROM_MEMBER(sg_thread_t, ctx, ctx);
}

uint64_t sg_thread_random(sg_thread_t *t)
{
    /* xorshift64*: placement randomness, not security */
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    return t->rng * 0x2545F4914F6CDD1Dull;
}

void sg_thread_refresh_config(sg_thread_t *t)
{
    if (__atomic_load_n(&current_config, __ATOMIC_ACQUIRE) == t->config)
        return;
    sg_config_t *old = t->config;
    t->config = sg_thread_current_config();
    /* TLS certificates follow reloads: new handshakes use the new contexts */
    for (size_t i = 0; i != t->num_listeners; ++i) {
        sg_listener_conf_t *lc = t->config->listeners + t->listeners[i].conf_index;
        if (t->listeners[i].conf_index < t->config->num_listeners && lc->ssl_ctx != NULL)
            t->listeners[i].accept_ctx.ssl_ctx = lc->ssl_ctx;
    }
    sg_config_release(old);
}

void sg_thread_set_all(sg_thread_t *threads, size_t num_threads)
{
    all_threads = threads;
    num_all_threads = num_threads;
}

sg_thread_t *sg_thread_all(size_t *num_threads)
{
    *num_threads = num_all_threads;
    return all_threads;
}

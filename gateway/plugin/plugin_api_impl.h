/*
 * The parts of the plugin function table (plugin_api.c) defined in other files
 * of the plugin layer: configuration views (plugin_api_conf.c) and threads,
 * state, store counters and metrics (plugin_api_state.c). Not for use outside
 * gateway/plugin/.
 */
#ifndef SG_PLUGIN_API_IMPL_H
#define SG_PLUGIN_API_IMPL_H

#include "plugin.h"

/* configuration (plugin_api_conf.c) */
int sg_plugin__conf_string(sg_plugin_conf_t *conf, const char *key, const char **out);
int sg_plugin__conf_int(sg_plugin_conf_t *conf, const char *key, int64_t *out);
int sg_plugin__conf_bool(sg_plugin_conf_t *conf, const char *key, int *out);
int sg_plugin__conf_duration_ms(sg_plugin_conf_t *conf, const char *key, uint64_t *out);
int sg_plugin__conf_size(sg_plugin_conf_t *conf, const char *key, uint64_t *out);
void sg_plugin__conf_error(sg_plugin_conf_t *conf, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int sg_plugin__conf_seq(sg_plugin_conf_t *conf, const char *key, size_t *n);
sg_plugin_conf_t *sg_plugin__conf_seq_item(sg_plugin_conf_t *conf, const char *key, size_t i);
int sg_plugin__conf_map(sg_plugin_conf_t *conf, const char *key, size_t *n);
sg_plugin_conf_t *sg_plugin__conf_map_entry(sg_plugin_conf_t *conf, const char *key, size_t i, const char **name);

/* threads, state, counters, metrics (plugin_api_state.c) */
void *sg_plugin__req_thread_state(sg_plugin_req_t *req);
void *sg_plugin__shared_state(const char *name, size_t size);
uint64_t sg_plugin__thread_now_ms(sg_plugin_thread_t *thread);
sg_plugin_timer_t *sg_plugin__timer_start(sg_plugin_req_t *req, uint64_t delay_ms, sg_plugin_timer_cb cb, void *data);
sg_plugin_timer_t *sg_plugin__thread_timer_start(sg_plugin_thread_t *thread, uint64_t delay_ms, sg_plugin_timer_cb cb, void *data);
void sg_plugin__timer_cancel(sg_plugin_timer_t *timer);
void sg_plugin__req_counters(sg_plugin_req_t *req, sg_plugin_counter_op_t *ops, size_t n, sg_plugin_counters_cb cb, void *data);
void sg_plugin__thread_counters(sg_plugin_thread_t *thread, sg_plugin_counter_op_t *ops, size_t n, sg_plugin_counters_cb cb,
                                void *data);
int sg_plugin__store_is_shared(void);
sg_plugin_metric_t *sg_plugin__metric_register(const char *name, const char *help, sg_plugin_metric_kind_t kind,
                                               const char *const *label_names, size_t n);
void sg_plugin__metric_add(sg_plugin_metric_t *metric, const char *const *label_values, int64_t delta);
void sg_plugin__metric_set(sg_plugin_metric_t *metric, const char *const *label_values, int64_t value);

#endif

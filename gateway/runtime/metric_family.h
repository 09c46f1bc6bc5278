/*
 * Labelled metrics: families of counters and gauges, registered by name for the
 * life of the process (they survive reloads), each series identified by its label
 * values. Used by the core (refusals, store errors, ...) and by plugins (through
 * the plugin API, exported as sandgate_plugin_<name>). Rendered in /metrics after
 * the fixed metrics (metrics.c), in registration order, series in creation order.
 *
 * The hot path takes no lock: a series is found in a lock-free open-addressing
 * table (atomic slot loads) and updated with an atomic add; only creating a series
 * or a family takes a mutex. Series are never removed; a family holds at most
 * SG_METRIC_MAX_SERIES of them (past that, updates of new label sets are dropped
 * and counted in sandgate_metric_series_dropped_total).
 */
#ifndef SG_METRIC_FAMILY_H
#define SG_METRIC_FAMILY_H

#include <stddef.h>
#include <stdint.h>

#define SG_METRIC_MAX_LABELS 8
#define SG_METRIC_MAX_SERIES 10000
#define SG_METRIC_NAME_MAX 128

typedef enum en_sg_metric_kind_t { SG_METRIC_COUNTER = 0, SG_METRIC_GAUGE = 1 } sg_metric_kind_t;

typedef struct st_sg_metric_family_t sg_metric_family_t;

/*
 * Returns the family of that full name (e.g. "sandgate_refusals_total"), creating it; the same name returns the same
 * family when kind and label names match, NULL otherwise (or when the name is not [a-zA-Z_:][a-zA-Z0-9_:]*, a label
 * name not [a-zA-Z_][a-zA-Z0-9_]*, more than SG_METRIC_MAX_LABELS labels, or out of memory). help is copied.
 */
sg_metric_family_t *sg_metric_register(const char *name, const char *help, sg_metric_kind_t kind, const char *const *label_names,
                                       size_t num_labels);
/* Adds delta to the series of these label values (as many as label names; NULL is ""); created at 0. */
void sg_metric_add(sg_metric_family_t *f, const char *const *label_values, int64_t delta);
/* Sets a gauge's series (ignored on a counter). */
void sg_metric_set(sg_metric_family_t *f, const char *const *label_values, int64_t value);
/* The current value of a series (0 when it does not exist); for tests and the admin API. */
int64_t sg_metric_get(sg_metric_family_t *f, const char *const *label_values);

/* Appends every family in Prometheus text format to *buf (malloc'd, *len bytes, *cap allocated); -1 when out of memory. */
int sg_metric_render(char **buf, size_t *len, size_t *cap);
/* 1 when name is a valid metric name (see sg_metric_register). */
int sg_metric_valid_name(const char *name);
/* Frees every family (at exit, when nothing updates any more). */
void sg_metric_dispose_all(void);

/* The core's families (registered by sg_metrics_core_init, metrics.h). */
extern sg_metric_family_t *sg_metric_refusals;     /* sandgate_refusals_total{tenant,reason} */
extern sg_metric_family_t *sg_metric_store_errors; /* sandgate_store_errors_total{op} */

#endif

/* The metrics registry and its Prometheus text rendering (see metrics.h).
 *
 * Unlabelled counters, gauges and histogram buckets are C11 atomics
 * (relaxed: each series is independent and a scrape is a snapshot, not a
 * transaction). Labelled series (HTTP route and status, execution outcome
 * and key) live in small fixed tables under one mutex each, held for a
 * lookup and an increment. Nothing here allocates on the recording path. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "codeexecd/metrics.h"

#define LABEL_MAX 64             /* bytes of a label value we keep */
#define HTTP_SERIES_MAX 128      /* (route, status) pairs */
#define EXEC_SERIES_MAX 512      /* (outcome, key) pairs */

static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
				  30, 60, 120, 300 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct histogram {
	atomic_uint_fast64_t count[NBUCKETS + 1]; /* per bucket, the last is +Inf */
	atomic_uint_fast64_t sum_ns;
};

struct http_series {
	char route[LABEL_MAX];
	int status;
	uint64_t n;
};

struct exec_series {
	enum metrics_outcome outcome;
	char key[LABEL_MAX];
	uint64_t n;
};

static const char *const outcome_names[METRICS_OUT_COUNT] = {
	"success", "error", "timeout", "oom", "output_truncated", "engine_failure", "rejected",
	"cancelled",
};
static const char *const phase_names[METRICS_PHASE_COUNT] = {
	"queue_wait", "acquire", "create", "start", "job_sent", "run", "collect", "answer",
	"remove",
};
static const char *const engine_error_names[METRICS_EE_COUNT] = {
	"unreachable", "timeout", "server_error", "client_error", "protocol",
};

static struct {
	char version[32];
	char engine_api[32];
	pthread_mutex_t info_mu;

	pthread_mutex_t http_mu;
	struct http_series http[HTTP_SERIES_MAX];
	size_t nhttp;
	struct histogram http_duration;

	pthread_mutex_t exec_mu;
	struct exec_series exec[EXEC_SERIES_MAX];
	size_t nexec;

	struct histogram duration;
	struct histogram phase[METRICS_PHASE_COUNT];
	atomic_long gauge[METRICS_G_COUNT];
	atomic_uint_fast64_t counter[METRICS_C_COUNT];
	atomic_uint_fast64_t engine_errors[METRICS_EE_COUNT];
	atomic_uint_fast64_t auth_failures;

	pthread_mutex_t session_mu;
	const char *session_reason[METRICS_SESSION_REASONS_MAX];
	uint64_t session_ended[METRICS_SESSION_REASONS_MAX];
} m = {
	.session_mu = PTHREAD_MUTEX_INITIALIZER,
	.version = "unknown",
	.engine_api = "unknown",
	.info_mu = PTHREAD_MUTEX_INITIALIZER,
	.http_mu = PTHREAD_MUTEX_INITIALIZER,
	.exec_mu = PTHREAD_MUTEX_INITIALIZER,
};

void metrics_init(const char *version)
{
	pthread_mutex_lock(&m.info_mu);
	(void)snprintf(m.version, sizeof(m.version), "%s", version);
	pthread_mutex_unlock(&m.info_mu);
}

void metrics_set_engine_api(const char *api_version)
{
	pthread_mutex_lock(&m.info_mu);
	(void)snprintf(m.engine_api, sizeof(m.engine_api), "%s",
		       api_version && *api_version ? api_version : "unknown");
	pthread_mutex_unlock(&m.info_mu);
}

const char *metrics_phase_name(enum metrics_phase p)
{
	return (unsigned)p < METRICS_PHASE_COUNT ? phase_names[p] : "unknown";
}

const char *metrics_outcome_name(enum metrics_outcome o)
{
	return (unsigned)o < METRICS_OUT_COUNT ? outcome_names[o] : "unknown";
}

static void observe(struct histogram *h, double seconds)
{
	size_t i = 0;

	if (!(seconds >= 0))
		seconds = 0; /* NaN or negative: a clock oddity, count it as 0 */
	while (i < NBUCKETS && seconds > buckets[i])
		i++;
	atomic_fetch_add_explicit(&h->count[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, (uint_fast64_t)(seconds * 1e9),
				  memory_order_relaxed);
}

void metrics_http_request(const char *route, int status, double seconds)
{
	size_t i;

	observe(&m.http_duration, seconds);
	pthread_mutex_lock(&m.http_mu);
	for (i = 0; i < m.nhttp; i++)
		if (m.http[i].status == status && strcmp(m.http[i].route, route) == 0)
			break;
	if (i == m.nhttp && m.nhttp < HTTP_SERIES_MAX) {
		(void)snprintf(m.http[i].route, LABEL_MAX, "%s", route);
		m.http[i].status = status;
		m.nhttp++;
	}
	if (i < m.nhttp)
		m.http[i].n++;
	pthread_mutex_unlock(&m.http_mu);
}

void metrics_execution(enum metrics_outcome outcome, const char *key)
{
	size_t i;

	if ((unsigned)outcome >= METRICS_OUT_COUNT)
		return;
	if (!key || !*key)
		key = "";
	pthread_mutex_lock(&m.exec_mu);
	for (i = 0; i < m.nexec; i++)
		if (m.exec[i].outcome == outcome && strcmp(m.exec[i].key, key) == 0)
			break;
	if (i == m.nexec && m.nexec >= EXEC_SERIES_MAX - METRICS_OUT_COUNT)
		key = "other"; /* the last entries are kept for the overflow */
	for (i = 0; i < m.nexec; i++)
		if (m.exec[i].outcome == outcome && strcmp(m.exec[i].key, key) == 0)
			break;
	if (i == m.nexec && m.nexec < EXEC_SERIES_MAX) {
		m.exec[i].outcome = outcome;
		(void)snprintf(m.exec[i].key, LABEL_MAX, "%s", key);
		m.nexec++;
	}
	if (i < m.nexec)
		m.exec[i].n++;
	pthread_mutex_unlock(&m.exec_mu);
}

void metrics_auth_failure(void)
{
	atomic_fetch_add_explicit(&m.auth_failures, 1, memory_order_relaxed);
}

void metrics_observe_duration(double seconds)
{
	observe(&m.duration, seconds);
}

void metrics_observe_phase(enum metrics_phase phase, double seconds)
{
	if ((unsigned)phase < METRICS_PHASE_COUNT)
		observe(&m.phase[phase], seconds);
}

void metrics_gauge_set(enum metrics_gauge g, long value)
{
	if ((unsigned)g < METRICS_G_COUNT)
		atomic_store_explicit(&m.gauge[g], value, memory_order_relaxed);
}

void metrics_gauge_add(enum metrics_gauge g, long delta)
{
	if ((unsigned)g < METRICS_G_COUNT)
		atomic_fetch_add_explicit(&m.gauge[g], delta, memory_order_relaxed);
}

long metrics_gauge_get(enum metrics_gauge g)
{
	return (unsigned)g < METRICS_G_COUNT ? atomic_load_explicit(&m.gauge[g], memory_order_relaxed)
					     : 0;
}

void metrics_count_n(enum metrics_counter c, long n)
{
	if ((unsigned)c < METRICS_C_COUNT && n > 0)
		atomic_fetch_add_explicit(&m.counter[c], (uint_fast64_t)n, memory_order_relaxed);
}

void metrics_count(enum metrics_counter c)
{
	metrics_count_n(c, 1);
}

void metrics_engine_error(enum metrics_engine_error kind)
{
	if ((unsigned)kind < METRICS_EE_COUNT)
		atomic_fetch_add_explicit(&m.engine_errors[kind], 1, memory_order_relaxed);
}

/* --- rendering ------------------------------------------------------------ */

/* A label value with \, " and newlines escaped as the format requires. */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's series; labels is "" or `name="value"` (already escaped). */
static void put_histogram(FILE *f, const char *name, const char *labels,
			  const struct histogram *h)
{
	uint64_t cum = 0;
	const char *sep = labels[0] ? "," : "";

	for (size_t i = 0; i <= NBUCKETS; i++) {
		cum += atomic_load_explicit(&h->count[i], memory_order_relaxed);
		if (i < NBUCKETS)
			fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, buckets[i],
				(unsigned long long)cum);
		else
			fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
				(unsigned long long)cum);
	}
	fprintf(f, "%s_sum%s%s%s %.9f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
		(double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9);
	fprintf(f, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
		labels[0] ? "}" : "", (unsigned long long)cum);
}

static void put_counter(FILE *f, const char *name, const char *help, enum metrics_counter c)
{
	head(f, name, "counter", help);
	fprintf(f, "%s %llu\n", name,
		(unsigned long long)atomic_load_explicit(&m.counter[c], memory_order_relaxed));
}

static void put_gauge(FILE *f, const char *name, const char *help, enum metrics_gauge g)
{
	head(f, name, "gauge", help);
	fprintf(f, "%s %ld\n", name, atomic_load_explicit(&m.gauge[g], memory_order_relaxed));
}

static void render_info(FILE *f)
{
	pthread_mutex_lock(&m.info_mu);
	head(f, "codeexecd_build_info", "gauge",
	     "Always 1; the labels carry the version and the engine's API version.");
	fprintf(f, "codeexecd_build_info{version=\"");
	put_label(f, m.version);
	fprintf(f, "\",engine_api_version=\"");
	put_label(f, m.engine_api);
	fprintf(f, "\"} 1\n");
	pthread_mutex_unlock(&m.info_mu);
}

static void render_http(FILE *f)
{
	head(f, "codeexecd_http_requests_total", "counter", "HTTP requests answered, by route and status.");
	pthread_mutex_lock(&m.http_mu);
	for (size_t i = 0; i < m.nhttp; i++) {
		fprintf(f, "codeexecd_http_requests_total{route=\"");
		put_label(f, m.http[i].route);
		fprintf(f, "\",status=\"%d\"} %llu\n", m.http[i].status,
			(unsigned long long)m.http[i].n);
	}
	pthread_mutex_unlock(&m.http_mu);
	head(f, "codeexecd_http_request_duration_seconds", "histogram",
	     "Time from a request's arrival to its answer being queued.");
	put_histogram(f, "codeexecd_http_request_duration_seconds", "", &m.http_duration);
}

static void render_executions(FILE *f)
{
	head(f, "codeexecd_executions_total", "counter",
	     "Executions by outcome and API key (key=\"\" without keys).");
	pthread_mutex_lock(&m.exec_mu);
	for (size_t i = 0; i < m.nexec; i++) {
		fprintf(f, "codeexecd_executions_total{outcome=\"%s\",key=\"",
			outcome_names[m.exec[i].outcome]);
		put_label(f, m.exec[i].key);
		fprintf(f, "\"} %llu\n", (unsigned long long)m.exec[i].n);
	}
	pthread_mutex_unlock(&m.exec_mu);
	head(f, "codeexecd_execution_duration_seconds", "histogram",
	     "Run time of executions, from the job sent to the result.");
	put_histogram(f, "codeexecd_execution_duration_seconds", "", &m.duration);
	head(f, "codeexecd_execution_phase_seconds", "histogram",
	     "Time spent in each phase of an execution.");
	for (int p = 0; p < METRICS_PHASE_COUNT; p++) {
		char labels[48];
		(void)snprintf(labels, sizeof(labels), "phase=\"%s\"", phase_names[p]);
		put_histogram(f, "codeexecd_execution_phase_seconds", labels, &m.phase[p]);
	}
}

static void render_engine(FILE *f)
{
	put_counter(f, "codeexecd_containers_created_total", "Sandbox containers created.",
		    METRICS_C_CONTAINERS_CREATED);
	put_counter(f, "codeexecd_containers_removed_total", "Sandbox containers removed.",
		    METRICS_C_CONTAINERS_REMOVED);
	put_counter(f, "codeexecd_containers_reaped_total",
		    "Containers left by an earlier run (a crash) and removed at start-up.",
		    METRICS_C_CONTAINERS_REAPED);
	head(f, "codeexecd_engine_errors_total", "counter", "Failed Docker Engine API calls, by kind.");
	for (int k = 0; k < METRICS_EE_COUNT; k++)
		fprintf(f, "codeexecd_engine_errors_total{kind=\"%s\"} %llu\n", engine_error_names[k],
			(unsigned long long)atomic_load_explicit(&m.engine_errors[k],
								 memory_order_relaxed));
}

void metrics_session_ended(const char *reason)
{
	size_t i = 0;

	pthread_mutex_lock(&m.session_mu);
	while (i < METRICS_SESSION_REASONS_MAX && m.session_reason[i] &&
	       strcmp(m.session_reason[i], reason) != 0)
		i++;
	if (i == METRICS_SESSION_REASONS_MAX)
		i--; /* the last one counts the rest */
	if (!m.session_reason[i])
		m.session_reason[i] = i == METRICS_SESSION_REASONS_MAX - 1 ? "other" : reason;
	m.session_ended[i]++;
	pthread_mutex_unlock(&m.session_mu);
}

static void render_sessions(FILE *f)
{
	put_gauge(f, "codeexecd_sessions", "Sessions open now (with a container each).",
		  METRICS_G_SESSIONS);
	put_counter(f, "codeexecd_sessions_created_total", "Sessions opened.",
		    METRICS_C_SESSIONS_CREATED);
	head(f, "codeexecd_sessions_ended_total", "counter", "Sessions ended, by reason.");
	pthread_mutex_lock(&m.session_mu);
	for (size_t i = 0; i < METRICS_SESSION_REASONS_MAX && m.session_reason[i]; i++)
		fprintf(f, "codeexecd_sessions_ended_total{reason=\"%s\"} %llu\n",
			m.session_reason[i], (unsigned long long)m.session_ended[i]);
	pthread_mutex_unlock(&m.session_mu);
}

char *metrics_render(size_t *len)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);

	if (!f)
		return NULL;
	render_info(f);
	render_http(f);
	render_executions(f);
	put_gauge(f, "codeexecd_executions_running", "Executions running now.", METRICS_G_RUNNING);
	put_gauge(f, "codeexecd_executions_queued", "Requests waiting for an execution slot.",
		  METRICS_G_QUEUED);
	put_gauge(f, "codeexecd_pool_ready_containers", "Started containers waiting for a job.",
		  METRICS_G_POOL_READY);
	put_gauge(f, "codeexecd_request_body_bytes", "Request body bytes held in memory now.",
		  METRICS_G_BODY_BYTES);
	render_engine(f);
	render_sessions(f);
	head(f, "codeexecd_auth_failures_total", "counter",
	     "Requests refused for a missing or wrong API key.");
	fprintf(f, "codeexecd_auth_failures_total %llu\n",
		(unsigned long long)atomic_load_explicit(&m.auth_failures, memory_order_relaxed));
	put_counter(f, "codeexecd_config_reloads_total", "Configuration reloads applied (SIGHUP).",
		    METRICS_C_RELOADS);
	put_counter(f, "codeexecd_config_reload_failures_total",
		    "Configuration reloads refused (the old configuration was kept).",
		    METRICS_C_RELOAD_FAILURES);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	*len = n;
	return text;
}

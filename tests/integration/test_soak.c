/* Soak and chaos: a seeded mix of requests at concurrency 8 (ordinary code,
 * files in and out, invalid bodies, timeouts, memory and fork bombs, output
 * floods, clients that leave mid-run) while the daemon is SIGKILLed and
 * restarted twice and the Docker engine is restarted once. The engine is
 * the soak's own (scripts/soak-engine.sh), never the machine's.
 *
 * Shown, and printed as a table: every answer is correct, or a 429/503 or
 * no answer during a chaos window (the daemon's downtime, the engine's
 * restart; a run the engine's stop killed may also fail there); no
 * container, volume or engine mount is left once the daemon stopped; the
 * last daemon's open descriptors and resident memory, sampled at rest
 * (requests held back, in-flight ones done) after the engine's restart and
 * at the end, grow less than 10 % (medians under load over the first and
 * last quarters are printed too); /ready answers 200 within 2 s of the
 * restarted engine answering.
 *
 *   SOAK_SECONDS (60)   length of the run, or its cap when SOAK_COUNT is set
 *   SOAK_COUNT (0)      run until this many executions (invalid bodies not
 *                       counted); `make soak` sets 1000
 *   SOAK_SEED (1)       the mix; SOAK_CONCURRENCY (8)
 *
 * Needs root and dockerd (to run an engine of its own); skipped otherwise. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "../check_run.h"
#include "harness.h"
#include "soak_mix.h"

#define ENGINE_SCRIPT "scripts/soak-engine.sh"
#define MAX_WORKERS 32
#define MAX_SAMPLES 20000
#define MAX_WINDOWS 8

static const char *const SOAK_YAML =
	"execution:\n  max_concurrent: 4\n  queue_size: 32\n  pool_size: 2\n" SOAK_MIX_YAML;

enum window_kind { W_DAEMON, W_ENGINE };

struct window {
	enum window_kind kind;
	double from, to;         /* seconds since the start */
	double engine_visible;   /* W_ENGINE: the engine answered again */
};

struct result {
	enum soak_kind kind;
	enum soak_outcome outcome;
	double from, to;
	char why[200];
};

struct sample {
	double t;
	int fds;
	long rss_kib;
};

static struct soak {
	/* settings */
	double seconds;
	long count;
	unsigned seed;
	int concurrency;
	int port;
	/* One state directory for every daemon of the run: a restarted daemon
	 * keeps the instance id and so removes what a killed one left. */
	char state_dir[64];
	double t0;
	/* shared with the workers */
	atomic_bool stop;
	atomic_bool pause;        /* workers hold off (for an idle sample) */
	atomic_int busy;          /* workers inside a request */
	atomic_long executions;   /* finished, invalid bodies not counted */
	pthread_mutex_t lock;
	struct result *results;
	size_t nresults, cap;
	/* the main thread's */
	struct window windows[MAX_WINDOWS];
	int nwindows;
	struct sample samples[MAX_SAMPLES];
	int nsamples;
} S;

static double since_start(void)
{
	return harness_now() - S.t0;
}

static void record(const struct result *res)
{
	pthread_mutex_lock(&S.lock);
	if (S.nresults == S.cap) {
		S.cap = S.cap ? S.cap * 2 : 1024;
		S.results = realloc(S.results, S.cap * sizeof(*S.results));
		if (!S.results)
			abort();
	}
	S.results[S.nresults++] = *res;
	pthread_mutex_unlock(&S.lock);
}

static void *worker(void *arg)
{
	unsigned rng = S.seed * 7919u + (unsigned)(size_t)arg * 104729u;

	while (!atomic_load(&S.stop)) {
		struct result res = { .kind = soak_pick(&rng) };

		atomic_fetch_add(&S.busy, 1);
		if (atomic_load(&S.pause)) {
			atomic_fetch_sub(&S.busy, 1);
			harness_sleep_ms(50);
			continue;
		}
		res.from = since_start();
		res.outcome = soak_run_one(S.port, res.kind, &rng, res.why, sizeof(res.why));
		res.to = since_start();
		atomic_fetch_sub(&S.busy, 1);
		record(&res);
		/* An execution: a run the daemon took on and answered (or the
		 * client left). 429, 503 and no answer are not. */
		if (res.kind != SOAK_INVALID && (res.outcome == SOAK_CORRECT ||
						 res.outcome == SOAK_WRONG ||
						 res.outcome == SOAK_FAILED_RUN))
			atomic_fetch_add(&S.executions, 1);
		if (res.outcome == SOAK_NOANSWER || res.outcome == SOAK_429 ||
		    res.outcome == SOAK_503)
			harness_sleep_ms(250); /* as a client honouring Retry-After would */
	}
	return NULL;
}

/* --- measurements -------------------------------------------------------------- */

static void sample(struct harness_daemon *d)
{
	int pid = harness_daemon_pid(d);
	struct sample s = { .t = since_start(), .fds = harness_proc_fds(pid),
			    .rss_kib = harness_proc_rss_kib(pid) };

	if (S.nsamples < MAX_SAMPLES && s.fds > 0 && s.rss_kib > 0)
		S.samples[S.nsamples++] = s;
}

/* The daemon at rest: no request in flight, its descriptors unchanged for
 * five seconds (runs cancelled, containers removed, the pool refilled). */
static struct sample idle_sample(struct harness_daemon *d)
{
	int pid = harness_daemon_pid(d), last = -1;
	struct sample s = { 0 };
	double until = harness_now() + 90;

	atomic_store(&S.pause, true);
	while (atomic_load(&S.busy) > 0 && harness_now() < until)
		harness_sleep_ms(50);
	for (int i = 0, same = 0; i < 120 && same < 5; i++) {
		s.fds = harness_proc_fds(pid);
		same = s.fds == last ? same + 1 : 0;
		last = s.fds;
		harness_sleep_ms(1000);
	}
	s.t = since_start();
	s.rss_kib = harness_proc_rss_kib(pid);
	atomic_store(&S.pause, false);
	return s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of fds (which = 0) or RSS (1) over samples in [from, to). */
static double median(int which, double from, double to)
{
	double v[MAX_SAMPLES];
	int n = 0;

	for (int i = 0; i < S.nsamples; i++)
		if (S.samples[i].t >= from && S.samples[i].t < to)
			v[n++] = which == 0 ? S.samples[i].fds : (double)S.samples[i].rss_kib;
	if (n == 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return v[n / 2];
}

/* Counts the lines a shell command prints, -1 on failure. */
static int count_lines(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char line[512];
	int n = 0;

	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p))
		n++;
	return pclose(p) == 0 ? n : -1;
}

/* --- chaos ----------------------------------------------------------------------- */

static struct harness_daemon *daemon_start(void)
{
	struct harness_opts o = { .yaml = SOAK_YAML, .port = S.port, .start_timeout_s = 60,
				  .state_dir = S.state_dir };
	struct harness_daemon *d = harness_daemon_start_opts(&o);

	ck_assert_msg(d != NULL, "the daemon did not start");
	return d;
}

/* harness_daemon_stop() of a daemon we killed, without its log on stderr. */
static void quiet_stop(struct harness_daemon *d)
{
	int saved = dup(2), null = open("/dev/null", O_WRONLY);

	if (saved >= 0 && null >= 0)
		(void)dup2(null, 2);
	(void)harness_daemon_stop(d);
	if (saved >= 0) {
		(void)dup2(saved, 2);
		close(saved);
	}
	if (null >= 0)
		close(null);
}

static struct harness_daemon *kill_daemon(struct harness_daemon *d)
{
	struct window *w = &S.windows[S.nwindows++];

	w->kind = W_DAEMON;
	w->from = since_start();
	ck_assert_int_eq(harness_daemon_signal(d, SIGKILL), 0);
	quiet_stop(d);                  /* reaps it */
	d = daemon_start();             /* the same port: removes what the killed one left */
	w->to = since_start();
	printf("soak: %6.1f s  daemon SIGKILLed; a new one answers after %.2f s\n", w->from,
	       w->to - w->from);
	return d;
}

static long ready_status(void)
{
	struct harness_response r;
	long status = 0;

	if (harness_http_port(S.port, "GET", "/ready", NULL, 0, NULL, &r) == 0)
		status = r.status;
	harness_response_free(&r);
	return status;
}

static void restart_engine(void)
{
	struct window *w = &S.windows[S.nwindows++];
	double stopped;
	pid_t pid;
	int st;

	w->kind = W_ENGINE;
	w->from = since_start();
	ck_assert_int_eq(system(ENGINE_SCRIPT " stop"), 0);
	stopped = since_start();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", ENGINE_SCRIPT " restart-fast", (char *)NULL);
		_exit(127);
	}
	while (harness_docker_count_labelled(NULL) < 0 && since_start() - stopped < 120)
		harness_sleep_ms(20);
	w->engine_visible = since_start();
	while (ready_status() != 200 && since_start() - w->engine_visible < 60)
		harness_sleep_ms(20);
	w->to = since_start();
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the engine did not restart");
	printf("soak: %6.1f s  engine stopped (took %.1f s), answering again at %.1f s, "
	       "daemon ready %.2f s later\n", w->from, stopped - w->from, w->engine_visible,
	       w->to - w->engine_visible);
}

/* --- the verdict ------------------------------------------------------------------ */

static bool overlaps(const struct result *r, enum window_kind kind)
{
	for (int i = 0; i < S.nwindows; i++)
		if (S.windows[i].kind == kind && r->from <= S.windows[i].to &&
		    r->to >= S.windows[i].from)
			return true;
	return false;
}

/* Whether an outcome is allowed where it happened. */
static bool allowed(const struct result *r)
{
	bool daemon_down = overlaps(r, W_DAEMON), engine_down = overlaps(r, W_ENGINE);

	switch (r->outcome) {
	case SOAK_CORRECT:
		return true;
	case SOAK_429:
	case SOAK_503:
		return daemon_down || engine_down;
	case SOAK_NOANSWER:
		return daemon_down;
	case SOAK_FAILED_RUN:
		return engine_down;
	default:
		return false;
	}
}

static int print_table(double elapsed)
{
	long counts[SOAK_NKINDS + 1][SOAK_NOUTCOMES + 1] = { { 0 } };
	int bad = 0;

	for (size_t i = 0; i < S.nresults; i++) {
		const struct result *r = &S.results[i];
		bool ok = allowed(r);

		counts[r->kind][r->outcome]++;
		counts[SOAK_NKINDS][r->outcome]++;
		if (!ok) {
			counts[r->kind][SOAK_NOUTCOMES]++;
			counts[SOAK_NKINDS][SOAK_NOUTCOMES]++;
			if (bad++ < 25)
				printf("soak: NOT ALLOWED at %.1f-%.1f s, %s: %s: %s\n", r->from, r->to,
				       soak_kind_name(r->kind), soak_outcome_name(r->outcome), r->why);
		}
	}
	printf("\nsoak: seed %u, concurrency %d, %.0f s, %zu requests (%ld executions), "
	       "%.2f requests/s\n", S.seed, S.concurrency, elapsed, S.nresults,
	       atomic_load(&S.executions), (double)S.nresults / elapsed);
	printf("| %-14s | %6s |", "kind", "sent");
	for (int o = 0; o < SOAK_NOUTCOMES; o++)
		printf(" %10s |", soak_outcome_name((enum soak_outcome)o));
	printf(" %11s |\n", "not allowed");
	for (int k = 0; k <= SOAK_NKINDS; k++) {
		long sent = 0;
		for (int o = 0; o < SOAK_NOUTCOMES; o++)
			sent += counts[k][o];
		printf("| %-14s | %6ld |", k < SOAK_NKINDS ? soak_kind_name((enum soak_kind)k) : "all", sent);
		for (int o = 0; o < SOAK_NOUTCOMES; o++)
			printf(" %10ld |", counts[k][o]);
		printf(" %11ld |\n", counts[k][SOAK_NOUTCOMES]);
	}
	return bad;
}

struct growth {
	double first, last, pct;
};

/* From the first quarter of [from, to] to its last. */
static struct growth growth_of(int which, double from, double to)
{
	double q = (to - from) / 4;
	struct growth g = { median(which, from, from + q), median(which, to - q, to + 1), 0 };

	g.pct = (g.last - g.first) * 100.0 / g.first;
	return g;
}

static void read_settings(void)
{
	const char *env;

	S.seconds = (env = getenv("SOAK_SECONDS")) ? atof(env) : 60;
	S.count = (env = getenv("SOAK_COUNT")) ? atol(env) : 0;
	S.seed = (env = getenv("SOAK_SEED")) ? (unsigned)atol(env) : 1;
	S.concurrency = (env = getenv("SOAK_CONCURRENCY")) ? atoi(env) : 8;
	ck_assert(S.concurrency >= 1 && S.concurrency <= MAX_WORKERS);
	pthread_mutex_init(&S.lock, NULL);
}

/* Starts the soak's engine and points DOCKER_HOST (ours, the daemon's, the
 * docker CLI's) at it; mounts_cmd lists the mounts under its directory. */
static void engine_up(char *mounts_cmd, size_t len)
{
	char host[512], dir[512];
	FILE *p;

	ck_assert_msg(system(ENGINE_SCRIPT " start") == 0, "the soak engine did not start");
	p = popen(ENGINE_SCRIPT " host", "r");
	ck_assert(p && fgets(host, sizeof(host), p));
	pclose(p);
	host[strcspn(host, "\n")] = '\0';
	setenv("DOCKER_HOST", host, 1);
	(void)snprintf(dir, sizeof(dir), "%s", strncmp(host, "unix://", 7) == 0 ? host + 7 : host);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = '\0';
	(void)snprintf(mounts_cmd, len, "grep -F '%s/' /proc/self/mounts || true", dir);
}

/* What the run measured beside the answers. */
struct measures {
	int events;               /* chaos events done (of 4) */
	double elapsed;
	double ready_delay;       /* /ready after the engine's return */
	struct sample idle[2];    /* the last daemon at rest: after the engine's restart, at the end */
};

/* The load and the chaos until the run is over; returns the last daemon. */
static struct harness_daemon *run(struct harness_daemon *d, struct measures *m)
{
	static const struct { double at; int what; } events[] = {
		/* 0: kill the daemon; 1: restart the engine; 2: sample the daemon at rest */
		{ 0.20, 0 }, { 0.30, 0 }, { 0.45, 1 }, { 0.50, 2 },
	};
	pthread_t threads[MAX_WORKERS];

	S.t0 = harness_now();
	for (int i = 0; i < S.concurrency; i++)
		ck_assert_int_eq(pthread_create(&threads[i], NULL, worker, (void *)(size_t)i), 0);
	for (;;) {
		double progress = S.count > 0 ? (double)atomic_load(&S.executions) / (double)S.count
					      : since_start() / S.seconds;
		if (progress >= 1 || since_start() >= S.seconds)
			break;
		if (m->events < 4 && progress >= events[m->events].at) {
			if (events[m->events].what == 0) {
				d = kill_daemon(d);
			} else if (events[m->events].what == 2) {
				m->idle[0] = idle_sample(d);
			} else {
				restart_engine();
				m->ready_delay = S.windows[S.nwindows - 1].to -
						 S.windows[S.nwindows - 1].engine_visible;
			}
			m->events++;
		}
		sample(d);
		harness_sleep_ms(250);
	}
	m->elapsed = since_start();
	atomic_store(&S.stop, true);
	for (int i = 0; i < S.concurrency; i++)
		pthread_join(threads[i], NULL);
	m->idle[1] = idle_sample(d);
	return d;
}

static double pct(double from, double to)
{
	return (to - from) * 100.0 / from;
}

static void print_memory(const struct measures *m)
{
	/* Under load, medians over the first and last quarters of the last
	 * daemon's life and of the whole run (three processes): for
	 * information, they move with what is in flight. */
	double born = S.windows[1].to;
	struct growth fds = growth_of(0, born, m->elapsed), rss = growth_of(1, born, m->elapsed);
	struct growth run_fds = growth_of(0, 0, m->elapsed), run_rss = growth_of(1, 0, m->elapsed);

	printf("soak: under load, last daemon (%.0f-%.0f s), medians of its first and last "
	       "quarters: open fds %.0f -> %.0f (%+.1f %%), RSS %.1f -> %.1f MiB (%+.1f %%)\n", born,
	       m->elapsed, fds.first, fds.last, fds.pct, rss.first / 1024, rss.last / 1024, rss.pct);
	printf("soak: under load, whole run, first and last quarters: open fds %.0f -> %.0f "
	       "(%+.1f %%), RSS %.1f -> %.1f MiB (%+.1f %%)\n", run_fds.first, run_fds.last,
	       run_fds.pct, run_rss.first / 1024, run_rss.last / 1024, run_rss.pct);
	printf("soak: last daemon at rest, at %.0f s and at the end: open fds %d -> %d (%+.1f %%), "
	       "RSS %.1f -> %.1f MiB (%+.1f %%)\n", m->idle[0].t, m->idle[0].fds, m->idle[1].fds,
	       pct(m->idle[0].fds, m->idle[1].fds), m->idle[0].rss_kib / 1024.0,
	       m->idle[1].rss_kib / 1024.0,
	       pct((double)m->idle[0].rss_kib, (double)m->idle[1].rss_kib));
}

START_TEST(test_soak_and_chaos)
{
	struct measures m = { .ready_delay = -1 };
	struct harness_daemon *d;
	char mounts_cmd[600];
	int bad, containers, volumes, mounts, mounts_before;
	double idle_fds, idle_rss;

	if (getuid() != 0 || system("command -v dockerd >/dev/null") != 0) {
		printf("soak: skipped: needs root and dockerd for an engine of its own\n");
		return;
	}
	read_settings();
	(void)snprintf(S.state_dir, sizeof(S.state_dir), "/tmp/codeexecd-soak-state-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(S.state_dir));
	engine_up(mounts_cmd, sizeof(mounts_cmd));
	mounts_before = count_lines(mounts_cmd);
	d = daemon_start();
	S.port = harness_daemon_port(d);
	d = run(d, &m);
	ck_assert_int_eq(harness_daemon_stop(d), 0);

	containers = count_lines("docker ps -aq");
	volumes = count_lines("docker volume ls -q");
	/* Beyond the idle engine's own: a container's rootfs or shm left behind. */
	mounts = count_lines(mounts_cmd) - mounts_before;
	{
		char rm[128];
		(void)snprintf(rm, sizeof(rm), "rm -rf '%s'", S.state_dir);
		(void)!system(rm);
	}
	bad = print_table(m.elapsed);
	printf("soak: chaos events done: %d of 4\n", m.events);
	printf("soak: answers not allowed where they happened: %d\n", bad);
	printf("soak: left after the daemon stopped: %d containers, %d volumes, %d engine mounts\n",
	       containers, volumes, mounts);
	print_memory(&m);
	printf("soak: /ready answered 200 %.2f s after the restarted engine answered\n\n",
	       m.ready_delay);
	(void)system(ENGINE_SCRIPT " stop");

	ck_assert_int_eq(m.events, 4);
	if (S.count > 0)
		ck_assert_int_ge(atomic_load(&S.executions), S.count);
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(containers, 0);
	ck_assert_int_eq(volumes, 0);
	ck_assert_int_eq(mounts, 0);
	/* At rest, not the medians under load (printed for information). */
	idle_fds = pct(m.idle[0].fds, m.idle[1].fds);
	idle_rss = pct((double)m.idle[0].rss_kib, (double)m.idle[1].rss_kib);
	ck_assert_msg(idle_fds < 10, "fds grew %.1f %% (at rest)", idle_fds);
	ck_assert_msg(idle_rss < 10, "RSS grew %.1f %% (at rest)", idle_rss);
	ck_assert_msg(m.ready_delay >= 0 && m.ready_delay < 2, "ready %.2f s after the engine",
		      m.ready_delay);
	free(S.results);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("soak");
	TCase *tc = tcase_create("soak");
	const char *env = getenv("SOAK_SECONDS");
	double seconds = env ? atof(env) : 60;

	setvbuf(stdout, NULL, _IOLBF, 0);       /* the table survives a failed check */
	curl_global_init(CURL_GLOBAL_DEFAULT);  /* before the workers' threads */
	/* The run, the engine's start (an image copy the first time) and stop. */
	tcase_set_timeout(tc, seconds + 900);
	tcase_add_test(tc, test_soak_and_chaos);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NORMAL);
}

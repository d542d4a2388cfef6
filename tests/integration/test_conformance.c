/* The zygote's promise: code that runs in a fork of the sandbox's runner
 * (warm, with numpy, pandas and matplotlib already imported; or cold, with
 * nothing imported) behaves exactly like `python /execution/main.py`. Each
 * program of the corpus runs on three daemons of the same engine and image:
 *
 *   plain  execution.zygote: false, no pool: a plain interpreter per run
 *   warm   the defaults: a pooled container whose runner preloaded
 *   cold   zygote, no pool: a container made for the request, no preload
 *
 * and output, error and exit_code must be identical, byte for byte. The only
 * allowed difference is that the preloaded modules are already in
 * sys.modules, so no program here prints sys.modules. */
#include <check.h>

#include "../check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check_json.h"
#include "harness.h"

static struct harness_daemon *plain, *warm, *cold;

struct program {
	const char *name;
	const char *code;
	const char *stdin_data;   /* NULL: none */
};

static const struct program corpus[] = {
	{ "hello", "print('hello')\n", NULL },
	{ "main_module",
	  "import sys, os\n"
	  "print(__name__, __file__, __package__, __spec__, __cached__, __doc__)\n"
	  "print(type(__loader__).__name__, __loader__.name, __loader__.path)\n"
	  "print(list(globals()))\n"
	  "print(type(__builtins__).__name__, __annotations__)\n"
	  "print(sys.argv, getattr(sys, 'orig_argv', None), sys.path[0], os.getcwd())\n"
	  "print(sys.flags)\n"
	  "print(sys.executable, sys.stdin.encoding, sys.stdout.encoding, sys.stderr.errors)\n"
	  "print(sys.stdout.line_buffering, sys.stdout.write_through, sys.stdin.isatty())\n"
	  "if __name__ == '__main__':\n    print('main guard')\n", NULL },
	/* HOSTNAME is the container's id: different in every run, warm or not. */
	{ "environment", "import os\nenv = dict(os.environ)\nhost = env.pop('HOSTNAME', '')\n"
	  "print(sorted(env.items()), len(host))\n", NULL },
	{ "signals_and_warnings",
	  "import signal, warnings\n"
	  "for s in sorted(signal.valid_signals()):\n"
	  "    try:\n        h = signal.getsignal(s)\n    except (ValueError, OSError):\n        continue\n"
	  "    print(int(s), getattr(h, '__name__', h))\n"
	  "print(warnings.filters)\n"
	  "warnings.warn('careful')\n"
	  "warnings.warn('old', DeprecationWarning)\n", NULL },
	{ "process_state",
	  "import os, resource, threading, ctypes\n"
	  "print(sorted(os.listdir('/proc/self/fd')))\n"
	  "print(os.getpgrp() == os.getpid(), os.getsid(0) == os.getpid(), os.umask(0o22))\n"
	  "print(threading.active_count(), [t.name for t in threading.enumerate()])\n"
	  "print(threading.Thread().name, os.sched_getscheduler(0), os.getpriority(0, 0))\n"
	  "print(resource.getrlimit(resource.RLIMIT_NOFILE), resource.getrlimit(resource.RLIMIT_NPROC))\n"
	  "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE\n", NULL },
	{ "traceback",
	  "def inner(x):\n    return 1 / x\n\ndef outer():\n    return inner(0)\n\nprint('before')\nouter()\n",
	  NULL },
	{ "chained",
	  "try:\n    {}['k']\nexcept KeyError as e:\n    raise ValueError('while handling') from None\n",
	  NULL },
	{ "context",
	  "try:\n    {}['k']\nexcept KeyError:\n    int('x')\n", NULL },
	{ "syntax_error", "print('never')\nx = (1,\n", NULL },
	{ "indentation_error", "if True:\nprint('x')\n", NULL },
	{ "exit_message", "import sys\nprint('out')\nsys.exit('bad thing')\n", NULL },
	{ "exit_3", "raise SystemExit(3)\n", NULL },
	{ "exit_none", "import sys\nsys.exit(None)\n", NULL },
	{ "exit_big", "import sys\nsys.exit(300)\n", NULL },
	{ "exit_obj", "import sys\nsys.exit([1, 2])\n", NULL },
	{ "keyboard_interrupt", "print('x', flush=True)\nraise KeyboardInterrupt\n", NULL },
	{ "sigkill_self", "import os\nprint('dying', flush=True)\nos.kill(os.getpid(), 9)\n", NULL },
	{ "sigterm_self", "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\nprint('no')\n",
	  NULL },
	{ "os_exit", "import os\nprint('lost? no, unbuffered')\nos._exit(5)\n", NULL },
	{ "atexit_and_threads",
	  "import atexit, threading, time\n"
	  "atexit.register(lambda: print('atexit ran'))\n"
	  "def late():\n    time.sleep(0.3)\n    print('thread done')\n"
	  "threading.Thread(target=late).start()\n"
	  "print('main done')\n", NULL },
	{ "no_newline", "import sys\nsys.stdout.write('partial')\nsys.stderr.write('err partial')\n",
	  NULL },
	{ "stdin", "import sys\ndata = sys.stdin.read()\nprint(len(data), data.upper())\n",
	  "line one\nline two\n" },
	{ "unicode", "print('héllo wörld ✓ 日本語 🐍')\nimport sys\nprint('ünï', file=sys.stderr)\n",
	  NULL },
	{ "large_output", "for i in range(20000):\n    print('line %05d ' % i + 'x' * 20)\n", NULL },
	{ "pickle_class",
	  "import pickle\n"
	  "class Point:\n    def __init__(self, x):\n        self.x = x\n"
	  "p = pickle.loads(pickle.dumps(Point(7)))\n"
	  "print(type(p).__module__, type(p).__qualname__, p.x)\n", NULL },
	{ "multiprocessing_fork",
	  "import multiprocessing as mp\n"
	  "def sq(x):\n    return x * x\n"
	  "if __name__ == '__main__':\n"
	  "    with mp.get_context('fork').Pool(2) as p:\n        print(p.map(sq, range(5)))\n",
	  NULL },
	{ "multiprocessing_spawn",
	  "import multiprocessing as mp\n"
	  "def sq(x):\n    return x * x\n"
	  "if __name__ == '__main__':\n"
	  "    with mp.get_context('spawn').Pool(2) as p:\n        print(p.map(sq, range(5)))\n",
	  NULL },
	{ "subprocess",
	  "import subprocess, sys\n"
	  "print(subprocess.run([sys.executable, '-c', 'print(40 + 2)'], capture_output=True,"
	  " text=True).stdout, end='')\n", NULL },
	{ "files",
	  "import os\nopen('/execution/output/r.csv', 'w').write('a\\n1\\n')\n"
	  "print(sorted(os.listdir('/execution')), sorted(os.listdir('/execution/output')))\n",
	  NULL },
	{ "pandas_matplotlib",
	  "import io\nimport pandas as pd\nimport matplotlib\nimport matplotlib.pyplot as plt\n"
	  "df = pd.DataFrame({'city': ['a', 'b', 'a', 'c'] * 50, 'n': range(200)})\n"
	  "g = df.groupby('city')['n'].sum()\nprint(g.to_string())\n"
	  "print(matplotlib.get_backend(), matplotlib.rcParams['figure.figsize'])\n"
	  "g.plot(kind='bar')\nbuf = io.BytesIO()\nplt.savefig(buf, format='png')\n"
	  "print(buf.getvalue()[:8], len(plt.get_fignums()))\n", NULL },
	{ "import_error", "import no_such_module_here\n", NULL },
	/* Not here: a RecursionError, which the zygote's code meets one call
	 * sooner (it runs below one frame of the runner). */
};

#define NPROGRAMS (sizeof(corpus) / sizeof(corpus[0]))

static struct harness_daemon *start(const char *yaml)
{
	struct harness_daemon *d = harness_daemon_start(yaml);

	ck_assert_msg(d != NULL, "the daemon did not start");
	return d;
}

static void setup(void)
{
	plain = start("execution:\n  zygote: false\n  pool_size: 0\n");
	warm = start("execution:\n  pool_size: 2\n  pool_demand_window_seconds: 3600\n"
		     "log:\n  level: debug\n");
	cold = start("execution:\n  pool_size: 0\n");
}

static void teardown(void)
{
	ck_assert_int_eq(harness_daemon_stop_clean(plain), 0);
	ck_assert_int_eq(harness_daemon_stop_clean(warm), 0);
	ck_assert_int_eq(harness_daemon_stop_clean(cold), 0);
}

static cJSON *run(struct harness_daemon *d, const struct program *p)
{
	cJSON *req = cJSON_CreateObject(), *root;
	struct harness_response r;
	char *body;

	cJSON_AddStringToObject(req, "code", p->code);
	if (p->stdin_data)
		cJSON_AddStringToObject(req, "stdin", p->stdin_data);
	cJSON_AddNumberToObject(req, "timeout", 60);
	body = cJSON_PrintUnformatted(req);
	ck_assert_int_eq(harness_http(d, "POST", "/execute", body, strlen(body), NULL, &r), 0);
	ck_assert_msg(r.status == 200, "%s: %s", p->name, harness_describe(&r));
	root = harness_json(&r);
	ck_assert_ptr_nonnull(root);
	harness_response_free(&r);
	free(body);
	cJSON_Delete(req);
	return root;
}

/* Occurrences of needle in the warm daemon's log. */
static int log_count(const char *needle)
{
	int n = 0;

	for (const char *s = harness_daemon_log(warm); (s = strstr(s, needle)); s++)
		n++;
	return n;
}

/* Runs p on the warm daemon in a pooled container with everything
 * preloaded: once the pool has one ready (its debug log says when), and its
 * log line of phases must say so too; a run that still missed it (the
 * container died) is repeated. */
static cJSON *run_warm(const struct program *p)
{
	for (int attempt = 0;; attempt++) {
		for (int i = 0; i < 1200 && log_count("pool: warm container") <=
		     log_count("from the pool in"); i++)
			harness_sleep_ms(100);
		cJSON *r = run(warm, p);
		char want[128];

		(void)snprintf(want, sizeof(want), "[%s] phases: ", str(r, "execution_id"));
		const char *line = strstr(harness_daemon_log(warm), want);
		const char *eol = line ? strchr(line, '\n') : NULL;
		bool preloaded = line && eol &&
				 memmem(line, (size_t)(eol - line), "from the pool", 13) &&
				 memmem(line, (size_t)(eol - line), "4 modules preloaded", 19);
		if (preloaded)
			return r;
		cJSON_Delete(r);
		ck_assert_msg(attempt < 3, "%s: never ran in a preloaded container", p->name);
	}
}

static void same(const char *field, const struct program *p, const char *mode,
		 const cJSON *want, const cJSON *got)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(want, field);
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(got, field);
	char *ws = cJSON_Print(w), *gs = cJSON_Print(g);

	ck_assert_msg(cJSON_Compare(w, g, true), "%s, %s differs (%s):\nplain: %.3000s\n%s:  %.3000s",
		      p->name, field, mode, ws, mode, gs);
	free(ws);
	free(gs);
}

START_TEST(test_conformance)
{
	const struct program *p = &corpus[_i];
	cJSON *a = run(plain, p), *b, *c;

	b = run_warm(p);
	c = run(cold, p);
	same("output", p, "warm", a, b);
	same("error", p, "warm", a, b);
	same("exit_code", p, "warm", a, b);
	same("output", p, "cold", a, c);
	same("error", p, "cold", a, c);
	same("exit_code", p, "cold", a, c);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(c);
}
END_TEST

/* The warm daemon really ran its programs preloaded, in a pooled container. */
START_TEST(test_warm_is_warm)
{
	const struct program p = { "probe",
		"import sys\nprint(all(m in sys.modules for m in "
		"('numpy', 'pandas', 'matplotlib', 'matplotlib.pyplot')))\n", NULL };
	cJSON *r;

	r = run_warm(&p);
	ck_assert_str_eq(str(r, "output"), "True\n");
	cJSON_Delete(r);
	r = run(cold, &p);
	ck_assert_str_eq(str(r, "output"), "False\n");
	cJSON_Delete(r);
	r = run(plain, &p);
	ck_assert_str_eq(str(r, "output"), "False\n");
	cJSON_Delete(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conformance");
	TCase *tc = tcase_create("zygote");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_warm_is_warm);
	tcase_add_loop_test(tc, test_conformance, 0, (int)NPROGRAMS);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NORMAL);
}

/* Integration tests of the sandbox: the real daemon, the real engine, hostile
 * code. Each test case group starts its own daemon (unchecked fixture) and
 * checks at the end that it stops with 0 and leaves no container behind. */
#include <check.h>

#include "../check_run.h"
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "check_json.h"
#include "harness.h"
#include "relay.h"

static struct harness_daemon *daemon_;
static const char *current_yaml;

/* --- helpers -------------------------------------------------------------- */

static void start_with(const char *yaml)
{
	current_yaml = yaml;
	daemon_ = harness_daemon_start(yaml);
	ck_assert_msg(daemon_ != NULL, "the daemon did not start");
}

static void stop_checked(void)
{
	struct harness_daemon *d = daemon_;

	daemon_ = NULL;
	ck_assert_int_eq(harness_daemon_stop_clean(d), 0);
}

/* POSTs code (a JSON string literal's content) with an optional extra JSON
 * members text; returns the parsed 200 body. */
static cJSON *execute(const char *json_body)
{
	struct harness_response r;
	cJSON *root;

	ck_assert_int_eq(harness_http(daemon_, "POST", "/execute", json_body, strlen(json_body),
				      NULL, &r), 0);
	ck_assert_msg(r.status == 200, "%s", harness_describe(&r));
	root = harness_json(&r);
	harness_response_free(&r);
	ck_assert_ptr_nonnull(root);
	return root;
}

/* CPU time (user + system, clock ticks) the process has used. */
static long cpu_ticks(int pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	const char *p = strrchr(buf, ')'); /* the command may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

/* --- the code's behaviour -------------------------------------------------- */

static const char *const RUN_YAML =
	"execution:\n  max_concurrent: 2\n  max_timeout_seconds: 60\n  pool_size: 1\n"
	"output:\n  max_stdout_bytes: 64k\n  max_stderr_bytes: 64k\n";

static void run_setup(void) { start_with(RUN_YAML); }
static void run_teardown(void) { if (daemon_) stop_checked(); }

START_TEST(test_hello_world)
{
	cJSON *r = execute("{\"code\": \"print('hello world')\"}");

	ck_assert(flag(r, "success"));
	ck_assert_str_eq(str(r, "output"), "hello world\n");
	ck_assert_str_eq(str(r, "error"), "");
	ck_assert_int_eq(num(r, "exit_code"), 0);
	ck_assert_uint_eq(strlen(str(r, "execution_id")), 8);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(r, "output_files")));
	ck_assert(!flag(r, "timed_out") && !flag(r, "oom_killed") && !flag(r, "output_truncated"));
	ck_assert_int_ge(num(r, "duration_ms"), 0);
	cJSON_Delete(r);
}
END_TEST

/* An idle daemon sleeps: no thread spins (a wait against the wrong clock
 * once made the reaper do so). Generous: a spinning thread burns ~2 s of
 * CPU in these 2 s, an idle daemon next to nothing. */
START_TEST(test_idle_daemon_uses_no_cpu)
{
	int pid = harness_daemon_pid(daemon_);
	long before, after;

	cJSON_Delete(execute("{\"code\": \"print(1)\"}"));
	harness_sleep_ms(1500); /* the pool refills, the reaper removes */
	before = cpu_ticks(pid);
	harness_sleep_ms(2000);
	after = cpu_ticks(pid);
	ck_assert_int_ge(before, 0);
	ck_assert_msg(after - before < sysconf(_SC_CLK_TCK) / 2,
		      "the idle daemon used %ld ticks in 2 s", after - before);
}
END_TEST

START_TEST(test_streams_apart_and_exit_code)
{
	cJSON *r = execute("{\"code\": \"import sys\\nprint('to out')\\n"
			   "print('to err', file=sys.stderr)\\nsys.exit(3)\"}");

	ck_assert(!flag(r, "success"));
	ck_assert_str_eq(str(r, "output"), "to out\n");
	ck_assert_str_eq(str(r, "error"), "to err\n");
	ck_assert_int_eq(num(r, "exit_code"), 3);
	cJSON_Delete(r);
}
END_TEST

START_TEST(test_exception_traceback)
{
	cJSON *r = execute("{\"code\": \"def f():\\n    return 1 / 0\\nf()\"}");

	ck_assert(!flag(r, "success"));
	ck_assert_int_eq(num(r, "exit_code"), 1);
	ck_assert_ptr_nonnull(strstr(str(r, "error"), "Traceback (most recent call last)"));
	ck_assert_ptr_nonnull(strstr(str(r, "error"), "ZeroDivisionError"));
	cJSON_Delete(r);
}
END_TEST

START_TEST(test_csv_in_csv_and_png_out)
{
	/* "city,n\nA,1\nB,2\n" in base64 */
	cJSON *r = execute(
		"{\"code\": \"import pandas as pd\\nimport matplotlib.pyplot as plt\\n"
		"df = pd.read_csv('/execution/files/0b8e6c1e-data.csv')\\n"
		"df['n2'] = df['n'] * 2\\n"
		"df.to_csv('/execution/output/result.csv', index=False)\\n"
		"df.plot(x='city', y='n2')\\nplt.savefig('/execution/output/chart.png')\\n"
		"print(int(df['n2'].sum()))\","
		" \"files\": {\"0b8e6c1e-data.csv\": \"Y2l0eSxuCkEsMQpCLDIK\"}}");
	const cJSON *files;

	ck_assert_msg(flag(r, "success"), "error: %s", str(r, "error"));
	ck_assert_str_eq(str(r, "output"), "6\n");
	files = cJSON_GetObjectItem(r, "output_files");
	ck_assert(cJSON_IsObject(files));
	/* The old service's output_files: CSV files only (tests/integration/
	 * test_compat.c has the rules); the chart needs output_include. */
	ck_assert_int_eq(cJSON_GetArraySize(files), 1);
	/* "city,n,n2\nA,1,2\nB,2,4\n" */
	ck_assert_str_eq(str(files, "result.csv"), "Y2l0eSxuLG4yCkEsMSwyCkIsMiw0Cg==");
	cJSON_Delete(r);
}
END_TEST

START_TEST(test_chart_with_output_include)
{
	cJSON *r = execute(
		"{\"code\": \"import os\\nimport matplotlib.pyplot as plt\\n"
		"os.makedirs('/execution/output/charts')\\n"
		"plt.plot([1, 2, 3])\\nplt.savefig('/execution/output/charts/line.png')\\n"
		"open('/execution/output/result.csv', 'w').write('x\\\\n1\\\\n')\","
		" \"output_include\": [\"*\"]}");
	const cJSON *files;

	ck_assert_msg(flag(r, "success"), "error: %s", str(r, "error"));
	files = cJSON_GetObjectItem(r, "output_files");
	ck_assert_int_eq(cJSON_GetArraySize(files), 2);
	/* A PNG starts with \x89PNG, "iVBORw0KGgo" in base64. */
	ck_assert_int_eq(strncmp(str(files, "charts/line.png"), "iVBORw0KGgo", 11), 0);
	ck_assert_str_eq(str(files, "result.csv"), "eAoxCg==");
	cJSON_Delete(r);
}
END_TEST

START_TEST(test_stdin_and_subdirectory_files)
{
	cJSON *r = execute("{\"code\": \"import sys\\nprint(sys.stdin.read().upper())\\n"
			   "print(open('/execution/files/d/x.txt').read())\","
			   " \"stdin\": \"abc\", \"files\": {\"d/x.txt\": \"aGk=\"}}");

	ck_assert(flag(r, "success"));
	ck_assert_str_eq(str(r, "output"), "ABC\nhi\n");
	cJSON_Delete(r);
}
END_TEST

/* Names that need the archive's long forms (a pax path: over 100 bytes,
 * non-ASCII) reach the code intact: the runner reads the job's tar itself. */
START_TEST(test_long_unicode_file_name)
{
	char body[1024], want[512];
	const char *dir = "d\xc3\xa9j\xc3\xa0/vu_une_tr\xc3\xa8s_longue_route_pour_un_nom_de_dossier";
	const char *name = "donn\xc3\xa9\x65s_du_trimestre_avec_un_nom_bien_plus_long_que_cent_"
			   "octets_\xe6\x97\xa5\xe6\x9c\xac.csv";
	cJSON *r;

	(void)snprintf(body, sizeof(body),
		       "{\"code\": \"import os\\nfor d, _, fs in os.walk('/execution/files'):\\n"
		       "    for f in fs: print(os.path.relpath(os.path.join(d, f), "
		       "'/execution/files'), open(os.path.join(d, f)).read())\","
		       " \"files\": {\"%s/%s\": \"YSxiCg==\"}}", dir, name);
	(void)snprintf(want, sizeof(want), "%s/%s a,b\n\n", dir, name);
	ck_assert_int_gt((int)(strlen(dir) + strlen(name)), 100);
	r = execute(body);
	ck_assert_msg(flag(r, "success"), "error: %s", str(r, "error"));
	ck_assert_str_eq(str(r, "output"), want);
	cJSON_Delete(r);
}
END_TEST

/* A pooled container preloads at CPU weight 2 and is raised to the
 * default (1024) once ready, so that it runs its job at full weight. */
START_TEST(test_ready_container_full_weight)
{
	char instance[128], label[200], path[300];
	int shares = -1;

	start_with("execution:\n  pool_size: 1\n");
	ck_assert_int_eq(harness_daemon_instance(daemon_, instance, sizeof(instance)), 0);
	(void)snprintf(label, sizeof(label), "io.codeexecd.instance=%s", instance);
	for (int i = 0; i < 300 && shares != 1024; i++) {
		cJSON *list = harness_docker_list_labelled(label);
		const cJSON *c = cJSON_GetArrayItem(list, 0);
		const cJSON *id = cJSON_GetObjectItem(c, "Id");
		if (cJSON_IsString(id)) {
			(void)snprintf(path, sizeof(path), "/containers/%s/json", id->valuestring);
			cJSON *info = harness_docker_get(path);
			const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(info, "HostConfig"),
							     "CpuShares");
			shares = cJSON_IsNumber(v) ? v->valueint : -1;
			ck_assert_msg(shares == 2 || shares == 1024, "CpuShares %d", shares);
			cJSON_Delete(info);
		}
		cJSON_Delete(list);
		if (shares != 1024)
			harness_sleep_ms(100);
	}
	ck_assert_int_eq(shares, 1024);
	stop_checked();
}
END_TEST

START_TEST(test_timeout_keeps_output)
{
	double t0 = harness_now();
	cJSON *r = execute("{\"code\": \"print('started', flush=True)\\nwhile True: pass\","
			   " \"timeout\": 2}");
	double took = harness_now() - t0;
	const char *err = str(r, "error");

	ck_assert(flag(r, "timed_out"));
	ck_assert(!flag(r, "success"));
	ck_assert_int_eq(num(r, "exit_code"), -1);
	ck_assert_str_eq(str(r, "output"), "started\n");
	ck_assert_ptr_nonnull(strstr(err, "time limit of 2 seconds"));
	ck_assert_int_ge(num(r, "duration_ms"), 2000);
	/* The answer comes soon after the limit (generous: shared machines). */
	ck_assert_msg(took < 2.0 + 8.0, "took %.1f s", took);
	cJSON_Delete(r);
}
END_TEST

START_TEST(test_memory_bomb)
{
	cJSON *r = execute("{\"code\": \"x = []\\nwhile True: x.append(bytearray(50 * 1024 * 1024))\"}");

	ck_assert(flag(r, "oom_killed"));
	ck_assert(!flag(r, "success"));
	ck_assert_ptr_nonnull(strstr(str(r, "error"), "memory limit"));
	cJSON_Delete(r);
}
END_TEST

START_TEST(test_fork_bomb_contained)
{
	cJSON *r = execute("{\"code\": \"import os, time\\nn = 0\\ntry:\\n"
			   "    while True:\\n        if os.fork() == 0:\\n            time.sleep(60)\\n"
			   "        n += 1\\nexcept OSError as e:\\n    print('stopped at', n)\","
			   " \"timeout\": 20}");

	ck_assert_ptr_nonnull(strstr(str(r, "output"), "stopped at"));
	ck_assert(!flag(r, "timed_out"));
	cJSON_Delete(r);
	r = execute("{\"code\": \"print('still fine')\"}");
	ck_assert(flag(r, "success"));
	ck_assert_str_eq(str(r, "output"), "still fine\n");
	cJSON_Delete(r);
}
END_TEST

START_TEST(test_no_network)
{
	cJSON *r = execute("{\"code\": \"import socket\\ntry:\\n"
			   "    socket.create_connection(('127.0.0.1', 2375), timeout=3)\\n"
			   "    print('connected')\\nexcept OSError as e:\\n    print('refused')\\n"
			   "import os\\nprint(sorted(os.listdir('/sys/class/net')))\"}");

	ck_assert_str_eq(str(r, "output"), "refused\n['lo']\n");
	cJSON_Delete(r);
}
END_TEST

START_TEST(test_writes_and_identity)
{
	cJSON *r = execute("{\"code\": \"import os\\nprint(os.getuid(), os.getgid())\\n"
			   "for p in ['/etc/x', '/usr/x', '/x', '/execution/../root/x']:\\n"
			   "    try:\\n        open(p, 'w').write('x')\\n        print('wrote', p)\\n"
			   "    except OSError as e:\\n        print('refused', p)\\n"
			   "for p in ['/tmp/x', '/execution/x', '/execution/output/x']:\\n"
			   "    open(p, 'w').write('x')\\n    print('ok', p)\\n"
			   "print(os.getcwd())\"}");
	const char *out = str(r, "output");

	ck_assert_msg(strncmp(out, "100000 100000\n", 14) == 0, "%s", out);
	ck_assert_ptr_null(strstr(out, "wrote"));
	ck_assert_ptr_nonnull(strstr(out, "refused /etc/x\nrefused /usr/x\nrefused /x\n"));
	ck_assert_ptr_nonnull(strstr(out, "ok /tmp/x\nok /execution/x\nok /execution/output/x\n/\n"));
	cJSON_Delete(r);
}
END_TEST

/* Runs Python source (any text: it is JSON-encoded here) with a timeout. */
static cJSON *execute_code(const char *code, int timeout)
{
	cJSON *body = cJSON_CreateObject();
	char *text;
	cJSON *r;

	cJSON_AddStringToObject(body, "code", code);
	cJSON_AddNumberToObject(body, "timeout", timeout);
	text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	ck_assert_ptr_nonnull(text);
	r = execute(text);
	cJSON_free(text);
	return r;
}

/* The built-in seccomp profile under the real engine: the system calls it
 * removes fail with EPERM, and what Python's libraries need still works. */
static const char SECCOMP_CODE[] =
	"import ctypes, errno, os\n"
	"libc = ctypes.CDLL(None, use_errno=True)\n"
	"for name, nr in (('io_uring_setup', 425), ('userfaultfd', 323), ('keyctl', 250),\n"
	"                 ('add_key', 248), ('bpf', 321), ('perf_event_open', 298),\n"
	"                 ('ptrace', 101), ('unshare', 272)):\n"
	"    r = libc.syscall(nr, 0, 0, 0, 0, 0)\n"
	"    print(name, r, errno.errorcode.get(ctypes.get_errno()))\n"
	"import socket\n"
	"try:\n    socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET)\n    print('AF_ALG open')\n"
	"except OSError as e:\n    print('AF_ALG', errno.errorcode.get(e.errno))\n"
	"a, b = socket.socketpair(); a.send(b'u'); print('socketpair', b.recv(1))\n"
	"import threading, subprocess, multiprocessing\n"
	"out = []\n"
	"ts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]\n"
	"[t.start() for t in ts]; [t.join() for t in ts]\n"
	"print('threads', sorted(out))\n"
	"print('subprocess', subprocess.run(['python', '-c', 'print(6*7)'],\n"
	"      capture_output=True, text=True).stdout.strip())\n"
	"with multiprocessing.Pool(2) as p:\n    print('pool', p.map(abs, [-1, -2, -3]))\n"
	"q = multiprocessing.Queue(); pr = multiprocessing.Process(target=q.put, args=(5,))\n"
	"pr.start(); print('process', q.get()); pr.join()\n"
	"import numpy, pandas, matplotlib.pyplot as plt\n"
	"m = numpy.arange(9.0).reshape(3, 3)\n"
	"print('numpy', int((m @ m).sum()), numpy.linalg.det(numpy.eye(3)))\n"
	"print('pandas', pandas.DataFrame({'a': [1, 2, 3]}).a.sum())\n"
	"plt.plot([1, 2], [3, 4]); plt.savefig('/execution/output/p.png'); print('matplotlib ok')\n";

START_TEST(test_seccomp_profile_and_libraries)
{
	cJSON *r = execute_code(SECCOMP_CODE, 60);
	const char *out = str(r, "output");

	ck_assert_msg(flag(r, "success"), "%s\n%s", out, str(r, "error"));
	ck_assert_msg(strstr(out, "io_uring_setup -1 EPERM\n") && strstr(out, "userfaultfd -1 EPERM\n")
		      && strstr(out, "keyctl -1 EPERM\n") && strstr(out, "add_key -1 EPERM\n")
		      && strstr(out, "bpf -1 EPERM\n") && strstr(out, "perf_event_open -1 EPERM\n")
		      && strstr(out, "ptrace -1 EPERM\n") && strstr(out, "unshare -1 EPERM\n"),
		      "%s", out);
	ck_assert_msg(strstr(out, "AF_ALG EPERM\n"), "%s", out);
	ck_assert_msg(strstr(out, "socketpair b'u'\n"), "%s", out);
	ck_assert_msg(strstr(out, "threads [0, 1, 2, 3]\n"), "%s", out);
	ck_assert_msg(strstr(out, "subprocess 42\n"), "%s", out);
	ck_assert_msg(strstr(out, "pool [1, 2, 3]\nprocess 5\n"), "%s", out);
	ck_assert_msg(strstr(out, "numpy 486 1.0\npandas 6\nmatplotlib ok\n"), "%s", out);
	cJSON_Delete(r);
}
END_TEST

/* The code's identity without a passwd entry, the thread counts of math
 * libraries, and the inode cap of its tmpfs mounts. */
START_TEST(test_identity_threads_and_inodes)
{
	cJSON *r = execute_code(
		"import getpass, os\n"
		"print(getpass.getuser(), os.environ['HOME'], os.path.expanduser('~'))\n"
		"print(os.environ['OMP_NUM_THREADS'], os.environ['OPENBLAS_NUM_THREADS'],\n"
		"      os.environ['MKL_NUM_THREADS'])\n"
		"import numpy, threading\nprint('threads after numpy', threading.active_count())\n"
		"for d in ('/tmp', '/dev/shm'):\n"
		"    n = 0\n"
		"    try:\n"
		"        while n < 100000:\n"
		"            open('%s/f%d' % (d, n), 'w').close(); n += 1\n"
		"        print(d, 'unbounded')\n"
		"    except OSError as e:\n"
		"        print(d, 'stopped', e.strerror, n < 20000)\n", 60);
	const char *out = str(r, "output");

	ck_assert_msg(strstr(out, "sandbox /execution /execution\n1 1 1\n"), "%s\n%s", out,
		      str(r, "error"));
	ck_assert_msg(strstr(out, "/tmp stopped No space left on device True\n"), "%s", out);
	ck_assert_msg(strstr(out, "/dev/shm stopped No space left on device True\n"), "%s", out);
	cJSON_Delete(r);
}
END_TEST

START_TEST(test_output_flood_truncated)
{
	long before = harness_proc_rss_kib(harness_daemon_pid(daemon_)), after;
	cJSON *r = execute("{\"code\": \"import sys\\nwhile True: sys.stdout.write('x' * 65536)\"}");

	ck_assert(flag(r, "output_truncated"));
	ck_assert(!flag(r, "success"));
	ck_assert_uint_eq(strlen(str(r, "output")), 64 * 1024);
	cJSON_Delete(r);
	r = execute("{\"code\": \"import sys\\nsys.stdout.buffer.write(bytes(range(256)) * 4)\"}");
	ck_assert(flag(r, "success")); /* not UTF-8: repaired, JSON intact */
	ck_assert_uint_gt(strlen(str(r, "output")), 0);
	cJSON_Delete(r);
	after = harness_proc_rss_kib(harness_daemon_pid(daemon_));
	ck_assert_msg(after - before < 32 * 1024, "daemon RSS grew from %ld to %ld KiB", before,
		      after);
}
END_TEST

START_TEST(test_hostile_output_files)
{
	cJSON *r = execute("{\"code\": \"import os\\nout = '/execution/output/'\\n"
			   "os.symlink('/etc/passwd', out + 'passwd.csv')\\n"
			   "os.symlink('/execution', out + 'dirlink')\\n"
			   "open('/tmp/t.csv', 'w').write('secret')\\n"
			   "os.link('/tmp/t.csv', out + 'hard.csv') if False else None\\n"
			   "open(out + 'a.csv', 'w').write('a')\\nos.link(out + 'a.csv', out + 'b.csv')\\n"
			   "os.mkfifo(out + 'fifo.csv')\\nos.makedirs(out + 'sub')\\n"
			   "open(out + 'sub/ok.csv', 'w').write('ok')\\nprint('planted')\"}");
	const cJSON *files = cJSON_GetObjectItem(r, "output_files");

	ck_assert_msg(flag(r, "success"), "%s", str(r, "error"));
	ck_assert(cJSON_IsObject(files));
	/* No link is followed. Of two hard links to one file the first in
	 * directory order comes back, as in the engine's archive the old
	 * service read; keys are base names. */
	ck_assert_int_eq(cJSON_GetArraySize(files), 2);
	ck_assert_str_eq(str(files, "a.csv"), "YQ==");
	ck_assert_str_eq(str(files, "ok.csv"), "b2s=");
	cJSON_Delete(r);
}
END_TEST

/* No request leaks a file descriptor: successes, failures, timeouts,
 * floods, refused bodies and clients that leave. */
START_TEST(test_no_fd_leak)
{
	static const char *const bodies[] = {
		"{\"code\": \"print(1)\"}",
		"{\"code\": \"import sys; sys.exit(2)\"}",
		"{\"code\": \"while True: pass\", \"timeout\": 1}",
		"{\"code\": \"import sys\\nwhile True: sys.stdout.write('x' * 65536)\"}",
		"{\"code\": 5}",
		"not json",
		"{\"code\": \"open('/execution/output/a.csv', 'w').write('a')\"}",
	};
	struct harness_request gone = { .method = "POST", .path = "/execute",
					.body = "{\"code\": \"import time; time.sleep(30)\"}",
					.timeout_s = 1 };
	struct harness_response r;
	int pid, before, after = -1;

	start_with("execution:\n  pool_size: 0\n");
	pid = harness_daemon_pid(daemon_);
	cJSON_Delete(execute(bodies[0])); /* warm-up: curl's and the engine's first fds */
	harness_sleep_ms(500);
	before = harness_proc_fds(pid);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
			ck_assert_int_eq(harness_http(daemon_, "POST", "/execute", bodies[i],
						      strlen(bodies[i]), NULL, &r), 0);
			harness_response_free(&r);
		}
		gone.body_len = strlen(gone.body);
		(void)harness_http_ex(harness_daemon_port(daemon_), &gone, &r);
		harness_response_free(&r);
	}
	for (int i = 0; i < 50 && after != before; i++) { /* the reaper finishes */
		harness_sleep_ms(200);
		after = harness_proc_fds(pid);
	}
	ck_assert_msg(after == before, "fds: %d before, %d after", before, after);
	stop_checked();
}
END_TEST

/* --- admission ------------------------------------------------------------------ */

struct call {
	int port;
	const char *body;
	long status;
	bool success;           /* of a 200 answer */
	char retry_after[16];
};

static void *call_thread(void *arg)
{
	struct call *c = arg;
	struct harness_response r;

	(void)harness_http_port(c->port, "POST", "/execute", c->body, strlen(c->body), NULL, &r);
	c->status = r.status;
	cJSON *j = harness_json(&r);
	c->success = cJSON_IsTrue(cJSON_GetObjectItem(j, "success"));
	cJSON_Delete(j);
	if (harness_header(&r, "Retry-After"))
		(void)snprintf(c->retry_after, sizeof(c->retry_after), "%s",
			       harness_header(&r, "Retry-After"));
	harness_response_free(&r);
	return NULL;
}

START_TEST(test_queue_overflow_429)
{
	enum { N = 4 };
	struct call calls[N];
	pthread_t t[N];
	int ok = 0, busy = 0;

	start_with("execution:\n  max_concurrent: 1\n  queue_size: 1\n  pool_size: 0\n");
	for (int i = 0; i < N; i++) {
		calls[i] = (struct call){ .port = harness_daemon_port(daemon_),
					  .body = "{\"code\": \"import time; time.sleep(3)\"}" };
		pthread_create(&t[i], NULL, call_thread, &calls[i]);
		harness_sleep_ms(200);
	}
	/* /health answers at once while every slot is busy. */
	double t0 = harness_now();
	ck_assert_int_eq(harness_health_status(daemon_), 200);
	ck_assert_msg(harness_now() - t0 < 2.0, "health took %.1f s", harness_now() - t0);
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		if (calls[i].status == 200)
			ok++;
		if (calls[i].status == 429) {
			busy++;
			ck_assert_msg(atoi(calls[i].retry_after) > 0, "no Retry-After");
		}
	}
	ck_assert_int_eq(ok, 2);
	ck_assert_int_eq(busy, 2);
	stop_checked();
}
END_TEST

START_TEST(test_client_disconnect_removes_container)
{
	struct harness_request req = {
		.method = "POST", .path = "/execute",
		.body = "{\"code\": \"import time; time.sleep(60)\"}", .timeout_s = 2,
	};
	struct harness_response r;
	char label[256], inst[160];
	int n = -1;

	start_with("execution:\n  pool_size: 0\n");
	req.body_len = strlen(req.body);
	(void)harness_http_ex(harness_daemon_port(daemon_), &req, &r);
	ck_assert_int_eq(r.status, 0); /* we gave up */
	harness_response_free(&r);
	ck_assert_int_eq(harness_daemon_instance(daemon_, inst, sizeof(inst)), 0);
	(void)snprintf(label, sizeof(label), "io.codeexecd.instance=%s", inst);
	for (int i = 0; i < 50 && n != 0; i++) {
		harness_sleep_ms(200);
		n = harness_docker_count_labelled(label);
	}
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(harness_health_status(daemon_), 200);
	stop_checked();
}
END_TEST

/* A second daemon started on a port that is taken fails before it touches
 * the containers of the daemon that has the port (they share its label). */
START_TEST(test_second_daemon_same_port)
{
	struct call c;
	pthread_t t;
	struct harness_daemon *second;
	cJSON *r;

	start_with("execution:\n  pool_size: 1\n");
	c = (struct call){ .port = harness_daemon_port(daemon_),
			   .body = "{\"code\": \"import time; time.sleep(3); print('kept')\"}" };
	pthread_create(&t, NULL, call_thread, &c);
	harness_sleep_ms(1000);
	struct harness_opts o = { .port = harness_daemon_port(daemon_), .no_wait = true };
	second = harness_daemon_start_opts(&o);
	ck_assert_ptr_nonnull(second);
	for (int i = 0; i < 100 && harness_daemon_running(second); i++)
		harness_sleep_ms(100);
	ck_assert_int_ne(harness_daemon_stop(second), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(c.status, 200);
	ck_assert(c.success);
	r = execute("{\"code\": \"print('after')\"}");
	ck_assert(flag(r, "success"));
	cJSON_Delete(r);
	stop_checked();
}
END_TEST

/* --- shutdown ------------------------------------------------------------------- */

START_TEST(test_shutdown_lets_executions_finish)
{
	struct call c;
	pthread_t t;

	start_with("execution:\n  shutdown_grace_seconds: 30\n");
	c = (struct call){ .port = harness_daemon_port(daemon_),
			   .body = "{\"code\": \"import time; time.sleep(2); print('done')\"}" };
	pthread_create(&t, NULL, call_thread, &c);
	harness_sleep_ms(800);
	ck_assert_int_eq(harness_daemon_signal(daemon_, SIGTERM), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(c.status, 200);
	ck_assert(c.success);
	stop_checked();
}
END_TEST

START_TEST(test_shutdown_grace_ends_executions)
{
	struct call c;
	pthread_t t;
	double t0;

	start_with("execution:\n  shutdown_grace_seconds: 1\n");
	c = (struct call){ .port = harness_daemon_port(daemon_),
			   .body = "{\"code\": \"import time; time.sleep(60)\"}" };
	pthread_create(&t, NULL, call_thread, &c);
	harness_sleep_ms(800);
	t0 = harness_now();
	ck_assert_int_eq(harness_daemon_signal(daemon_, SIGTERM), 0);
	pthread_join(t, NULL);
	ck_assert_msg(harness_now() - t0 < 30, "shutdown took %.1f s", harness_now() - t0);
	ck_assert_int_eq(c.status, 503);
	stop_checked();
}
END_TEST

/* --- the engine going away and the image disappearing ---------------------------- */

START_TEST(test_engine_down_503_and_back)
{
	char sock[256], env_host[300];
	struct relay *relay;
	struct harness_response r;
	const char *body = "{\"code\": \"print(7)\"}";
	double t0;

	/* The daemon starts while the engine does not answer yet (it warns and
	 * serves), then the engine comes. The relay starts after the daemon, so
	 * that no child of this process holds its sockets open. */
	(void)snprintf(sock, sizeof(sock), "/tmp/codeexecd-relay-%d.sock", (int)getpid());
	(void)unlink(sock);
	(void)snprintf(env_host, sizeof(env_host), "DOCKER_HOST=unix://%s", sock);
	const char *env[] = { env_host, NULL };
	struct harness_opts o = { .yaml = "execution:\n  pool_size: 1\n", .env = env };
	daemon_ = harness_daemon_start_opts(&o);
	ck_assert_ptr_nonnull(daemon_);
	ck_assert_int_eq(harness_http(daemon_, "GET", "/ready", NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.status, 503);
	harness_response_free(&r);
	relay = relay_start(sock, "/var/run/docker.sock");
	ck_assert_ptr_nonnull(relay);
	cJSON_Delete(execute(body));

	relay_stop(relay); /* the engine no longer answers */
	t0 = harness_now();
	ck_assert_int_eq(harness_http(daemon_, "POST", "/execute", body, strlen(body), NULL, &r), 0);
	ck_assert_msg(r.status == 503, "%s", harness_describe(&r));
	ck_assert_msg(harness_now() - t0 < 5.0, "503 took %.1f s", harness_now() - t0);
	cJSON *j = harness_json(&r);
	ck_assert_int_eq(harness_check_detail_string(j), 0);
	cJSON_Delete(j);
	harness_response_free(&r);
	ck_assert_int_eq(harness_http(daemon_, "GET", "/ready", NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.status, 503);
	harness_response_free(&r);
	ck_assert_int_eq(harness_health_status(daemon_), 200);

	relay = relay_start(sock, "/var/run/docker.sock"); /* back */
	ck_assert_ptr_nonnull(relay);
	long status = 0;
	for (int i = 0; i < 60 && status != 200; i++) {
		ck_assert_int_eq(harness_http(daemon_, "POST", "/execute", body, strlen(body), NULL,
					      &r), 0);
		status = r.status;
		harness_response_free(&r);
		if (status != 200)
			harness_sleep_ms(500);
	}
	ck_assert_int_eq(status, 200);
	stop_checked();
	relay_stop(relay);
}
END_TEST

START_TEST(test_image_pruned_and_back)
{
	const char *image = "codeexecd-test-pruned:latest";
	char cmd[512];
	const char *body = "{\"code\": \"print(7)\"}";
	cJSON *r;

	(void)snprintf(cmd, sizeof(cmd), "docker tag %s %s", getenv("CODEEXECD_TEST_IMAGE")
		       ? getenv("CODEEXECD_TEST_IMAGE") : "python-sandbox:latest", image);
	ck_assert_int_eq(system(cmd), 0);
	struct harness_opts o = { .yaml = "execution:\n  pool_size: 0\n", .image = image };
	daemon_ = harness_daemon_start_opts(&o);
	ck_assert_ptr_nonnull(daemon_);
	cJSON_Delete(execute(body));
	(void)snprintf(cmd, sizeof(cmd), "docker rmi %s >/dev/null", image);
	ck_assert_int_eq(system(cmd), 0);
	r = execute(body);
	ck_assert(!flag(r, "success"));
	ck_assert_int_eq(num(r, "exit_code"), -1);
	ck_assert_ptr_nonnull(strstr(str(r, "error"), image));
	cJSON_Delete(r);
	(void)snprintf(cmd, sizeof(cmd), "docker tag %s %s", getenv("CODEEXECD_TEST_IMAGE")
		       ? getenv("CODEEXECD_TEST_IMAGE") : "python-sandbox:latest", image);
	ck_assert_int_eq(system(cmd), 0);
	r = execute(body);
	ck_assert(flag(r, "success"));
	cJSON_Delete(r);
	stop_checked();
	(void)snprintf(cmd, sizeof(cmd), "docker rmi %s >/dev/null", image);
	(void)system(cmd);
}
END_TEST

/* Containers left by a crash of this daemon (its instance id, kept in its
 * state directory) are removed when it starts again; those of another
 * daemon on the same engine (another id; before, the same host name and
 * port made the same label) are left alone. */
START_TEST(test_stale_containers_removed_at_start)
{
	char dir[] = "/tmp/codeexecd-state-XXXXXX", cmd[768], mine[256], other[256], path[128];
	char inst[160], otherid[64];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	const char *image = getenv("CODEEXECD_TEST_IMAGE") ? getenv("CODEEXECD_TEST_IMAGE")
							   : "python-sandbox:latest";

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	/* First start: the id is made and kept. */
	struct harness_opts o = { .yaml = "execution:\n  pool_size: 0\n", .port = port,
				  .state_dir = dir };
	daemon_ = harness_daemon_start_opts(&o);
	ck_assert_ptr_nonnull(daemon_);
	ck_assert_int_eq(harness_daemon_instance(daemon_, inst, sizeof(inst)), 0);
	ck_assert_uint_eq(strlen(inst), 16);
	ck_assert_ptr_nonnull(strstr(harness_daemon_log(daemon_), inst));
	stop_checked();
	(void)snprintf(path, sizeof(path), "%s/instance-%d.id", dir, port);
	ck_assert_int_eq(access(path, R_OK), 0);
	/* Its crash leftovers, and another daemon's live containers. */
	(void)snprintf(mine, sizeof(mine), "io.codeexecd.instance=%s", inst);
	(void)snprintf(otherid, sizeof(otherid), "other-%d", (int)getpid());
	(void)snprintf(other, sizeof(other), "io.codeexecd.instance=%s", otherid);
	(void)snprintf(cmd, sizeof(cmd),
		       "docker create --label io.codeexecd.managed=true --label %s %s true >/dev/null",
		       mine, image);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(system(cmd), 0);
	(void)snprintf(cmd, sizeof(cmd),
		       "docker create --label io.codeexecd.managed=true --label %s %s true >/dev/null",
		       other, image);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(harness_docker_count_labelled(mine), 2);
	daemon_ = harness_daemon_start_opts(&o);
	ck_assert_ptr_nonnull(daemon_);
	ck_assert_int_eq(harness_docker_count_labelled(mine), 0);
	ck_assert_int_eq(harness_docker_count_labelled(other), 1);
	ck_assert_ptr_nonnull(strstr(harness_daemon_log(daemon_), "removed 2 container(s)"));
	stop_checked();
	ck_assert_int_eq(harness_docker_count_labelled(other), 1);
	(void)snprintf(cmd, sizeof(cmd), "docker rm -f $(docker ps -aq --filter label=%s) "
		       ">/dev/null; rm -rf %s", other, dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* gVisor (runsc), when the engine has it registered (scripts/ensure-docker.sh
 * does so for an engine it starts): runs, and the fork bomb is contained by
 * nproc while the sandbox kernel's own threads fit in the pids cgroup. */
START_TEST(test_gvisor_runtime)
{
	cJSON *r;

	if (system("docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q runsc") != 0 &&
	    check_skip_unless_ci("test_gvisor_runtime", "the engine has no runsc runtime "
				 "(scripts/ensure-docker.sh registers it)"))
		return;
	start_with("docker:\n  runtime: runsc\nexecution:\n  pool_size: 0\n");
	r = execute("{\"code\": \"import os, numpy\\nprint(os.getuid(), int(numpy.arange(4).sum()))\"}");
	ck_assert_msg(flag(r, "success"), "%s", str(r, "error"));
	ck_assert_str_eq(str(r, "output"), "100000 6\n");
	cJSON_Delete(r);
	r = execute("{\"code\": \"import os, time\\nn = 0\\ntry:\\n"
		    "    while True:\\n        if os.fork() == 0:\\n            time.sleep(60)\\n"
		    "        n += 1\\nexcept OSError as e:\\n    print('stopped at', n)\","
		    " \"timeout\": 60}");
	ck_assert_msg(strstr(str(r, "output"), "stopped at"), "%s", str(r, "error"));
	cJSON_Delete(r);
	stop_checked();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sandbox");
	TCase *run = tcase_create("run"), *adm = tcase_create("admission"),
	      *down = tcase_create("shutdown"), *eng = tcase_create("engine");

	tcase_set_timeout(run, 300);
	tcase_add_checked_fixture(run, run_setup, run_teardown);
	tcase_add_test(run, test_hello_world);
	tcase_add_test(run, test_idle_daemon_uses_no_cpu);
	tcase_add_test(run, test_streams_apart_and_exit_code);
	tcase_add_test(run, test_exception_traceback);
	tcase_add_test(run, test_csv_in_csv_and_png_out);
	tcase_add_test(run, test_stdin_and_subdirectory_files);
	tcase_add_test(run, test_long_unicode_file_name);
	tcase_add_test(run, test_timeout_keeps_output);
	tcase_add_test(run, test_memory_bomb);
	tcase_add_test(run, test_fork_bomb_contained);
	tcase_add_test(run, test_no_network);
	tcase_add_test(run, test_writes_and_identity);
	tcase_add_test(run, test_seccomp_profile_and_libraries);
	tcase_add_test(run, test_identity_threads_and_inodes);
	tcase_add_test(run, test_output_flood_truncated);
	tcase_add_test(run, test_hostile_output_files);
	tcase_add_test(run, test_chart_with_output_include);
	suite_add_tcase(s, run);

	tcase_set_timeout(adm, 120);
	tcase_add_test(adm, test_queue_overflow_429);
	tcase_add_test(adm, test_client_disconnect_removes_container);
	tcase_add_test(adm, test_second_daemon_same_port);
	tcase_add_test(adm, test_no_fd_leak);
	tcase_add_test(adm, test_ready_container_full_weight);
	suite_add_tcase(s, adm);

	tcase_set_timeout(down, 120);
	tcase_add_test(down, test_shutdown_lets_executions_finish);
	tcase_add_test(down, test_shutdown_grace_ends_executions);
	suite_add_tcase(s, down);

	tcase_set_timeout(eng, 240);
	tcase_add_test(eng, test_engine_down_503_and_back);
	tcase_add_test(eng, test_image_pruned_and_back);
	tcase_add_test(eng, test_stale_containers_removed_at_start);
	tcase_add_test(eng, test_gvisor_runtime);
	suite_add_tcase(s, eng);

	return check_run(s, CK_NORMAL);
}

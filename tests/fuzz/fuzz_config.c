/* libFuzzer target: the configuration loader: a YAML file, the environment
 * and --set assignments, as main() applies them.
 *
 * Input: YAML text, a NUL, environment lines ("NAME=value"), a NUL, --set
 * lines ("section.key=value"). Invariants: every source is all or nothing
 * (a refused file, environment or assignment leaves the configuration as it
 * was) and says why; whatever configuration results, config_print writes
 * YAML that config_load_file reads back to the same configuration (printed
 * again, byte for byte). The file is a memfd, so nothing touches the disk. */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codeexecd/config.h"

#include "fuzz.h"

#define MAX_LINES 32

static int memfd = -1;

static char *print(const struct config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		abort();
	config_print(cfg, f);
	if (fclose(f) != 0)
		abort();
	return text;
}

/* Loads text as a configuration file over cfg. */
static int load(struct config *cfg, const char *text, size_t len, char *err, size_t errlen)
{
	char path[64];

	if (memfd < 0 && (memfd = memfd_create("fuzz-config", MFD_CLOEXEC)) < 0)
		abort();
	if (ftruncate(memfd, 0) != 0 || pwrite(memfd, text, len, 0) != (ssize_t)len)
		abort();
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	return config_load_file(cfg, path, err, errlen);
}

/* Splits the next NUL-terminated part of the input into lines (exact-size
 * strings). Returns the number of lines. */
static size_t lines(struct fuzz_cursor *c, char *out[MAX_LINES])
{
	const uint8_t *end = memchr(c->data, '\0', c->len);
	size_t partlen = end ? (size_t)(end - c->data) : c->len, n = 0, start = 0;

	for (size_t i = 0; i <= partlen && n < MAX_LINES; i++) {
		if (i == partlen || c->data[i] == '\n') {
			out[n++] = fuzz_strdup(c->data + start, i - start);
			start = i + 1;
		}
	}
	c->data += partlen + (end ? 1 : 0);
	c->len -= partlen + (end ? 1 : 0);
	return n;
}

static void check_unchanged(const char *before, const struct config *cfg, const char *what,
			    const char *err)
{
	char *after = print(cfg);

	FUZZ_ASSERT(err[0] != '\0', "%s refused without a message", what);
	FUZZ_ASSERT(strcmp(before, after) == 0, "%s refused (%s) but changed the configuration",
		    what, err);
	free(after);
}

static void check_round_trip(const struct config *cfg)
{
	char *text = print(cfg), *again;
	struct config back;
	char err[CXD_ERR_MAX] = "";
	int rc;

	config_defaults(&back);
	rc = load(&back, text, strlen(text), err, sizeof(err));
	FUZZ_ASSERT(rc == 0, "printed configuration refused: %s\n%s", err, text);
	again = print(&back);
	FUZZ_ASSERT(strcmp(text, again) == 0, "round trip differs:\n%s\n---\n%s", text, again);
	free(again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cursor c = { data, size };
	struct config cfg;
	char *env[MAX_LINES + 1] = { 0 }, *sets[MAX_LINES] = { 0 };
	char err[CXD_ERR_MAX];
	const uint8_t *end = memchr(data, '\0', size);
	size_t yamllen = end ? (size_t)(end - data) : size, nenv, nsets;
	char *before;
	int rc;

	config_defaults(&cfg);
	before = print(&cfg);
	err[0] = '\0';
	rc = load(&cfg, (const char *)data, yamllen, err, sizeof(err));
	if (rc != 0)
		check_unchanged(before, &cfg, "file", err);
	c.data += yamllen + (end ? 1 : 0);
	c.len -= yamllen + (end ? 1 : 0);
	nenv = lines(&c, env);
	nsets = lines(&c, sets);

	free(before);
	before = print(&cfg);
	err[0] = '\0';
	if (config_apply_env(&cfg, env, err, sizeof(err)) != 0)
		check_unchanged(before, &cfg, "environment", err);
	for (size_t i = 0; i < nsets; i++) {
		free(before);
		before = print(&cfg);
		err[0] = '\0';
		if (config_set(&cfg, sets[i], err, sizeof(err)) != 0)
			check_unchanged(before, &cfg, "--set", err);
	}
	err[0] = '\0';
	if (config_validate(&cfg, err, sizeof(err)) != 0)
		FUZZ_ASSERT(err[0] != '\0', "invalid without a message");
	check_round_trip(&cfg);
	free(before);
	for (size_t i = 0; i < nenv; i++)
		free(env[i]);
	for (size_t i = 0; i < nsets; i++)
		free(sets[i]);
	return 0;
}

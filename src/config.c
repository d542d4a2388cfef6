/* Configuration: one schema table drives the defaults, the YAML file, the
 * environment, --set, validation and printing. Only this file calls yaml_*;
 * config_value.c turns the text of one value into its field and back.
 *
 * The file and the environment work on a copy that replaces *cfg only when
 * all of it is good. Messages are cut to the caller's buffer: a cut message
 * is still useful. */
#include "codeexecd/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <yaml.h>

#include "codeexecd/instance.h"
#include "config_internal.h"

_Static_assert(CXD_INCLUDE_PATTERNS_MAX <= CXD_CORS_ORIGINS_MAX,
	       "output.include lives in a struct string_list");

#define GIB (1024L * CXD_MIB)
#define TIB (1024L * GIB)
#define NAME_MAX_SHOWN 64	/* bytes of an unknown name quoted back */

static const char *const log_levels[] = { "debug", "info", "warn", "error" };
static const char *const log_formats[] = { "text", "json" };
_Static_assert(LOG_DEBUG == 0 && LOG_INFO == 1 && LOG_WARN == 2 && LOG_ERROR == 3,
	       "log_levels[] is in enum order");
_Static_assert(LOG_FORMAT_TEXT == 0 && LOG_FORMAT_JSON == 1, "log_formats[] is in enum order");

/* NUM's t is the type without its prefix: INT, SIZE, DOUBLE or BOOL. */
#define FIELD(t, f) #f, t, offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define NUM(t, f, lo, hi, d, env) { FIELD(CONFIG_KEY_##t, f), lo, hi, d, NULL, NULL, env }
#define STR(f, minlen, d, env)    { FIELD(CONFIG_KEY_STRING, f), minlen, 0, 0, d, NULL, env }
#define LIST(f, most, d)          { FIELD(CONFIG_KEY_LIST, f), 0, most, 0, d, NULL, NULL }
#define ENUM(f, names, d) \
	{ FIELD(CONFIG_KEY_ENUM, f), 0, sizeof names / sizeof names[0] - 1, d, NULL, names, NULL }

static const struct config_key keys[] = {
	STR(server.host, 1, "127.0.0.1", "HOST"),
	NUM(INT, server.port, 0, 65535, 8080, "PORT"),
	STR(server.instance_id, 0, "", NULL),
	STR(server.state_dir, 0, "", NULL),
	NUM(INT, server.max_connections, 1, 65535, 256, NULL),
	NUM(INT, server.max_connections_per_ip, 0, 65535, 64, NULL),
	NUM(INT, server.idle_timeout_seconds, 1, 3600, 30, NULL),
	NUM(SIZE, server.header_memory_bytes, 4 * CXD_KIB, CXD_MIB, CXD_HEADER_MEMORY_DEFAULT,
	    NULL),
	NUM(SIZE, server.max_body_bytes, CXD_KIB, GIB, CXD_BODY_MAX_DEFAULT, NULL),
	NUM(SIZE, server.max_inflight_body_bytes, CXD_KIB, TIB, CXD_INFLIGHT_BODY_DEFAULT, NULL),
	NUM(INT, server.request_timeout_seconds, 1, 3600, 60, NULL),
	LIST(server.cors_origins, CXD_CORS_ORIGINS_MAX, ""),
	LIST(server.allowed_hosts, CXD_CORS_ORIGINS_MAX, ""),
	NUM(BOOL, server.metrics, 0, 1, 1, NULL),
	STR(server.metrics_listen, 0, "", NULL),
	STR(docker.host, 0, "", "DOCKER_HOST"),
	STR(docker.image, 1, "python-sandbox:latest", "DOCKER_IMAGE"),
	STR(docker.runtime, 0, "", NULL),
	STR(docker.seccomp_profile, 0, "", NULL),
	NUM(BOOL, docker.pull_missing_image, 0, 1, 1, NULL),
	NUM(INT, docker.pull_timeout_seconds, 1, 3600, 300, NULL),
	NUM(BOOL, docker.tls_verify, 0, 1, 0, "DOCKER_TLS_VERIFY"),
	STR(docker.cert_path, 0, "", "DOCKER_CERT_PATH"),
	NUM(INT, docker.api_timeout_seconds, 1, 600, 30, NULL),
	NUM(INT, execution.timeout_seconds, 1, 86400, 60, "EXECUTION_TIMEOUT"),
	NUM(INT, execution.max_timeout_seconds, 1, 86400, 300, NULL),
	NUM(INT, execution.max_concurrent, 1, 1024, 4, NULL),
	NUM(INT, execution.queue_size, 0, 100000, 32, NULL),
	NUM(INT, execution.queue_timeout_seconds, 0, 3600, 30, NULL),
	NUM(INT, execution.shutdown_grace_seconds, 0, 3600, 30, NULL),
	NUM(INT, execution.pool_size, 0, 64, 4, NULL),
	NUM(INT, execution.pool_max_idle_seconds, 1, 86400, 300, NULL),
	NUM(INT, execution.pool_demand_window_seconds, 1, 86400, 300, NULL),
	NUM(INT, execution.pool_start_concurrency, 1, 64, 2, NULL),
	LIST(execution.preload, CXD_PRELOAD_MAX, "numpy,pandas,matplotlib,matplotlib.pyplot"),
	NUM(BOOL, execution.zygote, 0, 1, 1, NULL),
	NUM(BOOL, execution.capture_figures, 0, 1, 1, NULL),
	NUM(SIZE, limits.memory_bytes, 6 * CXD_MIB, TIB, 512 * CXD_MIB, "MAX_MEMORY"),
	NUM(DOUBLE, limits.cpus, 0.01, 1024, 1.0, "MAX_CPU"),
	NUM(INT, limits.pids, 1, 100000, 50, NULL),
	NUM(INT, limits.nofile, 16, 1048576, 256, NULL),
	NUM(INT, limits.nproc, 0, 100000, 0, NULL),
	NUM(SIZE, limits.fsize_bytes, CXD_MIB, TIB, 64 * CXD_MIB, NULL),
	NUM(SIZE, limits.tmp_bytes, CXD_MIB, TIB, 100 * CXD_MIB, NULL),
	NUM(SIZE, limits.workdir_bytes, CXD_MIB, TIB, 256 * CXD_MIB, NULL),
	NUM(INT, limits.tmpfs_inodes, 64, 16777216, 16384, NULL),
	NUM(INT, limits.uid, 1, 2147483646, 100000, NULL),
	NUM(INT, limits.gid, 1, 2147483646, 100000, NULL),
	NUM(INT, request.max_files, 0, 10000, CXD_REQUEST_FILES_DEFAULT, NULL),
	NUM(SIZE, request.max_stdin_bytes, 0, GIB, CXD_STDIN_MAX_DEFAULT, NULL),
	NUM(SIZE, output.max_stdout_bytes, CXD_KIB, GIB, CXD_STREAM_MAX_DEFAULT, NULL),
	NUM(SIZE, output.max_stderr_bytes, CXD_KIB, GIB, CXD_STREAM_MAX_DEFAULT, NULL),
	NUM(INT, output.max_files, 0, 10000, CXD_OUT_FILES_DEFAULT, NULL),
	NUM(SIZE, output.max_file_bytes, 0, GIB, CXD_OUT_FILE_MAX_DEFAULT, NULL),
	NUM(SIZE, output.max_total_bytes, 0, GIB, CXD_OUT_TOTAL_MAX_DEFAULT, NULL),
	LIST(output.include, CXD_INCLUDE_PATTERNS_MAX, "*.csv"),
	LIST(output.allow, CXD_INCLUDE_PATTERNS_MAX, "*"),
	ENUM(log.level, log_levels, LOG_INFO),
	ENUM(log.format, log_formats, LOG_FORMAT_TEXT),
	NUM(INT, sessions.max, 0, 10000, 16, NULL),
	NUM(INT, sessions.idle_timeout_seconds, 1, 86400, 600, NULL),
	NUM(INT, sessions.max_lifetime_seconds, 1, 604800, 3600, NULL),
	STR(auth.keys_file, 0, "", NULL),
	NUM(BOOL, auth.protect_docs, 0, 1, 0, NULL),
};
#define NKEYS (sizeof keys / sizeof keys[0])

static const char *const sections[] = {
	"server", "docker", "execution", "limits", "request", "output", "log", "sessions",
	"auth",
};

/* Keys read once at start-up: a reload keeps their old value and says that
 * a restart is needed. The rest take effect at the next request or run. */
static const char *const restart_keys[] = {
	"server.host", "server.port", "server.max_connections", "server.max_connections_per_ip",
	"server.idle_timeout_seconds", "server.header_memory_bytes", "server.metrics",
	"server.metrics_listen", "docker.host", "docker.tls_verify", "docker.cert_path",
	"docker.api_timeout_seconds", "server.instance_id", "server.state_dir",
	"docker.seccomp_profile", "server.allowed_hosts",
};
#define NSECTIONS ((int)(sizeof sections / sizeof sections[0]))

/* Cross-key rules: the first key's value must not exceed the second's. */
static const struct { const char *lesser, *greater; } rules[] = {
	{ "execution.timeout_seconds", "execution.max_timeout_seconds" },
	{ "output.max_file_bytes", "output.max_total_bytes" },
	{ "server.max_body_bytes", "server.max_inflight_body_bytes" },
	{ "sessions.idle_timeout_seconds", "sessions.max_lifetime_seconds" },
};

/* --- names and messages --------------------------------------------------- */

/* The key's name inside section s, or NULL if it belongs to another one. */
static const char *short_name(const struct config_key *k, int s)
{
	size_t n = strlen(sections[s]);

	return strncmp(k->name, sections[s], n) == 0 && k->name[n] == '.' ? k->name + n + 1 : NULL;
}

/* The index of a section (s < 0) or of a key of section s, or -1. */
static int find(int s, const char *name, size_t len)
{
	for (int i = 0; s < 0 && i < NSECTIONS; i++)
		if (strlen(sections[i]) == len && memcmp(sections[i], name, len) == 0)
			return i;
	for (int i = 0; s >= 0 && i < (int)NKEYS; i++) {
		const char *sn = short_name(&keys[i], s);

		if (sn && strlen(sn) == len && memcmp(sn, name, len) == 0)
			return i;
	}
	return -1;
}

/* body = "<name>: unknown section|key (known ...: a, b, c)" for a section
 * (s < 0) or a key of section s; name is clipped. */
static void unknown(int s, const char *name, size_t len, char *body, size_t bodylen)
{
	char known[CXD_ERR_MAX];
	int n = len > NAME_MAX_SHOWN ? NAME_MAX_SHOWN : (int)len;

	known[0] = '\0';
	for (int i = 0; s < 0 && i < NSECTIONS; i++) {
		config_append(known, sizeof known, i ? ", " : "");
		config_append(known, sizeof known, sections[i]);
	}
	for (size_t i = 0, first = 1; s >= 0 && i < NKEYS; i++) {
		const char *sn = short_name(&keys[i], s);

		if (sn) {
			config_append(known, sizeof known, first ? "" : ", ");
			config_append(known, sizeof known, sn);
			first = 0;
		}
	}
	if (s < 0)
		(void)snprintf(body, bodylen, "%.*s: unknown section (known sections: %s)",
			       n, name, known);
	else
		(void)snprintf(body, bodylen, "%s.%.*s: unknown key (known keys in %s: %s)",
			       sections[s], n, name, sections[s], known);
}

/* Finds "section.key" (len bytes); otherwise body says what is known. */
static const struct config_key *lookup(const char *name, size_t len, char *body,
				       size_t bodylen)
{
	const char *dot = memchr(name, '.', len);
	size_t slen = dot ? (size_t)(dot - name) : len;
	int s = find(-1, name, slen), i;

	if (s < 0 || !dot) {
		unknown(-1, name, slen, body, bodylen);
		return NULL;
	}
	i = find(s, dot + 1, len - slen - 1);
	if (i < 0)
		unknown(s, dot + 1, len - slen - 1, body, bodylen);
	return i < 0 ? NULL : &keys[i];
}

/* --- defaults, environment, --set ------------------------------------------ */

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &keys[i];
		union config_value v;

		if (k->type == CONFIG_KEY_SIZE)
			v.l = (long)k->def;
		else if (k->type == CONFIG_KEY_DOUBLE)
			v.d = k->def;
		else if (k->type == CONFIG_KEY_BOOL)
			v.b = k->def != 0;
		else if (k->type == CONFIG_KEY_STRING)
			v.str = k->def_text;
		else if (k->type == CONFIG_KEY_LIST)	/* cannot fail: the unit tests check it */
			(void)config_list_parse(k, k->def_text, &v.list);
		else
			v.i = (int)k->def;
		config_key_store(cfg, k, &v);
	}
}

/* CODEEXECD_<SECTION>_<KEY>; len 64 holds the longest (41 bytes). */
static void env_name(const struct config_key *k, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "CODEEXECD_%s", k->name);

	for (size_t i = 0; i < n && i < len; i++)
		buf[i] = buf[i] == '.' ? '_' : (char)toupper((unsigned char)buf[i]);
}

/* The value of name in envp ("NAME=value" strings), or NULL. */
static const char *env_find(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* Names outside the schema (other CODEEXECD_* variables of the scripts and
 * tests included) are left alone. */
int config_apply_env(struct config *cfg, char *const *envp, char *err, size_t errlen)
{
	struct config next = *cfg;
	char name[64], body[CXD_ERR_MAX];

	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &keys[i];
		const char *used = name, *text;

		env_name(k, name, sizeof name);
		text = env_find(envp, name);
		if (!text && k->alias) {
			used = k->alias;
			text = env_find(envp, used);
			if (text && text[0] == '\0')	/* DOCKER_TLS_VERIFY= means off */
				text = NULL;
		}
		if (text && config_key_set(&next, k, text, body, sizeof body) < 0) {
			(void)snprintf(err, errlen, "environment %s: %s", used, body);
			return -EINVAL;
		}
	}
	*cfg = next;
	return 0;
}

int config_set(struct config *cfg, const char *assignment, char *err, size_t errlen)
{
	const char *eq = strchr(assignment, '=');
	const struct config_key *k;
	char body[CXD_ERR_MAX];

	if (!eq) {
		(void)snprintf(err, errlen, "--set %s: expected section.key=value", assignment);
		return -EINVAL;
	}
	k = lookup(assignment, (size_t)(eq - assignment), body, sizeof body);
	if (!k || config_key_set(cfg, k, eq + 1, body, sizeof body) < 0) {
		(void)snprintf(err, errlen, "--set %s: %s", assignment, body);
		return -EINVAL;
	}
	return 0;
}

/* --- the YAML file -------------------------------------------------------- */

struct reader {
	yaml_parser_t parser;
	yaml_document_t doc;
	bool have_parser, have_doc;
	const char *path;
	struct config cfg;		/* the working copy */
	size_t section_line[NSECTIONS];	/* 1-based line where a name was used, or 0 */
	size_t key_line[NKEYS];
	char *err;
	size_t errlen;
};

static int file_error(struct reader *r, const yaml_mark_t *mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* err = "path:line:column: <fmt>"; returns -EINVAL. */
static int file_error(struct reader *r, const yaml_mark_t *mark, const char *fmt, ...)
{
	char body[CXD_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	(void)snprintf(r->err, r->errlen, "%s:%zu:%zu: %s", r->path, mark->line + 1,
		       mark->column + 1, body);
	return -EINVAL;
}

static int syntax_error(struct reader *r)
{
	const yaml_parser_t *p = &r->parser;

	if (p->error == YAML_MEMORY_ERROR) {
		(void)snprintf(r->err, r->errlen, "%s: out of memory", r->path);
		return -ENOMEM;
	}
	if (p->error == YAML_READER_ERROR && ferror(p->input.file)) {
		(void)snprintf(r->err, r->errlen, "%s: read error", r->path);
		return -EIO;
	}
	if (p->error == YAML_READER_ERROR) {	/* no line and column, a byte offset */
		(void)snprintf(r->err, r->errlen, "%s: invalid YAML: %s at byte %zu", r->path,
			       p->problem, p->problem_offset);
		return -EINVAL;
	}
	if (p->context)
		return file_error(r, &p->problem_mark, "invalid YAML: %s (%s on line %zu)",
				  p->problem, p->context, p->context_mark.line + 1);
	return file_error(r, &p->problem_mark, "invalid YAML: %s", p->problem);
}

static const yaml_node_t *node(struct reader *r, int index)
{
	return yaml_document_get_node(&r->doc, index);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* An empty, "~" or "null" plain scalar: an empty section, string or list. */
static bool is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
		if (strcmp(scalar(n), nulls[i]) == 0)
			return true;
	return false;
}

/* How node n reads after "got ". */
static void node_got(const yaml_node_t *n, char *buf, size_t len)
{
	if (n->type == YAML_SCALAR_NODE)
		config_quote(scalar(n), n->data.scalar.length, buf, len);
	else
		(void)snprintf(buf, len, "%s", n->type == YAML_MAPPING_NODE ? "a mapping" :
			       "a sequence");
}

/* The value of a list key given as a YAML sequence. */
static int read_list(struct reader *r, const struct config_key *k, const yaml_node_t *seq)
{
	char got[CONFIG_GOT_LEN], body[CXD_ERR_MAX];
	union config_value v;

	memset(&v.list, 0, sizeof v.list);
	for (const yaml_node_item_t *i = seq->data.sequence.items.start;
	     i < seq->data.sequence.items.top; i++) {
		const yaml_node_t *n = node(r, *i);

		if (n->type != YAML_SCALAR_NODE ||
		    config_list_add(&v.list, k, scalar(n), n->data.scalar.length) < 0) {
			node_got(n, got, sizeof got);
			config_expected(k, got, body, sizeof body);
			return file_error(r, &n->start_mark, "%s", body);
		}
	}
	config_key_store(&r->cfg, k, &v);
	return 0;
}

/* The value n of key k. Lists must be sequences here; a null list or
 * string is empty. */
static int read_value(struct reader *r, const struct config_key *k, const yaml_node_t *n)
{
	char got[CONFIG_GOT_LEN], body[CXD_ERR_MAX];
	const char *text = NULL;

	if (k->type == CONFIG_KEY_LIST && n->type == YAML_SEQUENCE_NODE)
		return read_list(r, k, n);
	if ((k->type == CONFIG_KEY_LIST || k->type == CONFIG_KEY_STRING) && is_null(n))
		text = "";
	else if (n->type == YAML_SCALAR_NODE && k->type != CONFIG_KEY_LIST &&
		 strlen(scalar(n)) == n->data.scalar.length)
		text = scalar(n);
	if (text && config_key_set(&r->cfg, k, text, body, sizeof body) == 0)
		return 0;
	if (!text) {
		node_got(n, got, sizeof got);
		config_expected(k, got, body, sizeof body);
	}
	return file_error(r, &n->start_mark, "%s", body);
}

/* Name node n of a section (s < 0) or of a key of section s: its index in
 * sections[] or keys[]; a second use of the same name fails. */
static int read_name(struct reader *r, int s, const yaml_node_t *n)
{
	const char *what = s < 0 ? "section" : "key";
	char got[CONFIG_GOT_LEN], body[CXD_ERR_MAX];
	size_t *line;
	int i;

	if (n->type != YAML_SCALAR_NODE) {
		node_got(n, got, sizeof got);
		return file_error(r, &n->start_mark, "expected a %s name, got %s", what, got);
	}
	i = find(s, scalar(n), n->data.scalar.length);
	if (i < 0) {
		unknown(s, scalar(n), n->data.scalar.length, body, sizeof body);
		return file_error(r, &n->start_mark, "%s", body);
	}
	line = s < 0 ? &r->section_line[i] : &r->key_line[i];
	if (*line)
		return file_error(r, &n->start_mark, "%s: duplicate %s (first on line %zu)",
				  s < 0 ? sections[i] : keys[i].name, what, *line);
	*line = n->start_mark.line + 1;
	return i;
}

/* A mapping of the sections (s < 0) or of the keys of section s; null is
 * an empty one. */
static int read_mapping(struct reader *r, int s, const yaml_node_t *map)
{
	char got[CONFIG_GOT_LEN];
	int i, rc;

	if (is_null(map))
		return 0;
	node_got(map, got, sizeof got);
	if (map->type != YAML_MAPPING_NODE && s < 0)
		return file_error(r, &map->start_mark, "expected a mapping of sections, got %s",
				  got);
	if (map->type != YAML_MAPPING_NODE)
		return file_error(r, &map->start_mark, "%s: expected a mapping of keys, got %s",
				  sections[s], got);
	for (const yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *value = node(r, p->value);

		if ((i = read_name(r, s, node(r, p->key))) < 0)
			return i;
		rc = s < 0 ? read_mapping(r, i, value) : read_value(r, &keys[i], value);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One document (none: nothing to apply), then the end of the stream. The
 * document loaded last stays in r->doc for config_load_file to delete. */
static int read_stream(struct reader *r)
{
	const yaml_node_t *root;
	int rc;

	for (int docs = 0;; docs++) {
		if (r->have_doc)
			yaml_document_delete(&r->doc);
		r->have_doc = yaml_parser_load(&r->parser, &r->doc);
		if (!r->have_doc)
			return syntax_error(r);
		root = yaml_document_get_root_node(&r->doc);
		if (!root)
			return 0;
		if (docs > 0)
			return file_error(r, &root->start_mark, "expected a single YAML document");
		if ((rc = read_mapping(r, -1, root)) < 0)
			return rc;
	}
}

int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct reader r = { .path = path, .cfg = *cfg, .err = err, .errlen = errlen };
	FILE *f;
	int rc;

	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		(void)snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	r.have_parser = yaml_parser_initialize(&r.parser);
	if (!r.have_parser) {
		rc = -ENOMEM;
		(void)snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	yaml_parser_set_input_file(&r.parser, f);
	rc = read_stream(&r);
	if (rc == 0)
		*cfg = r.cfg;
out:
	if (r.have_doc)
		yaml_document_delete(&r.doc);
	if (r.have_parser)
		yaml_parser_delete(&r.parser);
	(void)fclose(f);
	return rc;
}

/* --- validation and printing ---------------------------------------------- */

/* An int or size key's value: the rules compare only those. */
static long number(const struct config *cfg, const struct config_key *k)
{
	const void *f = config_key_field(cfg, k);

	return k->type == CONFIG_KEY_SIZE ? *(const long *)f : *(const int *)f;
}

/* The default output_files are what the old service returned: CSV files
 * under their base names. A pattern that could select anything else there
 * would hand the backend a PNG to store as a CSV table. */
static int check_default_outputs(const struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->output.include.n; i++) {
		const char *p = cfg->output.include.items[i];
		size_t n = strlen(p);

		if (n >= 4 && strcmp(p + n - 4, ".csv") == 0)
			continue;
		(void)snprintf(err, errlen,
			       "output.include: '%s' must end in '.csv': these patterns choose the "
			       "default output_files, which are CSV files keyed by base name as the "
			       "old service returned them (to bound what requests may select with "
			       "output_include, use output.allow)", p);
		return -EINVAL;
	}
	return 0;
}

/* A dotted Python module name: identifiers of ASCII letters, digits and
 * underscores joined by single dots. */
static bool module_name(const char *s)
{
	bool start = true;

	for (; *s; s++) {
		if (*s == '.' && !start) {
			start = true;
		} else if (isalpha((unsigned char)*s) || *s == '_' ||
			   (!start && isdigit((unsigned char)*s))) {
			start = false;
		} else {
			return false;
		}
	}
	return !start;
}

static int check_preload(const struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->execution.preload.n; i++) {
		if (module_name(cfg->execution.preload.items[i]))
			continue;
		(void)snprintf(err, errlen, "execution.preload: '%s' is not a Python module name "
			       "(like pandas or matplotlib.pyplot)", cfg->execution.preload.items[i]);
		return -EINVAL;
	}
	return 0;
}

int config_validate(const struct config *cfg, char *err, size_t errlen)
{
	char body[CXD_ERR_MAX], a[32], b[32];

	for (size_t i = 0; i < NKEYS; i++)
		if (config_key_check(cfg, &keys[i], err, errlen) < 0)
			return -EINVAL;
	if (cfg->server.instance_id[0] &&
	    !instance_id_valid(cfg->server.instance_id, strlen(cfg->server.instance_id))) {
		(void)snprintf(err, errlen, "server.instance_id: expected 1 to %d characters of "
			       "A-Z, a-z, 0-9, '_', '.' and '-'", CXD_INSTANCE_ID_MAX);
		return -EINVAL;
	}
	if (check_default_outputs(cfg, err, errlen) != 0 || check_preload(cfg, err, errlen) != 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
		const struct config_key *lo, *hi;

		lo = lookup(rules[i].lesser, strlen(rules[i].lesser), body, sizeof body);
		hi = lookup(rules[i].greater, strlen(rules[i].greater), body, sizeof body);
		if (number(cfg, lo) <= number(cfg, hi))
			continue;
		config_key_text(cfg, lo, a, sizeof a);
		config_key_text(cfg, hi, b, sizeof b);
		(void)snprintf(err, errlen, "%s (%s) must not exceed %s (%s)", lo->name, a,
			       hi->name, b);
		return -EINVAL;
	}
	return 0;
}

/* Emits an event that init built (init == 0: it could not); false once
 * anything failed. The emitter owns the event from here. */
static bool emit(yaml_emitter_t *em, yaml_event_t *ev, int init)
{
	return init && yaml_emitter_emit(em, ev);
}

static bool emit_text(yaml_emitter_t *em, const char *s, size_t n, bool quoted)
{
	yaml_event_t ev;

	return emit(em, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL,
			(const yaml_char_t *)s, (int)n, 1, 1, quoted ?
			YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE));
}

/* Strings, enums and list entries quoted; numbers and booleans plain. */
static bool emit_value(yaml_emitter_t *em, const struct config *cfg, const struct config_key *k)
{
	const struct string_list *list = config_key_field(cfg, k);
	char text[CXD_CONFIG_STRING_MAX + 1];
	yaml_event_t ev;
	bool ok;

	if (k->type != CONFIG_KEY_LIST) {
		config_key_text(cfg, k, text, sizeof text);
		return emit_text(em, text, strlen(text),
				 k->type == CONFIG_KEY_STRING || k->type == CONFIG_KEY_ENUM);
	}
	ok = emit(em, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
							      YAML_FLOW_SEQUENCE_STYLE));
	for (size_t i = 0; ok && i < list->n && i < CXD_CORS_ORIGINS_MAX; i++)
		ok = emit_text(em, list->items[i], strnlen(list->items[i], CXD_PATTERN_MAX), true);
	return ok && emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
}

static bool emit_section(yaml_emitter_t *em, const struct config *cfg, int s)
{
	yaml_event_t ev;
	bool ok;

	ok = emit_text(em, sections[s], strlen(sections[s]), false) &&
	     emit(em, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
							     YAML_BLOCK_MAPPING_STYLE));
	for (size_t i = 0; ok && i < NKEYS; i++) {
		const char *sn = short_name(&keys[i], s);

		if (sn)
			ok = emit_text(em, sn, strlen(sn), false) && emit_value(em, cfg, &keys[i]);
	}
	return ok && emit(em, &ev, yaml_mapping_end_event_initialize(&ev));
}

/* Output errors are the caller's to see, with ferror(out). A string that is
 * not UTF-8 (possible from the environment) cannot be written as YAML. */
void config_print(const struct config *cfg, FILE *out)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	bool ok;

	if (!yaml_emitter_initialize(&em))
		return;
	yaml_emitter_set_output_file(&em, out);
	yaml_emitter_set_width(&em, -1);
	yaml_emitter_set_unicode(&em, 1);
	ok = emit(&em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING)) &&
	     emit(&em, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1)) &&
	     emit(&em, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
								 YAML_BLOCK_MAPPING_STYLE));
	for (int s = 0; ok && s < NSECTIONS; s++)
		ok = emit_section(&em, cfg, s);
	ok = ok && emit(&em, &ev, yaml_mapping_end_event_initialize(&ev)) &&
	     emit(&em, &ev, yaml_document_end_event_initialize(&ev, 1)) &&
	     emit(&em, &ev, yaml_stream_end_event_initialize(&ev));
	if (!ok)
		(void)fprintf(out, "\n# codeexecd: the configuration could not be written as "
			      "YAML (a value that is not UTF-8?)\n");
	yaml_emitter_delete(&em);
}

/* --- reload --------------------------------------------------------------- */

static bool needs_restart(const struct config_key *k)
{
	for (size_t i = 0; i < sizeof restart_keys / sizeof restart_keys[0]; i++)
		if (strcmp(restart_keys[i], k->name) == 0)
			return true;
	return false;
}

static bool same_value(const struct config *a, const struct config *b,
		       const struct config_key *k)
{
	char ta[CXD_CONFIG_STRING_MAX + 1], tb[CXD_CONFIG_STRING_MAX + 1];
	const struct string_list *la, *lb;

	if (k->type != CONFIG_KEY_LIST) {
		config_key_text(a, k, ta, sizeof ta);
		config_key_text(b, k, tb, sizeof tb);
		return strcmp(ta, tb) == 0;
	}
	la = config_key_field(a, k);
	lb = config_key_field(b, k);
	if (la->n != lb->n)
		return false;
	for (size_t i = 0; i < la->n; i++)
		if (strncmp(la->items[i], lb->items[i], CXD_PATTERN_MAX) != 0)
			return false;
	return true;
}

void config_diff(const struct config *a, const struct config *b,
		 void (*fn)(const char *key, bool needs_restart, void *ctx), void *ctx)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!same_value(a, b, &keys[i]))
			fn(keys[i].name, needs_restart(&keys[i]), ctx);
}

void config_keep_restart_keys(struct config *next, const struct config *cur)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (needs_restart(&keys[i]))
			memcpy((char *)next + keys[i].offset, (const char *)cur + keys[i].offset,
			       keys[i].size);
}

/* The JSON scanner (see json_scan.h): a recursive-descent checker that
 * records spans instead of building values. Recursion depth is bounded by
 * JSON_SCAN_DEPTH_MAX (a few dozen bytes of stack per level). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/base64.h"
#include "codeexecd/json_scan.h"

struct scanner {
	const char *t;
	size_t len;
	size_t pos;
};

static int scan_value(struct scanner *sc, struct json_span *out, int depth);

static void skip_ws(struct scanner *sc)
{
	while (sc->pos < sc->len) {
		char c = sc->t[sc->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return;
		sc->pos++;
	}
}

/* The 4 hex digits at t[i..i+4), or -1. */
static long hex4(const char *t, size_t len, size_t i)
{
	long v = 0;

	if (i + 4 > len)
		return -1;
	for (size_t k = 0; k < 4; k++) {
		int h = base16_digit(t[i + k]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* A \uXXXX escape at t[i] (the backslash): how many bytes it spans with its
 * low surrogate, or 0 when it is not valid (a lone surrogate, say). */
static size_t unicode_escape(const char *t, size_t len, size_t i, uint32_t *cp)
{
	long hi = hex4(t, len, i + 2), lo;

	if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF))
		return 0;
	if (hi < 0xD800 || hi > 0xDBFF) {
		*cp = (uint32_t)hi;
		return 6;
	}
	if (i + 12 > len || t[i + 6] != '\\' || t[i + 7] != 'u')
		return 0;
	lo = hex4(t, len, i + 8);
	if (lo < 0xDC00 || lo > 0xDFFF)
		return 0;
	*cp = 0x10000u + (((uint32_t)hi - 0xD800u) << 10) + ((uint32_t)lo - 0xDC00u);
	return 12;
}

static int scan_string(struct scanner *sc, struct json_span *out)
{
	size_t i = sc->pos + 1;
	uint32_t cp;

	out->kind = JSON_KIND_STRING;
	out->off = sc->pos;
	out->escaped = false;
	while (i < sc->len) {
		unsigned char c = (unsigned char)sc->t[i];
		if (c == '"') {
			sc->pos = i + 1;
			out->len = sc->pos - out->off;
			return 0;
		}
		if (c < 0x20)
			break;
		if (c != '\\') {
			i++;
			continue;
		}
		out->escaped = true;
		if (i + 1 >= sc->len)
			break;
		c = (unsigned char)sc->t[i + 1];
		if (c == 'u') {
			size_t n = unicode_escape(sc->t, sc->len, i, &cp);
			if (n == 0)
				break;
			i += n;
		} else if (strchr("\"\\/bfnrt", c) && c != '\0') {
			i += 2;
		} else {
			break;
		}
	}
	sc->pos = i;
	return -EINVAL;
}

static bool digit(const struct scanner *sc)
{
	return sc->pos < sc->len && sc->t[sc->pos] >= '0' && sc->t[sc->pos] <= '9';
}

static int scan_digits(struct scanner *sc)
{
	if (!digit(sc))
		return -EINVAL;
	while (digit(sc))
		sc->pos++;
	return 0;
}

static int scan_number(struct scanner *sc, struct json_span *out)
{
	out->kind = JSON_KIND_NUMBER;
	out->off = sc->pos;
	if (sc->t[sc->pos] == '-')
		sc->pos++;
	if (sc->pos < sc->len && sc->t[sc->pos] == '0')
		sc->pos++;
	else if (scan_digits(sc) != 0)
		return -EINVAL;
	if (sc->pos < sc->len && sc->t[sc->pos] == '.') {
		sc->pos++;
		if (scan_digits(sc) != 0)
			return -EINVAL;
	}
	if (sc->pos < sc->len && (sc->t[sc->pos] == 'e' || sc->t[sc->pos] == 'E')) {
		sc->pos++;
		if (sc->pos < sc->len && (sc->t[sc->pos] == '+' || sc->t[sc->pos] == '-'))
			sc->pos++;
		if (scan_digits(sc) != 0)
			return -EINVAL;
	}
	out->len = sc->pos - out->off;
	return 0;
}

static int scan_literal(struct scanner *sc, struct json_span *out, const char *word,
			enum json_kind kind)
{
	size_t n = strlen(word);

	out->kind = kind;
	out->off = sc->pos;
	for (size_t k = 0; k < n; k++, sc->pos++)
		if (sc->pos >= sc->len || sc->t[sc->pos] != word[k])
			return -EINVAL;
	out->len = n;
	return 0;
}

/* An object or an array (close is '}' or ']'). */
static int scan_container(struct scanner *sc, struct json_span *out, int depth, char close)
{
	struct json_span item;

	if (depth >= JSON_SCAN_DEPTH_MAX)
		return -EINVAL;
	out->kind = close == '}' ? JSON_KIND_OBJECT : JSON_KIND_ARRAY;
	out->off = sc->pos++;
	skip_ws(sc);
	if (sc->pos < sc->len && sc->t[sc->pos] == close)
		goto end;
	for (;;) {
		if (close == '}') {
			if (sc->pos >= sc->len || sc->t[sc->pos] != '"' || scan_string(sc, &item) != 0)
				return -EINVAL;
			skip_ws(sc);
			if (sc->pos >= sc->len || sc->t[sc->pos] != ':')
				return -EINVAL;
			sc->pos++;
		}
		if (scan_value(sc, &item, depth + 1) != 0)
			return -EINVAL;
		skip_ws(sc);
		if (sc->pos < sc->len && sc->t[sc->pos] == close)
			break;
		if (sc->pos >= sc->len || sc->t[sc->pos] != ',')
			return -EINVAL;
		sc->pos++;
		skip_ws(sc);
	}
end:
	sc->pos++;
	out->len = sc->pos - out->off;
	return 0;
}

static int scan_value(struct scanner *sc, struct json_span *out, int depth)
{
	skip_ws(sc);
	if (sc->pos >= sc->len)
		return -EINVAL;
	out->escaped = false;
	switch (sc->t[sc->pos]) {
	case '{':
		return scan_container(sc, out, depth, '}');
	case '[':
		return scan_container(sc, out, depth, ']');
	case '"':
		return scan_string(sc, out);
	case 't':
		return scan_literal(sc, out, "true", JSON_KIND_TRUE);
	case 'f':
		return scan_literal(sc, out, "false", JSON_KIND_FALSE);
	case 'n':
		return scan_literal(sc, out, "null", JSON_KIND_NULL);
	default:
		if (sc->t[sc->pos] == '-' || (sc->t[sc->pos] >= '0' && sc->t[sc->pos] <= '9'))
			return scan_number(sc, out);
		return -EINVAL;
	}
}

int json_scan(const char *text, size_t len, struct json_span *root, size_t *bad)
{
	struct scanner sc = { .t = text, .len = len, .pos = 0 };
	struct json_span v;

	if (scan_value(&sc, &v, 0) != 0)
		goto invalid;
	skip_ws(&sc);
	if (sc.pos != len)
		goto invalid;
	*root = v;
	return 0;
invalid:
	*bad = sc.pos;
	return -EINVAL;
}

bool json_object_next(const char *text, const struct json_span *obj, size_t *pos,
		      struct json_span *key, struct json_span *value)
{
	struct scanner sc = { .t = text, .len = obj->off + obj->len };

	sc.pos = *pos ? *pos : obj->off + 1;
	skip_ws(&sc);
	if (sc.t[sc.pos] == ',')
		sc.pos++;
	skip_ws(&sc);
	if (sc.t[sc.pos] != '"')
		return false;
	(void)scan_string(&sc, key);
	skip_ws(&sc);
	sc.pos++; /* ':' */
	(void)scan_value(&sc, value, 0);
	*pos = sc.pos;
	return true;
}

size_t json_object_count(const char *text, const struct json_span *obj)
{
	struct json_span k, v;
	size_t pos = 0, n = 0;

	while (json_object_next(text, obj, &pos, &k, &v))
		n++;
	return n;
}

bool json_array_next(const char *text, const struct json_span *arr, size_t *pos,
		     struct json_span *item)
{
	struct scanner sc = { .t = text, .len = arr->off + arr->len };

	sc.pos = *pos ? *pos : arr->off + 1;
	skip_ws(&sc);
	if (sc.t[sc.pos] == ',')
		sc.pos++;
	skip_ws(&sc);
	if (sc.t[sc.pos] == ']')
		return false;
	(void)scan_value(&sc, item, 0);
	*pos = sc.pos;
	return true;
}

size_t json_array_count(const char *text, const struct json_span *arr)
{
	struct json_span v;
	size_t pos = 0, n = 0;

	while (json_array_next(text, arr, &pos, &v))
		n++;
	return n;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decodes a checked string span into o, which has room for s->len bytes
 * (a decoded string is never longer than its text); returns the length. */
static size_t decode_into(const char *text, const struct json_span *s, char *o)
{
	const char *t = text + s->off + 1;
	size_t n = s->len - 2, w = 0;
	uint32_t cp = 0;

	for (size_t i = 0; i < n;) {
		if (t[i] != '\\') {
			o[w++] = t[i++];
			continue;
		}
		switch (t[i + 1]) {
		case 'b': o[w++] = '\b'; break;
		case 'f': o[w++] = '\f'; break;
		case 'n': o[w++] = '\n'; break;
		case 'r': o[w++] = '\r'; break;
		case 't': o[w++] = '\t'; break;
		case 'u': {
			size_t k = unicode_escape(t, n, i, &cp);
			w += put_utf8(o + w, cp);
			i += k;
			continue;
		}
		default: o[w++] = t[i + 1]; break;
		}
		i += 2;
	}
	return w;
}

int json_string_decode(const char *text, const struct json_span *s, char **out,
		       size_t *outlen)
{
	char *o = malloc(s->len - 1);

	if (!o)
		return -ENOMEM;
	*outlen = decode_into(text, s, o);
	o[*outlen] = '\0';
	*out = o;
	return 0;
}

bool json_string_is(const char *text, const struct json_span *s, const char *word)
{
	size_t n = strlen(word);
	char buf[256];

	if (!s->escaped)
		return s->len == n + 2 && memcmp(text + s->off + 1, word, n) == 0;
	if (s->len > sizeof(buf))
		return false; /* 6 bytes of text per character at most: too long */
	return decode_into(text, s, buf) == n && memcmp(buf, word, n) == 0;
}

/*
 * NAME
 *	json_shape - key paths, nesting and JSON types of JSON documents (test helper)
 * SYNOPSIS
 *	json_shape [--union] FILE...
 *	json_shape --empty FILE...
 *	json_shape --get PATH FILE
 * DESCRIPTION
 *	Default: for each FILE ("-" is standard input), print one line per
 *	distinct "key path and JSON type" of the document, sorted (byte
 *	order, as LC_ALL=C sort) and de-duplicated.  Object members are
 *	joined with ".", array elements collapse to "[]", and the type is
 *	one of object, array, string, integer, real, boolean, null:
 *
 *		policies array
 *		policies[] object
 *		policies[].policy.policy-type string
 *
 *	With several files each set is preceded by a line "== FILE".
 *
 *	--union	print one set: the union over all files.
 *	--empty	print instead "PATH what" for every null, "", [] and {} value
 *		(what is null, empty-string, empty-array or empty-object),
 *		as "FILE: PATH what" with several files; nothing is printed
 *		when there is none.
 *	--get PATH
 *		print the value at PATH ("report.report-id", "[0].state",
 *		"policies[1].policy.mx-host[0]"): a string as is, anything
 *		else as compact JSON.  Exit 1 if there is no such value.
 *
 *	Documents are parsed strictly (duplicate keys are an error).  Exit
 *	status 0, 1 (--get found nothing), 2 (usage, unreadable or not JSON).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lines {
	char **v;
	size_t n, cap;
};

static void *xrealloc_or_die(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL) {
		fprintf(stderr, "json_shape: out of memory\n");
		exit(2);
	}
	return p;
}

static const char *prefix = "";	/* "FILE: " for --empty over several files */

static void lines_add(struct lines *l, const char *path, const char *what)
{
	size_t n = strlen(prefix) + strlen(path) + strlen(what) + 2;
	char *s = xrealloc_or_die(NULL, n);

	snprintf(s, n, "%s%s %s", prefix, path, what);
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xrealloc_or_die(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = s;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort, print each distinct line, free. */
static void lines_flush(struct lines *l)
{
	qsort(l->v, l->n, sizeof(*l->v), cmp_str);
	for (size_t i = 0; i < l->n; i++) {
		if (i == 0 || strcmp(l->v[i], l->v[i - 1]) != 0)
			printf("%s\n", l->v[i]);
	}
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "real";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

static char *join(const char *path, const char *sep, const char *key)
{
	size_t n = strlen(path) + strlen(sep) + strlen(key) + 1;
	char *s = xrealloc_or_die(NULL, n);

	snprintf(s, n, "%s%s%s", path, sep, key);
	return s;
}

/* Walk v at path; shapes (empty == false) or empty values (empty == true) into l. */
static void walk(const json_t *v, const char *path, bool empty, struct lines *l)
{
	const char *key;
	json_t *el;
	size_t i;
	char *sub;

	if (*path && !empty)
		lines_add(l, path, type_name(v));
	if (empty) {
		if (json_is_null(v))
			lines_add(l, *path ? path : ".", "null");
		else if (json_is_string(v) && json_string_length(v) == 0)
			lines_add(l, *path ? path : ".", "empty-string");
		else if (json_is_array(v) && json_array_size(v) == 0)
			lines_add(l, *path ? path : ".", "empty-array");
		else if (json_is_object(v) && json_object_size(v) == 0)
			lines_add(l, *path ? path : ".", "empty-object");
	}
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, el) {
			sub = join(path, *path ? "." : "", key);
			walk(el, sub, empty, l);
			free(sub);
		}
	} else if (json_is_array(v)) {
		sub = join(path, "", "[]");
		json_array_foreach(v, i, el)
			walk(el, sub, empty, l);
		free(sub);
	}
}

static json_t *load(const char *file)
{
	json_error_t je;
	json_t *root;

	if (strcmp(file, "-") == 0)
		root = json_loadf(stdin, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	else
		root = json_load_file(file, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (root == NULL) {
		fprintf(stderr, "json_shape: %s: line %d: %s\n", file, je.line, je.text);
		exit(2);
	}
	return root;
}

/* "a.b[2].c": follow object keys and array indexes; NULL if absent. */
static json_t *get_path(json_t *v, const char *path)
{
	const char *p = path;
	char key[256];
	size_t n;

	while (*p && v) {
		if (*p == '.') {
			p++;
			continue;
		}
		if (*p == '[') {
			char *end;
			unsigned long idx = strtoul(p + 1, &end, 10);

			if (end == p + 1 || *end != ']' || !json_is_array(v))
				return NULL;
			v = json_array_get(v, idx);
			p = end + 1;
			continue;
		}
		n = strcspn(p, ".[");
		if (n >= sizeof(key) || !json_is_object(v))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		v = json_object_get(v, key);
		p += n;
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: json_shape [--union] FILE...\n"
	    "       json_shape --empty FILE...\n"
	    "       json_shape --get PATH FILE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct lines l = {NULL, 0, 0};
	bool do_union = false, empty = false;
	const char *get = NULL;
	int i = 1;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--union") == 0)
			do_union = true;
		else if (strcmp(argv[i], "--empty") == 0)
			empty = true;
		else if (strcmp(argv[i], "--get") == 0 && i + 1 < argc)
			get = argv[++i];
		else
			usage();
	}
	if (i >= argc || (get && (i + 1 != argc || do_union || empty)))
		usage();
	if (get) {
		json_t *root = load(argv[i]);
		json_t *v = get_path(root, get);
		char *text;
		int rc = 0;

		if (v == NULL)
			rc = 1;
		else if (json_is_string(v))
			printf("%s\n", json_string_value(v));
		else {
			text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			printf("%s\n", text ? text : "");
			free(text);
		}
		json_decref(root);
		return rc;
	}
	for (int f = i; f < argc; f++) {
		json_t *root = load(argv[f]);
		char *pfx = NULL;

		if (empty && argc - i > 1)
			prefix = pfx = join(argv[f], ": ", "");
		else if (!do_union && argc - i > 1)
			printf("== %s\n", argv[f]);
		walk(root, "", empty, &l);
		json_decref(root);
		if (!do_union)
			lines_flush(&l);
		prefix = "";
		free(pfx);
	}
	lines_flush(&l);
	free(l.v);
	return 0;
}

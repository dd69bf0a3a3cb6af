/*
 * NAME
 *	output - rows as a human table or as JSON, for tlsrpt-report listings
 * DESCRIPTION
 *	See output.h.
 */
#include "output.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAXCOL 16

struct table {
	int ncol;
	char *names[MAXCOL];
	char **cells;	/* rows * ncol */
	size_t nrows, cap;
};

struct table *table_new(void)
{
	return xcalloc(1, sizeof(struct table));
}

int table_add_row(void *arg, int ncol, const char *const *names, const char *const *values)
{
	struct table *t = arg;

	if (ncol > MAXCOL)
		ncol = MAXCOL;
	if (t->ncol == 0) {
		t->ncol = ncol;
		for (int c = 0; c < ncol; c++)
			t->names[c] = xstrdup(names[c]);
	}
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = xrealloc(t->cells, t->cap * (size_t)t->ncol * sizeof(char *));
	}
	for (int c = 0; c < t->ncol; c++)
		t->cells[t->nrows * (size_t)t->ncol + (size_t)c] =
		    (c < ncol && values[c]) ? xstrdup(values[c]) : NULL;
	t->nrows++;
	return 0;
}

size_t table_rows(const struct table *t)
{
	return t->nrows;
}

static bool count_column(const char *name)
{
	static const char *const counts[] = {"attempts", "domains", "successful", "failed",
	    "sessions", "value", "policies", "destinations", "result_type"};

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (strcmp(name, counts[i]) == 0)
			return true;
	return false;
}

static json_t *cell_json(const char *name, const char *v)
{
	uint64_t n;

	if (v == NULL)
		return json_null();
	if (count_column(name) && parse_u64(v, &n))
		return json_integer((json_int_t)n);
	return json_string(v);
}

static void print_json(struct table *t, FILE *fp)
{
	json_t *arr = json_array();
	char *text;

	for (size_t r = 0; r < t->nrows; r++) {
		json_t *o = json_object();

		for (int c = 0; c < t->ncol; c++)
			json_object_set_new(o, t->names[c],
			    cell_json(t->names[c], t->cells[r * (size_t)t->ncol + (size_t)c]));
		json_array_append_new(arr, o);
	}
	text = json_dumps(arr, JSON_INDENT(2));
	fprintf(fp, "%s\n", text ? text : "[]");
	free(text);
	json_decref(arr);
}

void table_print(struct table *t, FILE *fp, bool json, const char *title)
{
	size_t width[MAXCOL];

	if (json) {
		print_json(t, fp);
		return;
	}
	if (title)
		fprintf(fp, "%s\n", title);
	if (t->nrows == 0) {
		fprintf(fp, "(none)\n");
		return;
	}
	for (int c = 0; c < t->ncol; c++) {
		width[c] = strlen(t->names[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			const char *v = t->cells[r * (size_t)t->ncol + (size_t)c];
			size_t n = v ? strlen(v) : 1;

			if (n > width[c])
				width[c] = n;
		}
	}
	for (int c = 0; c < t->ncol; c++)	/* no trailing blanks, as in the rows */
		fprintf(fp, "%-*s%s", c + 1 < t->ncol ? (int)width[c] : 0, t->names[c],
		    c + 1 < t->ncol ? "  " : "\n");
	for (size_t r = 0; r < t->nrows; r++)
		for (int c = 0; c < t->ncol; c++) {
			const char *v = t->cells[r * (size_t)t->ncol + (size_t)c];

			fprintf(fp, "%-*s%s", c + 1 < t->ncol ? (int)width[c] : 0, v ? v : "-",
			    c + 1 < t->ncol ? "  " : "\n");
		}
}

void table_free(struct table *t)
{
	if (t == NULL)
		return;
	for (int c = 0; c < t->ncol; c++)
		free(t->names[c]);
	for (size_t i = 0; i < t->nrows * (size_t)t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

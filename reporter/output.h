/*
 * NAME
 *	output - rows as a human table or as JSON, for tlsrpt-report listings
 * DESCRIPTION
 *	Listings collect rows (column names and text values) and print them
 *	once at the end: aligned columns with a header by default, or with
 *	--json an array of objects whose whole-number values in count
 *	columns are JSON integers.  An empty listing prints "(none)" or [].
 */
#ifndef TLSRPT_OUTPUT_H
#define TLSRPT_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

struct table;

struct table *table_new(void);
/* store_row_cb-compatible: add one row (copies the strings). */
int table_add_row(void *table, int ncol, const char *const *names, const char *const *values);
void table_print(struct table *t, FILE *fp, bool json, const char *title);
size_t table_rows(const struct table *t);
void table_free(struct table *t);

#endif

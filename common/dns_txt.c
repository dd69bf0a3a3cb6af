/* placeholder: being written */
#include "dns_txt.h"
#include <stdio.h>
int tlsrpt_lookup_all(struct tlsrpt_lookup *l, size_t n, const char *r, int p, long t, char *err, size_t el)
{ (void)l; (void)n; (void)r; (void)p; (void)t; snprintf(err, el, "not implemented"); return -1; }
void tlsrpt_lookup_free(struct tlsrpt_lookup *l, size_t n) { (void)l; (void)n; }
enum tlsrpt_lookup_status tlsrpt_select_record(const char *const *txt, size_t n, const char **c)
{ (void)txt; (void)n; *c = NULL; return LOOKUP_NONE; }

/* placeholder: being written */
#include "dkim.h"
#include <stdio.h>
struct dkim_signer *dkim_signer_load(const char *k, const char *d, const char *s, char *err, size_t n)
{ (void)k; (void)d; (void)s; snprintf(err, n, "not implemented"); return NULL; }
void dkim_signer_free(struct dkim_signer *s) { (void)s; }
const char *dkim_signer_algorithm(const struct dkim_signer *s) { (void)s; return ""; }
char *dkim_sign(struct dkim_signer *s, const char *m, size_t l, const char *const *h, size_t nh, long long now, char *err, size_t n)
{ (void)s; (void)m; (void)l; (void)h; (void)nh; (void)now; snprintf(err, n, "not implemented"); return NULL; }

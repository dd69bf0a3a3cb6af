/* placeholder: being written */
#include "submit_mail.h"
#include <stdio.h>
char *report_mail_build(const struct report_mail *m, char *err, size_t n) { (void)m; snprintf(err, n, "not implemented"); return NULL; }
int report_mail_sendmail(const char *const *a, const char *f, const char *r, const char *m, size_t l, int t, char *err, size_t n)
{ (void)a; (void)f; (void)r; (void)m; (void)l; (void)t; snprintf(err, n, "not implemented"); return -1; }

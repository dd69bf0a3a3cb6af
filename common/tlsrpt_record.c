/* placeholder: being written */
#include "tlsrpt_record.h"
#include <string.h>
int tlsrpt_record_parse(const char *text, struct tlsrpt_record *out, char *err, size_t errlen)
{ (void)text; memset(out, 0, sizeof(*out)); if (errlen) err[0] = 0; return -1; }
void tlsrpt_record_free(struct tlsrpt_record *r) { (void)r; }

/* placeholder: being written */
#include "postfix_sessions.h"
#include <stdlib.h>
struct pfs { long long stale; };
struct pfs *pfs_new(long long s) { struct pfs *p = calloc(1, sizeof(*p)); if (p) p->stale = s; return p; }
void pfs_free(struct pfs *p) { free(p); }
void pfs_feed(struct pfs *p, const struct pfl_event *ev, long long when, pfs_emit_fn emit, void *ctx)
{ (void)p; (void)ev; (void)when; (void)emit; (void)ctx; }
void pfs_expire(struct pfs *p, long long now, pfs_emit_fn emit, void *ctx) { (void)p; (void)now; (void)emit; (void)ctx; }

/*
 * NAME
 *	fuzz_maillog - fuzz target for the log follower's parsers
 * DESCRIPTION
 *	The input is a mail log: each line goes through logtime_parse(),
 *	pfl_parse() + pfs_feed() and sml_feed(), as the follower does, with
 *	an expiry every 64 lines.  Invariants checked (abort on breach):
 *	- every emitted session has a domain and one policy;
 *	- the Postfix correlator's saved state loads back into a fresh one,
 *	  and saving that gives the same text (the restart checkpoint);
 *	- the whole input read as saved state never crashes pfs_load().
 *	Built with libFuzzer by "make fuzz-maillog", replayed from
 *	tests/fuzz-corpus-maillog by make check.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logtime.h"
#include "postfix_log.h"
#include "postfix_sessions.h"
#include "sendmail_log.h"
#include "session.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(void *ctx, const struct tlsrpt_session *s)
{
	(void)ctx;
	if (s->domain == NULL || *s->domain == '\0' || s->npolicies != 1)
		abort();
}

static bool skip_odd(void *ctx, const char *qid)
{
	(void)ctx;
	return qid[0] != '\0' && (qid[strlen(qid) - 1] & 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct pfs *pf = pfs_new(300), *again;
	struct sml *sm = sml_new(300);
	struct logtime_cache tc;
	struct strbuf a, b;
	unsigned n = 0;

	memset(&tc, 0, sizeof(tc));
	pfs_set_skip(pf, skip_odd, NULL);
	sml_set_skip(sm, skip_odd, NULL);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		long long when = logtime_parse(&tc, p, len, 1795943789LL);
		struct pfl_event ev;

		if (when < 0)
			when = 1795943789LL + n;
		if (pfl_parse(p, len, &ev) >= PFL_TLS_ESTABLISHED)
			pfs_feed(pf, &ev, when, check, NULL);
		else
			sml_feed(sm, p, len, when, check, NULL);
		if (++n % 64 == 0) {
			pfs_expire(pf, when, check, NULL);
			sml_expire(sm, when, check, NULL);
		}
		p = nl ? nl + 1 : end;
	}
	strbuf_init(&a);
	strbuf_init(&b);
	pfs_save(pf, &a);
	again = pfs_new(300);
	if (!pfs_load(again, a.data ? a.data : "", a.len))
		abort();
	pfs_save(again, &b);
	if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
		abort();
	pfs_free(again);
	again = pfs_new(300);
	pfs_load(again, (const char *)data, size);
	pfs_expire(again, -1, check, NULL);
	pfs_free(again);
	pfs_expire(pf, -1, check, NULL);
	sml_expire(sm, -1, check, NULL);
	strbuf_free(&a);
	strbuf_free(&b);
	pfs_free(pf);
	sml_free(sm);
	return 0;
}

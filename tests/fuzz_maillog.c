/*
 * NAME
 *	fuzz_maillog - fuzz target for the log follower's parsers
 * DESCRIPTION
 *	The input is a mail log: each line goes through logtime_parse(),
 *	pfl_parse() + pfs_feed(), then smh_feed() (the tlsrpt.mc hook lines)
 *	and sml_feed(), as the follower does, with an expiry every 64 lines.
 *	Invariants checked (abort on breach):
 *	- every emitted session has a domain and one policy;
 *	- the Postfix and the hook correlators' saved state loads back into
 *	  fresh ones, and saving those gives the same text (the restart
 *	  checkpoint);
 *	- the whole input read as saved state never crashes pfs_load() or
 *	  smh_load().
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
#include "sendmail_hook_log.h"
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

static void check_mx(void *ctx, const struct tlsrpt_session *s, const char *mx, const char *ip)
{
	(void)mx;
	(void)ip;
	check(ctx, s);
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
	struct smh *hk = smh_new(300, 64, check_mx, skip_odd, NULL), *hk2;
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
		long pid;
		enum smh_result hr;

		if (pfl_parse(p, len, &ev) >= PFL_TLS_ESTABLISHED) {
			pfs_feed(pf, &ev, when, check, NULL);
		} else if ((hr = smh_feed(hk, p, len, when, &pid, NULL, 0)) == SMH_OTHER) {
			sml_feed(sm, p, len, when, check, NULL);
		} else if (hr == SMH_HOOKED) {
			sml_forget(sm, pid);
		}
		if (++n % 64 == 0) {
			pfs_expire(pf, when, check, NULL);
			sml_expire(sm, when, check, NULL);
			smh_expire(hk, when);
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
	strbuf_reset(&a);
	strbuf_reset(&b);
	smh_save(hk, &a);
	hk2 = smh_new(300, 64, check_mx, skip_odd, NULL);
	if (!smh_load(hk2, a.data ? a.data : "", a.len))
		abort();
	smh_save(hk2, &b);
	if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
		abort();
	smh_free(hk2);
	hk2 = smh_new(300, 64, check_mx, skip_odd, NULL);
	smh_load(hk2, (const char *)data, size);
	smh_expire(hk2, -1);
	smh_free(hk2);
	smh_expire(hk, -1);
	smh_free(hk);
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

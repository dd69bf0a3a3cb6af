/*
 * NAME
 *	postfix_sessions - turn Postfix log events into session results
 * SYNOPSIS
 *	#include "postfix_sessions.h"
 * DESCRIPTION
 *	Correlates the events of pfl_parse() (fed in log order) into RFC 8460
 *	session results, all with policy no-policy-found (policy_domain =
 *	the recipient domain, policy strings and mx hosts "[]").  Pure: no
 *	I/O, no clock; time is what the caller passes.
 *
 *	A "session" is the state of one smtp/lmtp process P (by pid): what
 *	its current connection is.  It starts with a TLS line of P or, for
 *	connections that logged none, with P's first delivery line, and
 *	ends when P logs another TLS event (established, reused, failure),
 *	when a delivery of P names another receiving IP, when P logs
 *	"QID: <TLS failure>", or when P has been quiet for stale_after_s
 *	(checked by pfs_expire() and whenever P logs again).
 *
 *	Rules:
 *	1. "<Trust> TLS connection established" from P starts a TLS session.
 *	   tlsproxy's established lines are not counted (smtp logs its own
 *	   line too); they only prove that TLS logging is on.
 *	2. Each delivery line of P (relay=MX[IP], any status) to the
 *	   session's IP belongs to the session; each distinct recipient
 *	   domain is emitted once, at its first delivery line (that line's
 *	   time is the result's "when"): a success unless a failure belongs
 *	   to the session.
 *	3. A failure warning of P ("[server ]certificate verification
 *	   failed", "SSL_connect error", "TLS is required, ...") starts a
 *	   failed session; an established line of P for the same IP right
 *	   after it (the "Untrusted"/"Trusted" line Postfix logs before it
 *	   defers at verify/secure) joins it instead of starting a success.
 *	   Its deliveries emit one failure per recipient domain: result type
 *	   and reason from the warning (more specific than the delivery's
 *	   "Server certificate not verified"), reason without "num=NN:",
 *	   mx and ip from the warning.
 *	4. A delivery line with a TLS reason ("TLS is required, but was not
 *	   offered", "Cannot start TLS: handshake failure", ...) is a
 *	   failure even without a warning: the session (or a new one, if P
 *	   had none for that IP) becomes failed with the delivery's result
 *	   type, mx, ip and reason; a domain already emitted as a success
 *	   in that session is then emitted once more, as a failure.
 *	5. "QID: <TLS failure>" from P (an MX failed, the next is tried) ends
 *	   P's session and parks one failure under QID (details from P's
 *	   failure warning if P had one for that IP, else from the line).
 *	   The next delivery line of QID, from any process, with any relay
 *	   (relay=none included) and status, gives its recipient domain and
 *	   emits it (at that line's time).  At most PFS_MAX_QUEUE_FAILURES
 *	   per QID.  Parked failures that expire are dropped and counted
 *	   (queue_unresolved).  When that delivery is plain text from a
 *	   process without a session (the clear-text retry after a failed
 *	   handshake at "may"), the plain delivery is not counted again.
 *	6. A delivery with status=sent, no TLS reason and no session of P
 *	   for that IP is plain text: starttls-not-supported (reason
 *	   "delivered in plain text"), once per domain of that connection -
 *	   but only after this pfs has seen a "TLS connection established"
 *	   or "reused" line (any process).  Before that smtp_tls_loglevel is
 *	   probably 0, successes are invisible too, and such deliveries are
 *	   only counted (plain_unseen); see pfs_tls_logging_seen().
 *	7. A deferred/bounced delivery without TLS reason and without
 *	   session (e.g. "lost connection" before STARTTLS), relay=none
 *	   (connection refused/timed out), and recipients without a valid
 *	   domain are not counted as sessions (counter "uncounted").
 *	8. "<Trust> TLS connection reused to" starts a reused session: its
 *	   deliveries are neither successes nor plain text (the TLS session
 *	   was counted when established; Postfix 3.10's own TLSRPT makes no
 *	   event for reused connections either); only a delivery with a TLS
 *	   reason emits a failure (rule 4).  Counter "reused".
 *	9. A TLS session that ends without any delivery line has no
 *	   recipient domain and cannot be reported: dropped and counted
 *	   (no_delivery).
 *
 *	10. A delivery of a queue id that the skip function (pfs_set_skip)
 *	   names - one of our own report messages, RFC 8460 section 5.3 - is
 *	   not counted: no result for its domain, parked failures of that
 *	   queue id are dropped (uncounted), and the session it used does not
 *	   count as one without delivery (report_mails_skipped).
 *
 *	11. A session without a TLS line (plain text, or failed by a
 *	   delivery's TLS reason) ends when P logs a delivery of another
 *	   queue id or another recipient domain that does not say
 *	   "conn_use=N" with N >= 2: smtp opens a new connection per
 *	   delivery request (queue id and next hop, which is the recipient
 *	   domain unless a relayhost is set; counting per domain comes out
 *	   the same then) unless it takes one from the connection cache,
 *	   and then it logs conn_use.  A delivery with
 *	   conn_use >= 2, no TLS reason and no session of P is on a cached
 *	   connection counted when it was opened: not counted (reused).
 *	   Sessions with a TLS line need no such rule: every new connection
 *	   logs its own TLS line.
 *
 *	Memory: at most max_pids processes and max_queue_ids queue ids are
 *	tracked; inserting beyond that evicts the least recently active one
 *	(pids_dropped, queue_dropped).  A session remembers at most
 *	PFS_MAX_DOMAINS domains; further domains are dropped and counted.
 *
 *	The emit callback gets a session that is freed when it returns: the
 *	callee copies what it needs.
 * DIAGNOSTICS
 *	None; pfs_get_stats() and pfs_dropped() count everything not emitted.
 * SEE ALSO
 *	postfix_log.h, session.h, shared/spec/postfix-3.7-tls-log.md; lru.h
 *	for the process and queue-id tables.
 */
#include "postfix_sessions.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lru.h"
#include "util.h"

#define PFS_MAX_DOMAINS 1024		/* per session */
#define PFS_MAX_QUEUE_FAILURES 8	/* per queue id */

struct fail {
	int result_type;
	char *mx, *ip, *reason;
};

enum conn_kind {
	CONN_TLS,	/* established: successes unless failed */
	CONN_REUSED,	/* reused connection: only TLS-reason deliveries count */
	CONN_PLAIN,	/* no TLS line, mail sent: plain text */
	CONN_FALLBACK,	/* plain retry after a parked queue failure: not counted */
};

struct dom {
	char *name;
	bool failed;
};

struct proc {
	struct lru_node n;	/* first: a struct lru_node * is a struct proc * */
	char key[32];		/* the pid in decimal: n's key */
	enum conn_kind kind;
	char *ip;
	bool established;	/* an established line was seen for this session */
	bool failed;
	struct fail f;		/* if failed */
	size_t ndeliveries;
	int trust;		/* enum tls_trust of the established line */
	char qid[32];		/* queue id of the last delivery */
	struct dom *doms;
	size_t ndoms;
};

struct qrec {
	struct lru_node n;	/* first */
	char key[32];		/* the queue id: n's key */
	struct fail f[PFS_MAX_QUEUE_FAILURES];
	size_t nf;
};

struct pfs {
	long long stale;
	struct lru procs;
	struct lru queues;
	bool tls_seen;
	struct pfs_stats st;
	pfs_skip_fn skip;
	void *skip_ctx;
};

/* ---- small helpers ---- */

static char *dup_or_null(const char *s)
{
	return (s != NULL && *s != '\0') ? xstrdup(s) : NULL;
}

static bool same_str(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* The OpenSSL text without Postfix's "num=NN:" prefix. */
static const char *strip_num(const char *r)
{
	const char *s = r;

	if (strncmp(s, "num=", 4) != 0)
		return r;
	for (s += 4; *s >= '0' && *s <= '9'; s++)
		;
	return (*s == ':' && s > r + 4) ? s + 1 : r;
}

static void fail_set(struct fail *f, int type, const char *mx, const char *ip,
    const char *reason)
{
	f->result_type = type;
	f->mx = dup_or_null(mx);
	f->ip = dup_or_null(ip);
	f->reason = reason != NULL ? dup_or_null(strip_num(reason)) : NULL;
}

static void fail_copy(struct fail *dst, const struct fail *src)
{
	fail_set(dst, src->result_type, src->mx, src->ip, src->reason);
}

static void fail_clear(struct fail *f)
{
	free(f->mx);
	free(f->ip);
	free(f->reason);
	memset(f, 0, sizeof(*f));
}

/* ---- the tables: records keyed by a string of their own ---- */

static struct lru_node *table_find(const struct lru *t, const char *key)
{
	return lru_find(t, key, strlen(key));
}

/* Insert n under key, a string in n's record. */
static void table_insert(struct lru *t, struct lru_node *n, const char *key)
{
	n->key = key;
	n->keylen = strlen(key);
	lru_insert(t, n);
}

/* ---- emitting ---- */

static void emit_result(struct pfs *p, const char *domain, long long when,
    const struct fail *f, int trust, pfs_emit_fn emit, void *ctx)
{
	struct tlsrpt_session s;
	struct tlsrpt_failure *d = session_no_policy(&s, domain, when, f != NULL);

	s.tls_trust = trust;
	if (d != NULL) {
		d->result_type = f->result_type;
		d->mx_name = canonical_host(f->mx);
		d->receiving_ip = canonical_ip(f->ip);
		d->reason = dup_or_null(f->reason);
		p->st.emitted_failure++;
	} else {
		p->st.emitted_success++;
	}
	if (emit != NULL)
		emit(ctx, &s);
	session_free(&s);
}

/* ---- process state ---- */

static void proc_destroy(struct proc *pr)
{
	size_t i;

	for (i = 0; i < pr->ndoms; i++)
		free(pr->doms[i].name);
	free(pr->doms);
	free(pr->ip);
	fail_clear(&pr->f);
	free(pr);
}

/* End P's session; "accounted" when a queue record took it over. */
static void proc_close(struct pfs *p, struct proc *pr, bool accounted)
{
	if (!accounted && pr->ndeliveries == 0
	    && (pr->kind == CONN_TLS || pr->failed))
		p->st.no_delivery++;
	lru_remove(&p->procs, &pr->n);
	proc_destroy(pr);
}

static void pid_key(char key[32], long pid)
{
	snprintf(key, 32, "%ld", pid);
}

/* P's live session, or NULL; a stale one is closed first. */
static struct proc *proc_find(struct pfs *p, long pid, long long when)
{
	char key[32];
	struct proc *pr;

	pid_key(key, pid);
	pr = (struct proc *)table_find(&p->procs, key);
	if (pr != NULL && when - pr->n.last >= p->stale) {
		proc_close(p, pr, false);
		pr = NULL;
	}
	return pr;
}

/* A new session for P (P must have none); evicts the oldest at the cap. */
static struct proc *proc_start(struct pfs *p, long pid, enum conn_kind kind,
    const char *ip, long long when)
{
	struct proc *pr = xcalloc(1, sizeof(*pr));
	struct proc *old = (struct proc *)lru_evictee(&p->procs);

	if (old != NULL) {
		p->st.pids_dropped++;
		lru_remove(&p->procs, &old->n);
		proc_destroy(old);
	}
	pid_key(pr->key, pid);
	pr->n.last = when;
	pr->kind = kind;
	pr->ip = xstrdup(ip != NULL ? ip : "");
	table_insert(&p->procs, &pr->n, pr->key);
	return pr;
}

static struct dom *proc_domain(struct proc *pr, const char *domain)
{
	size_t i;

	for (i = 0; i < pr->ndoms; i++)
		if (strcmp(pr->doms[i].name, domain) == 0)
			return &pr->doms[i];
	return NULL;
}

/* Emit domain for P's session unless it was already emitted that way. */
static void proc_report(struct pfs *p, struct proc *pr, const char *domain, long long when,
    pfs_emit_fn emit, void *ctx)
{
	struct dom *d = proc_domain(pr, domain);

	if (d != NULL && (d->failed || !pr->failed))
		return;
	if (d == NULL) {
		if (pr->ndoms >= PFS_MAX_DOMAINS) {
			p->st.domains_dropped++;
			return;
		}
		pr->doms = xrealloc(pr->doms, (pr->ndoms + 1) * sizeof(*pr->doms));
		d = &pr->doms[pr->ndoms++];
		d->name = xstrdup(domain);
	}
	d->failed = pr->failed;
	emit_result(p, domain, when, pr->failed ? &pr->f : NULL, pr->trust, emit, ctx);
}

/* ---- queue ids ---- */

static void qrec_destroy(struct qrec *q)
{
	size_t i;

	for (i = 0; i < q->nf; i++)
		fail_clear(&q->f[i]);
	free(q);
}

static void qrec_park(struct pfs *p, const char *qid, const struct fail *f, long long when)
{
	struct qrec *q = (struct qrec *)table_find(&p->queues, qid);

	if (q == NULL) {
		struct qrec *old = (struct qrec *)lru_evictee(&p->queues);

		if (old != NULL) {
			p->st.queue_dropped += old->nf;
			lru_remove(&p->queues, &old->n);
			qrec_destroy(old);
		}
		q = xcalloc(1, sizeof(*q));
		snprintf(q->key, sizeof(q->key), "%s", qid);
		q->n.last = when;
		table_insert(&p->queues, &q->n, q->key);
	} else {
		lru_touch(&p->queues, &q->n, when);
	}
	if (q->nf >= PFS_MAX_QUEUE_FAILURES) {
		p->st.queue_dropped++;
		return;
	}
	fail_copy(&q->f[q->nf++], f);
}

/* Emit QID's parked failures for domain; true if there were any. */
static bool qrec_resolve(struct pfs *p, const char *qid, const char *domain, long long when,
    pfs_emit_fn emit, void *ctx)
{
	struct qrec *q = (struct qrec *)table_find(&p->queues, qid);
	size_t i;

	if (q == NULL)
		return false;
	if (when - q->n.last >= p->stale) {
		p->st.queue_unresolved += q->nf;
		lru_remove(&p->queues, &q->n);
		qrec_destroy(q);
		return false;
	}
	for (i = 0; i < q->nf; i++)
		if (domain != NULL)
			emit_result(p, domain, when, &q->f[i], TLS_TRUST_UNKNOWN, emit, ctx);
		else
			p->st.uncounted++;
	lru_remove(&p->queues, &q->n);
	qrec_destroy(q);
	return true;
}

/* ---- the events ---- */

static void on_established(struct pfs *p, const struct pfl_event *ev, long long when)
{
	struct proc *pr;

	p->tls_seen = true;
	if (strcmp(ev->program, "tlsproxy") == 0)
		return;		/* smtp logs its own line: count that one */
	pr = proc_find(p, ev->pid, when);
	if (pr != NULL && pr->kind == CONN_TLS && pr->failed && !pr->established
	    && pr->ndeliveries == 0 && same_str(pr->ip, ev->ip)) {
		pr->established = true;		/* rule 3: the warning's own handshake */
		lru_touch(&p->procs, &pr->n, when);
		return;
	}
	if (pr != NULL)
		proc_close(p, pr, false);
	pr = proc_start(p, ev->pid, CONN_TLS, ev->ip, when);
	pr->established = true;
	pr->trust = ev->trust == PFL_VERIFIED ? TLS_TRUST_VERIFIED :
	    ev->trust == PFL_TRUSTED ? TLS_TRUST_TRUSTED :
	    ev->trust == PFL_UNTRUSTED ? TLS_TRUST_UNTRUSTED : TLS_TRUST_ANONYMOUS;
}

static void on_reused(struct pfs *p, const struct pfl_event *ev, long long when)
{
	struct proc *pr = proc_find(p, ev->pid, when);

	p->tls_seen = true;
	if (pr != NULL)
		proc_close(p, pr, false);
	(void)proc_start(p, ev->pid, CONN_REUSED, ev->ip, when);
}

static void on_failure(struct pfs *p, const struct pfl_event *ev, long long when)
{
	struct proc *pr = proc_find(p, ev->pid, when);

	if (pr != NULL && pr->failed && !pr->established && pr->ndeliveries == 0
	    && same_str(pr->ip, ev->ip)) {
		lru_touch(&p->procs, &pr->n, when);	/* same handshake: keep the first */
		return;
	}
	if (pr != NULL)
		proc_close(p, pr, false);
	pr = proc_start(p, ev->pid, CONN_TLS, ev->ip, when);
	pr->failed = true;
	fail_set(&pr->f, ev->result_type, ev->mx, ev->ip, ev->reason);
}

static void on_queue_failure(struct pfs *p, const struct pfl_event *ev, long long when)
{
	struct proc *pr = proc_find(p, ev->pid, when);
	struct fail f;

	memset(&f, 0, sizeof(f));
	if (pr != NULL && ev->ip[0] != '\0' && !same_str(pr->ip, ev->ip)) {
		proc_close(p, pr, false);	/* another connection's leftover */
		pr = NULL;
	}
	if (pr != NULL && pr->failed)
		fail_copy(&f, &pr->f);
	else if (pr != NULL)
		fail_set(&f, ev->result_type, ev->mx, pr->ip, ev->reason);
	else
		fail_set(&f, ev->result_type, ev->mx, ev->ip, ev->reason);
	if (f.result_type == 0)
		f.result_type = RESULT_VALIDATION_FAILURE;
	qrec_park(p, ev->queue_id, &f, when);
	fail_clear(&f);
	if (pr != NULL)
		proc_close(p, pr, true);
}

/* Deliveries of P with no session for that IP (rules 4, 6, 7). */
static struct proc *start_from_delivery(struct pfs *p, const struct pfl_event *ev,
    long long when, bool resolved)
{
	struct proc *pr;

	if (ev->result_type != 0) {
		pr = proc_start(p, ev->pid, CONN_TLS, ev->ip, when);
		pr->failed = true;
		fail_set(&pr->f, ev->result_type, ev->mx, ev->ip, ev->reason);
		return pr;
	}
	if (strcmp(ev->status, "sent") != 0) {
		p->st.uncounted++;
		return NULL;
	}
	if (resolved)
		return proc_start(p, ev->pid, CONN_FALLBACK, ev->ip, when);
	if (!p->tls_seen) {
		p->st.plain_unseen++;
		return NULL;
	}
	pr = proc_start(p, ev->pid, CONN_PLAIN, ev->ip, when);
	pr->failed = true;
	fail_set(&pr->f, RESULT_STARTTLS_NOT_SUPPORTED, ev->mx, ev->ip,
	    "delivered in plain text");
	return pr;
}

static void on_delivery(struct pfs *p, const struct pfl_event *ev, long long when,
    pfs_emit_fn emit, void *ctx)
{
	char domain[sizeof(ev->rcpt_domain)];
	bool valid, resolved;
	struct proc *pr;

	memcpy(domain, ev->rcpt_domain, sizeof(domain));
	domain[sizeof(domain) - 1] = '\0';
	valid = domain_normalise(domain);
	if (p->skip != NULL && ev->queue_id[0] != '\0' && p->skip(p->skip_ctx, ev->queue_id)) {
		/* rule 10: our own report message; its session is not counted */
		p->st.report_mails_skipped++;
		qrec_resolve(p, ev->queue_id, NULL, when, emit, ctx);
		if ((pr = proc_find(p, ev->pid, when)) != NULL && same_str(pr->ip, ev->ip)) {
			lru_touch(&p->procs, &pr->n, when);
			pr->ndeliveries++;
			/* rule 11 then ends this session at the next delivery request */
			snprintf(pr->qid, sizeof(pr->qid), "%s", ev->queue_id);
		}
		return;
	}
	resolved = qrec_resolve(p, ev->queue_id, valid ? domain : NULL, when, emit, ctx);
	if (ev->ip[0] == '\0' || !valid) {	/* relay=none, or no usable domain */
		p->st.uncounted++;
		return;
	}
	pr = proc_find(p, ev->pid, when);
	if (pr != NULL && !same_str(pr->ip, ev->ip)) {
		proc_close(p, pr, false);
		pr = NULL;
	}
	if (pr != NULL && !pr->established && pr->kind != CONN_REUSED && ev->conn_use < 2 &&
	    ((pr->qid[0] != '\0' && strcmp(pr->qid, ev->queue_id) != 0) ||
	    (pr->ndoms > 0 && proc_domain(pr, domain) == NULL))) {
		/* rule 11: another delivery request on a fresh connection */
		proc_close(p, pr, false);
		pr = NULL;
	}
	if (pr == NULL && ev->conn_use >= 2 && ev->result_type == 0) {
		/* rule 11: a cached connection of another process, counted when it was new */
		p->st.reused++;
		return;
	}
	if (pr == NULL && (pr = start_from_delivery(p, ev, when, resolved)) == NULL)
		return;
	lru_touch(&p->procs, &pr->n, when);
	pr->ndeliveries++;
	snprintf(pr->qid, sizeof(pr->qid), "%s", ev->queue_id);
	if (ev->result_type != 0 && !pr->failed) {
		pr->failed = true;	/* rule 4 */
		fail_set(&pr->f, ev->result_type, ev->mx, ev->ip, ev->reason);
	}
	if (pr->kind == CONN_FALLBACK || (pr->kind == CONN_REUSED && !pr->failed)) {
		if (pr->kind == CONN_REUSED)
			p->st.reused++;
		return;
	}
	proc_report(p, pr, domain, when, emit, ctx);
}

/* ---- saving and restoring the open state ---- */

/*
 * The text form is one record per line, fields separated by tabs; a
 * string field is "~" when absent, else "=" and the text with \\, \t and
 * \n escaped.  Records come oldest first, so loading rebuilds the same
 * least-recently-used order:
 *	V 1 <tls_seen>
 *	P <pid> <last> <kind> <ip> <established> <failed> <ndeliveries>
 *	  <qid> <trust> <type> <mx> <ip> <reason> <ndoms> (<domain> <failed>)...
 *	Q <qid> <last> <nf> (<type> <mx> <ip> <reason>)...
 */
static void save_str(struct strbuf *sb, const char *v)
{
	strbuf_appendc(sb, '\t');
	if (v == NULL) {
		strbuf_appendc(sb, '~');
		return;
	}
	strbuf_appendc(sb, '=');
	for (; *v; v++) {
		if (*v == '\\')
			strbuf_appends(sb, "\\\\");
		else if (*v == '\t')
			strbuf_appends(sb, "\\t");
		else if (*v == '\n')
			strbuf_appends(sb, "\\n");
		else
			strbuf_appendc(sb, *v);
	}
}

static void save_num(struct strbuf *sb, long long v)
{
	strbuf_printf(sb, "\t%lld", v);
}

static void save_fail(struct strbuf *sb, const struct fail *f)
{
	save_num(sb, f->result_type);
	save_str(sb, f->mx);
	save_str(sb, f->ip);
	save_str(sb, f->reason);
}

void pfs_save(const struct pfs *p, struct strbuf *out)
{
	const struct lru_node *n;

	strbuf_printf(out, "V\t1\t%d\n", p->tls_seen ? 1 : 0);
	for (n = p->procs.oldest; n != NULL; n = n->newer) {
		const struct proc *pr = (const struct proc *)n;

		strbuf_appendc(out, 'P');
		save_str(out, pr->key);
		save_num(out, n->last);
		save_num(out, pr->kind);
		save_str(out, pr->ip);
		save_num(out, pr->established);
		save_num(out, pr->failed);
		save_num(out, (long long)pr->ndeliveries);
		save_str(out, pr->qid);
		save_num(out, pr->trust);
		save_fail(out, &pr->f);
		save_num(out, (long long)pr->ndoms);
		for (size_t i = 0; i < pr->ndoms; i++) {
			save_str(out, pr->doms[i].name);
			save_num(out, pr->doms[i].failed);
		}
		strbuf_appendc(out, '\n');
	}
	for (n = p->queues.oldest; n != NULL; n = n->newer) {
		const struct qrec *q = (const struct qrec *)n;

		strbuf_appendc(out, 'Q');
		save_str(out, q->key);
		save_num(out, n->last);
		save_num(out, (long long)q->nf);
		for (size_t i = 0; i < q->nf; i++)
			save_fail(out, &q->f[i]);
		strbuf_appendc(out, '\n');
	}
}

/* A cursor over one saved line. */
struct cur {
	const char *p, *end;
	bool bad;
};

/* The next field, unescaped, malloc'd; NULL for "~" (and on error, with bad set). */
static char *load_str(struct cur *c)
{
	struct strbuf sb;
	char *v;

	if (c->bad || c->p >= c->end || *c->p != '\t')
		goto bad;
	c->p++;
	if (c->p < c->end && *c->p == '~') {
		c->p++;
		return NULL;
	}
	if (c->p >= c->end || *c->p != '=')
		goto bad;
	c->p++;
	strbuf_init(&sb);
	strbuf_appends(&sb, "");
	while (c->p < c->end && *c->p != '\t') {
		char ch = *c->p++;

		if (ch == '\\') {
			if (c->p >= c->end) {
				strbuf_free(&sb);
				goto bad;
			}
			ch = *c->p++;
			ch = ch == 't' ? '\t' : ch == 'n' ? '\n' : ch;
		}
		strbuf_appendc(&sb, ch);
	}
	v = xstrdup(sb.data);
	strbuf_free(&sb);
	return v;
bad:
	c->bad = true;
	return NULL;
}

static long long load_num(struct cur *c, long long min, long long max)
{
	long long v = 0;
	bool neg = false, any = false;

	if (c->bad || c->p >= c->end || *c->p != '\t') {
		c->bad = true;
		return 0;
	}
	c->p++;
	if (c->p < c->end && *c->p == '-') {
		neg = true;
		c->p++;
	}
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && v < (LLONG_MAX - 9) / 10) {
		v = v * 10 + (*c->p++ - '0');
		any = true;
	}
	if (neg)
		v = -v;
	if (!any || v < min || v > max || (c->p < c->end && *c->p != '\t'))
		c->bad = true;
	return v;
}

static void load_fail(struct cur *c, struct fail *f)
{
	f->result_type = (int)load_num(c, 0, 1 << 20);
	f->mx = load_str(c);
	f->ip = load_str(c);
	f->reason = load_str(c);
}

static bool load_key(struct cur *c, char key[32])
{
	char *k = load_str(c);
	bool ok = k != NULL && *k && strlen(k) < 32;

	if (ok)
		memcpy(key, k, strlen(k) + 1);
	free(k);
	c->bad |= !ok;
	return ok;
}

static bool load_proc(struct pfs *p, struct cur *c)
{
	struct proc *pr = xcalloc(1, sizeof(*pr));
	long long nd;

	load_key(c, pr->key);
	pr->n.last = load_num(c, LLONG_MIN / 2, LLONG_MAX / 2);
	pr->kind = (enum conn_kind)load_num(c, CONN_TLS, CONN_FALLBACK);
	pr->ip = load_str(c);
	pr->established = load_num(c, 0, 1);
	pr->failed = load_num(c, 0, 1);
	pr->ndeliveries = (size_t)load_num(c, 0, LLONG_MAX / 2);
	{
		char *q = load_str(c);

		if (q != NULL && strlen(q) < sizeof(pr->qid))
			memcpy(pr->qid, q, strlen(q) + 1);
		else if (q != NULL)
			c->bad = true;
		free(q);
	}
	pr->trust = (int)load_num(c, TLS_TRUST_UNKNOWN, TLS_TRUST_VERIFIED);
	load_fail(c, &pr->f);
	nd = load_num(c, 0, PFS_MAX_DOMAINS);
	if (!c->bad && nd > 0) {
		pr->doms = xcalloc((size_t)nd, sizeof(*pr->doms));
		for (; pr->ndoms < (size_t)nd && !c->bad; pr->ndoms++) {
			pr->doms[pr->ndoms].name = load_str(c);
			pr->doms[pr->ndoms].failed = load_num(c, 0, 1);
			if (pr->doms[pr->ndoms].name == NULL)
				c->bad = true;
		}
	}
	if (pr->ip == NULL)
		pr->ip = xstrdup("");
	if (c->bad || c->p != c->end || table_find(&p->procs, pr->key) != NULL ||
	    lru_full(&p->procs)) {
		proc_destroy(pr);
		return false;
	}
	table_insert(&p->procs, &pr->n, pr->key);
	return true;
}

static bool load_qrec(struct pfs *p, struct cur *c)
{
	struct qrec *q = xcalloc(1, sizeof(*q));
	long long nf;

	load_key(c, q->key);
	q->n.last = load_num(c, LLONG_MIN / 2, LLONG_MAX / 2);
	nf = load_num(c, 0, PFS_MAX_QUEUE_FAILURES);
	for (; !c->bad && q->nf < (size_t)nf; q->nf++)
		load_fail(c, &q->f[q->nf]);
	if (c->bad || c->p != c->end || table_find(&p->queues, q->key) != NULL ||
	    lru_full(&p->queues)) {
		qrec_destroy(q);
		return false;
	}
	table_insert(&p->queues, &q->n, q->key);
	return true;
}

bool pfs_load(struct pfs *p, const char *text, size_t len)
{
	const char *end = text + len, *line = text;
	bool ok = true, versioned = false;

	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		struct cur c = {line + 1, nl ? nl : end, false};

		if (line[0] == 'V') {
			versioned = load_num(&c, 1, 1) == 1;
			p->tls_seen = load_num(&c, 0, 1) == 1 || p->tls_seen;
			ok &= !c.bad && versioned;
		} else if (line[0] == 'P' && versioned) {
			ok &= load_proc(p, &c);
		} else if (line[0] == 'Q' && versioned) {
			ok &= load_qrec(p, &c);
		} else {
			ok = false;
		}
		line = nl ? nl + 1 : end;
	}
	return ok && versioned;
}

/* ---- the API ---- */

void pfs_set_skip(struct pfs *p, pfs_skip_fn skip, void *ctx)
{
	p->skip = skip;
	p->skip_ctx = ctx;
}

struct pfs *pfs_new_capped(long long stale_after_s, size_t max_pids, size_t max_queue_ids)
{
	struct pfs *p = xcalloc(1, sizeof(*p));

	p->stale = stale_after_s > 0 ? stale_after_s : 1;
	lru_init(&p->procs, max_pids);
	lru_init(&p->queues, max_queue_ids);
	return p;
}

struct pfs *pfs_new(long long stale_after_s)
{
	return pfs_new_capped(stale_after_s, PFS_MAX_PIDS, PFS_MAX_QUEUE_IDS);
}

void pfs_free(struct pfs *p)
{
	struct lru_node *n, *next;

	if (p == NULL)
		return;
	for (n = p->procs.oldest; n != NULL; n = next) {
		next = n->newer;
		proc_destroy((struct proc *)n);
	}
	for (n = p->queues.oldest; n != NULL; n = next) {
		next = n->newer;
		qrec_destroy((struct qrec *)n);
	}
	lru_free(&p->procs);
	lru_free(&p->queues);
	free(p);
}

void pfs_feed(struct pfs *p, const struct pfl_event *ev, long long when, pfs_emit_fn emit,
    void *ctx)
{
	switch (ev->kind) {
	case PFL_TLS_ESTABLISHED:
		on_established(p, ev, when);
		break;
	case PFL_TLS_REUSED:
		on_reused(p, ev, when);
		break;
	case PFL_TLS_FAILURE:
		on_failure(p, ev, when);
		break;
	case PFL_QUEUE_TLS_FAILURE:
		on_queue_failure(p, ev, when);
		break;
	case PFL_DELIVERY:
		on_delivery(p, ev, when, emit, ctx);
		break;
	case PFL_IGNORED:
	case PFL_MALFORMED:
		break;
	}
}

static bool is_stale(const struct pfs *p, const struct lru_node *n, long long now)
{
	return now < 0 || now - n->last >= p->stale;
}

void pfs_expire(struct pfs *p, long long now, pfs_emit_fn emit, void *ctx)
{
	(void)emit;	/* successes and failures are emitted when decided */
	(void)ctx;
	while (p->procs.oldest != NULL && is_stale(p, p->procs.oldest, now))
		proc_close(p, (struct proc *)p->procs.oldest, false);
	while (p->queues.oldest != NULL && is_stale(p, p->queues.oldest, now)) {
		struct qrec *q = (struct qrec *)p->queues.oldest;

		p->st.queue_unresolved += q->nf;
		lru_remove(&p->queues, &q->n);
		qrec_destroy(q);
	}
}

void pfs_get_stats(const struct pfs *p, struct pfs_stats *st)
{
	*st = p->st;
	st->pids = p->procs.count;
	st->queue_ids = p->queues.count;
}

unsigned long long pfs_dropped(const struct pfs *p)
{
	return p->st.pids_dropped + p->st.queue_dropped + p->st.domains_dropped;
}

bool pfs_tls_logging_seen(const struct pfs *p)
{
	return p->tls_seen;
}

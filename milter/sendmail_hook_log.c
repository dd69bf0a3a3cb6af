/*
 * NAME
 *	sendmail_hook_log - the lines of the tlsrpt.mc syslog hook in Sendmail's log
 * DESCRIPTION
 *	See sendmail_hook_log.h.  A line is ours when its tag is sm-mta[PID]
 *	or sendmail[PID] (the programs sendmail_log.c reads) and its message,
 *	after an optional "QID: " or "NOQUEUE: ", starts with "tlsrpt ".
 *	The rest from "tlsrpt" on is the request of sendmail_map.h.
 *
 *	The saved state, after the follower's checkpoint line: per hooked
 *	process a line "H<TAB>pid<TAB>last" followed by one line
 *	"I<TAB>..." (smm_conn_save) per open TLS session of it.
 *
 *	A hooked process closed for being quiet (or at the cap) leaves a
 *	record of its pid in a second table ("gone", GONE_S, at most
 *	max_pids): a quiet spell of log_session_timeout does not end a
 *	Sendmail process (a DATA phase may take an hour), and the lines it
 *	logs after it, its delivery line above all, are still its hook
 *	lines' to report.  Handed to sendmail_log.c instead they would
 *	count the session a second time, as "delivered in plain text"
 *	(sendmail_log.c never saw the STARTTLS line).  The records are not
 *	saved: a restart inside such a spell hands that process's last
 *	lines to sendmail_log.c.
 */
#include "sendmail_hook_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logline.h"
#include "lru.h"

#define HOOK_WORD "tlsrpt"
#define GONE_S (6 * 3600)	/* a closed hooked process's later lines are superseded this long */

struct hproc {
	struct lru_node n;	/* first: a struct lru_node * is a struct hproc * */
	long pid;		/* n's key */
	struct smm_conn *conn;
};

/* A hooked process closed while it may still log (see above). */
struct gone {
	struct lru_node n;	/* first */
	long pid;
};

struct smh {
	long long stale;
	struct lru procs;
	struct lru gone;
	struct smm *smm;
	struct strbuf scratch;	/* the map's answers, thrown away */
	struct smh_stats st;
};

struct smh *smh_new(long long stale_after_s, size_t max_pids, smm_emit_fn emit,
    smm_skip_fn skip, void *ctx)
{
	struct smh *h = xcalloc(1, sizeof(*h));

	h->stale = stale_after_s > 0 ? stale_after_s : 1;
	lru_init(&h->procs, max_pids > 0 ? max_pids : 1);
	lru_init(&h->gone, max_pids > 0 ? max_pids : 1);
	h->smm = smm_new(emit, skip, ctx);
	strbuf_init(&h->scratch);
	return h;
}

static void hproc_free(struct hproc *hp, bool emit, struct smm *m)
{
	if (emit)
		smm_conn_close(m, hp->conn);
	else
		smm_conn_discard(hp->conn);
	free(hp);
}

void smh_free(struct smh *h)
{
	struct lru_node *n, *next;

	if (h == NULL)
		return;
	for (n = h->procs.oldest; n != NULL; n = next) {
		next = n->newer;
		hproc_free((struct hproc *)n, false, h->smm);
	}
	lru_free(&h->procs);
	for (n = h->gone.oldest; n != NULL; n = next) {
		next = n->newer;
		free(n);
	}
	lru_free(&h->gone);
	smm_free(h->smm);
	strbuf_free(&h->scratch);
	free(h);
}

/* ---- the process table ---- */

static bool is_stale(const struct smh *h, long long last, long long now)
{
	return now < 0 || now - last >= h->stale;
}

/* Remember that pid was hooked, last active at "last" (at the cap the oldest record goes). */
static void bury(struct smh *h, long pid, long long last)
{
	struct gone *g = (struct gone *)lru_find(&h->gone, &pid, sizeof(pid));
	struct lru_node *old;

	if (g != NULL) {
		lru_touch(&h->gone, &g->n, last);
		return;
	}
	if ((old = lru_evictee(&h->gone)) != NULL) {
		lru_remove(&h->gone, old);
		free(old);
	}
	g = xcalloc(1, sizeof(*g));
	g->pid = pid;
	g->n.key = &g->pid;
	g->n.keylen = sizeof(g->pid);
	g->n.last = last;
	lru_insert(&h->gone, &g->n);
}

/* Was pid a hooked process, closed less than GONE_S before "when"?  Forgets it if not. */
static bool was_hooked(struct smh *h, long pid, long long when)
{
	struct gone *g = (struct gone *)lru_find(&h->gone, &pid, sizeof(pid));

	if (g == NULL)
		return false;
	if (when >= 0 && when - g->n.last >= GONE_S) {
		lru_remove(&h->gone, &g->n);
		free(g);
		return false;
	}
	if (when > g->n.last)
		lru_touch(&h->gone, &g->n, when);
	return true;
}

static void unbury(struct smh *h, long pid)
{
	struct lru_node *g = lru_find(&h->gone, &pid, sizeof(pid));

	if (g != NULL) {
		lru_remove(&h->gone, g);
		free(g);
	}
}

static void close_proc(struct smh *h, struct hproc *hp)
{
	bury(h, hp->pid, hp->n.last);
	lru_remove(&h->procs, &hp->n);
	hproc_free(hp, true, h->smm);
}

/* P's live entry, or NULL; a stale one is closed first (emitting what it holds). */
static struct hproc *find(struct smh *h, long pid, long long when)
{
	struct hproc *hp = (struct hproc *)lru_find(&h->procs, &pid, sizeof(pid));

	if (hp != NULL && is_stale(h, hp->n.last, when)) {
		close_proc(h, hp);
		return NULL;
	}
	if (hp != NULL && when > hp->n.last)
		lru_touch(&h->procs, &hp->n, when);
	return hp;
}

static struct hproc *add(struct smh *h, long pid, long long when)
{
	struct hproc *hp, *old;

	if ((old = (struct hproc *)lru_evictee(&h->procs)) != NULL) {
		h->st.dropped++;
		close_proc(h, old);
	}
	hp = xcalloc(1, sizeof(*hp));
	hp->pid = pid;
	hp->n.key = &hp->pid;
	hp->n.keylen = sizeof(hp->pid);
	hp->n.last = when;
	hp->conn = smm_conn_new(h->smm);
	lru_insert(&h->procs, &hp->n);
	return hp;
}

/* ---- lines ---- */

enum qid_form { QID_NONE, QID_PLAIN, QID_SPLIT };

/* Skip "QID: ", "NOQUEUE: " or a split message's "QID[N]: ". */
static enum qid_form skip_queue_id(struct span *s)
{
	size_t i = 0;

	if (span_eat(s, "NOQUEUE: "))
		return QID_PLAIN;
	while (i < s->n && i < 40 && ll_is_alnum(s->p[i]))
		i++;
	if (i == 0 || i >= s->n)
		return QID_NONE;
	if (s->n - i >= 2 && s->p[i] == ':' && s->p[i + 1] == ' ') {
		span_advance(s, i + 2);
		return QID_PLAIN;
	}
	if (s->p[i] == '[') {
		size_t j = i + 1;

		while (j < s->n && ll_is_digit(s->p[j]))
			j++;
		if (j > i + 1 && s->n - j >= 3 && s->p[j] == ']' && s->p[j + 1] == ':' &&
		    s->p[j + 2] == ' ') {
			span_advance(s, j + 3);
			return QID_SPLIT;
		}
	}
	return QID_NONE;
}

static void say(char *why, size_t whylen, const char *text)
{
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", text);
}

static enum smh_result bad(struct smh *h, char *why, size_t whylen, const char *text)
{
	h->st.bad++;
	say(why, whylen, text);
	return SMH_BAD;
}

static enum smh_result request(struct smh *h, long pid, struct span req, long long when,
    char *why, size_t whylen)
{
	struct hproc *hp;
	bool first = false;
	char reason[128];

	if (req.n > SMM_MAX_REQUEST)
		return bad(h, why, whylen, "hook line longer than 4096 bytes");
	if ((hp = find(h, pid, when)) == NULL) {
		unbury(h, pid);
		hp = add(h, pid, when);
		first = true;
	}
	h->st.requests++;
	strbuf_reset(&h->scratch);
	if (!smm_conn_request(h->smm, hp->conn, req.p, req.n, when, &h->scratch, reason,
	    sizeof(reason))) {
		h->st.bad++;
		say(why, whylen, reason);
		return SMH_BAD;	/* the process stays hooked: its other lines are ours */
	}
	return first ? SMH_HOOKED : SMH_USED;
}

enum smh_result smh_feed_rec(struct smh *h, const struct logrec *r, long long when, long *pid,
    char *why, size_t whylen)
{
	struct span s = r->msg, name = r->name;
	enum qid_form q;
	struct hproc *hp;

	*pid = -1;
	if (!((name.n == 6 && memcmp(name.p, "sm-mta", 6) == 0) ||
	    (name.n == 8 && memcmp(name.p, "sendmail", 8) == 0)))
		return SMH_OTHER;
	*pid = r->pid;
	q = skip_queue_id(&s);
	if (span_starts_with(s, HOOK_WORD " srv=")) {
		if (q == QID_SPLIT)
			return bad(h, why, whylen, "hook line split by Sendmail (too long)");
		return request(h, *pid, s, when, why, whylen);
	}
	if (span_starts_with(s, HOOK_WORD) && s.n > 10 &&
	    memcmp(s.p + sizeof(HOOK_WORD), "srv=", 4) == 0)
		return bad(h, why, whylen, "hook line without blanks (the K line needs \"-S \")");
	if (q == QID_SPLIT && span_starts_with(s, HOOK_WORD))
		return bad(h, why, whylen, "hook line split by Sendmail (too long)");
	hp = find(h, *pid, when);
	if (hp == NULL && !was_hooked(h, *pid, when))
		return SMH_OTHER;
	h->st.superseded++;
	return SMH_SUPERSEDED;
}

enum smh_result smh_feed(struct smh *h, const char *line, size_t len, long long when, long *pid,
    char *why, size_t whylen)
{
	struct logrec r;

	if (!ll_split_line(line, len, &r)) {
		*pid = -1;
		return SMH_OTHER;
	}
	return smh_feed_rec(h, &r, when, pid, why, whylen);
}

void smh_expire(struct smh *h, long long now)
{
	while (h->procs.oldest != NULL && is_stale(h, h->procs.oldest->last, now))
		close_proc(h, (struct hproc *)h->procs.oldest);
	while (now >= 0 && h->gone.oldest != NULL && now - h->gone.oldest->last >= GONE_S) {
		struct lru_node *g = h->gone.oldest;

		lru_remove(&h->gone, g);
		free(g);
	}
}

void smh_get_stats(const struct smh *h, struct smh_stats *st)
{
	*st = h->st;
	smm_get_stats(h->smm, &st->map);
	st->processes = h->procs.count;
}

/* ---- saved state ---- */

void smh_save(const struct smh *h, struct strbuf *out)
{
	const struct lru_node *n;

	for (n = h->procs.oldest; n != NULL; n = n->newer) {
		const struct hproc *hp = (const struct hproc *)n;

		strbuf_printf(out, "H\t%ld\t%lld\n", hp->pid, n->last);
		smm_conn_save(hp->conn, "I", out);
	}
}

static bool load_proc(struct smh *h, const char *p, size_t n, struct hproc **cur)
{
	char buf[64], *end;
	long pid;
	long long last;

	*cur = NULL;
	if (n >= sizeof(buf))
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || *end != '\t' || pid <= 0)
		return false;
	last = strtoll(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || last < 0)
		return false;
	if (lru_find(&h->procs, &pid, sizeof(pid)) != NULL)
		return false;
	*cur = add(h, pid, last);
	return true;
}

bool smh_load(struct smh *h, const char *text, size_t len)
{
	const char *end = text + len, *line = text;
	struct hproc *cur = NULL;
	bool ok = true;

	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *le = nl ? nl : end;
		size_t n = (size_t)(le - line);

		if (n >= 2 && line[0] == 'H' && line[1] == '\t') {
			ok &= load_proc(h, line + 2, n - 2, &cur);
		} else if (n >= 2 && line[0] == 'I' && line[1] == '\t') {
			ok &= cur != NULL && smm_conn_load_session(cur->conn, line + 2, n - 2);
		}
		line = nl ? nl + 1 : end;
	}
	return ok;
}

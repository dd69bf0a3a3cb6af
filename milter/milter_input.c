/*
 * NAME
 *	milter_input - the libmilter input of tlsrpt-milter
 * DESCRIPTION
 *	See milter_input.h.  Three processes take part:
 *
 *	the daemon	milter_input_open() creates the listening socket
 *			through libmilter (as root, before the privilege
 *			drop) and a socket pair; a reader thread turns the
 *			records that arrive on the pair into counters in
 *			its input_batch.
 *	the supervisor	forked by milter_input_spawn() while the daemon
 *			still has one thread.  It forks the libmilter child,
 *			respawns it when it dies (at most once per
 *			RESPAWN_MS), stops it when asked (SIGTERM) or when
 *			the daemon is gone (its end of the pair hangs up).
 *	the child	runs smfi_main(); its callbacks collect per message
 *			the recipient domains, the TLS-Report-Domain header
 *			and the queue id, and send them at end of message
 *			with a non-blocking send: a full pair drops the
 *			record (counted, reported with the next record that
 *			gets through), it never delays mail.
 *
 *	Why a supervisor rather than respawning from the daemon's reader:
 *	after fork() in a process with threads only async-signal-safe
 *	calls are safe until exec, but libmilter starts threads, allocates
 *	and logs; a lock (ours in log.c, syslog's, another thread's in
 *	mid-call) held at the moment of the fork would stay held forever in
 *	the child.  The supervisor is forked from the single-threaded
 *	daemon and stays single-threaded, so every child it forks is clean.
 *
 *	Record format on the socket pair (SOCK_SEQPACKET: one record per
 *	packet), integers big-endian, strings as u8 length + bytes:
 *
 *	header	u8 version (1), u8 type, u16 zero, u32 body length
 *	MESSAGE	u32 dropped_before, u32 recipients_no_domain,
 *		u32 domains_over_limit, str queue_id, str report_domain,
 *		u16 n, n x str domain
 *	DOMAINS	u32 dropped_before, u16 n, n x str domain (the rest of a
 *		message whose domains did not fit one record)
 *	NOTICE	u8 event, u32 pid, u32 wait status (from the supervisor)
 *
 *	Decoding is strict: a wrong version, type, length, a name that is
 *	not a lower-case domain, trailing bytes: the record is counted in
 *	milter.records_invalid and dropped.
 *
 *	Counters (input_counter rows, per UTC day): milter.messages,
 *	milter.report_mails, milter.report_mails_no_queue_id,
 *	milter.records_dropped (records the child could not send),
 *	milter.records_invalid, milter.domains_dropped (distinct domains
 *	of a message beyond MSG_MAX_DOMAINS), milter.recipients_no_domain
 *	(no domain, an address literal or unparsable), milter.child_died.
 *	Per domain: domain_counter "messages".
 * DIAGNOSTICS
 *	milter_child_started, milter_child_died, milter_child_respawn_failed,
 *	milter_socket_recreated, milter_socket_not_recreated,
 *	milter_socket_owner_not_restored, milter_socket_lost,
 *	milter_records_dropped, milter_record_rejected, milter_record_dropped,
 *	milter_report_mail, milter_report_mail_without_queue_id,
 *	milter_input_failed, milter_supervisor_killed.
 */
#include "config.h"	/* first: it defines _GNU_SOURCE */

#include "milter_input.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "aggregate.h"
#include "heartbeat.h"
#include "listen.h"
#include "log.h"
#include "milter_record.h"
#include "util.h"


#define RESPAWN_MS 10000	/* at most one child start per this interval */
#define CHILD_STOP_MS 3000	/* supervisor: stop pipe closed, then SIGKILL */
#define SUPERVISOR_STOP_MS 5000	/* daemon: SIGTERM to the supervisor, then SIGKILL */
#define INFLIGHT_WAIT_MS 2000	/* child: callbacks may finish before it exits */
#define DROP_FLUSH_MS 1000	/* child: report drops at least this often */
#define PAIR_BUFFER (4 * 1024 * 1024)	/* send buffer of the child's end */

struct milter_input {
	int family;
	int port;
	char *path;		/* unix socket path, NULL for inet */
	dev_t sock_dev;		/* the socket file we created */
	ino_t sock_ino;
	mode_t sock_mode;
	uid_t sock_owner;
	gid_t sock_group;
	bool sock_recreated;	/* supervisor: the file is its own, remove it at the end */
	char *conn;		/* libmilter's connection string */
	int listen_fd;		/* the daemon's copy of libmilter's socket, -1 once handed over */
	int fd;			/* the daemon's end of the pair */
	int child_fd;		/* the supervisor's and child's end */
	int stop_fd;		/* eventfd: the reader stops */
	pid_t supervisor;
	bool stopping;		/* atomic: milter_input_stop() has begun */
	bool supervisor_done;	/* reader: the supervisor said it stops or gave up */

	struct writer *writer;
	struct report_mails *rm;
	struct input_batch *batch;
	/* milter_input_set_seen(): told each recipient domain of a message */
	void (*seen_fn)(void *ctx, const char *domain);
	void *seen_ctx;
	pthread_t reader;
	bool reader_running;
	struct heartbeat *hb;	/* the reader's */
	unsigned char *buf;	/* MR_MAX_RECORD + 1 */
	struct log_limit invalid_log;
	struct log_limit full_log;
};

/* ---- names: recipient and header domains -------------------------------- */

static bool domain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	    c >= 0x80;	/* UTF-8 labels (SMTPUTF8) are counted as sent */
}

/* A lower-case domain: 1..253 bytes, labels of 1..63 allowed bytes. */
/* Well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
static bool utf8_ok(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 :
		    (c & 0xf8) == 0xf0 ? 3 : 4;
		uint32_t cp;

		if (n == 4 || (n == 1 && c < 0xc2) || i + n >= len + (n == 0))
			return false;
		cp = n == 0 ? c : c & (0x3f >> n);
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += n + 1;
	}
	return true;
}

static bool domain_ok(const unsigned char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > MR_DOMAIN_MAX || !utf8_ok(s, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!domain_char(s[i]) || ++label > 63) {
			return false;
		}
	}
	return label > 0;
}

/* Lower-case, drop one trailing dot, check; 0 or -1. */
static int normalize_domain(const char *p, size_t len, char *out, size_t outlen)
{
	if (len > 0 && p[len - 1] == '.')
		len--;
	if (len == 0 || len >= outlen)
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)p[i]);
	out[len] = '\0';
	return domain_ok((const unsigned char *)out, len) ? 0 : -1;
}

/* The end of a quoted local part starting at p ('"'), or NULL. */
static const char *skip_quoted(const char *p, const char *end)
{
	for (p++; p < end && *p != '"'; p++)
		if (*p == '\\' && p + 1 < end)
			p++;
	return p < end ? p + 1 : NULL;
}

/*
 * The domain of an envelope recipient as the MTA passes it ("<a@b>",
 * "a@b", a quoted local part, a source route "<@r1,@r2:a@b>").  -1 when
 * there is none worth counting: no "@" (a local recipient), an address
 * literal ([192.0.2.1] has no TLSRPT policy), or something unparsable.
 */
int milter_record_rcpt_domain(const char *addr, char *out, size_t outlen)
{
	const char *p = addr, *end;

	if (addr == NULL)
		return -1;
	end = p + strlen(p);
	while (p < end && isspace((unsigned char)*p))
		p++;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	if (p < end && *p == '<') {
		if (end - p < 2 || end[-1] != '>')
			return -1;
		p++;
		end--;
	}
	if (p < end && *p == '@') {	/* source route: the address follows the ':' */
		const char *colon = memchr(p, ':', (size_t)(end - p));

		if (colon == NULL)
			return -1;
		p = colon + 1;
	}
	if (p < end && *p == '"') {
		if ((p = skip_quoted(p, end)) == NULL || p >= end || *p != '@')
			return -1;
	} else {
		while (p < end && *p != '@')
			p++;
		if (p >= end)
			return -1;
	}
	p++;
	if (p < end && *p == '[')
		return -1;
	return normalize_domain(p, (size_t)(end - p), out, outlen);
}

/* The value of a TLS-Report-Domain header: one domain, blanks around it. */
int milter_record_header_domain(const char *value, char *out, size_t outlen)
{
	const char *p = value, *end;

	if (value == NULL)
		return -1;
	end = p + strlen(p);
	while (p < end && isspace((unsigned char)*p))
		p++;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	return normalize_domain(p, (size_t)(end - p), out, outlen);
}

static bool qid_ok(const char *s, size_t len)
{
	if (len > MR_QID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

/* ---- one message, as the child collects it ------------------------------ */

struct milter_msg {
	char **domains;		/* MSG_MAX_DOMAINS slots, allocated at the first recipient */
	unsigned ndomains;
	uint32_t over_limit;	/* distinct domains that did not fit */
	uint32_t no_domain;	/* recipients without a countable domain */
	char queue_id[MR_QID_MAX + 1];
	char report_domain[MR_DOMAIN_MAX + 1];
	bool remote;		/* the connection came from another host: headers not trusted */
	char client[64];	/* its address, for the log */
};

/* Never aborts: the child must accept mail even when memory is short. */
struct milter_msg *milter_record_msg_new(void)
{
	return calloc(1, sizeof(struct milter_msg));
}

void milter_record_msg_reset(struct milter_msg *m)
{
	for (unsigned i = 0; i < m->ndomains; i++)
		free(m->domains[i]);
	m->ndomains = 0;
	m->over_limit = 0;
	m->no_domain = 0;
	m->queue_id[0] = '\0';
	m->report_domain[0] = '\0';
}

void milter_record_msg_free(struct milter_msg *m)
{
	if (m == NULL)
		return;
	milter_record_msg_reset(m);
	free(m->domains);
	free(m);
}

/* 1 a new domain, 0 one already seen, -1 no domain, -2 over the limit (or no memory). */
int milter_record_msg_rcpt(struct milter_msg *m, const char *addr)
{
	char d[MR_DOMAIN_MAX + 1];

	if (milter_record_rcpt_domain(addr, d, sizeof(d)) != 0) {
		m->no_domain++;
		return -1;
	}
	for (unsigned i = 0; i < m->ndomains; i++)
		if (strcmp(m->domains[i], d) == 0)
			return 0;
	if (m->domains == NULL)
		m->domains = calloc(MSG_MAX_DOMAINS, sizeof(*m->domains));
	if (m->domains == NULL || m->ndomains >= MSG_MAX_DOMAINS ||
	    (m->domains[m->ndomains] = strdup(d)) == NULL) {
		m->over_limit++;
		return -2;
	}
	m->ndomains++;
	return 1;
}

/* True when the header made this message one of our reports. */
bool milter_record_msg_header(struct milter_msg *m, const char *name, const char *value)
{
	if (name == NULL || strcasecmp(name, "TLS-Report-Domain") != 0 || m->report_domain[0])
		return false;
	return milter_record_header_domain(value, m->report_domain, sizeof(m->report_domain)) == 0;
}

/* Keep a well-formed queue id; anything else leaves the one known so far. */
void milter_record_msg_queue_id(struct milter_msg *m, const char *qid)
{
	size_t len = qid ? strlen(qid) : 0;

	if (len > 0 && qid_ok(qid, len))
		memcpy(m->queue_id, qid, len + 1);
}

unsigned milter_record_msg_domains(const struct milter_msg *m)
{
	return m->ndomains;
}

/* ---- encoding ----------------------------------------------------------- */

struct wbuf {
	unsigned char *p;
	size_t len;
};

static void put_u8(struct wbuf *w, unsigned v)
{
	w->p[w->len++] = (unsigned char)v;
}

static void put_u16(struct wbuf *w, unsigned v)
{
	put_u8(w, (v >> 8) & 0xff);
	put_u8(w, v & 0xff);
}

static void put_u32(struct wbuf *w, uint32_t v)
{
	put_u16(w, (v >> 16) & 0xffff);
	put_u16(w, v & 0xffff);
}

static void put_str(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	put_u8(w, (unsigned)n);
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void put_header(struct wbuf *w, int type)
{
	put_u8(w, MR_VERSION);
	put_u8(w, (unsigned)type);
	put_u16(w, 0);
	put_u32(w, 0);	/* body length, set by finish() */
}

static size_t finish(struct wbuf *w)
{
	uint32_t body = (uint32_t)(w->len - MR_HEADER);

	w->p[4] = (unsigned char)(body >> 24);
	w->p[5] = (unsigned char)(body >> 16);
	w->p[6] = (unsigned char)(body >> 8);
	w->p[7] = (unsigned char)body;
	return w->len;
}

/*
 * One record of message m into buf: the MESSAGE record when "first",
 * else a DOMAINS record, each with as many domains from *next on as fit
 * MR_MAX_RECORD (at least one).  Advances *next; returns the length, 0
 * if cap is smaller than MR_MAX_RECORD.
 */
size_t milter_record_msg_encode(const struct milter_msg *m, unsigned *next, bool first,
    uint32_t dropped, unsigned char *buf, size_t cap)
{
	struct wbuf w = {buf, 0};
	size_t count_at;
	unsigned n = 0;

	if (cap < MR_MAX_RECORD)
		return 0;
	put_header(&w, first ? MR_MESSAGE : MR_DOMAINS);
	put_u32(&w, dropped);
	if (first) {
		put_u32(&w, m->no_domain);
		put_u32(&w, m->over_limit);
		put_str(&w, m->queue_id);
		put_str(&w, m->report_domain);
	}
	count_at = w.len;
	put_u16(&w, 0);
	while (*next < m->ndomains) {
		const char *d = m->domains[*next];

		if (w.len + 1 + strlen(d) > MR_MAX_RECORD)
			break;
		put_str(&w, d);
		(*next)++;
		n++;
	}
	buf[count_at] = (unsigned char)(n >> 8);
	buf[count_at + 1] = (unsigned char)n;
	return finish(&w);
}

size_t milter_record_notice_encode(int event, uint32_t pid, uint32_t status,
    unsigned char *buf, size_t cap)
{
	struct wbuf w = {buf, 0};

	if (cap < MR_HEADER + 9)
		return 0;
	put_header(&w, MR_NOTICE);
	put_u8(&w, (unsigned)event);
	put_u32(&w, pid);
	put_u32(&w, status);
	return finish(&w);
}

/* ---- decoding ----------------------------------------------------------- */

struct rbuf {
	const unsigned char *p;
	size_t len;
	size_t off;
	bool bad;
};

static uint32_t get_n(struct rbuf *r, int bytes)
{
	uint32_t v = 0;

	if (r->bad || r->len - r->off < (size_t)bytes) {
		r->bad = true;
		return 0;
	}
	for (int i = 0; i < bytes; i++)
		v = (v << 8) | r->p[r->off++];
	return v;
}

/* A length-prefixed string; NULL (and r->bad) when it overruns. */
static const unsigned char *get_str(struct rbuf *r, size_t *n)
{
	const unsigned char *s;

	*n = get_n(r, 1);
	if (r->bad || r->len - r->off < *n) {
		r->bad = true;
		return NULL;
	}
	s = r->p + r->off;
	r->off += *n;
	return s;
}

struct mr_view {
	int type;
	uint32_t dropped;
	uint32_t no_domain;
	uint32_t over_limit;
	char queue_id[MR_QID_MAX + 1];
	char report_domain[MR_DOMAIN_MAX + 1];
	unsigned ndomains;
	size_t domains_off;	/* offset of the first domain in the record */
	int event;
	uint32_t pid;
	uint32_t status;
};

static const char *decode_domains(struct rbuf *r, struct mr_view *v)
{
	v->ndomains = get_n(r, 2);
	v->domains_off = r->off;
	for (unsigned i = 0; i < v->ndomains && !r->bad; i++) {
		size_t n;
		const unsigned char *s = get_str(r, &n);

		if (s != NULL && !domain_ok(s, n))
			return "bad domain";
	}
	return r->bad ? "truncated domain list" : NULL;
}

static const char *decode_message(struct rbuf *r, struct mr_view *v)
{
	const unsigned char *s;
	size_t n;

	v->dropped = get_n(r, 4);
	if (v->type == MR_DOMAINS)
		return decode_domains(r, v);
	v->no_domain = get_n(r, 4);
	v->over_limit = get_n(r, 4);
	if ((s = get_str(r, &n)) == NULL)
		return "truncated queue id";
	if (!qid_ok((const char *)s, n))
		return "bad queue id";
	memcpy(v->queue_id, s, n);
	v->queue_id[n] = '\0';
	if ((s = get_str(r, &n)) == NULL)
		return "truncated report domain";
	if (n > 0 && !domain_ok(s, n))
		return "bad report domain";
	memcpy(v->report_domain, s, n);
	v->report_domain[n] = '\0';
	return decode_domains(r, v);
}

static const char *decode_notice(struct rbuf *r, struct mr_view *v)
{
	v->event = (int)get_n(r, 1);
	v->pid = get_n(r, 4);
	v->status = get_n(r, 4);
	if (r->bad)
		return "truncated notice";
	if (v->event < NOTICE_CHILD_STARTED || v->event > NOTICE_STOPPING)
		return "unknown notice";
	return NULL;
}

/* Check a whole record; NULL or why it is bad. */
static const char *decode(const unsigned char *p, size_t len, struct mr_view *v)
{
	struct rbuf r = {p, len, 0, false};
	const char *why;

	memset(v, 0, sizeof(*v));
	if (len < MR_HEADER)
		return "shorter than the header";
	if (len > MR_MAX_RECORD)
		return "oversize";
	if (get_n(&r, 1) != MR_VERSION)
		return "unknown version";
	v->type = (int)get_n(&r, 1);
	if (get_n(&r, 2) != 0)
		return "reserved bits set";
	if (get_n(&r, 4) != len - MR_HEADER)
		return "length mismatch";
	switch (v->type) {
	case MR_MESSAGE:
	case MR_DOMAINS:
		why = decode_message(&r, v);
		break;
	case MR_NOTICE:
		why = decode_notice(&r, v);
		break;
	default:
		return "unknown type";
	}
	if (why == NULL && r.off != len)
		why = "trailing bytes";
	return why;
}

/* ---- the daemon's side: records into the batch -------------------------- */

static void count(struct input_batch *b, long long now, const char *name, uint64_t n)
{
	if (n > 0)
		aggregate_count(&b->agg, now, name, n);
}

/* Under b->lock: the counters and domains of a MESSAGE or DOMAINS record. */
static void add_message(struct input_batch *b, const unsigned char *rec, const struct mr_view *v,
    long long now)
{
	size_t off = v->domains_off;
	char d[MR_DOMAIN_MAX + 1];

	if (v->type == MR_MESSAGE) {
		count(b, now, "milter.messages", 1);
		count(b, now, "milter.recipients_no_domain", v->no_domain);
		count(b, now, "milter.domains_dropped", v->over_limit);
	}
	count(b, now, "milter.records_dropped", v->dropped);
	for (unsigned i = 0; i < v->ndomains; i++) {
		size_t n = rec[off];

		memcpy(d, rec + off + 1, n);
		d[n] = '\0';
		off += 1 + n;
		aggregate_count_domain(&b->agg, now, d, "messages", 1);
	}
	if (v->report_domain[0] && v->queue_id[0]) {
		aggregate_report_mail(&b->agg, now, v->queue_id, v->report_domain);
		count(b, now, "milter.report_mails", 1);
	} else if (v->report_domain[0]) {
		count(b, now, "milter.report_mails_no_queue_id", 1);
	}
}

void milter_record_each_domain(const void *buf, size_t len,
    void (*fn)(void *ctx, const char *domain), void *ctx)
{
	const unsigned char *rec = buf;
	struct mr_view v;
	char d[MR_DOMAIN_MAX + 1];
	size_t off;

	if (decode(buf, len, &v) != NULL || (v.type != MR_MESSAGE && v.type != MR_DOMAINS))
		return;
	off = v.domains_off;
	for (unsigned i = 0; i < v.ndomains; i++) {
		size_t n = rec[off];

		memcpy(d, rec + off + 1, n);
		d[n] = '\0';
		off += 1 + n;
		fn(ctx, d);
	}
}

/*
 * Decode one record and add it to b (under its lock).  Returns the record
 * type, with *event set for a NOTICE; -1 for a bad record (counted in
 * milter.records_invalid, *why says why).  w may be NULL (no memory limit).
 */
int milter_record_apply(struct writer *w, struct input_batch *b, struct report_mails *rm,
    const void *buf, size_t len, long long now, int *event, const char **why)
{
	struct mr_view v;
	bool dropped = false;

	*event = 0;
	*why = decode(buf, len, &v);
	pthread_mutex_lock(&b->lock);
	if (*why != NULL) {
		count(b, now, "milter.records_invalid", 1);
	} else if (v.type == MR_NOTICE) {
		*event = v.event;
		if (v.event == NOTICE_CHILD_DIED)
			count(b, now, "milter.child_died", 1);
	} else if (w != NULL && writer_batch_full(w, b)) {
		b->now.dropped_full++;
		dropped = true;
	} else {
		add_message(b, buf, &v, now);
		if (w != NULL)
			writer_poke_if_due(w, b);
	}
	pthread_mutex_unlock(&b->lock);
	if (*why != NULL)
		return -1;
	/* the in-memory set matters even when the store is behind */
	if (v.report_domain[0] && v.queue_id[0]) {
		if (rm != NULL)
			report_mails_add(rm, v.queue_id, now);
		log_msg(LOG_INFO, "milter_report_mail queue_id=%s domain=%s%s", v.queue_id,
		    v.report_domain, dropped ? " stored=no (pending_limit)" : "");
	}
	if (dropped)
		*why = "pending_limit";
	return v.type;
}

/* ---- the child: libmilter callbacks ------------------------------------- */

static struct {
	int fd;			/* the pair, for records */
	uint32_t dropped;	/* atomic: records not sent since the last one that was */
	int inflight;		/* atomic: callbacks running */
	struct log_limit drop_log;
	struct log_limit oom_log;
	struct log_limit qid_log;
	struct log_limit remote_report_log;
} child = {.fd = -1};

static void enter(void)
{
	__atomic_add_fetch(&child.inflight, 1, __ATOMIC_SEQ_CST);
}

static sfsistat leave(sfsistat rc)
{
	__atomic_sub_fetch(&child.inflight, 1, __ATOMIC_SEQ_CST);
	return rc;
}

static void remember_queue_id(SMFICTX *ctx, struct milter_msg *m)
{
	milter_record_msg_queue_id(m, smfi_getsymval(ctx, "i"));
}

/* Send the records of m; what does not fit the pair now is dropped and counted. */
static void send_message(const struct milter_msg *m)
{
	unsigned char buf[MR_MAX_RECORD];
	uint32_t carried = __atomic_exchange_n(&child.dropped, 0, __ATOMIC_SEQ_CST);
	uint32_t lost = 0;
	unsigned next = 0;
	bool first = true;

	while (first || next < milter_record_msg_domains(m)) {
		size_t len = milter_record_msg_encode(m, &next, first, carried, buf, sizeof(buf));

		first = false;
		/* once one record of a message is lost, the rest would miscount it */
		if (lost == 0 && send(child.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len) {
			carried = 0;
			continue;
		}
		lost++;
	}
	if (lost == 0)
		return;
	__atomic_add_fetch(&child.dropped, lost + carried, __ATOMIC_SEQ_CST);
	log_ratelimited(&child.drop_log, LOG_WARNING, "milter_records_dropped count=%u "
	    "queue_id=%s error=\"%s\" (the daemon is not reading fast enough; the message "
	    "is not counted)", lost, m->queue_id[0] ? m->queue_id : "unknown", strerror(errno));
}

static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0, unsigned long *pf1,
    unsigned long *pf2, unsigned long *pf3)
{
	(void)f2, (void)f3;
	*pf0 = 0;	/* no changes to mail, ever */
	*pf1 &= f1;	/* the steps we skip (libmilter's pick), where the MTA can skip them */
	*pf2 = 0;
	*pf3 = 0;
	/* the queue id at end of headers and of message: Postfix has it only from RCPT on */
	if (f0 & SMFIF_SETSYMLIST) {
		*pf0 |= SMFIF_SETSYMLIST;
		smfi_setsymlist(ctx, SMFIM_EOH, "i");
		smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

/*
 * Local submission or not.  Postfix's non_smtpd_milters (sendmail(1),
 * which tlsrpt-report uses) connect with an unknown address family
 * (hostaddr NULL); Sendmail's submission program comes over loopback.
 * Only there is a TLS-Report-Domain header believed: anyone could put one
 * into mail sent from outside, to hide that mail's delivery sessions.
 */
static bool is_local(const struct sockaddr *sa)
{
	if (sa == NULL || sa->sa_family == AF_UNSPEC || sa->sa_family == AF_UNIX)
		return true;	/* no address: not from the network */
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
	}
	return false;
}

static struct milter_msg *msg_of(SMFICTX *ctx)
{
	struct milter_msg *m = smfi_getpriv(ctx);

	if (m == NULL) {
		if ((m = milter_record_msg_new()) == NULL) {
			log_ratelimited(&child.oom_log, LOG_ERR, "milter_message_not_counted "
			    "reason=out_of_memory");
			return NULL;
		}
		smfi_setpriv(ctx, m);
	}
	return m;
}

static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	struct milter_msg *m;

	(void)hostname;
	enter();
	if ((m = msg_of(ctx)) != NULL) {
		const struct sockaddr *sa = (const struct sockaddr *)hostaddr;

		m->remote = !is_local(sa);
		snprintf(m->client, sizeof(m->client), "family-%d", sa ? sa->sa_family : -1);
		if (sa != NULL && sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			    m->client, sizeof(m->client));
		else if (sa != NULL && sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			    m->client, sizeof(m->client));
	}
	return leave(SMFIS_CONTINUE);
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
	struct milter_msg *m;

	(void)argv;
	enter();
	m = smfi_getpriv(ctx);
	if (m == NULL) {
		if ((m = milter_record_msg_new()) == NULL) {
			log_ratelimited(&child.oom_log, LOG_ERR, "milter_message_not_counted "
			    "reason=out_of_memory");
			return leave(SMFIS_ACCEPT);	/* this message only: never reject */
		}
		smfi_setpriv(ctx, m);
	}
	milter_record_msg_reset(m);	/* a new transaction on the same connection */
	remember_queue_id(ctx, m);
	return leave(SMFIS_CONTINUE);
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
	struct milter_msg *m;

	enter();
	m = smfi_getpriv(ctx);
	if (m != NULL && argv != NULL && argv[0] != NULL) {
		milter_record_msg_rcpt(m, argv[0]);
		remember_queue_id(ctx, m);
	}
	return leave(SMFIS_CONTINUE);
}

static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
	struct milter_msg *m;

	enter();
	m = smfi_getpriv(ctx);
	if (m != NULL && m->remote && name != NULL && strcasecmp(name, "TLS-Report-Domain") == 0)
		log_ratelimited(&child.remote_report_log, LOG_NOTICE, "milter_report_header_ignored "
		    "queue_id=%s client=%s (TLS-Report-Domain in mail from another host: only "
		    "local submission marks our own reports)", m->queue_id[0] ? m->queue_id : "unknown",
		    m->client);
	else if (m != NULL)
		milter_record_msg_header(m, name, value);
	return leave(SMFIS_CONTINUE);
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
	struct milter_msg *m;

	enter();
	m = smfi_getpriv(ctx);
	if (m != NULL)
		remember_queue_id(ctx, m);
	return leave(SMFIS_CONTINUE);
}

static sfsistat cb_eom(SMFICTX *ctx)
{
	struct milter_msg *m;

	enter();
	m = smfi_getpriv(ctx);
	if (m == NULL)
		return leave(SMFIS_CONTINUE);
	remember_queue_id(ctx, m);
	if (m->report_domain[0] && !m->queue_id[0])
		log_ratelimited(&child.qid_log, LOG_WARNING, "milter_report_mail_without_queue_id "
		    "domain=%s (the MTA sent no {i} macro; Postfix: add i to "
		    "milter_end_of_data_macros)", m->report_domain);
	send_message(m);
	milter_record_msg_reset(m);
	return leave(SMFIS_CONTINUE);
}

static sfsistat cb_abort(SMFICTX *ctx)
{
	struct milter_msg *m;

	enter();
	m = smfi_getpriv(ctx);
	if (m != NULL)
		milter_record_msg_reset(m);
	return leave(SMFIS_CONTINUE);
}

static sfsistat cb_close(SMFICTX *ctx)
{
	enter();
	milter_record_msg_free(smfi_getpriv(ctx));
	smfi_setpriv(ctx, NULL);
	return leave(SMFIS_CONTINUE);
}

static struct smfiDesc milter_desc = {
	.xxfi_name = "tlsrpt-milter",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_NONE,	/* no modifications */
	.xxfi_connect = cb_connect,
	.xxfi_envfrom = cb_envfrom,
	.xxfi_envrcpt = cb_envrcpt,
	.xxfi_header = cb_header,
	.xxfi_eoh = cb_eoh,
	.xxfi_eom = cb_eom,
	.xxfi_abort = cb_abort,
	.xxfi_close = cb_close,
	.xxfi_negotiate = cb_negotiate,
};

/*
 * Drops are reported with the next record that gets through; when no
 * mail follows a burst, an empty DOMAINS record carries them.
 */
static void flush_dropped(void)
{
	static const struct milter_msg none;
	unsigned char buf[MR_MAX_RECORD];
	uint32_t n = __atomic_exchange_n(&child.dropped, 0, __ATOMIC_SEQ_CST);
	unsigned next = 0;
	size_t len;

	if (n == 0)
		return;
	len = milter_record_msg_encode(&none, &next, false, n, buf, sizeof(buf));
	if (send(child.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len)
		__atomic_add_fetch(&child.dropped, n, __ATOMIC_SEQ_CST);
}

/*
 * Until the supervisor closes (or loses) the write end of the stop pipe,
 * report drops every DROP_FLUSH_MS; then let running callbacks finish and
 * go.  libmilter's own SIGTERM path would take up to its 5 s poll
 * interval and, as non-root, remove the socket file.
 */
static void *child_watchdog(void *arg)
{
	struct pollfd p = {(int)(intptr_t)arg, POLLIN, 0};
	struct timespec tick = {0, 10 * 1000 * 1000};
	int n;

	while ((n = poll(&p, 1, DROP_FLUSH_MS)) <= 0) {
		if (n < 0 && errno != EINTR)
			break;
		flush_dropped();
	}
	for (int i = 0; i < INFLIGHT_WAIT_MS / 10; i++) {
		if (__atomic_load_n(&child.inflight, __ATOMIC_SEQ_CST) == 0)
			break;
		nanosleep(&tick, NULL);
	}
	flush_dropped();
	_exit(0);
	return NULL;
}

static void __attribute__((noreturn)) child_main(struct milter_input *in, int stop_r)
{
	sigset_t set;
	pthread_t t;
	int rc;

	prctl(PR_SET_NAME, "tlsrpt-mchild", 0, 0, 0);
	child.fd = in->child_fd;
	/* the watchdog takes no signals; the rest of the process the defaults */
	sigfillset(&set);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	rc = pthread_create(&t, NULL, child_watchdog, (void *)(intptr_t)stop_r);
	sigemptyset(&set);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	if (rc != 0) {
		log_msg(LOG_ERR, "milter_child_failed error=\"%s\"", strerror(rc));
		_exit(EX_OSERR);
	}
	rc = smfi_main();
	/* _exit: stdio buffers copied from the daemon are not ours to flush */
	_exit(rc == MI_SUCCESS ? 0 : EX_SOFTWARE);
}

/* ---- the supervisor ----------------------------------------------------- */

struct supervisor {
	struct milter_input *in;
	int sfd;		/* signalfd: TERM, INT, CHLD */
	pid_t child;
	int stop_w;		/* the child's stop pipe, write end */
	long long last_spawn;	/* monotonic ms; 0 = never */
	long long kill_at;	/* stopping: SIGKILL the child at this time */
	bool stopping;
	bool daemon_gone;
};

static void notify(struct supervisor *s, int event, pid_t pid, int status)
{
	unsigned char buf[32];
	size_t len = milter_record_notice_encode(event, (uint32_t)pid, (uint32_t)status, buf,
	    sizeof(buf));

	if (s->daemon_gone)
		return;
	/* best effort: a full pair loses the notice, not the supervisor */
	if (send(s->in->child_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len)
		log_msg(LOG_DEBUG, "milter_notice_lost event=%d error=\"%s\"", event,
		    strerror(errno));
}

/* "exit=N" or "signal=NAME" */
static void describe_status(int st, char *out, size_t outlen)
{
	const char *name;

	if (WIFEXITED(st)) {
		snprintf(out, outlen, "exit=%d", WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		name = sigabbrev_np(WTERMSIG(st));
		if (name != NULL)
			snprintf(out, outlen, "signal=%s", name);
		else
			snprintf(out, outlen, "signal=%d", WTERMSIG(st));
	} else {
		snprintf(out, outlen, "status=%d", st);
	}
}

/* Is the socket file still the one milter_input_open() made? */
static bool socket_file_ours(const struct milter_input *in)
{
	struct stat sb;

	if (in->path == NULL)
		return true;
	if (in->sock_ino == 0)
		return false;	/* never created */
	return lstat(in->path, &sb) == 0 && S_ISSOCK(sb.st_mode) && sb.st_dev == in->sock_dev &&
	    sb.st_ino == in->sock_ino;
}

/*
 * libmilter removes the socket file when its listener ends (a SIGTERM to
 * the child, as non-root): bind a new one at the same path and put it
 * where libmilter's listening descriptor was, so the next child serves
 * it.  A path that now holds something else is left alone.
 */
static bool recreate_socket(struct milter_input *in)
{
	struct sockaddr_un sa;
	struct stat sb;
	mode_t old;
	int fd, rc;

	if (in->listen_fd < 0 || lstat(in->path, &sb) == 0 || errno != ENOENT)
		return false;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, in->path, strlen(in->path));
	old = umask((mode_t)(~in->sock_mode & 0777));
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0 || listen(fd, SOMAXCONN) != 0 || dup2(fd, in->listen_fd) < 0 ||
	    lstat(in->path, &sb) != 0) {
		log_msg(LOG_ERR, "milter_socket_not_recreated path=%s error=\"%s\"", in->path,
		    strerror(errno));
		close(fd);
		return false;
	}
	close(fd);
	in->sock_dev = sb.st_dev;
	in->sock_ino = sb.st_ino;
	in->sock_recreated = true;
	if (lchown(in->path, in->sock_owner, in->sock_group) != 0)
		log_msg(LOG_WARNING, "milter_socket_owner_not_restored path=%s error=\"%s\" "
		    "(the MTA may lack access; restart tlsrpt-milter)", in->path, strerror(errno));
	log_msg(LOG_NOTICE, "milter_socket_recreated path=%s (libmilter had removed it)", in->path);
	return true;
}

/* Fork a child; -1 when there is no point in trying again. */
static int start_child(struct supervisor *s)
{
	int p[2];
	pid_t pid;

	if (!socket_file_ours(s->in) && !recreate_socket(s->in)) {
		log_msg(LOG_ERR, "milter_socket_lost path=%s (the socket file was removed or "
		    "replaced; the milter input is off until tlsrpt-milter restarts)", s->in->path);
		return -1;
	}
	s->last_spawn = monotonic_ms();
	if (pipe2(p, O_CLOEXEC) != 0) {
		log_msg(LOG_ERR, "milter_child_respawn_failed error=\"pipe: %s\" (retrying in %d s)",
		    strerror(errno), RESPAWN_MS / 1000);
		return 0;
	}
	pid = fork();
	if (pid < 0) {
		log_msg(LOG_ERR, "milter_child_respawn_failed error=\"fork: %s\" (retrying in %d s)",
		    strerror(errno), RESPAWN_MS / 1000);
		close(p[0]);
		close(p[1]);
		return 0;
	}
	if (pid == 0) {
		close(p[1]);
		close(s->sfd);
		child_main(s->in, p[0]);
	}
	close(p[0]);
	s->stop_w = p[1];
	s->child = pid;
	log_msg(LOG_INFO, "milter_child_started pid=%ld socket=%s", (long)pid, s->in->conn);
	notify(s, NOTICE_CHILD_STARTED, pid, 0);
	return 0;
}

static void begin_stop(struct supervisor *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	s->kill_at = monotonic_ms() + CHILD_STOP_MS;
	if (s->stop_w >= 0) {
		close(s->stop_w);	/* the child's watchdog ends it */
		s->stop_w = -1;
	}
	notify(s, NOTICE_STOPPING, s->child, 0);
}

static void reap_child(struct supervisor *s)
{
	char how[64];
	int st;

	if (s->child <= 0 || waitpid(s->child, &st, WNOHANG) != s->child)
		return;
	if (s->stop_w >= 0) {
		close(s->stop_w);
		s->stop_w = -1;
	}
	if (!s->stopping) {
		long long wait = s->last_spawn + RESPAWN_MS - monotonic_ms();

		describe_status(st, how, sizeof(how));
		log_msg(LOG_ERR, "milter_child_died pid=%ld %s respawn_in_ms=%lld", (long)s->child,
		    how, wait > 0 ? wait : 0);
		notify(s, NOTICE_CHILD_DIED, s->child, st);
	}
	s->child = 0;
}

/*
 * A stop first: systemd signals every process of the unit at once, and a
 * child ended by that is not a death to report and respawn.
 */
static void take_signals(struct supervisor *s)
{
	struct signalfd_siginfo si;
	bool stop = false, chld = false;

	while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			chld = true;
		else
			stop = true;
	}
	if (stop)
		begin_stop(s);
	if (chld)
		reap_child(s);
}

/* Milliseconds until the next thing to do, or -1 to wait for events only. */
static int next_timeout(struct supervisor *s, long long now)
{
	long long due;

	if (s->stopping)
		due = s->kill_at;
	else if (s->child <= 0)
		due = s->last_spawn ? s->last_spawn + RESPAWN_MS : now;
	else
		return -1;
	return due <= now ? 0 : (int)(due - now);
}

/* Returns true when the supervisor is done. */
static bool supervise_once(struct supervisor *s)
{
	struct pollfd pfd[2] = {{s->sfd, POLLIN, 0}, {s->daemon_gone ? -1 : s->in->child_fd, 0, 0}};
	long long now = monotonic_ms();
	int timeout = next_timeout(s, now);

	if (s->stopping && s->child <= 0)
		return true;
	if (s->stopping && timeout == 0) {
		kill(s->child, SIGKILL);
		waitpid(s->child, NULL, 0);
		return true;
	}
	if (!s->stopping && s->child <= 0 && timeout == 0)
		return start_child(s) < 0;
	if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
		log_msg(LOG_ERR, "milter_supervisor_poll_failed error=\"%s\"", strerror(errno));
		return true;
	}
	if (pfd[1].revents & (POLLHUP | POLLERR)) {
		s->daemon_gone = true;	/* the daemon's end closed: it is gone */
		begin_stop(s);
	}
	if (pfd[0].revents & POLLIN)
		take_signals(s);
	return false;
}

/*
 * The supervisor keeps only what it and its child use: the standard
 * descriptors, libmilter's listening socket and its end of the pair.
 * Every other socket of the daemon (datagram, socketmap, policy map) must
 * close with the daemon: held here, a killed daemon's socket would still
 * queue connections that nobody answers, and an MTA would wait out its
 * time-out instead of meeting "connection refused".
 */
static void close_inherited(const struct milter_input *in)
{
	int keep[2] = {in->listen_fd, in->child_fd};
	struct rlimit rl;
	unsigned int last = 65535, from = 3;

	if (in->listen_fd < 0) {	/* libmilter's socket unknown: it must not go */
		close(in->fd);
		close(in->stop_fd);
		return;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 3)
		last = (unsigned int)rl.rlim_cur - 1;	/* valgrind's own lie above this */
	if (keep[0] > keep[1]) {
		int t = keep[0];

		keep[0] = keep[1];
		keep[1] = t;
	}
	log_detach();
	for (int i = 0; i < 2; i++) {
		if (keep[i] < (int)from)
			continue;
		if ((unsigned int)keep[i] > from)
			(void)close_range(from, (unsigned int)keep[i] - 1, 0);
		from = (unsigned int)keep[i] + 1;
	}
	if (from <= last)
		(void)close_range(from, last, 0);
	log_reopen();
}

static void __attribute__((noreturn)) supervisor_main(struct milter_input *in)
{
	struct supervisor s = {.in = in, .stop_w = -1};
	sigset_t set;

	prctl(PR_SET_NAME, "tlsrpt-msuperv", 0, 0, 0);
	close_inherited(in);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);	/* the daemon's reload is not ours; stays blocked */
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGHUP);
	sigdelset(&set, SIGUSR1);
	s.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s.sfd < 0) {
		log_msg(LOG_ERR, "milter_input_failed error=\"signalfd: %s\" (the milter input is "
		    "off)", strerror(errno));
		notify(&s, NOTICE_GAVE_UP, 0, 0);
		_exit(EX_OSERR);
	}
	while (!supervise_once(&s))
		;
	if (in->sock_recreated && socket_file_ours(in))
		unlink(in->path);	/* the daemon only removes the file it made */
	if (!s.stopping)
		notify(&s, NOTICE_GAVE_UP, 0, 0);
	_exit(s.stopping ? 0 : EX_UNAVAILABLE);
}

/* ---- the public API ----------------------------------------------------- */

/* libmilter's connection string for a parsed endpoint. */
static void make_conn(struct milter_input *in, const char *host)
{
	char buf[600], addr[sizeof(struct in6_addr)];
	const char *proto = in->family == AF_INET6 ? "inet6" : "inet";
	size_t hl = strlen(host);

	if (in->family == AF_UNIX) {
		snprintf(buf, sizeof(buf), "unix:%s", host);
	} else if (hl == 0) {
		snprintf(buf, sizeof(buf), "%s:%d", proto, in->port);
	} else if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		snprintf(buf, sizeof(buf), "%s:%d@%s", proto, in->port, host);
	} else if (inet_pton(in->family, host, addr) == 1) {
		/* brackets: libmilter takes the address as it is, no name lookup */
		snprintf(buf, sizeof(buf), "%s:%d@[%s]", proto, in->port, host);
	} else {
		snprintf(buf, sizeof(buf), "%s:%d@%s", proto, in->port, host);
	}
	in->conn = xstrdup(buf);
}

static bool listen_fd_matches(const struct milter_input *in, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int acc = 0;
	socklen_t al = sizeof(acc);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) != 0 || !acc ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return false;
	if (in->family == AF_UNIX)
		return ss.ss_family == AF_UNIX &&
		    strcmp(((struct sockaddr_un *)&ss)->sun_path, in->path) == 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port) == in->port;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == in->port;
	return false;
}

/*
 * libmilter keeps its listening socket to itself.  Find our copy so the
 * daemon can close it once the supervisor holds it: when the supervisor
 * is gone the socket closes and the MTA is refused at once (and applies
 * milter_default_action) rather than waiting on a backlog nobody reads.
 */
static int find_listen_fd(const struct milter_input *in)
{
	for (int fd = 3; fd < 4096; fd++)
		if (listen_fd_matches(in, fd))
			return fd;
	return -1;
}

static void set_pair_buffer(int fd)
{
	int v = PAIR_BUFFER;

	/* FORCE lets root go beyond net.core.wmem_max; else the kernel caps it */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static int open_unix_socket(struct milter_input *in, const struct tlsrpt_conf *conf,
    uid_t owner, gid_t group, char *err, size_t errlen)
{
	const struct listen_spec spec = {
		.option = "milter_socket", .holder = "another running milter", .type = SOCK_STREAM,
	};
	struct stat sb;
	mode_t old;
	int rc;

	/* libmilter binds: only refuse another running milter's socket (a
	 * stale one stays for smfi_opensocket(true) to remove) */
	if (listen_check_stale(in->path, &spec, false, err, errlen) != 0)
		return -1;
	/* the final mode from the start: no window with a wider one */
	old = umask((mode_t)(~conf->milter_socket_mode & 0777));
	rc = smfi_opensocket(true);
	umask(old);
	if (rc != MI_SUCCESS) {
		snprintf(err, errlen, "cannot listen on milter_socket %s (does the directory "
		    "exist? libmilter logs the reason to syslog)", conf->milter_socket);
		return -1;
	}
	if (lstat(in->path, &sb) != 0 || !S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "milter_socket %s vanished after it was created", in->path);
		return -1;
	}
	in->sock_dev = sb.st_dev;
	in->sock_ino = sb.st_ino;
	in->sock_mode = (mode_t)conf->milter_socket_mode;
	in->sock_owner = owner;
	in->sock_group = group;
	/* lchown: if the path was swapped for a symlink, change the link, not its target */
	if (lchown(in->path, owner, group) != 0 && geteuid() == 0) {
		snprintf(err, errlen, "chown %s: %s", in->path, strerror(errno));
		return -1;
	}
	if ((sb.st_mode & 0777) != (mode_t)conf->milter_socket_mode &&
	    chmod(in->path, (mode_t)conf->milter_socket_mode) != 0) {
		snprintf(err, errlen, "chmod %s: %s", in->path, strerror(errno));
		return -1;
	}
	return 0;
}

struct milter_input *milter_input_open(const struct tlsrpt_conf *conf, uid_t owner, gid_t group,
    char *err, size_t errlen)
{
	struct milter_input *in;
	char host[512];
	int sp[2];

	in = xcalloc(1, sizeof(*in));
	in->listen_fd = in->fd = in->child_fd = in->stop_fd = -1;
	if (!conf_parse_endpoint(conf->milter_socket, &in->family, host, sizeof(host), &in->port)) {
		snprintf(err, errlen, "milter_socket %s: expected unix:/path or inet:PORT@ADDRESS",
		    conf->milter_socket);
		goto fail;
	}
	make_conn(in, host);
	if (smfi_register(milter_desc) != MI_SUCCESS || smfi_setconn(in->conn) != MI_SUCCESS) {
		snprintf(err, errlen, "libmilter refused milter_socket %s", in->conn);
		goto fail;
	}
	if (in->family == AF_UNIX) {
		in->path = xstrdup(host);
		if (open_unix_socket(in, conf, owner, group, err, errlen) != 0)
			goto fail;
	} else if (smfi_opensocket(false) != MI_SUCCESS) {
		snprintf(err, errlen, "cannot listen on milter_socket %s (is the port free and "
		    "the address local? libmilter logs the reason to syslog)", conf->milter_socket);
		goto fail;
	}
	in->listen_fd = find_listen_fd(in);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		goto fail;
	}
	in->fd = sp[0];
	in->child_fd = sp[1];
	set_pair_buffer(in->child_fd);
	if ((in->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	in->buf = xmalloc(MR_MAX_RECORD + 1);
	return in;
fail:
	milter_input_close(in);
	return NULL;
}

int milter_input_spawn(struct milter_input *in, char *err, size_t errlen)
{
	pid_t pid = fork();

	if (pid < 0) {
		snprintf(err, errlen, "cannot start the milter process: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		supervisor_main(in);
	in->supervisor = pid;
	close(in->child_fd);
	in->child_fd = -1;
	if (in->listen_fd >= 0) {
		close(in->listen_fd);	/* the supervisor and its child hold it now */
		in->listen_fd = -1;
	}
	return 0;
}

void milter_input_attach(struct milter_input *in, struct writer *w, struct report_mails *rm)
{
	in->writer = w;
	in->rm = rm;
	in->batch = writer_new_batch(w, "milter");
}

void milter_input_set_seen(struct milter_input *in, void (*fn)(void *ctx, const char *domain),
    void *ctx)
{
	in->seen_fn = fn;
	in->seen_ctx = ctx;
}

static void handle_record(struct milter_input *in, size_t len, bool truncated)
{
	const char *why;
	int event, type;

	if (truncated)
		len = MR_MAX_RECORD + 1;	/* decode() calls it oversize */
	type = milter_record_apply(in->writer, in->batch, in->rm, in->buf, len, (long long)time(NULL),
	    &event, &why);
	if (type < 0)
		log_ratelimited(&in->invalid_log, LOG_WARNING, "milter_record_rejected reason=\"%s\" "
		    "bytes=%zu", why, len);
	else if (why != NULL)
		log_ratelimited(&in->full_log, LOG_ERR, "milter_record_dropped reason=pending_limit "
		    "(the store has been unavailable too long; see store_commit_deferred)");
	if (event == NOTICE_STOPPING || event == NOTICE_GAVE_UP)
		in->supervisor_done = true;
	if (type >= 0 && in->seen_fn != NULL)
		milter_record_each_domain(in->buf, len, in->seen_fn, in->seen_ctx);
}

/* Read every record waiting; false once the other end is gone for good. */
static bool drain(struct milter_input *in)
{
	for (;;) {
		struct iovec iov = {in->buf, MR_MAX_RECORD + 1};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n = recvmsg(in->fd, &mh, MSG_DONTWAIT);

		if (n > 0) {
			handle_record(in, (size_t)n, (mh.msg_flags & MSG_TRUNC) != 0);
			continue;
		}
		if (n == 0)
			return false;	/* supervisor and child have both closed their end */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return true;
		log_msg(LOG_ERR, "milter_receive_failed error=\"%s\"", strerror(errno));
		return false;
	}
}

static void input_gone(struct milter_input *in)
{
	if (__atomic_load_n(&in->stopping, __ATOMIC_SEQ_CST))
		return;
	if (in->supervisor_done)
		log_msg(LOG_WARNING, "milter_input_stopped (the milter processes ended; the MTA "
		    "applies milter_default_action until tlsrpt-milter restarts)");
	else
		log_msg(LOG_ERR, "milter_input_failed reason=supervisor_exited (the milter input "
		    "is off until tlsrpt-milter restarts; the MTA applies milter_default_action)");
}

static void *reader_main(void *arg)
{
	struct milter_input *in = arg;
	struct pollfd pfd[2] = {{in->fd, POLLIN, 0}, {in->stop_fd, POLLIN, 0}};

	for (;;) {
		int n;

		heartbeat_idle(in->hb);
		n = poll(pfd, 2, -1);
		heartbeat_busy(in->hb, HEARTBEAT_GRACE_MS);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "milter_poll_failed error=\"%s\"", strerror(errno));
			break;
		}
		if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) && !drain(in)) {
			input_gone(in);
			pfd[0].fd = -1;	/* nothing more will come; wait to be stopped */
		}
		if (pfd[1].revents & POLLIN)
			break;
	}
	heartbeat_idle(in->hb);
	drain(in);	/* stopping: what the processes sent before they ended */
	return NULL;
}

int milter_input_start(struct milter_input *in)
{
	int rc;

	in->hb = heartbeat_register("milter_reader");
	rc = pthread_create(&in->reader, NULL, reader_main, in);
	if (rc != 0) {
		log_msg(LOG_ERR, "milter_thread_failed error=\"%s\"", strerror(rc));
		return -1;
	}
	in->reader_running = true;
	return 0;
}

/* waitpid with a deadline; true once pid is reaped. */
static bool wait_for(pid_t pid, int ms)
{
	struct timespec tick = {0, 10 * 1000 * 1000};

	for (int i = 0; i <= ms / 10; i++) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return true;
		nanosleep(&tick, NULL);
	}
	return false;
}

void milter_input_stop(struct milter_input *in)
{
	uint64_t one = 1;

	if (in == NULL)
		return;
	__atomic_store_n(&in->stopping, true, __ATOMIC_SEQ_CST);
	if (in->supervisor > 0) {
		kill(in->supervisor, SIGTERM);
		if (!wait_for(in->supervisor, SUPERVISOR_STOP_MS)) {
			log_msg(LOG_WARNING, "milter_supervisor_killed pid=%ld (did not stop within "
			    "%d ms)", (long)in->supervisor, SUPERVISOR_STOP_MS);
			kill(in->supervisor, SIGKILL);
			waitpid(in->supervisor, NULL, 0);
		}
		in->supervisor = 0;
	}
	if (in->stop_fd >= 0 && write(in->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_msg(LOG_ERR, "milter_stop_signal_failed error=\"%s\"", strerror(errno));
	if (in->reader_running) {
		pthread_join(in->reader, NULL);
		in->reader_running = false;
	}
}

void milter_input_close(struct milter_input *in)
{
	if (in == NULL)
		return;
	if (in->path != NULL && socket_file_ours(in) && unlink(in->path) != 0)
		log_msg(LOG_NOTICE, "milter_socket_not_removed path=%s error=\"%s\"", in->path,
		    strerror(errno));
	if (in->listen_fd >= 0)
		close(in->listen_fd);
	if (in->fd >= 0)
		close(in->fd);
	if (in->child_fd >= 0)
		close(in->child_fd);
	if (in->stop_fd >= 0)
		close(in->stop_fd);
	heartbeat_unregister(in->hb);
	free(in->buf);
	free(in->conn);
	free(in->path);
	free(in);
}

/*
 * NAME
 *	dns_txt - look up TLSRPT records (_smtp._tls TXT) and other names in the DNS
 * DESCRIPTION
 *	See dns_txt.h.  The queries go through c-ares: every call opens one
 *	channel (from resolv.conf, or with the one server of the resolver
 *	setting), runs all its lookups on it concurrently in a poll() loop
 *	on the caller's thread, and destroys it.  Nothing is shared between
 *	calls, so calls from several threads never wait for each other.
 *
 *	Deadlines: each lookup gets timeout_ms from its start.  c-ares
 *	tries each server twice, the second time with twice the wait, so
 *	its per-try time-out is timeout_ms / 3: with one server the two
 *	tries end at the deadline.  The deadline itself is ours and does
 *	not depend on what c-ares does: the loop never sleeps past the
 *	nearest one, and a lookup that reaches it is settled as a
 *	time-out; whatever c-ares later reports for it (a late answer, the
 *	end of a stalled TCP connection, the channel's destruction) is
 *	ignored.  c-ares retries a truncated UDP answer over TCP; its
 *	per-try time-out covers the TCP connect, the request and the
 *	answer, and it does not send a query twice over one connection, so
 *	a server that accepts the TCP query and never answers ends the
 *	lookup after one try (a third of timeout_ms, measured 667 ms of
 *	2000).  The reason given is "timed out after N ms", N the time the
 *	lookup took.  EDNS0 (payload 1232) makes truncated answers rare.
 *
 *	SERVFAIL, REFUSED and NOTIMP end the lookup with that rcode
 *	(ARES_FLAG_NOCHECKRESP: without it c-ares 1.18 moves on to the
 *	next server and, when there is none, reports a refused connection
 *	instead).
 *
 *	Classification (R5, R33): NXDOMAIN and NOERROR-without-records give
 *	LOOKUP_NONE; every other failure (SERVFAIL, REFUSED, FORMERR, a
 *	time-out, a refused connection, a malformed answer) is
 *	LOOKUP_TEMPORARY, because only a definite "no record" may stop a
 *	report.
 *
 *	Answers are read with the ns_parse functions of libresolv (the
 *	public message parser; nothing of glibc's resolver state is used):
 *	TXT records owned by the query name or a CNAME target in the same
 *	answer are accepted; an answer holding only a CNAME chain is
 *	followed by querying its end (at most CHAIN_MAX times, within the
 *	same deadline), for servers that do not chase CNAMEs themselves.
 *
 *	Not done: DNSSEC validation (the record is not security-critical:
 *	RFC 8460 section 7).
 */
#include "dns_txt.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <ares.h>

#include "util.h"

#define VERSION_TAG	"v=TLSRPTv1"
#define QUERY_PREFIX	"_smtp._tls."
#define NAME_MAX_LEN	253	/* presentation form, without the final dot */
#define LABEL_MAX_LEN	63
#define TXT_MAX_LEN	4096	/* joined character-strings of one record */
#define CHAIN_MAX	8	/* CNAME hops accepted inside one answer, and queries */
#define PARALLEL_MAX	64
#define TRIES		2	/* per server; the second waits twice as long */
#define EDNS_PAYLOAD	1232	/* the DNS flag day 2020 size: no IP fragmentation */

struct resolver_addr {
	bool set;
	int family;
	struct in_addr v4;
	struct in6_addr v6;
	uint16_t port;
};

/* ---- record selection (pure) ------------------------------------------ */

/* R5: "v=TLSRPTv1", optional WSP, then ";". */
static bool is_tlsrpt_record(const char *p, size_t len)
{
	size_t tag = sizeof(VERSION_TAG) - 1;
	size_t i;

	if (len < tag || memcmp(p, VERSION_TAG, tag) != 0)
		return false;
	for (i = tag; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
		continue;
	return i < len && p[i] == ';';
}

enum tlsrpt_lookup_status tlsrpt_select_record(const char *const *txt, size_t n,
    const char **chosen)
{
	size_t found = 0;
	size_t i;

	*chosen = NULL;
	for (i = 0; i < n; i++) {
		if (txt[i] == NULL || !is_tlsrpt_record(txt[i], strlen(txt[i])))
			continue;
		if (found++ == 0)
			*chosen = txt[i];
	}
	if (found == 1)
		return LOOKUP_FOUND;
	*chosen = NULL;
	return found == 0 ? LOOKUP_NONE : LOOKUP_MULTIPLE;
}

/* ---- configuration checks ---------------------------------------------- */

static bool parse_port(const char *s, uint16_t *port)
{
	uint64_t v;

	if (!parse_u64(s, &v) || v < 1 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* "ADDRESS", "ADDRESS:PORT", "V6", "[V6]" or "[V6]:PORT". */
static int parse_resolver(const char *spec, struct resolver_addr *ra, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_str = NULL;
	const char *colon;
	size_t hlen;

	memset(ra, 0, sizeof(*ra));
	ra->port = 53;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			snprintf(err, errlen, "bad resolver \"%.64s\": expected [IPV6]:PORT", spec);
			return -1;
		}
		hlen = (size_t)(close - spec - 1);
		if (hlen >= sizeof(host))
			goto bad_addr;
		memcpy(host, spec + 1, hlen);
		host[hlen] = '\0';
		if (close[1] == ':')
			port_str = close + 2;
	} else if ((colon = strchr(spec, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
		hlen = (size_t)(colon - spec);
		if (hlen >= sizeof(host))
			goto bad_addr;
		memcpy(host, spec, hlen);
		host[hlen] = '\0';
		port_str = colon + 1;
	} else {
		if (strlen(spec) >= sizeof(host))
			goto bad_addr;
		strcpy(host, spec);
	}
	if (port_str != NULL && !parse_port(port_str, &ra->port)) {
		snprintf(err, errlen, "bad resolver \"%.64s\": port must be 1-65535", spec);
		return -1;
	}
	if (inet_pton(AF_INET, host, &ra->v4) == 1)
		ra->family = AF_INET;
	else if (inet_pton(AF_INET6, host, &ra->v6) == 1)
		ra->family = AF_INET6;
	else
		goto bad_addr;
	ra->set = true;
	return 0;
bad_addr:
	snprintf(err, errlen, "bad resolver \"%.64s\": not an IP address "
	    "(use ADDRESS, ADDRESS:PORT or [IPV6]:PORT)", spec);
	return -1;
}

/* The resolver setting and time-out of a call: 0, or -1 with err. */
static int check_call(const char *resolver, long timeout_ms, struct resolver_addr *ra,
    char *err, size_t errlen)
{
	memset(ra, 0, sizeof(*ra));
	if (resolver != NULL && *resolver != '\0' && parse_resolver(resolver, ra, err, errlen) != 0)
		return -1;
	if (timeout_ms <= 0) {
		snprintf(err, errlen, "bad DNS timeout %ld ms: must be positive", timeout_ms);
		return -1;
	}
	return 0;
}

/* Letters, digits, hyphens; labels of 1-63 bytes; one final dot allowed. */
static bool domain_ok(const char *d, size_t *len)
{
	size_t n = strlen(d);
	size_t label = 0;
	size_t i;

	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0 || n > NAME_MAX_LEN - (sizeof(QUERY_PREFIX) - 1))
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > LABEL_MAX_LEN)
			return false;
	}
	if (d[n - 1] == '-')
		return false;
	*len = n;
	return true;
}

/* Letters, digits, hyphens, underscores ("_mta-sts"); labels of 1-63 bytes. */
static bool query_name_ok(const char *name)
{
	size_t n = strlen(name);
	size_t label = 0;
	size_t i;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (++label > LABEL_MAX_LEN)
			return false;
	}
	return true;
}

/* ---- answer parsing (pure) ---------------------------------------------- */

struct txt_set {
	char **txt;		/* well-formed records (TXT joined, addresses as text) */
	size_t n;
	size_t seen;		/* records in the answer, refused ones too */
	size_t bad_tlsrpt;	/* TLSRPT records refused (NUL byte, too long) */
	const char *bad_why;
};

static void txt_set_free(struct txt_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->txt[i]);
	free(s->txt);
	memset(s, 0, sizeof(*s));
}

static void txt_set_add(struct txt_set *s, char *item)
{
	s->txt = xrealloc(s->txt, (s->n + 1) * sizeof(*s->txt));
	s->txt[s->n++] = item;
}

/* Join the character-strings of one TXT rdata (R6); -1 if malformed. */
static int join_txt(const unsigned char *rd, size_t rdlen, struct strbuf *out)
{
	size_t off = 0;

	while (off < rdlen) {
		size_t len = rd[off++];

		if (len > rdlen - off)
			return -1;
		strbuf_append(out, rd + off, len);
		off += len;
	}
	return 0;
}

static void add_record(struct txt_set *s, const struct strbuf *sb)
{
	bool has_nul = sb->len > 0 && memchr(sb->data, '\0', sb->len) != NULL;
	bool too_long = sb->len > TXT_MAX_LEN;

	s->seen++;
	if (sb->len == 0) {	/* no character-string at all (strbuf data is NULL) */
		txt_set_add(s, xstrdup(""));
		return;
	}
	if (has_nul || too_long) {
		if (is_tlsrpt_record(sb->data, sb->len)) {
			s->bad_tlsrpt++;
			s->bad_why = has_nul ? "contains a NUL byte" : "is longer than 4096 bytes";
		}
		return;
	}
	txt_set_add(s, xstrndup(sb->data, sb->len));
}

/* The query name plus CNAME targets found in the answer section. */
struct name_chain {
	char name[CHAIN_MAX][NS_MAXDNAME];
	int n;
};

static bool chain_has(const struct name_chain *c, const char *name)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (strcasecmp(c->name[i], name) == 0)
			return true;
	return false;
}

static void follow_cnames(ns_msg *msg, struct name_chain *c)
{
	int count = ns_msg_count(*msg, ns_s_an);
	bool grew = true;
	int i;

	while (grew && c->n < CHAIN_MAX) {
		grew = false;
		for (i = 0; i < count && c->n < CHAIN_MAX; i++) {
			ns_rr rr;
			char target[NS_MAXDNAME];

			if (ns_parserr(msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_cname ||
			    !chain_has(c, ns_rr_name(rr)))
				continue;
			if (ns_name_uncompress(ns_msg_base(*msg), ns_msg_end(*msg), ns_rr_rdata(rr),
			    target, sizeof(target)) < 0 || chain_has(c, target))
				continue;
			strcpy(c->name[c->n++], target);
			grew = true;
		}
	}
}

/* One A or AAAA rdata as text; -1 if malformed. */
static int add_address(struct txt_set *s, int type, const unsigned char *rd, size_t rdlen)
{
	char text[INET6_ADDRSTRLEN];
	int family = type == ns_t_a ? AF_INET : AF_INET6;

	if (rdlen != (type == ns_t_a ? 4u : 16u) ||
	    inet_ntop(family, rd, text, sizeof(text)) == NULL)
		return -1;
	s->seen++;
	txt_set_add(s, xstrdup(text));
	return 0;
}

/* One record of the wanted type (TXT, A or AAAA) into s; -1 if malformed. */
static int add_rr(struct txt_set *s, int type, const ns_rr *rr, struct strbuf *sb)
{
	if (type != ns_t_txt)
		return add_address(s, type, ns_rr_rdata(*rr), ns_rr_rdlen(*rr));
	strbuf_reset(sb);
	if (join_txt(ns_rr_rdata(*rr), ns_rr_rdlen(*rr), sb) != 0)
		return -1;
	add_record(s, sb);
	return 0;
}

/*
 * 0 and s filled with the records of "type", or -1: the answer is
 * malformed (s is left empty).  last gets the end of the CNAME chain
 * found in the answer (qname when there is none).
 */
static int collect_rrs(const unsigned char *ans, size_t len, const char *qname, int type,
    struct txt_set *s, char last[NS_MAXDNAME])
{
	struct name_chain *chain;
	struct strbuf sb;
	ns_msg msg;
	int count, i, rc = 0;

	snprintf(last, NS_MAXDNAME, "%s", qname);
	if (len > 65535 || ns_initparse(ans, (int)len, &msg) != 0)
		return -1;
	chain = xcalloc(1, sizeof(*chain));
	snprintf(chain->name[0], sizeof(chain->name[0]), "%s", qname);
	chain->n = 1;
	follow_cnames(&msg, chain);
	strcpy(last, chain->name[chain->n - 1]);
	strbuf_init(&sb);
	count = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < count; i++) {
		ns_rr rr;

		if (ns_parserr(&msg, ns_s_an, i, &rr) != 0) {
			rc = -1;
			break;
		}
		if ((int)ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in ||
		    !chain_has(chain, ns_rr_name(rr)))
			continue;
		if (add_rr(s, type, &rr, &sb) != 0) {
			rc = -1;
			break;
		}
	}
	strbuf_free(&sb);
	free(chain);
	if (rc != 0)
		txt_set_free(s);
	return rc;
}

static const char *type_name(int type)
{
	return type == ns_t_txt ? "TXT" : type == ns_t_a ? "A" : "AAAA";
}

/* ---- outcomes --------------------------------------------------------------- */

/* What became of one query type of a lookup. */
struct outcome {
	enum tlsrpt_lookup_status status;	/* FOUND: answered (maybe without records) */
	char error[256];
};

static void __attribute__((format(printf, 3, 4)))
set_outcome(struct outcome *o, enum tlsrpt_lookup_status status, const char *fmt, ...)
{
	va_list ap;

	o->status = status;
	va_start(ap, fmt);
	vsnprintf(o->error, sizeof(o->error), fmt, ap);
	va_end(ap);
}

/* A c-ares status other than success, for a query of "type" at "name". */
static void classify_status(struct outcome *o, int status, int type, const char *name,
    long long elapsed_ms)
{
	switch (status) {
	case ARES_ENOTFOUND:
		set_outcome(o, LOOKUP_NONE, "NXDOMAIN");
		return;
	case ARES_ENODATA:
		set_outcome(o, LOOKUP_NONE, "no %s record at %s", type_name(type), name);
		return;
	case ARES_ESERVFAIL:
		set_outcome(o, LOOKUP_TEMPORARY, "SERVFAIL");
		return;
	case ARES_EREFUSED:
		set_outcome(o, LOOKUP_TEMPORARY, "REFUSED");
		return;
	case ARES_EFORMERR:
		set_outcome(o, LOOKUP_TEMPORARY, "FORMERR");
		return;
	case ARES_ENOTIMP:
		set_outcome(o, LOOKUP_TEMPORARY, "NOTIMP");
		return;
	case ARES_ETIMEOUT:
		set_outcome(o, LOOKUP_TEMPORARY, "timed out after %lld ms", elapsed_ms);
		return;
	case ARES_ECONNREFUSED:
		set_outcome(o, LOOKUP_TEMPORARY, "no answer: connection refused by the resolver");
		return;
	case ARES_EBADRESP:
		set_outcome(o, LOOKUP_TEMPORARY, "malformed DNS answer for %s", name);
		return;
	default:
		set_outcome(o, LOOKUP_TEMPORARY, "lookup failed: %s", ares_strerror(status));
		return;
	}
}

void dns_parse_answer(const unsigned char *msg, size_t len, const char *qname, int type,
    struct dns_answer *a, char next[NS_MAXDNAME])
{
	struct txt_set s = { 0 };

	memset(a, 0, sizeof(*a));
	if (collect_rrs(msg, len, qname, type, &s, next) != 0) {
		a->status = LOOKUP_TEMPORARY;
		snprintf(a->error, sizeof(a->error), "malformed DNS answer for %.200s", qname);
		return;
	}
	a->item = s.txt;
	a->n = s.n;
	a->status = s.n > 0 ? LOOKUP_FOUND : LOOKUP_NONE;
	if (s.n == 0)
		snprintf(a->error, sizeof(a->error), "no %s record at %.200s", type_name(type), qname);
}

/* ---- the engine: lookups on one c-ares channel ---------------------------- */

enum job_kind { JOB_TLSRPT, JOB_TXT, JOB_ADDR };

#define SLOTS 2		/* query types of one lookup: TXT, or A and AAAA */

struct job {
	enum job_kind kind;
	const char *name;		/* the caller's name */
	char qname[NS_MAXDNAME];	/* what is queried first */
	long long started_at, deadline;	/* monotonic ms */
	int pending;			/* queries in flight */
	bool started, done;
	struct txt_set set[SLOTS];
	struct outcome out[SLOTS];
	/* the result */
	enum tlsrpt_lookup_status status;
	char error[256];
	char *text;			/* JOB_TLSRPT, FOUND */
	char **item;			/* JOB_TXT, JOB_ADDR, FOUND */
	size_t n;
};

struct query {
	struct query *next;		/* every query of the engine, freed at the end */
	struct engine *e;
	struct job *job;
	int slot, type, hop;
	char name[NS_MAXDNAME];
};

struct engine {
	ares_channel ch;
	bool ready;
	char init_error[200];
	long timeout_ms;
	size_t parallel, active, next;
	size_t low;			/* jobs before it are all settled */
	struct job *jobs;
	size_t njobs;
	struct query *queries;
};

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status = ARES_SUCCESS;

static void library_start(void)
{
	ares_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

static void __attribute__((format(printf, 3, 4)))
job_settle(struct job *j, enum tlsrpt_lookup_status status, const char *fmt, ...)
{
	va_list ap;

	j->status = status;
	va_start(ap, fmt);
	vsnprintf(j->error, sizeof(j->error), fmt, ap);
	va_end(ap);
	j->done = true;
}

/* The one server of the resolver setting instead of resolv.conf's. */
static int set_server(ares_channel ch, const struct resolver_addr *ra)
{
	struct ares_addr_port_node node;

	memset(&node, 0, sizeof(node));
	node.family = ra->family;
	if (ra->family == AF_INET)
		node.addr.addr4 = ra->v4;
	else
		memcpy(&node.addr.addr6, &ra->v6, sizeof(ra->v6));
	node.udp_port = ra->port;
	node.tcp_port = ra->port;
	return ares_set_servers_ports(ch, &node);
}

static void engine_open(struct engine *e, const struct resolver_addr *ra, long timeout_ms,
    int parallel)
{
	struct ares_options o;
	int rc, mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_EDNSPSZ |
	    ARES_OPT_NOROTATE;

	memset(e, 0, sizeof(*e));
	e->timeout_ms = timeout_ms;
	e->parallel = parallel < 1 ? 1 : parallel > PARALLEL_MAX ? PARALLEL_MAX : (size_t)parallel;
	pthread_once(&ares_once, library_start);
	if (ares_init_status != ARES_SUCCESS) {
		snprintf(e->init_error, sizeof(e->init_error), "resolver initialisation failed: %s",
		    ares_strerror(ares_init_status));
		return;
	}
	memset(&o, 0, sizeof(o));
	/* NOCHECKRESP: c-ares 1.18 would report SERVFAIL, REFUSED and NOTIMP as ECONNREFUSED */
	o.flags = ARES_FLAG_EDNS | ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_NOCHECKRESP;
	o.timeout = (int)(timeout_ms / 3 > 0 ? timeout_ms / 3 : 1);
	o.tries = TRIES;
	o.ednspsz = EDNS_PAYLOAD;
	rc = ares_init_options(&e->ch, &o, mask);
	if (rc == ARES_SUCCESS && ra->set && (rc = set_server(e->ch, ra)) != ARES_SUCCESS)
		ares_destroy(e->ch);
	if (rc != ARES_SUCCESS) {
		snprintf(e->init_error, sizeof(e->init_error), "resolver initialisation failed: %s",
		    ares_strerror(rc));
		return;
	}
	e->ready = true;
}

static void engine_close(struct engine *e)
{
	if (e->ready)
		ares_destroy(e->ch);	/* calls back every query still open: ignored */
	while (e->queries != NULL) {
		struct query *q = e->queries;

		e->queries = q->next;
		free(q);
	}
	for (size_t i = 0; i < e->njobs; i++)
		for (int s = 0; s < SLOTS; s++)
			txt_set_free(&e->jobs[i].set[s]);
}

static void answered(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

static void send_query(struct engine *e, struct job *j, int slot, int type, const char *name,
    int hop)
{
	struct query *q = xcalloc(1, sizeof(*q));

	q->e = e;
	q->job = j;
	q->slot = slot;
	q->type = type;
	q->hop = hop;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->next = e->queries;
	e->queries = q;
	j->pending++;
	ares_query(e->ch, q->name, ns_c_in, type, answered, q);	/* may call back at once */
}

/* The TLSRPT record out of the TXT records (R5, R6). */
static void finish_tlsrpt(struct job *j)
{
	const struct txt_set *s = &j->set[0];
	const char *chosen = NULL;
	enum tlsrpt_lookup_status st;
	size_t total, k, good = 0;

	if (j->out[0].status != LOOKUP_FOUND) {
		job_settle(j, j->out[0].status, "%s", j->out[0].error);
		return;
	}
	st = tlsrpt_select_record((const char *const *)s->txt, s->n, &chosen);
	total = (st == LOOKUP_FOUND ? 1 : 0) + s->bad_tlsrpt;
	if (st == LOOKUP_MULTIPLE || total > 1) {
		for (k = 0; k < s->n; k++)
			if (is_tlsrpt_record(s->txt[k], strlen(s->txt[k])))
				good++;
		job_settle(j, LOOKUP_MULTIPLE, "%zu TLSRPT records (RFC 8460 requires exactly one)",
		    good + s->bad_tlsrpt);
	} else if (st == LOOKUP_FOUND) {
		j->text = xstrdup(chosen);
		job_settle(j, LOOKUP_FOUND, "%s", "");
	} else if (s->bad_tlsrpt > 0) {
		job_settle(j, LOOKUP_NONE, "TLSRPT record at %s %s", j->qname, s->bad_why);
	} else if (s->seen == 0) {
		job_settle(j, LOOKUP_NONE, "no TXT record at %s", j->qname);
	} else {
		job_settle(j, LOOKUP_NONE, "no record starting with \"v=TLSRPTv1;\" among %zu TXT "
		    "records at %s", s->seen, j->qname);
	}
}

/*
 * The records of every slot merged (A before AAAA): FOUND when any slot
 * had some; else NONE when every slot was a definite "no", else
 * TEMPORARY with the first temporary failure's reason.  partial: the
 * deadline came first; slots still waiting count as timed out.
 */
static void finish_records(struct job *j, bool partial, long long now)
{
	int slots = j->kind == JOB_ADDR ? 2 : 1;
	const struct outcome *fail = NULL;

	for (int s = 0; s < slots; s++)
		for (size_t k = 0; k < j->set[s].n; k++) {
			j->item = xrealloc(j->item, (j->n + 1) * sizeof(*j->item));
			j->item[j->n++] = j->set[s].txt[k];
		}
	for (int s = 0; s < slots; s++) {
		free(j->set[s].txt);
		memset(&j->set[s], 0, sizeof(j->set[s]));
	}
	if (j->n > 0) {
		job_settle(j, LOOKUP_FOUND, "%s", "");
		return;
	}
	if (partial) {
		job_settle(j, LOOKUP_TEMPORARY, "timed out after %lld ms", now - j->started_at);
		return;
	}
	for (int s = 0; s < slots; s++) {
		const struct outcome *o = &j->out[s];

		if (fail == NULL || (o->status == LOOKUP_TEMPORARY && fail->status != LOOKUP_TEMPORARY))
			fail = o;
	}
	job_settle(j, fail->status, "%s", fail->error);
}

static void finish(struct engine *e, struct job *j)
{
	if (j->kind == JOB_TLSRPT)
		finish_tlsrpt(j);
	else
		finish_records(j, false, 0);
	e->active--;
}

/* One answer (or failure) of one query. */
static void answered(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct query *q = arg;
	struct job *j = q->job;
	struct outcome *o = &j->out[q->slot];
	char next[NS_MAXDNAME];

	(void)timeouts;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED || j->done)
		return;		/* the engine closes, or the deadline settled the lookup */
	j->pending--;
	if (status != ARES_SUCCESS) {
		classify_status(o, status, q->type, q->name, monotonic_ms() - j->started_at);
	} else if (abuf == NULL || alen < 0 ||
	    collect_rrs(abuf, (size_t)alen, q->name, q->type, &j->set[q->slot], next) != 0) {
		set_outcome(o, LOOKUP_TEMPORARY, "malformed DNS answer for %s", q->name);
	} else if (j->set[q->slot].seen == 0 && strcasecmp(next, q->name) != 0 &&
	    q->hop < CHAIN_MAX) {
		send_query(q->e, j, q->slot, q->type, next, q->hop + 1);	/* a bare CNAME chain */
		return;
	} else if (j->set[q->slot].seen == 0 && j->kind != JOB_TLSRPT) {
		set_outcome(o, LOOKUP_NONE, "no %s record at %s", type_name(q->type), j->qname);
	} else {
		set_outcome(o, LOOKUP_FOUND, "%s", "");
	}
	if (j->pending == 0)
		finish(q->e, j);
}

/* An IP address stands for itself. */
static bool addr_literal(struct job *j)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, j->name, buf) != 1 && inet_pton(AF_INET6, j->name, buf) != 1)
		return false;
	j->item = xcalloc(1, sizeof(*j->item));
	j->item[j->n++] = xstrdup(j->name);
	job_settle(j, LOOKUP_FOUND, "%s", "");
	return true;
}

/* A name in /etc/hosts is settled without the DNS, as by the "files" source. */
static bool addr_in_hosts_file(struct engine *e, struct job *j)
{
	static const int families[] = { AF_INET, AF_INET6 };

	for (size_t f = 0; f < 2; f++) {
		struct hostent *h = NULL;

		if (ares_gethostbyname_file(e->ch, j->name, families[f], &h) != ARES_SUCCESS)
			continue;
		for (char **a = h->h_addr_list; a != NULL && *a != NULL; a++) {
			char text[INET6_ADDRSTRLEN];

			if (inet_ntop(h->h_addrtype, *a, text, sizeof(text)) != NULL)
				txt_set_add(&j->set[f], xstrdup(text));
		}
		ares_free_hostent(h);
	}
	if (j->set[0].n + j->set[1].n == 0)
		return false;
	finish_records(j, false, 0);
	return true;
}

/* Settled before any query (bad name, address, /etc/hosts, no channel)? */
static bool job_settled_early(struct engine *e, struct job *j)
{
	size_t dlen;

	if (j->kind == JOB_ADDR && j->name != NULL && addr_literal(j))
		return true;
	if (j->kind == JOB_TLSRPT && j->name != NULL && domain_ok(j->name, &dlen)) {
		snprintf(j->qname, sizeof(j->qname), "%s%.*s", QUERY_PREFIX, (int)dlen, j->name);
	} else if (j->kind != JOB_TLSRPT && j->name != NULL && query_name_ok(j->name)) {
		/* without a final dot: the answer's owner names have none */
		dlen = strlen(j->name);
		snprintf(j->qname, sizeof(j->qname), "%.*s", (int)(j->name[dlen - 1] == '.' ?
		    dlen - 1 : dlen), j->name);
	} else {
		job_settle(j, LOOKUP_NONE, "invalid domain name \"%.64s\"",
		    j->name != NULL ? j->name : "(null)");
		return true;
	}
	if (!e->ready) {
		job_settle(j, LOOKUP_TEMPORARY, "%s", e->init_error);
		return true;
	}
	return j->kind == JOB_ADDR && addr_in_hosts_file(e, j);
}

/* Start job j: its queries are sent, or it is settled at once. */
static void job_start(struct engine *e, struct job *j, long long now)
{
	j->started = true;
	j->started_at = now;
	j->deadline = now + e->timeout_ms;
	if (job_settled_early(e, j))
		return;
	e->active++;
	if (j->kind == JOB_ADDR) {
		send_query(e, j, 0, ns_t_a, j->qname, 0);
		if (!j->done)
			send_query(e, j, 1, ns_t_aaaa, j->qname, 0);
	} else {
		send_query(e, j, 0, ns_t_txt, j->qname, 0);
	}
}

/* Lookups past their deadline are time-outs, whatever is still under way. */
static long long expire(struct engine *e, long long now)
{
	long long nearest = -1;

	while (e->low < e->next && e->jobs[e->low].done)
		e->low++;	/* jobs start in order: no pass over all of them */
	for (size_t i = e->low; i < e->next; i++) {
		struct job *j = &e->jobs[i];

		if (j->done)
			continue;
		if (j->deadline > now) {
			if (nearest < 0 || j->deadline < nearest)
				nearest = j->deadline;
			continue;
		}
		if (j->kind == JOB_TLSRPT)
			job_settle(j, LOOKUP_TEMPORARY, "timed out after %lld ms", now - j->started_at);
		else
			finish_records(j, true, now);
		e->active--;
	}
	return nearest;
}

/* Wait for c-ares' sockets or the next time-out, at most until "until"; then process. */
static void wait_once(struct engine *e, long long now, long long until)
{
	ares_socket_t socks[ARES_GETSOCK_MAXNUM];
	struct pollfd pfd[ARES_GETSOCK_MAXNUM];
	struct timeval maxtv, tv, *t;
	long long wait_ms = until - now;
	int bits, nfds = 0, rc;

	/* the bits by hand: ARES_GETSOCK_WRITABLE shifts a signed 1 into the sign bit */
	bits = ares_getsock(e->ch, socks, ARES_GETSOCK_MAXNUM);
	for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
		unsigned u = (unsigned)bits;
		short ev = (short)((u & (1u << i) ? POLLIN : 0) |
		    (u & (1u << (i + ARES_GETSOCK_MAXNUM)) ? POLLOUT : 0));

		if (ev == 0)
			continue;
		pfd[nfds].fd = socks[i];
		pfd[nfds].events = ev;
		pfd[nfds].revents = 0;
		nfds++;
	}
	maxtv.tv_sec = (time_t)(wait_ms / 1000);
	maxtv.tv_usec = (suseconds_t)(wait_ms % 1000 * 1000);
	t = ares_timeout(e->ch, &maxtv, &tv);
	wait_ms = (long long)t->tv_sec * 1000 + (t->tv_usec + 999) / 1000;
	rc = poll(nfds > 0 ? pfd : NULL, (nfds_t)nfds, (int)wait_ms);
	if (rc <= 0) {
		ares_process_fd(e->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);	/* time-outs */
		return;
	}
	for (int i = 0; i < nfds; i++) {
		short r = pfd[i].revents;

		if (r == 0)
			continue;
		ares_process_fd(e->ch, (r & (POLLIN | POLLERR | POLLHUP)) ? pfd[i].fd : ARES_SOCKET_BAD,
		    (r & (POLLOUT | POLLERR | POLLHUP)) ? pfd[i].fd : ARES_SOCKET_BAD);
	}
}

static void engine_run(struct engine *e)
{
	for (;;) {
		long long now = monotonic_ms(), nearest;

		while (e->active < e->parallel && e->next < e->njobs)
			job_start(e, &e->jobs[e->next++], now);
		nearest = expire(e, now);
		if (e->active == 0) {
			if (e->next >= e->njobs)
				return;
			continue;
		}
		wait_once(e, now, nearest);
	}
}

/* Run jobs (kind and name set) with the call's settings. */
static void run_jobs(struct job *jobs, size_t n, const struct resolver_addr *ra, int parallel,
    long timeout_ms)
{
	struct engine e;

	engine_open(&e, ra, timeout_ms, parallel);
	e.jobs = jobs;
	e.njobs = n;
	engine_run(&e);
	engine_close(&e);
}

/* ---- the API ---------------------------------------------------------------- */

int tlsrpt_lookup_all(struct tlsrpt_lookup *l, size_t n, const char *resolver,
    int parallel, long timeout_ms, char *err, size_t errlen)
{
	struct resolver_addr ra;
	struct job *jobs;
	size_t i;

	for (i = 0; i < n; i++) {
		l[i].status = LOOKUP_TEMPORARY;
		l[i].text = NULL;
		snprintf(l[i].error, sizeof(l[i].error), "not looked up");
	}
	if (check_call(resolver, timeout_ms, &ra, err, errlen) != 0)
		return -1;
	if (n == 0)
		return 0;
	jobs = xcalloc(n, sizeof(*jobs));
	for (i = 0; i < n; i++) {
		jobs[i].kind = JOB_TLSRPT;
		jobs[i].name = l[i].domain;
	}
	run_jobs(jobs, n, &ra, parallel, timeout_ms);
	for (i = 0; i < n; i++) {
		l[i].status = jobs[i].status;
		l[i].text = jobs[i].text;
		snprintf(l[i].error, sizeof(l[i].error), "%s", jobs[i].error);
	}
	free(jobs);
	return 0;
}

void tlsrpt_lookup_free(struct tlsrpt_lookup *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(l[i].text);
		l[i].text = NULL;
	}
}

static int query_all(enum job_kind kind, const char *const *names, struct dns_answer *a,
    size_t n, const char *resolver, int parallel, long timeout_ms, char *err, size_t errlen)
{
	struct resolver_addr ra;
	struct job *jobs;
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].status = LOOKUP_TEMPORARY;
		snprintf(a[i].error, sizeof(a[i].error), "not looked up");
	}
	if (check_call(resolver, timeout_ms, &ra, err, errlen) != 0)
		return -1;
	if (n == 0)
		return 0;
	jobs = xcalloc(n, sizeof(*jobs));
	for (i = 0; i < n; i++) {
		jobs[i].kind = kind;
		jobs[i].name = names[i];
	}
	run_jobs(jobs, n, &ra, parallel, timeout_ms);
	for (i = 0; i < n; i++) {
		a[i].status = jobs[i].status;
		a[i].item = jobs[i].item;
		a[i].n = jobs[i].n;
		snprintf(a[i].error, sizeof(a[i].error), "%s", jobs[i].error);
	}
	free(jobs);
	return 0;
}

int dns_query_txt(const char *name, const char *resolver, long timeout_ms, struct dns_answer *a,
    char *err, size_t errlen)
{
	return query_all(JOB_TXT, &name, a, 1, resolver, 1, timeout_ms, err, errlen);
}

int dns_query_addr(const char *name, const char *resolver, long timeout_ms, struct dns_answer *a,
    char *err, size_t errlen)
{
	return query_all(JOB_ADDR, &name, a, 1, resolver, 1, timeout_ms, err, errlen);
}

int dns_query_addr_all(const char *const *names, struct dns_answer *a, size_t n,
    const char *resolver, int parallel, long timeout_ms, char *err, size_t errlen)
{
	return query_all(JOB_ADDR, names, a, n, resolver, parallel, timeout_ms, err, errlen);
}

void dns_answer_free(struct dns_answer *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->item[i]);
	free(a->item);
	a->item = NULL;
	a->n = 0;
}

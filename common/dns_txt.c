/*
 * NAME
 *	dns_txt - look up TLSRPT records (_smtp._tls TXT) in the DNS
 * DESCRIPTION
 *	See dns_txt.h.  Queries go through glibc's libresolv with one
 *	struct __res_state per worker thread (never the global _res), so
 *	lookups run in parallel without sharing resolver state.
 *
 *	Classification (R5, R33): NXDOMAIN and NOERROR-without-TXT give
 *	LOOKUP_NONE; every other failure (SERVFAIL, REFUSED, FORMERR, a
 *	time-out, a refused connection, a malformed answer) is
 *	LOOKUP_TEMPORARY, because only a definite "no record" may stop a
 *	report.  glibc reports SERVFAIL as TRY_AGAIN, the same as a
 *	time-out, and REFUSED as NO_RECOVERY; the answer header (which
 *	glibc leaves in the buffer) tells them apart in the error text.
 *
 *	Time-outs: libresolv waits whole seconds (statp->retrans) per try,
 *	at least one.  timeout_ms is split into statp->retry tries of
 *	statp->retrans seconds without exceeding it, except that a time-out
 *	under one second becomes one second.  A truncated UDP answer makes
 *	libresolv retry over TCP, whose connect is not bounded by these
 *	settings; EDNS0 is requested so that such answers are rare.
 *
 *	The resolver override replaces the name server list read from
 *	resolv.conf with exactly one address (IPv4 in nsaddr_list[0], IPv6
 *	in the _u._ext.nsaddrs[0] slot that glibc uses for IPv6 servers).
 *
 *	The generic lookups (dns_query_txt, dns_query_addr) share the
 *	resolver setting, time-outs, CNAME handling and classification; they
 *	run one name at a time on the caller's thread.
 *
 *	Not done: DNSSEC validation (the record is not security-critical:
 *	RFC 8460 section 7).  CNAMEs: TXT records owned by the query name or
 *	a CNAME target in the same answer are accepted; an answer holding
 *	only a CNAME chain is followed by querying its end (at most
 *	CHAIN_MAX times), for servers that do not chase CNAMEs themselves.
 */
#include "dns_txt.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <resolv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "util.h"

#define VERSION_TAG	"v=TLSRPTv1"
#define QUERY_PREFIX	"_smtp._tls."
#define NAME_MAX_LEN	253	/* presentation form, without the final dot */
#define LABEL_MAX_LEN	63
#define TXT_MAX_LEN	4096	/* joined character-strings of one record */
#define ANSWER_MAX	65535
#define CHAIN_MAX	8	/* CNAME hops accepted inside one answer */
#define PARALLEL_MAX	64

struct resolver_addr {
	bool set;
	int family;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

struct pool {
	struct tlsrpt_lookup *l;
	size_t n;
	size_t next;		/* next lookup to take, under mu */
	pthread_mutex_t mu;
	const struct resolver_addr *resolver;
	long timeout_ms;
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
	uint16_t port = 53;

	memset(ra, 0, sizeof(*ra));
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
	if (port_str != NULL && !parse_port(port_str, &port)) {
		snprintf(err, errlen, "bad resolver \"%.64s\": port must be 1-65535", spec);
		return -1;
	}
	if (inet_pton(AF_INET, host, &ra->sin.sin_addr) == 1) {
		ra->family = AF_INET;
		ra->sin.sin_family = AF_INET;
		ra->sin.sin_port = htons(port);
	} else if (inet_pton(AF_INET6, host, &ra->sin6.sin6_addr) == 1) {
		ra->family = AF_INET6;
		ra->sin6.sin6_family = AF_INET6;
		ra->sin6.sin6_port = htons(port);
	} else {
		goto bad_addr;
	}
	ra->set = true;
	return 0;
bad_addr:
	snprintf(err, errlen, "bad resolver \"%.64s\": not an IP address "
	    "(use ADDRESS, ADDRESS:PORT or [IPV6]:PORT)", spec);
	return -1;
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

/* ---- resolver state ----------------------------------------------------- */

static void drop_servers(res_state st)
{
	int i;

	for (i = 0; i < MAXNS; i++) {
		free(st->_u._ext.nsaddrs[i]);
		st->_u._ext.nsaddrs[i] = NULL;
	}
}

/* 0, or -1 with err: res_ninit failed. */
static int resolver_open(res_state st, const struct resolver_addr *ra, long timeout_ms,
    char *err, size_t errlen)
{
	long secs = timeout_ms / 1000;
	int tries = 1;

	memset(st, 0, sizeof(*st));
	if (res_ninit(st) != 0) {
		snprintf(err, errlen, "resolver initialisation failed (res_ninit)");
		res_nclose(st);
		return -1;
	}
	if (secs < 1)
		secs = 1;
	if (secs >= 2) {	/* a second try helps against a lost UDP packet */
		tries = 2;
		secs /= 2;
	}
	st->retrans = (int)(secs > 30 ? 30 : secs);
	st->retry = tries;
	st->options |= RES_USE_EDNS0;
	st->options &= ~(unsigned long)RES_ROTATE;
	if (ra->set) {
		/* glibc's res_nclose frees the IPv6 slots it finds up to nscount */
		drop_servers(st);
		st->_u._ext.nscount = 0;
		memset(&st->nsaddr_list[0], 0, sizeof(st->nsaddr_list[0]));
		if (ra->family == AF_INET) {
			st->nsaddr_list[0] = ra->sin;
		} else {
			st->_u._ext.nsaddrs[0] = xmalloc(sizeof(struct sockaddr_in6));
			*st->_u._ext.nsaddrs[0] = ra->sin6;
		}
		st->nscount = 1;
	}
	return 0;
}

static long effective_timeout_ms(const struct __res_state *st)
{
	return (long)st->retrans * 1000L * (long)st->retry;
}

/* ---- answer parsing ------------------------------------------------------ */

struct txt_set {
	char **txt;		/* well-formed records (TXT joined, addresses as text) */
	size_t n;
	size_t seen;		/* TXT records in the answer, refused ones too */
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
	bool has_nul = memchr(sb->data, '\0', sb->len) != NULL;
	bool too_long = sb->len > TXT_MAX_LEN;

	s->seen++;
	if (has_nul || too_long) {
		if (is_tlsrpt_record(sb->data, sb->len)) {
			s->bad_tlsrpt++;
			s->bad_why = has_nul ? "contains a NUL byte" : "is longer than 4096 bytes";
		}
		return;
	}
	s->txt = xrealloc(s->txt, (s->n + 1) * sizeof(*s->txt));
	s->txt[s->n++] = xstrndup(sb->data, sb->len);
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
	s->txt = xrealloc(s->txt, (s->n + 1) * sizeof(*s->txt));
	s->txt[s->n++] = xstrdup(text);
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
 * malformed.  last gets the end of the CNAME chain found in the answer
 * (qname when there is none).
 */
static int collect_rrs(const unsigned char *ans, int len, const char *qname, int type,
    struct txt_set *s, char last[NS_MAXDNAME])
{
	struct name_chain *chain = xcalloc(1, sizeof(*chain));
	struct strbuf sb;
	ns_msg msg;
	int count, i, rc = 0;

	if (ns_initparse(ans, len, &msg) != 0) {
		free(chain);
		return -1;
	}
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

/* ---- one lookup ---------------------------------------------------------- */

/* Set the outcome and its reason; long names are cut, never overflow. */
static void __attribute__((format(printf, 3, 4)))
set_result(struct tlsrpt_lookup *l, enum tlsrpt_lookup_status status, const char *fmt, ...)
{
	va_list ap;

	l->status = status;
	va_start(ap, fmt);
	vsnprintf(l->error, sizeof(l->error), fmt, ap);
	va_end(ap);
}

static const char *rcode_name(int rcode)
{
	switch (rcode) {
	case ns_r_formerr: return "FORMERR";
	case ns_r_servfail: return "SERVFAIL";
	case ns_r_nxdomain: return "NXDOMAIN";
	case ns_r_notimpl: return "NOTIMP";
	case ns_r_refused: return "REFUSED";
	default: return NULL;
	}
}

/* The query failed: classify from h_errno, the answer header and errno. */
static void classify_failure(struct tlsrpt_lookup *l, res_state st, const unsigned char *ans,
    int saved_errno, const char *qname, const char *kind)
{
	const HEADER *h = (const HEADER *)ans;
	const char *rc = h->qr ? rcode_name(h->rcode) : NULL;

	switch (st->res_h_errno) {
	case HOST_NOT_FOUND:
		set_result(l, LOOKUP_NONE, "NXDOMAIN");
		return;
	case NO_DATA:
		set_result(l, LOOKUP_NONE, "no %s record at %s", kind, qname);
		return;
	default:
		break;
	}
	if (rc != NULL)
		set_result(l, LOOKUP_TEMPORARY, "%s", rc);
	else if (h->qr && h->rcode != ns_r_noerror)
		set_result(l, LOOKUP_TEMPORARY, "DNS error rcode %d", h->rcode);
	else if (saved_errno == ECONNREFUSED)
		set_result(l, LOOKUP_TEMPORARY, "no answer: connection refused by the resolver");
	else if (saved_errno == ETIMEDOUT || st->res_h_errno == TRY_AGAIN)
		set_result(l, LOOKUP_TEMPORARY, "timed out after %ld ms",
		    effective_timeout_ms(st));
	else
		set_result(l, LOOKUP_TEMPORARY, "lookup failed: %s",
		    saved_errno != 0 ? strerror(saved_errno) : "resolver error");
}

static void decide(struct tlsrpt_lookup *l, const struct txt_set *s, const char *qname)
{
	const char *chosen = NULL;
	enum tlsrpt_lookup_status st;
	size_t total;

	st = tlsrpt_select_record((const char *const *)s->txt, s->n, &chosen);
	total = (st == LOOKUP_FOUND ? 1 : 0) + s->bad_tlsrpt;
	if (st == LOOKUP_MULTIPLE || total > 1) {
		size_t k, good = 0;

		for (k = 0; k < s->n; k++)
			if (is_tlsrpt_record(s->txt[k], strlen(s->txt[k])))
				good++;
		set_result(l, LOOKUP_MULTIPLE, "%zu TLSRPT records (RFC 8460 requires exactly one)", good + s->bad_tlsrpt);
		return;
	}
	if (st == LOOKUP_FOUND) {
		l->status = LOOKUP_FOUND;
		l->error[0] = '\0';
		l->text = xstrdup(chosen);
		return;
	}
	if (s->bad_tlsrpt > 0)
		set_result(l, LOOKUP_NONE, "TLSRPT record at %s %s", qname, s->bad_why);
	else if (s->seen == 0)
		set_result(l, LOOKUP_NONE, "no TXT record at %s", qname);
	else
		set_result(l, LOOKUP_NONE, "no record starting with \"v=TLSRPTv1;\" among %zu TXT records at %s",
		    s->seen, qname);
}

static const char *type_name(int type)
{
	return type == ns_t_txt ? "TXT" : type == ns_t_a ? "A" : "AAAA";
}

/*
 * Query qname for "type" into set: 0, or -1 with l's status and error
 * set.  When the answer holds only a CNAME chain (some servers do not
 * chase it), query the chain's end, at most CHAIN_MAX times.
 */
static int query_follow(struct tlsrpt_lookup *l, res_state st, unsigned char *ans,
    const char *qname, int type, struct txt_set *set)
{
	char name[NS_MAXDNAME], next[NS_MAXDNAME];
	int len, hop;

	snprintf(name, sizeof(name), "%s", qname);
	for (hop = 0;; hop++) {
		memset(ans, 0, HFIXEDSZ);
		errno = 0;
		len = res_nquery(st, name, ns_c_in, type, ans, ANSWER_MAX);
		if (len < 0) {
			classify_failure(l, st, ans, errno, name, type_name(type));
			return -1;
		}
		if (collect_rrs(ans, len > ANSWER_MAX ? ANSWER_MAX : len, name, type, set,
		    next) != 0) {
			set_result(l, LOOKUP_TEMPORARY, "malformed DNS answer for %s", name);
			return -1;
		}
		if (set->seen > 0 || strcasecmp(next, name) == 0 || hop >= CHAIN_MAX)
			return 0;
		memcpy(name, next, sizeof(name));
	}
}

static void lookup_one(struct tlsrpt_lookup *l, res_state st, unsigned char *ans)
{
	char qname[NAME_MAX_LEN + 2];
	struct txt_set set = { 0 };
	size_t dlen;

	if (l->domain == NULL || !domain_ok(l->domain, &dlen)) {
		set_result(l, LOOKUP_NONE, "invalid domain name \"%.64s\"",
		    l->domain != NULL ? l->domain : "(null)");
		return;
	}
	snprintf(qname, sizeof(qname), "%s%.*s", QUERY_PREFIX, (int)dlen, l->domain);
	if (query_follow(l, st, ans, qname, ns_t_txt, &set) != 0)
		return;
	decide(l, &set, qname);
	txt_set_free(&set);
}

/* ---- the pool ------------------------------------------------------------ */

static void *worker(void *arg)
{
	struct pool *p = arg;
	struct __res_state *st = xmalloc(sizeof(*st));
	unsigned char *ans = xmalloc(ANSWER_MAX);
	char err[256];
	bool ready;

	ready = resolver_open(st, p->resolver, p->timeout_ms, err, sizeof(err)) == 0;
	for (;;) {
		struct tlsrpt_lookup *l;

		pthread_mutex_lock(&p->mu);
		l = p->next < p->n ? &p->l[p->next++] : NULL;
		pthread_mutex_unlock(&p->mu);
		if (l == NULL)
			break;
		if (!ready) {
			set_result(l, LOOKUP_TEMPORARY, "%s", err);
			continue;
		}
		lookup_one(l, st, ans);
	}
	if (ready)
		res_nclose(st);
	free(ans);
	free(st);
	return NULL;
}

int tlsrpt_lookup_all(struct tlsrpt_lookup *l, size_t n, const char *resolver,
    int parallel, long timeout_ms, char *err, size_t errlen)
{
	struct resolver_addr ra = { 0 };
	struct pool p;
	pthread_t tid[PARALLEL_MAX];
	size_t nthreads, started = 0, i;

	for (i = 0; i < n; i++) {
		l[i].status = LOOKUP_TEMPORARY;
		l[i].text = NULL;
		snprintf(l[i].error, sizeof(l[i].error), "not looked up");
	}
	if (resolver != NULL && parse_resolver(resolver, &ra, err, errlen) != 0)
		return -1;
	if (timeout_ms <= 0) {
		snprintf(err, errlen, "bad DNS timeout %ld ms: must be positive", timeout_ms);
		return -1;
	}
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		l[i].error[0] = '\0';
	memset(&p, 0, sizeof(p));
	p.l = l;
	p.n = n;
	p.resolver = &ra;
	p.timeout_ms = timeout_ms;
	pthread_mutex_init(&p.mu, NULL);
	nthreads = parallel < 1 ? 1 : (size_t)parallel;
	if (nthreads > PARALLEL_MAX)
		nthreads = PARALLEL_MAX;
	if (nthreads > n)
		nthreads = n;
	if (nthreads > 1)
		for (started = 0; started < nthreads; started++)
			if (pthread_create(&tid[started], NULL, worker, &p) != 0)
				break;
	if (started == 0)
		worker(&p);	/* no threads wanted or none could start: do it here */
	for (i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pthread_mutex_destroy(&p.mu);
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

/* ---- generic lookups ----------------------------------------------------- */

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

static void answer_set(struct dns_answer *a, const struct tlsrpt_lookup *l, struct txt_set *set)
{
	a->status = l->status;
	snprintf(a->error, sizeof(a->error), "%s", l->error);
	a->item = set->txt;
	a->n = set->n;
	set->txt = NULL;
	set->n = 0;
}

/*
 * Query "name" for each type in turn; the records of all of them are
 * merged.  FOUND when any type had records; else NONE when every type
 * was a definite "no", else TEMPORARY with the first failure's reason.
 */
static int query_types(const char *name, const int *types, size_t ntypes, const char *resolver,
    long timeout_ms, struct dns_answer *a, char *err, size_t errlen)
{
	struct resolver_addr ra = { 0 };
	struct tlsrpt_lookup l = { 0 }, first_fail = { 0 };
	struct txt_set set = { 0 };
	struct __res_state *st;
	unsigned char *ans;
	size_t i;

	memset(a, 0, sizeof(*a));
	a->status = LOOKUP_TEMPORARY;
	if (resolver != NULL && *resolver != '\0' && parse_resolver(resolver, &ra, err, errlen) != 0)
		return -1;
	if (timeout_ms <= 0) {
		snprintf(err, errlen, "bad DNS timeout %ld ms: must be positive", timeout_ms);
		return -1;
	}
	if (name == NULL || !query_name_ok(name)) {
		a->status = LOOKUP_NONE;
		snprintf(a->error, sizeof(a->error), "invalid domain name \"%.64s\"",
		    name != NULL ? name : "(null)");
		return 0;
	}
	st = xmalloc(sizeof(*st));
	if (resolver_open(st, &ra, timeout_ms, a->error, sizeof(a->error)) != 0) {
		free(st);
		return 0;
	}
	ans = xmalloc(ANSWER_MAX);
	first_fail.status = LOOKUP_NONE;
	for (i = 0; i < ntypes; i++) {
		size_t before = set.n;

		l.status = LOOKUP_FOUND;
		l.error[0] = '\0';
		if (query_follow(&l, st, ans, name, types[i], &set) == 0 && set.n > before)
			continue;
		if (l.status == LOOKUP_FOUND)	/* answered, but nothing usable */
			set_result(&l, LOOKUP_NONE, "no %s record at %s", type_name(types[i]), name);
		if (first_fail.error[0] == '\0' ||
		    (l.status == LOOKUP_TEMPORARY && first_fail.status != LOOKUP_TEMPORARY))
			first_fail = l;
	}
	if (set.n > 0) {
		l.status = LOOKUP_FOUND;
		l.error[0] = '\0';
		answer_set(a, &l, &set);
	} else {
		answer_set(a, &first_fail, &set);
	}
	txt_set_free(&set);
	res_nclose(st);
	free(ans);
	free(st);
	return 0;
}

int dns_query_txt(const char *name, const char *resolver, long timeout_ms, struct dns_answer *a,
    char *err, size_t errlen)
{
	static const int types[] = { ns_t_txt };

	return query_types(name, types, 1, resolver, timeout_ms, a, err, errlen);
}

int dns_query_addr(const char *name, const char *resolver, long timeout_ms, struct dns_answer *a,
    char *err, size_t errlen)
{
	static const int types[] = { ns_t_a, ns_t_aaaa };

	return query_types(name, types, 2, resolver, timeout_ms, a, err, errlen);
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

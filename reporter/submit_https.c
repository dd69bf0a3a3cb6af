/*
 * NAME
 *	submit_https - POST reports to https: rua destinations with libcurl
 * SUMMARY
 *	https_post_all(): post many bodies concurrently, classify each result.
 *	https_address_public(): the address filter (pure).
 * DESCRIPTION
 *	One curl multi handle runs at most max_parallel transfers at once; a
 *	job that finishes makes room for the next, so one slow or failing
 *	destination never holds up the others (RFC 8460 R34).
 *
 *	Name resolution: before any transfer starts, the host names of all
 *	jobs are resolved at once (curl_resolve: dns_txt with the resolver
 *	setting, /etc/hosts first, 16 names at a time, each within
 *	dns_timeout_ms) and handed to curl as CURLOPT_RESOLVE entries; a
 *	host that cannot be resolved makes its job temporary ("could not
 *	resolve host reports.example: NXDOMAIN") without a transfer.  So
 *	the whole call takes at most about ceil(hosts / 16) * dns_timeout
 *	+ ceil(jobs / max_parallel) * total time limit.
 *
 *	Every transfer: https only (checked here before curl sees the URL,
 *	and CURLOPT_PROTOCOLS(_STR) as well), POST of the body as
 *	"Content-Type: application/tlsrpt+gzip" without "Expect:
 *	100-continue", User-Agent "tlsrpt-milter/VERSION", no redirects
 *	followed, peer certificate and host name verified (CURLOPT_CAINFO
 *	when ca_file is set), TLS 1.2 or later, no proxy (a proxy would
 *	connect on our behalf and defeat the address filter), connect and
 *	total time limits, no signals.  The response body is counted, not
 *	kept: the API returns none, and a body beyond max_response bytes
 *	aborts the transfer.
 *
 *	Address filter: curl calls us (CURLOPT_OPENSOCKETFUNCTION) with each
 *	address it is about to connect to, after resolving, so the check
 *	sees the address actually used even when DNS answers change between
 *	lookups.  Unless allow_private, a non-public address gets no socket,
 *	and the job becomes permanent ("refused to connect to non-public
 *	address 127.0.0.1") when no connection was made.
 *
 *	Classification (R23, R35):
 *	    2xx                                  delivered
 *	    5xx, 408, 429                        temporary "HTTP 503"
 *	    3xx                                  permanent "HTTP 302 (redirects
 *	                                         are not followed)"
 *	    other statuses                       permanent "HTTP 404"
 *	    response body over max_response      temporary "response larger
 *	    (with a 2xx status)                  than 65536 bytes"
 *	    refused address                      permanent
 *	    not https:, malformed URL            permanent
 *	    host name not resolved               temporary
 *	    time-out, connection, TLS, ...       temporary, curl's error text
 *
 *	Option values of 0 or less take the defaults: 10 s to connect, 60 s
 *	in total, 65536 response bytes, 16 parallel transfers, 5 s per host
 *	name lookup.  Every
 *	transfer is bounded by the total time limit; the loop also gives up
 *	on a transfer that outlives it by 5 s, should curl fail to stop it.
 *
 *	curl_global_init() is called once, on the first call; like
 *	curl_global_init() itself that is not thread-safe: call
 *	https_post_all() from one thread at a time, and not while another
 *	thread of the process starts using curl.  The program calls
 *	curl_global_cleanup() before it exits, if it wants to.
 * DIAGNOSTICS
 *	In job->error (printable ASCII, never longer than the field):
 *	"not an https: URL", "HTTP 500", "HTTP 302 (redirects are not
 *	followed)", "response larger than 65536 bytes", "refused to connect
 *	to non-public address 10.0.0.1", or curl's own text, such as
 *	"SSL certificate problem: unable to get local issuer certificate" or
 *	"Operation timed out after 1000 milliseconds with 0 bytes received".
 * SEE ALSO
 *	RFC 8460 section 5.2; CURLOPT_OPENSOCKETFUNCTION(3).
 */
#include "config.h"

#include "submit_https.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "curl_resolve.h"
#include "netaddr.h"
#include "util.h"

#define DEFAULT_CONNECT_MS	10000L
#define DEFAULT_TOTAL_MS	60000L
#define DEFAULT_MAX_RESPONSE	65536
#define DEFAULT_PARALLEL	16
#define DEFAULT_DNS_MS		5000L
#define DNS_PARALLEL		16
#define POLL_MS			500
#define GRACE_MS		5000

/* One running (or finished) transfer. */
struct transfer {
	struct https_job *job;
	const struct curl_resolved *res;	/* the host's addresses */
	CURL *easy;
	struct curl_slist *headers;
	size_t max_response;
	size_t received;
	bool too_big;
	bool allow_private;
	bool refused;
	long long started_ms;
	char refused_addr[INET6_ADDRSTRLEN];
	char curl_error[CURL_ERROR_SIZE];
};

static bool curl_ready;

static void set_error(struct https_job *job, enum https_result result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_error(struct https_job *job, enum https_result result, const char *fmt, ...)
{
	va_list ap;

	job->result = result;
	va_start(ap, fmt);
	vsnprintf(job->error, sizeof(job->error), fmt, ap);
	va_end(ap);
	/* curl's text can quote the URL, which came from DNS */
	for (char *p = job->error; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

/* ---- the address filter -------------------------------------------------- */

bool https_address_public(const struct sockaddr *sa, socklen_t len)
{
	return net_address_public(sa, len);
}

/* ---- curl callbacks ------------------------------------------------------ */

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct transfer *t = clientp;
	int fd;

	(void)purpose;
	fd = net_open_socket(addr->family, addr->socktype, addr->protocol, &addr->addr,
	    addr->addrlen, t->allow_private, &t->refused, t->refused_addr, sizeof(t->refused_addr));
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static size_t count_response(char *data, size_t size, size_t nmemb, void *userp)
{
	struct transfer *t = userp;
	size_t n = size * nmemb;

	(void)data;
	if (n > t->max_response - t->received) {
		t->too_big = true;
		return 0;	/* not n: curl aborts with CURLE_WRITE_ERROR */
	}
	t->received += n;
	return n;
}

/* ---- one transfer -------------------------------------------------------- */

static bool has_https_scheme(const char *url)
{
	return url != NULL && strncasecmp(url, "https://", 8) == 0;
}

static void transfer_free(struct transfer *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	free(t);
}

/* Headers whose list could not be built are the only failure here. */
static bool set_headers(struct transfer *t)
{
	static const char *const lines[] = {
		"Content-Type: application/tlsrpt+gzip",
		"Expect:",		/* no 100-continue round trip */
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct curl_slist *l = curl_slist_append(t->headers, lines[i]);

		if (l == NULL)
			return false;
		t->headers = l;
	}
	return true;
}

static CURLcode set_options(struct transfer *t, const struct https_options *o,
    long connect_ms, long total_ms)
{
	CURL *e = t->easy;
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_ERRORBUFFER, t->curl_error);
	SET(CURLOPT_PRIVATE, (void *)t);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "https");
#else
	SET(CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	SET(CURLOPT_URL, t->job->url);
	SET(CURLOPT_PROXY, "");		/* no proxy, not even from the environment */
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (o->ca_file != NULL && *o->ca_file != '\0')
		SET(CURLOPT_CAINFO, o->ca_file);
	SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	SET(CURLOPT_TIMEOUT_MS, total_ms);
	SET(CURLOPT_USERAGENT, "tlsrpt-milter/" PACKAGE_VERSION);
	SET(CURLOPT_HTTPHEADER, t->headers);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDS, (const char *)t->job->body);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->job->body_len);
	SET(CURLOPT_WRITEFUNCTION, count_response);
	SET(CURLOPT_WRITEDATA, (void *)t);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
	SET(CURLOPT_OPENSOCKETDATA, (void *)t);
	if (t->res->resolve != NULL)
		SET(CURLOPT_RESOLVE, t->res->resolve);
#undef SET
	return rc;
}

/*
 * A transfer for the job, added to the multi handle; NULL when the job
 * was settled without one (its result set).
 */
static struct transfer *transfer_start(CURLM *multi, struct https_job *job,
    const struct curl_resolved *res, const struct https_options *o, long connect_ms,
    long total_ms)
{
	struct transfer *t;
	CURLcode rc;

	if (!has_https_scheme(job->url)) {
		set_error(job, HTTPS_PERMANENT, "not an https: URL");
		return NULL;
	}
	if (res->status != LOOKUP_FOUND) {
		if (res->config_error)
			set_error(job, HTTPS_TEMPORARY, "%s", res->error);
		else
			set_error(job, HTTPS_TEMPORARY, "could not resolve host %s: %s", res->host,
			    res->error);
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->job = job;
	t->res = res;
	t->max_response = o->max_response > 0 ? o->max_response : DEFAULT_MAX_RESPONSE;
	t->allow_private = o->allow_private;
	t->started_ms = monotonic_ms();
	if ((t->easy = curl_easy_init()) == NULL || !set_headers(t)) {
		set_error(job, HTTPS_TEMPORARY, "cannot set up the transfer (libcurl)");
		transfer_free(t);
		return NULL;
	}
	if ((rc = set_options(t, o, connect_ms, total_ms)) != CURLE_OK) {
		set_error(job, rc == CURLE_URL_MALFORMAT ? HTTPS_PERMANENT : HTTPS_TEMPORARY,
		    "%s", t->curl_error[0] ? t->curl_error : curl_easy_strerror(rc));
		transfer_free(t);
		return NULL;
	}
	if (curl_multi_add_handle(multi, t->easy) != CURLM_OK) {
		set_error(job, HTTPS_TEMPORARY, "cannot start the transfer (libcurl)");
		transfer_free(t);
		return NULL;
	}
	return t;
}

static void classify_status(struct https_job *job, long status)
{
	if (status >= 200 && status <= 299) {
		job->result = HTTPS_DELIVERED;
		job->error[0] = '\0';
	} else if (status >= 500 || status == 408 || status == 429) {
		set_error(job, HTTPS_TEMPORARY, "HTTP %ld", status);
	} else if (status >= 300 && status <= 399) {
		set_error(job, HTTPS_PERMANENT, "HTTP %ld (redirects are not followed)", status);
	} else {
		set_error(job, HTTPS_PERMANENT, "HTTP %ld", status);
	}
}

static void classify(struct transfer *t, CURLcode rc)
{
	struct https_job *job = t->job;
	long status = 0;

	if (curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	job->status = status;
	if (rc == CURLE_OK || (t->too_big && (status < 200 || status > 299) && status != 0)) {
		/* a long error page does not hide a 4xx or 5xx */
		classify_status(job, status);
	} else if (t->too_big) {
		set_error(job, HTTPS_TEMPORARY, "response larger than %zu bytes", t->max_response);
	} else if (t->refused && rc == CURLE_COULDNT_CONNECT) {
		/* every address was refused, or the others did not answer */
		set_error(job, HTTPS_PERMANENT, "refused to connect to non-public address %s",
		    t->refused_addr);
	} else {
		bool permanent = rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL;

		set_error(job, permanent ? HTTPS_PERMANENT : HTTPS_TEMPORARY, "%s",
		    t->curl_error[0] ? t->curl_error : curl_easy_strerror(rc));
	}
}

static void transfer_finish(CURLM *multi, struct transfer *t, CURLcode rc)
{
	classify(t, rc);
	curl_multi_remove_handle(multi, t->easy);
	transfer_free(t);
}

/* ---- the multi loop ------------------------------------------------------ */

struct run {
	CURLM *multi;
	struct https_job *jobs;
	struct curl_resolved *res;	/* the jobs' host addresses */
	size_t n, next;			/* next job to start */
	struct transfer **active;	/* max_parallel slots, NULL when free */
	size_t slots, running;
	const struct https_options *o;
	long connect_ms, total_ms;
};

static void fill_slots(struct run *r)
{
	for (size_t s = 0; s < r->slots && r->next < r->n; s++) {
		if (r->active[s] != NULL)
			continue;
		while (r->next < r->n && r->active[s] == NULL) {
			r->active[s] = transfer_start(r->multi, &r->jobs[r->next], &r->res[r->next],
			    r->o, r->connect_ms, r->total_ms);
			r->next++;
			if (r->active[s] != NULL)
				r->running++;
		}
	}
}

static void release_slot(struct run *r, struct transfer *t)
{
	for (size_t s = 0; s < r->slots; s++)
		if (r->active[s] == t) {
			r->active[s] = NULL;
			r->running--;
			return;
		}
	abort();	/* a transfer we did not start */
}

static void collect_done(struct run *r)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(r->multi, &left)) != NULL) {
		char *priv = NULL;
		struct transfer *t;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		t = (struct transfer *)priv;
		release_slot(r, t);
		transfer_finish(r->multi, t, msg->data.result);
	}
}

/* Curl enforces the time limits; this is the guard should it not. */
static void expire_overdue(struct run *r)
{
	long long now = monotonic_ms();

	for (size_t s = 0; s < r->slots; s++) {
		struct transfer *t = r->active[s];

		if (t == NULL || now - t->started_ms <= r->total_ms + GRACE_MS)
			continue;
		r->active[s] = NULL;
		r->running--;
		curl_multi_remove_handle(r->multi, t->easy);
		t->job->status = 0;
		set_error(t->job, HTTPS_TEMPORARY, "no result within %ld ms, transfer abandoned",
		    r->total_ms);
		transfer_free(t);
	}
}

static void init_results(struct https_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		jobs[i].result = HTTPS_TEMPORARY;
		jobs[i].status = 0;
		snprintf(jobs[i].error, sizeof(jobs[i].error), "not attempted");
	}
}

/* The host names of every https: job, at once, before any transfer. */
static void resolve_hosts(struct run *r)
{
	const char **urls = xcalloc(r->n, sizeof(*urls));
	long dns_ms = r->o->dns_timeout_ms > 0 ? r->o->dns_timeout_ms : DEFAULT_DNS_MS;

	for (size_t i = 0; i < r->n; i++)
		urls[i] = has_https_scheme(r->jobs[i].url) ? r->jobs[i].url : NULL;
	r->res = xcalloc(r->n, sizeof(*r->res));
	curl_resolve_urls(urls, r->n, r->o->resolver, DNS_PARALLEL, dns_ms, r->res);
	free(urls);
}

int https_post_all(struct https_job *jobs, size_t n, const struct https_options *o)
{
	struct run r;
	int still;

	init_results(jobs, n);
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -1;
		curl_ready = true;
	}
	if (n == 0)
		return 0;
	memset(&r, 0, sizeof(r));
	if ((r.multi = curl_multi_init()) == NULL)
		return -1;
	r.jobs = jobs;
	r.n = n;
	r.o = o;
	r.connect_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_MS;
	r.total_ms = o->total_timeout_ms > 0 ? o->total_timeout_ms : DEFAULT_TOTAL_MS;
	r.slots = o->max_parallel > 0 ? (size_t)o->max_parallel : DEFAULT_PARALLEL;
	if (r.slots > n)
		r.slots = n;
	r.active = xcalloc(r.slots, sizeof(*r.active));
	resolve_hosts(&r);

	fill_slots(&r);
	while (r.running > 0) {
		if (curl_multi_perform(r.multi, &still) != CURLM_OK)
			break;
		collect_done(&r);
		expire_overdue(&r);
		fill_slots(&r);
		if (r.running > 0 && curl_multi_poll(r.multi, NULL, 0, POLL_MS, NULL) != CURLM_OK)
			break;
	}
	/* only after a multi-handle failure: settle what is still running */
	for (size_t s = 0; s < r.slots; s++) {
		if (r.active[s] == NULL)
			continue;
		set_error(r.active[s]->job, HTTPS_TEMPORARY, "transfer aborted (libcurl multi error)");
		curl_multi_remove_handle(r.multi, r.active[s]->easy);
		transfer_free(r.active[s]);
	}
	free(r.active);
	curl_resolved_free(r.res, r.n);
	free(r.res);
	curl_multi_cleanup(r.multi);
	return 0;
}

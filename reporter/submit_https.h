/*
 * NAME
 *	submit_https - POST reports to https: rua destinations with libcurl
 * DESCRIPTION
 *	An https: URI in a TLSRPT record is chosen by whoever controls that
 *	domain's DNS, so: https only, certificate and host name verified, no
 *	redirects followed, connect and total time limits, the response read
 *	up to a size cap, and by default no connection to a loopback,
 *	private, link-local, multicast, unspecified or otherwise non-public
 *	address.  The check is made on the address curl is about to connect
 *	to (CURLOPT_OPENSOCKETFUNCTION), so a DNS answer that changes between
 *	lookups (rebinding) cannot get around it.  Many destinations are
 *	posted concurrently with one curl multi handle.  Host names are
 *	resolved first, all at once and each within its own time-out
 *	(curl_resolve: curl itself never resolves, since its resolver
 *	thread cannot be bounded).
 *
 *	Body: the gzipped report, Content-Type: application/tlsrpt+gzip.
 *	A 2xx status is delivered (R23, R35); anything else is a failure,
 *	classified as temporary (time-outs, connection and TLS errors, 5xx,
 *	408, 429) or permanent (other 3xx/4xx, refused address, bad URL).
 */
#ifndef TLSRPT_SUBMIT_HTTPS_H
#define TLSRPT_SUBMIT_HTTPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct https_options {
	long connect_timeout_ms;	/* e.g. 10000 */
	long total_timeout_ms;		/* e.g. 60000 */
	size_t max_response;		/* bytes of response body kept, e.g. 65536 */
	bool allow_private;		/* tests only: allow loopback/private targets */
	const char *ca_file;		/* NULL: the system's trust store */
	int max_parallel;		/* concurrent transfers, e.g. 16 */
	const char *resolver;		/* DNS server as for dns_txt; NULL: resolv.conf */
	long dns_timeout_ms;		/* each host name's lookup, e.g. 5000 */
};

enum https_result {
	HTTPS_DELIVERED,
	HTTPS_TEMPORARY,
	HTTPS_PERMANENT,
};

struct https_job {
	const char *url;
	const unsigned char *body;
	size_t body_len;
	/* results */
	enum https_result result;
	long status;		/* HTTP status, 0 if none */
	char error[256];	/* why it failed, "" when delivered */
};

/* Post every job; each gets its result.  Returns 0, or -1 if curl could not start. */
int https_post_all(struct https_job *jobs, size_t n, const struct https_options *o);

/* True for an address a report may be sent to when allow_private is off. */
bool https_address_public(const struct sockaddr *sa, socklen_t len);

#endif

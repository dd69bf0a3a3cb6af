/*
 * NAME
 *	curl_resolve - the host names of libcurl transfers, resolved with a deadline
 * SYNOPSIS
 *	#include "curl_resolve.h"
 * DESCRIPTION
 *	Debian's libcurl resolves host names with getaddrinfo() in a thread
 *	of its own and, at the end of a transfer, waits for that thread.
 *	When a name server stalls glibc's TCP retry, getaddrinfo() never
 *	returns and neither does curl_easy_perform() or
 *	curl_multi_remove_handle(), whatever CURLOPT_TIMEOUT says (measured
 *	with libcurl 7.88.1: still blocked 20 s into a 2 s time-out).  So
 *	the HTTPS clients resolve every URL's host here first, through
 *	dns_txt (c-ares, a deadline per name, /etc/hosts before the DNS),
 *	and give curl the addresses as a CURLOPT_RESOLVE entry: curl then
 *	never resolves a name itself.
 *
 *	A URL whose host is an IP address, or that curl's URL parser does
 *	not take, gets no entry (curl connects to the address, or refuses
 *	the URL, without resolving).
 */
#ifndef TLSRPT_CURL_RESOLVE_H
#define TLSRPT_CURL_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "dns_txt.h"

struct curl_resolved {
	struct curl_slist *resolve;	/* "host:port:addr,[v6],..." or NULL */
	char host[256];			/* the URL's host name, "" when not resolved here */
	enum tlsrpt_lookup_status status;	/* FOUND (or nothing to resolve), NONE, TEMPORARY */
	bool config_error;		/* the resolver setting is bad (error says why) */
	char error[256];		/* why, when not FOUND */
};

/*
 * The hosts of n URLs, each distinct name looked up once, at most
 * "parallel" at a time, each within timeout_ms: out[i] for urls[i].
 * resolver as for dns_txt (NULL: resolv.conf).
 */
void curl_resolve_urls(const char *const *urls, size_t n, const char *resolver, int parallel,
    long timeout_ms, struct curl_resolved *out);
void curl_resolved_free(struct curl_resolved *r, size_t n);

#endif

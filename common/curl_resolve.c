/*
 * NAME
 *	curl_resolve - the host names of libcurl transfers, resolved with a deadline
 * DESCRIPTION
 *	See curl_resolve.h.  The URL is taken apart by curl's own URL
 *	parser (curl_url), so the host and port are the ones curl will
 *	use; the port is the URL's, or the scheme's default.
 */
#include "curl_resolve.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* Host and port of url as curl sees them; false when there is no name to resolve. */
static bool url_host(const char *url, char *host, size_t hostlen, char **port)
{
	CURLU *u = curl_url();
	char *h = NULL;
	unsigned char addr[sizeof(struct in6_addr)];
	bool ok = false;

	*port = NULL;
	if (u == NULL)
		return false;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	    h[0] != '[' && inet_pton(AF_INET, h, addr) != 1 && strlen(h) < hostlen) {
		snprintf(host, hostlen, "%s", h);
		ok = true;
	}
	curl_free(h);
	curl_url_cleanup(u);
	if (!ok) {
		curl_free(*port);
		*port = NULL;
	}
	return ok;
}

/* "host:port:ADDR,[V6],..." for CURLOPT_RESOLVE; NULL when out of memory. */
static struct curl_slist *resolve_entry(const char *host, const char *port,
    const struct dns_answer *a)
{
	struct curl_slist *l;
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_printf(&sb, "%s:%s:", host, port);
	for (size_t i = 0; i < a->n; i++)
		strbuf_printf(&sb, strchr(a->item[i], ':') ? "%s[%s]" : "%s%s", i ? "," : "",
		    a->item[i]);
	strbuf_appendc(&sb, '\0');
	l = curl_slist_append(NULL, sb.data);
	strbuf_free(&sb);
	return l;
}

static void set_result(struct curl_resolved *r, const char *port, const struct dns_answer *a)
{
	r->status = a->status;
	if (a->status != LOOKUP_FOUND) {
		snprintf(r->error, sizeof(r->error), "%s", a->error);
		return;
	}
	if ((r->resolve = resolve_entry(r->host, port, a)) == NULL) {
		r->status = LOOKUP_TEMPORARY;
		snprintf(r->error, sizeof(r->error), "out of memory (libcurl)");
	}
}

void curl_resolve_urls(const char *const *urls, size_t n, const char *resolver, int parallel,
    long timeout_ms, struct curl_resolved *out)
{
	const char **names = xcalloc(n + 1, sizeof(*names));
	size_t *name_of = xcalloc(n + 1, sizeof(*name_of));
	char **ports = xcalloc(n + 1, sizeof(*ports));
	struct dns_answer *a = xcalloc(n + 1, sizeof(*a));
	size_t nnames = 0;
	char err[256];
	int rc;

	for (size_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].status = LOOKUP_FOUND;
		if (urls[i] == NULL ||
		    !url_host(urls[i], out[i].host, sizeof(out[i].host), &ports[i])) {
			out[i].host[0] = '\0';
			continue;
		}
		for (name_of[i] = 0; name_of[i] < nnames; name_of[i]++)
			if (strcasecmp(names[name_of[i]], out[i].host) == 0)
				break;
		if (name_of[i] == nnames)
			names[nnames++] = out[i].host;
	}
	rc = dns_query_addr_all(names, a, nnames, resolver, parallel, timeout_ms, err, sizeof(err));
	for (size_t i = 0; i < n; i++) {
		if (ports[i] == NULL)
			continue;
		if (rc != 0) {
			out[i].status = LOOKUP_TEMPORARY;
			out[i].config_error = true;
			snprintf(out[i].error, sizeof(out[i].error), "%s", err);
		} else {
			set_result(&out[i], ports[i], &a[name_of[i]]);
		}
		curl_free(ports[i]);
	}
	for (size_t k = 0; k < nnames; k++)
		dns_answer_free(&a[k]);
	free(a);
	free(ports);
	free(name_of);
	free(names);
}

void curl_resolved_free(struct curl_resolved *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		curl_slist_free_all(r[i].resolve);
		r[i].resolve = NULL;
	}
}

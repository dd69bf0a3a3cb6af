/*
 * NAME
 *	session - the session result every input produces
 * DESCRIPTION
 *	See session.h.
 */
#include "session.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void failure_free(struct tlsrpt_failure *f)
{
	free(f->sending_ip);
	free(f->mx_name);
	free(f->helo);
	free(f->receiving_ip);
	free(f->additional);
	free(f->reason);
}

void session_free(struct tlsrpt_session *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->npolicies; i++) {
		struct tlsrpt_policy_result *p = &s->policies[i];

		for (size_t j = 0; j < p->nfailures; j++)
			failure_free(&p->failures[j]);
		free(p->failures);
		free(p->policy_domain);
		free(p->policy_strings);
		free(p->mx_hosts);
	}
	free(s->policies);
	free(s->domain);
	free(s->record);
	memset(s, 0, sizeof(*s));
}

struct tlsrpt_failure *session_no_policy(struct tlsrpt_session *s, const char *domain,
    long long when, bool failed)
{
	struct tlsrpt_policy_result *pol;

	memset(s, 0, sizeof(*s));
	s->when = when;
	s->domain = xstrdup(domain);
	s->npolicies = 1;
	s->policies = pol = xcalloc(1, sizeof(*pol));
	pol->type = POLICY_NONE;
	pol->policy_domain = xstrdup(domain);
	pol->policy_strings = xstrdup("[]");
	pol->mx_hosts = xstrdup("[]");
	if (!failed)
		return NULL;
	pol->failed = true;
	pol->nfailures = 1;
	pol->failures = xcalloc(1, sizeof(*pol->failures));
	return pol->failures;
}

const char *policy_type_name(int type)
{
	switch (type) {
	case POLICY_TLSA:
		return "tlsa";
	case POLICY_STS:
		return "sts";
	case POLICY_NONE:
		return "no-policy-found";
	}
	return NULL;
}

bool policy_type_known(int type)
{
	return policy_type_name(type) != NULL;
}

const char *result_type_name(int code)
{
	switch (code) {
	case RESULT_STARTTLS_NOT_SUPPORTED:
		return "starttls-not-supported";
	case RESULT_CERTIFICATE_HOST_MISMATCH:
		return "certificate-host-mismatch";
	case RESULT_CERTIFICATE_NOT_TRUSTED:
		return "certificate-not-trusted";
	case RESULT_CERTIFICATE_EXPIRED:
		return "certificate-expired";
	case RESULT_VALIDATION_FAILURE:
		return "validation-failure";
	case RESULT_STS_POLICY_FETCH_ERROR:
		return "sts-policy-fetch-error";
	case RESULT_STS_POLICY_INVALID:
		return "sts-policy-invalid";
	case RESULT_STS_WEBPKI_INVALID:
		return "sts-webpki-invalid";
	case RESULT_TLSA_INVALID:
		return "tlsa-invalid";
	case RESULT_DNSSEC_INVALID:
		return "dnssec-invalid";
	case RESULT_DANE_REQUIRED:
		return "dane-required";
	}
	return NULL;
}

bool result_type_known(int code)
{
	return code == RESULT_INTERNAL_UNFINISHED || result_type_name(code) != NULL;
}

bool domain_normalise(char *d)
{
	size_t len = strlen(d);
	size_t label = 0;

	if (len && d[len - 1] == '.')
		d[--len] = '\0';
	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c >= 'A' && c <= 'Z')
			d[i] = (char)(c - 'A' + 'a');
		else if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return label != 0;	/* "x.example.." leaves an empty last label */
}

char *canonical_ip(const char *s)
{
	unsigned char addr[16];
	char out[INET6_ADDRSTRLEN];

	if (s == NULL || *s == '\0')
		return NULL;
	if ((inet_pton(AF_INET, s, addr) == 1 && inet_ntop(AF_INET, addr, out, sizeof(out))) ||
	    (inet_pton(AF_INET6, s, addr) == 1 && inet_ntop(AF_INET6, addr, out, sizeof(out))))
		return xstrdup(out);
	return xstrdup(s);	/* not an address: as the MTA wrote it */
}

char *canonical_host(const char *s)
{
	size_t n;
	char *d;

	if (s == NULL || *s == '\0')
		return NULL;
	d = xstrdup(s);
	for (char *c = d; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	n = strlen(d);
	if (n > 1 && d[n - 1] == '.')
		d[n - 1] = '\0';
	return d;
}

/*
 * NAME
 *	test_tlsrpt_record - unit tests of common/tlsrpt_record.c
 * DESCRIPTION
 *	Each case parses one record text and checks either the exact list
 *	of URIs (scheme, uri as written, decoded target) or the exact error
 *	message, and that a failed parse leaves the record empty.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrpt_record.h"
#include "util.h"

#define V "v=TLSRPTv1;"

/* Parse text, which must be accepted with n URIs; err must stay empty. */
static void parse_ok(const char *text, struct tlsrpt_record *r, size_t n)
{
	char err[256] = "unset";
	int rc = tlsrpt_record_parse(text, r, err, sizeof(err));

	if (rc != 0)
		fail_msg("rejected \"%s\": %s", text, err);
	assert_string_equal(err, "");
	assert_int_equal(r->nrua, n);
	assert_non_null(r->rua);
}

static void assert_rua(const struct rua *u, enum rua_scheme scheme, const char *uri,
		       const char *target)
{
	assert_int_equal(u->scheme, scheme);
	assert_string_equal(u->uri, uri);
	assert_string_equal(u->target, target);
}

/* Parse text, which must be rejected with exactly msg. */
static void parse_err(const char *text, const char *msg)
{
	struct tlsrpt_record r;
	char err[256] = "unset";
	int rc = tlsrpt_record_parse(text, &r, err, sizeof(err));

	if (rc != -1)
		fail_msg("accepted \"%s\"", text);
	assert_string_equal(err, msg);
	assert_int_equal(r.nrua, 0);
	assert_null(r.rua);
	tlsrpt_record_free(&r);
}

/* One URI accepted: its uri and target. */
static void parse_one(const char *text, enum rua_scheme scheme, const char *uri,
		      const char *target)
{
	struct tlsrpt_record r;

	parse_ok(text, &r, 1);
	assert_rua(&r.rua[0], scheme, uri, target);
	tlsrpt_record_free(&r);
}

static void test_rfc_example_mailto(void **state)
{
	(void)state;
	parse_one("v=TLSRPTv1;rua=mailto:reports@example.com", RUA_MAILTO,
		  "mailto:reports@example.com", "reports@example.com");
}

static void test_rfc_example_https(void **state)
{
	(void)state;
	parse_one("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", RUA_HTTPS,
		  "https://reporting.example.com/v1/tlsrpt",
		  "https://reporting.example.com/v1/tlsrpt");
}

static void test_both_schemes_with_spaces(void **state)
{
	struct tlsrpt_record r;

	(void)state;
	parse_ok("v=TLSRPTv1 ;\t rua=mailto:tlsrpt@example.com \t, "
		 "https://reporting.example.com:8443/v1?x=1 ,mailto:b@example.net",
		 &r, 3);
	assert_rua(&r.rua[0], RUA_MAILTO, "mailto:tlsrpt@example.com", "tlsrpt@example.com");
	assert_rua(&r.rua[1], RUA_HTTPS, "https://reporting.example.com:8443/v1?x=1",
		   "https://reporting.example.com:8443/v1?x=1");
	assert_rua(&r.rua[2], RUA_MAILTO, "mailto:b@example.net", "b@example.net");
	tlsrpt_record_free(&r);
	assert_int_equal(r.nrua, 0);
	assert_null(r.rua);
}

static void test_trailing_delimiter(void **state)
{
	(void)state;
	parse_one(V "rua=mailto:a@b.example;", RUA_MAILTO, "mailto:a@b.example", "a@b.example");
	parse_one(V "rua=mailto:a@b.example ; \t", RUA_MAILTO, "mailto:a@b.example",
		  "a@b.example");
}

static void test_extensions_ignored(void **state)
{
	(void)state;
	/* before and after rua; "_", "-", "." and a 32-byte name; "," and "!" in values */
	parse_one(V "ext=1; rua=mailto:a@b.example; a_b-c.d=x,y!z:/?;"
		  " abcdefghijklmnopqrstuvwxyz012345=v; 9=~",
		  RUA_MAILTO, "mailto:a@b.example", "a@b.example");
	/* '"' is in %x21-3A: a valid ext-value character */
	parse_one(V "rua=mailto:a@b.example; x=\"q\"", RUA_MAILTO, "mailto:a@b.example",
		  "a@b.example");
	/* names are case-sensitive: "RUA" is just an extension, "v" too */
	parse_one(V "RUA=mailto:x@y.example; v=TLSRPTv2; rua=mailto:a@b.example",
		  RUA_MAILTO, "mailto:a@b.example", "a@b.example");
}

static void test_malformed_extensions(void **state)
{
	(void)state;
	parse_err(V "rua=mailto:a@b.example; x", "field 3: malformed extension \"x\"");
	parse_err(V "x; rua=mailto:a@b.example", "field 2: malformed extension \"x\"");
	parse_err(V "rua=mailto:a@b.example; =y", "field 3: malformed extension \"=y\"");
	parse_err(V "rua=mailto:a@b.example; -x=y", "field 3: malformed extension \"-x=y\"");
	parse_err(V "rua=mailto:a@b.example; x=", "field 3: malformed extension \"x=\"");
	parse_err(V "rua=mailto:a@b.example; x=a=b", "field 3: malformed extension \"x=a=b\"");
	parse_err(V "rua=mailto:a@b.example; x y=1", "field 3: malformed extension \"x y=1\"");
	parse_err(V "rua=mailto:a@b.example; abcdefghijklmnopqrstuvwxyz0123456=v",
		  "field 3: malformed extension \"abcdefghijklmnopqrstuvwxyz012345...\"");
	parse_err(V "rua=mailto:a@b.example; x=a\x01", "field 3: malformed extension \"x=a\\x01\"");
	parse_err(V "rua=mailto:a@b.example; x=caf\xc3\xa9",
		  "field 3: malformed extension \"x=caf\\xC3\\xA9\"");
	parse_err(V "rua=mailto:a@b.example; rua", "field 3: malformed extension \"rua\"");
	parse_err(V "rua=mailto:a@b.example; x=a b", "field 3: unexpected \"b\" after value");
}

static void test_uppercase_scheme(void **state)
{
	(void)state;
	parse_one(V "rua=MAILTO:reports@example.com", RUA_MAILTO,
		  "MAILTO:reports@example.com", "reports@example.com");
	parse_one(V "rua=HttpS://Reporting.Example.com/X", RUA_HTTPS,
		  "HttpS://Reporting.Example.com/X", "https://Reporting.Example.com/X");
}

static void test_version(void **state)
{
	(void)state;
	parse_err("V=TLSRPTv1;rua=mailto:a@b.example",
		  "version: record must start with \"v=TLSRPTv1\"");
	parse_err("v=TLSRPTv2;rua=mailto:a@b.example",
		  "version: record must start with \"v=TLSRPTv1\"");
	parse_err("v=tlsrptv1;rua=mailto:a@b.example",
		  "version: record must start with \"v=TLSRPTv1\"");
	parse_err(" v=TLSRPTv1;rua=mailto:a@b.example",
		  "version: record must start with \"v=TLSRPTv1\"");
	parse_err("rua=mailto:a@b.example; v=TLSRPTv1",
		  "version: record must start with \"v=TLSRPTv1\"");
	parse_err("", "version: record must start with \"v=TLSRPTv1\"");
	parse_err("v=TLSRPTv10;rua=mailto:a@b.example",
		  "version: \"v=TLSRPTv1\" must be followed by \";\"");
	parse_err("v=TLSRPTv1 rua=mailto:a@b.example",
		  "version: \"v=TLSRPTv1\" must be followed by \";\"");
	parse_err("v=TLSRPTv1", "rua: missing");
	parse_err("v=TLSRPTv1;", "rua: missing");
	parse_err("v=TLSRPTv1 ; ", "rua: missing");
}

static void test_rua_required_once(void **state)
{
	(void)state;
	parse_err(V "ext=1", "rua: missing");
	parse_err(V "rua=mailto:a@b.example; rua=mailto:c@d.example", "field 3: duplicate rua");
	parse_err(V "rua=mailto:a@b.example; rua=mailto:a@b.example", "field 3: duplicate rua");
	parse_err(V "rua=", "rua URI 1: empty");
	parse_err(V "rua=;", "rua URI 1: empty");
	parse_err(V "rua= mailto:a@b.example", "rua URI 1: empty");
	parse_err(V "rua=mailto:a@b.example,", "rua URI 2: empty");
	parse_err(V "rua=mailto:a@b.example, ,mailto:c@d.example", "rua URI 2: empty");
}

static void test_delimiters(void **state)
{
	(void)state;
	parse_err(V ";rua=mailto:a@b.example", "field 2: empty");
	parse_err(V "rua=mailto:a@b.example;;", "field 3: empty");
	parse_err(V "rua=mailto:a@b.example; ; x=1", "field 3: empty");
	parse_err(V "rua=mailto:a@b.example ", "record: trailing whitespace");
	parse_err(V "rua=mailto:a@b.example mailto:c@d.example",
		  "field 2: unexpected \"mailto:c@d.example\" after value");
	parse_err(V "rua=mailto:a@b.example\n", "rua URI 1: control character \"\\x0A\"");
}

static void test_unsupported_schemes(void **state)
{
	struct tlsrpt_record r;

	(void)state;
	parse_err(V "rua=http://reporting.example.com/", "rua URI 1: unsupported scheme \"http\"");
	parse_err(V "rua=ftp://a.example/x, tel:+1-555", "rua URI 1: unsupported scheme \"ftp\"");
	parse_err(V "rua=x-a+b.c:foo", "rua URI 1: unsupported scheme \"x-a+b.c\"");
	/* skipped when a supported one is valid, wherever it is */
	parse_ok(V "rua=ftp://a.example/x, mailto:a@b.example, http://c.example/",
		 &r, 1);
	assert_rua(&r.rua[0], RUA_MAILTO, "mailto:a@b.example", "a@b.example");
	tlsrpt_record_free(&r);
	/* but a malformed supported URI is an error even next to a valid one */
	parse_err(V "rua=mailto:a@b.example, mailto:broken", "rua URI 2: address without \"@\"");
	parse_err(V "rua=reports@example.com", "rua URI 1: missing scheme");
	parse_err(V "rua=1mailto:a@b.example", "rua URI 1: missing scheme");
	parse_err(V "rua=:a@b.example", "rua URI 1: missing scheme");
}

static void test_mailto_errors(void **state)
{
	(void)state;
	parse_err(V "rua=mailto:", "rua URI 1: address without \"@\"");
	parse_err(V "rua=mailto:example.com", "rua URI 1: address without \"@\"");
	parse_err(V "rua=mailto:@example.com", "rua URI 1: empty local part");
	parse_err(V "rua=mailto:a@localhost", "rua URI 1: invalid domain \"localhost\"");
	parse_err(V "rua=mailto:a@", "rua URI 1: invalid domain \"\"");
	parse_err(V "rua=mailto:a@b.example.", "rua URI 1: invalid domain \"b.example.\"");
	parse_err(V "rua=mailto:a@b..example", "rua URI 1: invalid domain \"b..example\"");
	parse_err(V "rua=mailto:a@-b.example", "rua URI 1: invalid domain \"-b.example\"");
	parse_err(V "rua=mailto:a@b-.example", "rua URI 1: invalid domain \"b-.example\"");
	parse_err(V "rua=mailto:a@b_c.example", "rua URI 1: invalid domain \"b_c.example\"");
	parse_err(V "rua=mailto:a@[192.0.2.1]", "rua URI 1: invalid domain \"[192.0.2.1]\"");
	parse_err(V "rua=mailto:a@b@c.example", "rua URI 1: invalid local part \"a@b\"");
	parse_err(V "rua=mailto:.a@b.example", "rua URI 1: invalid local part \".a\"");
	parse_err(V "rua=mailto:a..b@c.example", "rua URI 1: invalid local part \"a..b\"");
	parse_err(V "rua=mailto:a@b.example?subject=x",
		  "rua URI 1: mailto header fields (\"?\") not supported");
	parse_err(V "rua=mailto:?to=a@b.example",
		  "rua URI 1: mailto header fields (\"?\") not supported");
	/* "<>" raw is not a URI character; encoded it is not an address */
	parse_err(V "rua=mailto:<a@b.example>", "rua URI 1: invalid character \"<\"");
	parse_err(V "rua=mailto:%3Ca@b.example%3E", "rua URI 1: invalid local part \"<a\"");
	parse_err(V "rua=mailto:a\"b@c.example", "rua URI 1: invalid character \"\\\"\"");
	parse_err(V "rua=mailto:a%20b@c.example", "rua URI 1: invalid local part \"a b\"");
	parse_err(V "rua=mailto:caf\xc3\xa9@b.example", "rua URI 1: invalid character \"\\xC3\"");
	parse_err(V "rua=mailto:a%2Cb@c.example", "rua URI 1: invalid local part \"a,b\"");
	parse_err(V "rua=mailto:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "@b.example",
		  "rua URI 1: invalid local part \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
	/* 64 bytes of local part are fine */
	parse_one(V "rua=mailto:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "@b.example", RUA_MAILTO,
		  "mailto:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.example",
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.example");
	parse_one(V "rua=mailto:first.last+tlsrpt@mx-1.example.co.uk", RUA_MAILTO,
		  "mailto:first.last+tlsrpt@mx-1.example.co.uk",
		  "first.last+tlsrpt@mx-1.example.co.uk");
}

static void test_https_errors(void **state)
{
	(void)state;
	parse_err(V "rua=https:reporting.example.com/x",
		  "rua URI 1: https URI without \"//\" and host");
	parse_err(V "rua=https:/", "rua URI 1: https URI without \"//\" and host");
	parse_err(V "rua=https://", "rua URI 1: invalid host \"\"");
	parse_err(V "rua=https:///x", "rua URI 1: invalid host \"\"");
	parse_err(V "rua=https://user@reporting.example.com/",
		  "rua URI 1: userinfo not allowed in https URI");
	parse_err(V "rua=https://user:pw@reporting.example.com/",
		  "rua URI 1: userinfo not allowed in https URI");
	parse_err(V "rua=https://localhost/", "rua URI 1: invalid host \"localhost\"");
	parse_err(V "rua=https://a%2Eexample/", "rua URI 1: invalid host \"a%2Eexample\"");
	parse_err(V "rua=https://[2001:db8::1]/", "rua URI 1: invalid host \"[2001\"");
	parse_err(V "rua=https://r.example:/", "rua URI 1: invalid port \"\"");
	parse_err(V "rua=https://r.example:0/", "rua URI 1: invalid port \"0\"");
	parse_err(V "rua=https://r.example:65536/", "rua URI 1: invalid port \"65536\"");
	parse_err(V "rua=https://r.example:443x/", "rua URI 1: invalid port \"443x\"");
	parse_err(V "rua=https://r.example:1:2/", "rua URI 1: invalid port \"1:2\"");
	parse_err(V "rua=https://r.example/a{b}", "rua URI 1: invalid character \"{\"");
	parse_one(V "rua=https://192.0.2.1:65535", RUA_HTTPS,
		  "https://192.0.2.1:65535", "https://192.0.2.1:65535");
	parse_one(V "rua=https://r.example?q=1#f", RUA_HTTPS,
		  "https://r.example?q=1#f", "https://r.example?q=1#f");
}

static void test_percent_decoding(void **state)
{
	(void)state;
	/* R32: %2C %3B %21 decode to , ; ! in the target; uri stays as written */
	parse_one(V "rua=https://r.example/a%2Cb%3Bc%21d", RUA_HTTPS,
		  "https://r.example/a%2Cb%3Bc%21d", "https://r.example/a,b;c!d");
	parse_one(V "rua=https://r.example/a%2cb%3bc", RUA_HTTPS,
		  "https://r.example/a%2cb%3bc", "https://r.example/a,b;c");
	/* other escapes in an https URL are the HTTP server's: kept as written */
	parse_one(V "rua=https://r.example/a%2Fb%20c%25%2C?x=%40", RUA_HTTPS,
		  "https://r.example/a%2Fb%20c%25%2C?x=%40",
		  "https://r.example/a%2Fb%20c%25,?x=%40");
	/* mailto: every escape decoded */
	parse_one(V "rua=mailto:reports%40example.com", RUA_MAILTO,
		  "mailto:reports%40example.com", "reports@example.com");
	parse_one(V "rua=mailto:a%21b%2Bc@example.com", RUA_MAILTO,
		  "mailto:a%21b%2Bc@example.com", "a!b+c@example.com");
	parse_one(V "rua=mailto:%61%62@%65xample.com", RUA_MAILTO,
		  "mailto:%61%62@%65xample.com", "ab@example.com");
}

static void test_percent_errors(void **state)
{
	(void)state;
	parse_err(V "rua=mailto:a@b.example%", "rua URI 1: bad percent-encoding");
	parse_err(V "rua=mailto:a@b.example%4", "rua URI 1: bad percent-encoding");
	parse_err(V "rua=mailto:a%zz@b.example", "rua URI 1: bad percent-encoding");
	parse_err(V "rua=mailto:a%4@b.example", "rua URI 1: bad percent-encoding");
	parse_err(V "rua=https://r.example/%g0", "rua URI 1: bad percent-encoding");
	parse_err(V "rua=mailto:a%00@b.example", "rua URI 1: encoded control character %00");
	parse_err(V "rua=https://r.example/x%00", "rua URI 1: encoded control character %00");
	parse_err(V "rua=https://r.example/x%0d%0a", "rua URI 1: encoded control character %0d");
	parse_err(V "rua=mailto:a@b.example%7F", "rua URI 1: encoded control character %7F");
}

static void test_header_injection(void **state)
{
	(void)state;
	parse_err(V "rua=mailto:a@b.example%0D%0ABcc:x@y.example",
		  "rua URI 1: encoded control character %0D");
	parse_err(V "rua=mailto:a@b.example%0ABcc:x@y.example",
		  "rua URI 1: encoded control character %0A");
	parse_err(V "rua=mailto:a@b.example\r\nBcc:x@y.example",
		  "rua URI 1: control character \"\\x0D\"");
	parse_err(V "rua=mailto:a@b.example\nBcc:x@y.example",
		  "rua URI 1: control character \"\\x0A\"");
	parse_err(V "rua=mailto:a@b.example,mailto:c@d.example\r\n",
		  "rua URI 2: control character \"\\x0D\"");
	parse_err(V "rua=mailto:a@b.example; x=1\r\nBcc: x@y.example",
		  "field 3: malformed extension \"x=1\\x0D\\x0ABcc: x@y.example\"");
	parse_err(V "rua=mailto:a@b.example\r", "rua URI 1: control character \"\\x0D\"");
}

/* "v=TLSRPTv1;rua=mailto:r1@example.com,...,mailto:rN@example.com" */
static char *many_uris(int n)
{
	struct strbuf sb;
	int i;

	strbuf_init(&sb);
	strbuf_appends(&sb, V "rua=");
	for (i = 1; i <= n; i++)
		strbuf_printf(&sb, "%smailto:r%d@example.com", i > 1 ? "," : "", i);
	return sb.data;
}

static void test_uri_cap(void **state)
{
	struct tlsrpt_record r;
	char *text;
	char uri[64], target[64];
	int i;

	(void)state;
	text = many_uris(TLSRPT_RECORD_MAX_URIS);
	parse_ok(text, &r, 32);
	for (i = 0; i < 32; i++) {
		snprintf(uri, sizeof(uri), "mailto:r%d@example.com", i + 1);
		snprintf(target, sizeof(target), "r%d@example.com", i + 1);
		assert_rua(&r.rua[i], RUA_MAILTO, uri, target);
	}
	tlsrpt_record_free(&r);
	free(text);

	text = many_uris(TLSRPT_RECORD_MAX_URIS + 1);
	parse_err(text, "rua: too many URIs (limit 32)");
	free(text);
}

/* A valid record padded to exactly len bytes with an extension. */
static char *record_of_length(size_t len)
{
	const char *head = V "rua=mailto:a@b.example;x=";
	size_t hlen = strlen(head);
	char *text = xmalloc(len + 1);

	memcpy(text, head, hlen);
	memset(text + hlen, 'p', len - hlen);
	text[len] = '\0';
	return text;
}

static void test_length_cap(void **state)
{
	struct tlsrpt_record r;
	char *text;

	(void)state;
	text = record_of_length(2048);
	parse_ok(text, &r, 1);
	assert_rua(&r.rua[0], RUA_MAILTO, "mailto:a@b.example", "a@b.example");
	tlsrpt_record_free(&r);
	free(text);

	text = record_of_length(2049);
	parse_err(text, "record: too long: 2049 bytes, limit 2048");
	free(text);
}

static void test_duplicates(void **state)
{
	struct tlsrpt_record r;

	(void)state;
	parse_ok(V "rua=mailto:a@b.example,https://r.example/x,MAILTO:a@b.example,"
		 "mailto:a%40b.example, mailto:a@b.example, https://r.example/x,"
		 "HTTPS://r.example/x, mailto:c@b.example",
		 &r, 3);
	assert_rua(&r.rua[0], RUA_MAILTO, "mailto:a@b.example", "a@b.example");
	assert_rua(&r.rua[1], RUA_HTTPS, "https://r.example/x", "https://r.example/x");
	assert_rua(&r.rua[2], RUA_MAILTO, "mailto:c@b.example", "c@b.example");
	tlsrpt_record_free(&r);
}

static void test_error_buffer(void **state)
{
	struct tlsrpt_record r;
	char err[8];

	(void)state;
	/* no buffer at all */
	assert_int_equal(tlsrpt_record_parse("v=TLSRPTv1", &r, NULL, 0), -1);
	assert_int_equal(r.nrua, 0);
	/* a short buffer gets a truncated, terminated message */
	assert_int_equal(tlsrpt_record_parse("v=TLSRPTv1", &r, err, sizeof(err)), -1);
	assert_string_equal(err, "rua: mi");
	/* success clears it */
	assert_int_equal(tlsrpt_record_parse(V "rua=mailto:a@b.example", &r, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	tlsrpt_record_free(&r);
	tlsrpt_record_free(&r);		/* twice is harmless */
	tlsrpt_record_free(NULL);
	parse_err(NULL, "record: missing");
}

/* An error after URIs were kept frees them (valgrind checks). */
static void test_error_after_uris(void **state)
{
	(void)state;
	parse_err(V "rua=mailto:a@b.example,https://r.example/,mailto:c@d.example; x",
		  "field 3: malformed extension \"x\"");
	parse_err(V "rua=mailto:a@b.example,https://r.example/,mailto:c@d.example%0A",
		  "rua URI 3: encoded control character %0A");
	parse_err(V "rua=mailto:a@b.example,https://r.example/; rua=mailto:c@d.example",
		  "field 3: duplicate rua");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_example_mailto),
		cmocka_unit_test(test_rfc_example_https),
		cmocka_unit_test(test_both_schemes_with_spaces),
		cmocka_unit_test(test_trailing_delimiter),
		cmocka_unit_test(test_extensions_ignored),
		cmocka_unit_test(test_malformed_extensions),
		cmocka_unit_test(test_uppercase_scheme),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_rua_required_once),
		cmocka_unit_test(test_delimiters),
		cmocka_unit_test(test_unsupported_schemes),
		cmocka_unit_test(test_mailto_errors),
		cmocka_unit_test(test_https_errors),
		cmocka_unit_test(test_percent_decoding),
		cmocka_unit_test(test_percent_errors),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_uri_cap),
		cmocka_unit_test(test_length_cap),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_error_after_uris),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

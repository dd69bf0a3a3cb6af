/*
 * NAME
 *	fuzz_dns - fuzz target for the DNS answer reader and the TXT record parsers
 * DESCRIPTION
 *	The first input byte picks the query type (0 TXT, 1 A, 2 AAAA, by
 *	its value modulo 3); the rest is a DNS answer message to a query for
 *	"_smtp._tls.example.com" (the name seeds and found inputs use).  It
 *	goes through dns_parse_answer() as a lookup's answer does; the TXT
 *	records found then through tlsrpt_select_record() and
 *	tlsrpt_record_parse() (RFC 8460) and sts_parse_record() (RFC 8461),
 *	as discovery does with them.  Invariants checked (abort on breach):
 *	- FOUND has at least one item, every other status none;
 *	- a TXT item holds no NUL byte and at most 4096 bytes; an address
 *	  item parses back as an address of the type asked for;
 *	- the CNAME chain's end is a name of at most 1024 bytes;
 *	- a record the parser accepts has at least one destination.
 *	Built with libFuzzer by "make fuzz-dns", replayed from
 *	tests/fuzz-corpus-dns by make check.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_txt.h"
#include "mta_sts.h"
#include "tlsrpt_record.h"

#define QNAME "_smtp._tls.example.com"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_item(int type, const char *item)
{
	unsigned char addr[sizeof(struct in6_addr)];

	if (type == 16 && strlen(item) > 4096)
		abort();
	if (type == 1 && inet_pton(AF_INET, item, addr) != 1)
		abort();
	if (type == 28 && inet_pton(AF_INET6, item, addr) != 1)
		abort();
}

static void parse_records(const struct dns_answer *a)
{
	const char *chosen = NULL;
	char id[STS_ID_MAX + 1], err[256];

	if (tlsrpt_select_record((const char *const *)a->item, a->n, &chosen) == LOOKUP_FOUND) {
		struct tlsrpt_record rec = {0, NULL};

		if (chosen == NULL)
			abort();
		if (tlsrpt_record_parse(chosen, &rec, err, sizeof(err)) == 0) {
			if (rec.nrua == 0)
				abort();
			tlsrpt_record_free(&rec);
		}
	}
	if (sts_parse_record((const char *const *)a->item, a->n, id, err, sizeof(err)) &&
	    id[0] == '\0')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { 16, 1, 28 };
	struct dns_answer a;
	char next[1025];
	int type;

	if (size < 1)
		return 0;
	type = types[data[0] % 3];
	dns_parse_answer(data + 1, size - 1, QNAME, type, &a, next);
	if (strlen(next) > 1024)
		abort();
	if ((a.status == LOOKUP_FOUND) != (a.n > 0))
		abort();
	for (size_t i = 0; i < a.n; i++)
		check_item(type, a.item[i]);
	if (type == 16)
		parse_records(&a);
	dns_answer_free(&a);
	return 0;
}

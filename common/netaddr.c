/*
 * NAME
 *	netaddr - is an address on the public Internet?
 * DESCRIPTION
 *	The filter that keeps attacker-chosen HTTPS destinations (a report's
 *	https: rua, an MTA-STS policy host) away from loopback, private,
 *	link-local, shared, documentation, multicast and reserved networks,
 *	IPv4 and IPv6, including IPv4-mapped and NAT64 forms.  Pure.
 */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>


static bool ipv4_public(uint32_t a)
{
	static const struct { uint32_t net; int bits; } blocked[] = {
		{0x00000000, 8},	/* 0/8 "this network" */
		{0x0a000000, 8},	/* 10/8 private */
		{0x64400000, 10},	/* 100.64/10 shared (CGN) */
		{0x7f000000, 8},	/* 127/8 loopback */
		{0xa9fe0000, 16},	/* 169.254/16 link-local */
		{0xac100000, 12},	/* 172.16/12 private */
		{0xc0000000, 24},	/* 192.0.0/24 IETF protocol assignments */
		{0xc0000200, 24},	/* 192.0.2/24 TEST-NET-1 */
		{0xc0a80000, 16},	/* 192.168/16 private */
		{0xc6120000, 15},	/* 198.18/15 benchmarking */
		{0xc6336400, 24},	/* 198.51.100/24 TEST-NET-2 */
		{0xcb007100, 24},	/* 203.0.113/24 TEST-NET-3 */
		{0xe0000000, 4},	/* 224/4 multicast */
		{0xf0000000, 4},	/* 240/4 reserved, and 255.255.255.255 */
	};

	for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
		uint32_t mask = 0xffffffffu << (32 - blocked[i].bits);

		if ((a & mask) == blocked[i].net)
			return false;
	}
	return true;
}

static uint32_t ipv4_at(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static bool ipv6_public(const unsigned char *b)
{
	static const unsigned char zero[16];
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
	static const unsigned char discard[8] = {0x01, 0x00};
	static const unsigned char doc[4] = {0x20, 0x01, 0x0d, 0xb8};

	if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1))
		return false;			/* :: and ::1 */
	if ((b[0] & 0xfe) == 0xfc)
		return false;			/* fc00::/7 unique local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return false;			/* fe80::/10 link-local */
	if (b[0] == 0xff)
		return false;			/* ff00::/8 multicast */
	if (memcmp(b, doc, sizeof(doc)) == 0)
		return false;			/* 2001:db8::/32 documentation */
	if (memcmp(b, discard, sizeof(discard)) == 0)
		return false;			/* 100::/64 discard */
	if (memcmp(b, mapped, sizeof(mapped)) == 0 || memcmp(b, nat64, sizeof(nat64)) == 0)
		return ipv4_public(ipv4_at(b + 12));	/* ::ffff:0:0/96, 64:ff9b::/96 */
	return true;
}

bool net_address_public(const struct sockaddr *sa, socklen_t len)
{
	if (sa == NULL || len < (socklen_t)sizeof(sa_family_t))
		return false;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;

		memcpy(&sin, sa, sizeof(sin));
		return ipv4_public(ntohl(sin.sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof(sin6));
		return ipv6_public(sin6.sin6_addr.s6_addr);
	}
	return false;
}

bool net_address_refused(const void *sa, size_t len, char *text, size_t textlen)
{
	struct sockaddr_storage ss;
	const void *ip;

	if (len > sizeof(ss))
		len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, sa, len);
	if (net_address_public((const struct sockaddr *)&ss, (socklen_t)len))
		return false;
	ip = ss.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr :
	    (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
	if ((ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
	    inet_ntop(ss.ss_family, ip, text, (socklen_t)textlen) == NULL)
		snprintf(text, textlen, "(address family %d)", (int)ss.ss_family);
	return true;
}

int net_open_socket(int family, int type, int protocol, const void *addr, size_t addrlen,
    bool allow_private, bool *refused, char *text, size_t textlen)
{
	if (addrlen > sizeof(struct sockaddr_storage))
		return -1;
	if (!allow_private && net_address_refused(addr, addrlen, text, textlen)) {
		*refused = true;
		return -1;
	}
#ifdef SOCK_CLOEXEC
	type |= SOCK_CLOEXEC;	/* the reporter also runs sendmail */
#endif
	return socket(family, type, protocol);
}

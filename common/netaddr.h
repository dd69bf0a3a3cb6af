/*
 * NAME
 *	netaddr - is an address on the public Internet?
 */
#ifndef TLSRPT_NETADDR_H
#define TLSRPT_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* False for loopback, private, link-local, reserved, multicast, ...; and for non-IP families. */
bool net_address_public(const struct sockaddr *sa, socklen_t len);

/*
 * For connection callbacks: true when the address (len bytes of a struct
 * sockaddr of any family) is not public; text then gets it in
 * presentation form (or "(address family N)").
 */
bool net_address_refused(const void *sa, size_t len, char *text, size_t textlen);

/*
 * A socket for an HTTPS client's connection to addr (libcurl's open-socket
 * callback): -1 with *refused set and text filled when the address is not
 * public and allow_private is false; else socket(family, type|CLOEXEC,
 * protocol), -1 on failure.
 */
int net_open_socket(int family, int type, int protocol, const void *addr, size_t addrlen,
    bool allow_private, bool *refused, char *text, size_t textlen);

#endif

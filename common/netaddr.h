/*
 * NAME
 *	netaddr - is an address on the public Internet?
 */
#ifndef TLSRPT_NETADDR_H
#define TLSRPT_NETADDR_H

#include <stdbool.h>
#include <sys/socket.h>

/* False for loopback, private, link-local, reserved, multicast, ...; and for non-IP families. */
bool net_address_public(const struct sockaddr *sa, socklen_t len);

#endif

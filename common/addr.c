// SPDX-License-Identifier: MIT
/* Addresses, networks and numbers as they appear in configuration. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipsec.h"
#include "sipsec_ctl.h"

int sipsec_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

/* "5060, 5062" -> ports; spaces around commas allowed, duplicates refused. */
int sipsec_parse_port_list(const char *s, uint16_t *ports, size_t cap,
			   size_t *n)
{
	char buf[256], *save = NULL, *tok;
	size_t count = 0;

	if (strlen(s) >= sizeof(buf))
		return -E2BIG;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		uint32_t v;
		char *end;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (sipsec_parse_u32(tok, 1, 65535, &v))
			return -EINVAL;
		for (size_t i = 0; i < count; i++)
			if (ports[i] == v)
				return -EEXIST;
		if (count == cap)
			return -E2BIG;
		ports[count++] = (uint16_t)v;
	}
	if (!count)
		return -EINVAL;
	*n = count;
	return 0;
}

int sipsec_net_parse(const char *s, struct sipsec_net *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	uint32_t prefix;
	size_t alen;
	int max;

	memset(out, 0, sizeof(*out));
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= INET6_ADDRSTRLEN)
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	prefix = (uint32_t)max;
	if (slash && sipsec_parse_u32(slash + 1, 0, (uint32_t)max, &prefix))
		return -EINVAL;
	out->prefix = (uint8_t)prefix;
	/* Host bits set under the prefix are a typo more often than not. */
	for (int bit = (int)prefix; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -EINVAL;
	return 0;
}

bool sipsec_net_contains(const struct sipsec_net *net,
			 const struct sockaddr *sa)
{
	const uint8_t *a;
	int bits = net->prefix;

	if (sa->sa_family == AF_INET && net->family == AF_INET)
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6 && net->family == AF_INET6)
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	else
		return false;
	if (memcmp(a, net->addr, (size_t)bits / 8))
		return false;
	if (bits % 8) {
		uint8_t mask = (uint8_t)(0xff00 >> (bits % 8));

		if ((a[bits / 8] & mask) != (net->addr[bits / 8] & mask))
			return false;
	}
	return true;
}

int sipsec_net_format(const struct sipsec_net *net, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(net->family, net->addr, a, sizeof(a)))
		return -errno;
	if ((size_t)snprintf(buf, len, "%s/%u", a, net->prefix) >= len)
		return -ENOSPC;
	return 0;
}

const char *sipsec_sa_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "(family %d)", sa->sa_family);
	}
	return buf;
}

void sipsec_sa_to_ctl(const struct sockaddr_storage *ss, struct sipsec_ctl_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		a->port = ntohs(in->sin_port);
		memcpy(a->addr, &in->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		a->port = ntohs(in6->sin6_port);
		memcpy(a->addr, &in6->sin6_addr, 16);
	}
}

void sipsec_ctl_to_sa(const struct sipsec_ctl_addr *a, struct sockaddr_storage *ss,
	       socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (void *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->addr, 4);
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (void *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		memcpy(&in6->sin6_addr, a->addr, 16);
		*len = sizeof(*in6);
	}
}

bool sipsec_sa_equal(const struct sockaddr_storage *a,
		     const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a,
					  *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr,
			       sizeof(x->sin6_addr));
	}
	return false;
}

int sipsec_sa_ip(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		return -EAFNOSUPPORT;
	return inet_ntop(sa->sa_family, a, buf, (socklen_t)len) ? 0 : -errno;
}

uint16_t sipsec_sa_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

void sipsec_sa_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

void sipsec_sa_unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *in6 = (void *)ss;
	struct sockaddr_in in = { .sin_family = AF_INET };

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return;
	in.sin_port = in6->sin6_port;
	memcpy(&in.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &in, sizeof(in));
}

bool sipsec_sa_same_ip(const struct sockaddr_storage *a,
		       const struct sockaddr_storage *b)
{
	struct sockaddr_storage x = *a, y = *b;

	sipsec_sa_set_port(&x, 0);
	sipsec_sa_set_port(&y, 0);
	return sipsec_sa_equal(&x, &y);
}

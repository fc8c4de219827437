// SPDX-License-Identifier: MIT
/*
 * Whether a TCP socket still exists, asked of the kernel by 4-tuple
 * (NETLINK_SOCK_DIAG, an exact inet_diag lookup): the daemon holds no
 * descriptor of a kernel-path connection, so this is how its status
 * record learns that the program closed the socket. The same answer
 * carries tcp_info, whose byte counters are the only ones a kernel-path
 * connection has (the bytes never pass through the daemon).
 */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <libmnl/libmnl.h>
#include <netinet/in.h>
/* The uapi tcp_info: glibc's lacks the byte counters. */
#include <linux/tcp.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "sipsecd.h"

/* TCP states as inet_diag reports them (include/net/tcp_states.h). */
enum { SD_TCP_TIME_WAIT = 6, SD_TCP_CLOSE = 7 };

static void put_addr(const struct sockaddr_storage *ss, __be16 *port,
		     __be32 *addr)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		*port = in->sin_port;
		memcpy(addr, &in->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		*port = in6->sin6_port;
		memcpy(addr, &in6->sin6_addr, 16);
	}
}

/* TCP payload bytes received and acknowledged-sent, from tcp_info;
 * untouched when the kernel gave no INET_DIAG_INFO. */
static void get_bytes(const struct nlmsghdr *nlh, uint64_t *in, uint64_t *out)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct inet_diag_msg)) {
		const struct tcp_info *ti;

		if (mnl_attr_get_type(a) != INET_DIAG_INFO)
			continue;
		/* Older kernels send a shorter struct, without them. */
		if (mnl_attr_get_payload_len(a) <
		    offsetof(struct tcp_info, tcpi_bytes_received) +
			    sizeof(ti->tcpi_bytes_received))
			return;
		ti = mnl_attr_get_payload(a);
		*in = ti->tcpi_bytes_received;
		/* bytes_acked counts the acknowledged SYN as one byte. */
		*out = ti->tcpi_bytes_acked ? ti->tcpi_bytes_acked - 1 : 0;
		return;
	}
}

int sockdiag_alive(const struct sockaddr_storage *local,
		   const struct sockaddr_storage *peer, uint64_t *in,
		   uint64_t *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = NULL;
	struct inet_diag_req_v2 *req;
	struct inet_diag_msg *m;
	struct nlmsghdr *nlh;
	unsigned seq = (unsigned)time(NULL);
	int err = 1;
	ssize_t n;

	if (local->ss_family != peer->ss_family)
		return -EINVAL;
	nl = mnl_socket_open(NETLINK_SOCK_DIAG);
	if (!nl)
		return -errno;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = (__u8)local->ss_family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = ~0u;
	if (in && out)
		req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
	put_addr(local, &req->id.idiag_sport, req->id.idiag_src);
	put_addr(peer, &req->id.idiag_dport, req->id.idiag_dst);
	req->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < (ssize_t)sizeof(*nlh)) {
		err = n < 0 ? -errno : -EBADMSG;
		goto out;
	}
	nlh = (struct nlmsghdr *)buf;
	if (nlh->nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		err = e->error == -ENOENT ? 0 : e->error;
		goto out;
	}
	m = mnl_nlmsg_get_payload(nlh);
	/* A closed or TIME_WAIT socket is no connection any more. */
	err = m->idiag_state != SD_TCP_CLOSE &&
	      m->idiag_state != SD_TCP_TIME_WAIT;
	if (err && in && out)
		get_bytes(nlh, in, out);
out:
	mnl_socket_close(nl);
	return err;
}

// SPDX-License-Identifier: MIT
/*
 * Framing of the control protocol, shared by both ends. Every received
 * message is checked here (magic, version, length, ancillary data) before
 * anyone looks at its body; what the body means is the receiver's job.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sipsec.h"
#include "sipsec_ctl.h"

/* The receiver reserves room for a few descriptors so that a sender that
 * passes more than one is detected (and the extras closed), not truncated. */
#define CTL_RX_FDS 4

int sipsec_ctl_sockaddr(const char *name, struct sockaddr *sa, socklen_t *len)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)sa;
	size_t n;

	if (!name || !*name)
		name = SIPSEC_CTL_DEFAULT_NAME;
	if (*name == '@') /* "@name" is the usual spelling of abstract */
		name++;
	n = strlen(name);
	if (n == 0 || n + 1 > sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path + 1, name, n); /* leading NUL: abstract */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	return 0;
}

int sipsec_ctl_connect(const char *name)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, err;

	err = sipsec_ctl_sockaddr(name, (struct sockaddr *)&ss, &len);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int sipsec_ctl_send(int fd, uint16_t type, uint32_t seq, int32_t status,
		    uint16_t flags, const void *body, size_t len, int pass_fd)
{
	struct sipsec_ctl_hdr hdr = {
		.magic = SIPSEC_CTL_MAGIC,
		.version = SIPSEC_CTL_VERSION,
		.type = type,
		.len = (uint32_t)(sizeof(hdr) + len),
		.seq = seq,
		.status = status,
		.flags = flags,
	};
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)body, .iov_len = len },
	};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	if (sizeof(hdr) + len > SIPSEC_CTL_MAX_MSG)
		return -EMSGSIZE;
	if (pass_fd >= 0) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == hdr.len ? 0 : -EIO;
}

int sipsec_ctl_check(const void *buf, size_t n)
{
	struct sipsec_ctl_hdr hdr;

	if (n < sizeof(hdr))
		return -EBADMSG;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.magic != SIPSEC_CTL_MAGIC)
		return -EBADMSG;
	if (hdr.version != SIPSEC_CTL_VERSION)
		return -EPROTONOSUPPORT;
	if (hdr.len != n || hdr.pad != 0)
		return -EBADMSG;
	return 0;
}

/* Takes every descriptor out of the control data: keeps the first if it
 * is the only one, closes the rest. Returns -EBADMSG for anything but a
 * single SCM_RIGHTS descriptor. */
static int take_fds(struct msghdr *msg, int *fd_out)
{
	int nfds = 0, err = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c;
	     c = CMSG_NXTHDR(msg, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			err = -EBADMSG; /* credentials etc. are not expected */
			continue;
		}
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (nfds++ == 0)
				*fd_out = fd;
			else
				close(fd);
		}
	}
	if (nfds > 1 || (err && nfds)) {
		close(*fd_out);
		*fd_out = -1;
		err = -EBADMSG;
	}
	return err;
}

ssize_t sipsec_ctl_recv(int fd, void *buf, size_t cap, int *fd_out)
{
	union {
		char buf[CMSG_SPACE(CTL_RX_FDS * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.buf,
		.msg_controllen = sizeof(cbuf.buf),
	};
	ssize_t n;
	int err, got = -1;

	*fd_out = -1;
	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	err = take_fds(&msg, &got);
	if (!err && (msg.msg_flags & MSG_CTRUNC))
		err = -EBADMSG;
	if (!err && (msg.msg_flags & MSG_TRUNC))
		err = -EMSGSIZE;
	if (!err && n > 0)
		err = sipsec_ctl_check(buf, (size_t)n);
	if (err) {
		if (got >= 0)
			close(got);
		return err;
	}
	*fd_out = got;
	return n;
}

int sipsec_ctl_hello(int fd, uint16_t role)
{
	struct sipsec_ctl_hello hello = {
		.min_version = SIPSEC_CTL_VERSION,
		.max_version = SIPSEC_CTL_VERSION,
		.role = role,
	};
	char buf[SIPSEC_CTL_MAX_MSG];
	struct sipsec_ctl_hdr hdr;
	ssize_t n;
	int err, rfd;

	snprintf(hello.software, sizeof(hello.software), "sipsec %s",
		 SIPSEC_VERSION);
	err = sipsec_ctl_send(fd, SIPSEC_CTL_HELLO, 1, 0, 0, &hello,
			      sizeof(hello), -1);
	if (err)
		return err;
	n = sipsec_ctl_recv(fd, buf, sizeof(buf), &rfd);
	if (n < 0)
		return (int)n;
	if (rfd >= 0)
		close(rfd);
	if (n == 0)
		return -ECONNRESET;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.status)
		return hdr.status;
	if (hdr.type != SIPSEC_CTL_HELLO || hdr.seq != 1 ||
	    hdr.len != sizeof(hdr) + sizeof(hello))
		return -EBADMSG;
	return 0;
}

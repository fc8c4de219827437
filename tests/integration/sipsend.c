// SPDX-License-Identifier: MIT
/*
 * sipsend: a legacy-style sender of cleartext SIP for the enforcement lab
 * test (enforce.sh), in two builds from this one file: the Makefile's
 * (dynamic, libc only) and a static one the test compiles with
 * `gcc -static` (no LD_PRELOAD can reach it). With --uring every send goes
 * through io_uring (IORING_OP_SENDMSG), set up with the raw syscalls and
 * the kernel's UAPI header, no liburing: the sends never pass through
 * libc's send functions.
 *
 *   sipsend [--uring] [--split N] [--count N] udp|tcp ADDR PORT
 *
 * Sends --count (default 3) INVITEs. Over TCP, one connection; each
 * INVITE is written in two parts (the first N bytes, default 10, then
 * the rest, 50 ms apart, TCP_NODELAY), so that the wire would carry a
 * first segment and a later one. Prints one line per send. Exit 0 when
 * the kernel accepted every send (what the network then does with them
 * is for the capture to say), 1 otherwise, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

struct ring {
	int fd;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static int ring_setup(struct ring *r)
{
	struct io_uring_params p;
	size_t sq_len, cq_len;
	uint8_t *sq, *cq;

	memset(&p, 0, sizeof(p));
	r->fd = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (r->fd < 0)
		return -errno;
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP)
		sq_len = cq_len = sq_len > cq_len ? sq_len : cq_len;
	sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED)
		return -errno;
	cq = sq;
	if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
		cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, r->fd,
			  IORING_OFF_CQ_RING);
		if (cq == MAP_FAILED)
			return -errno;
	}
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       r->fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		return -errno;
	r->sq_head = (unsigned *)(sq + p.sq_off.head);
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->cq_head = (unsigned *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

/* One IORING_OP_SENDMSG, submitted and waited for: its result. */
static int ring_sendmsg(struct ring *r, int fd, struct msghdr *msg)
{
	unsigned tail = __atomic_load_n(r->sq_tail, __ATOMIC_ACQUIRE);
	unsigned idx = tail & *r->sq_mask, head;
	struct io_uring_sqe *sqe = &r->sqes[idx];
	int res;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_SENDMSG;
	sqe->fd = fd;
	sqe->addr = (uint64_t)(uintptr_t)msg;
	sqe->len = 1;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS,
		    NULL, 0) < 0)
		return -errno;
	head = __atomic_load_n(r->cq_head, __ATOMIC_ACQUIRE);
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static struct ring ring;
static bool use_uring;

static ssize_t send_part(int fd, const void *buf, size_t len,
			 const struct sockaddr *to, socklen_t tolen)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = {
		.msg_name = (void *)to,
		.msg_namelen = tolen,
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;

	if (!use_uring) {
		n = sendmsg(fd, &msg, 0);
		return n < 0 ? -errno : n;
	}
	return ring_sendmsg(&ring, fd, &msg);
}

static int parse_addr(const char *addr, const char *port,
		      struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	int p = atoi(port);

	if (p <= 0 || p > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sipsend [--uring] [--split N] [--count N] "
		"udp|tcp ADDR PORT\n");
}

int main(int argc, char **argv)
{
	struct sockaddr_storage to = { 0 };
	socklen_t tolen;
	size_t split = 10;
	int count = 3, fd = -1, i, one = 1, rc = 1, err;
	bool tcp;
	char msg[1024];

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--uring"))
			use_uring = true;
		else if (!strcmp(argv[i], "--split") && i + 1 < argc)
			split = (size_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (argc - i != 3 || count < 1 || (strcmp(argv[i], "udp") &&
					  strcmp(argv[i], "tcp"))) {
		usage(stderr);
		return 2;
	}
	tcp = !strcmp(argv[i], "tcp");
	/* Numeric addresses only: getaddrinfo in a static binary would want
	 * the shared NSS modules at run time. */
	if ((err = parse_addr(argv[i + 1], argv[i + 2], &to, &tolen))) {
		fprintf(stderr, "sipsend: %s port %s: not a numeric address "
			"and port\n", argv[i + 1], argv[i + 2]);
		return 2;
	}
	if (use_uring && (err = ring_setup(&ring))) {
		fprintf(stderr, "sipsend: io_uring_setup: %s\n",
			strerror(-err));
		goto out;
	}
	fd = socket(to.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("sipsend: socket");
		goto out;
	}
	if (tcp) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (struct sockaddr *)&to, tolen) < 0) {
			perror("sipsend: connect");
			goto out;
		}
	}
	for (int k = 0; k < count; k++) {
		int len = snprintf(msg, sizeof(msg),
			"INVITE sip:bob@%s:%s SIP/2.0\r\n"
			"Via: SIP/2.0/%s sipsend;branch=z9hG4bK-%d-%d\r\n"
			"From: <sip:alice@sipsend>;tag=%d\r\n"
			"To: <sip:bob@%s>\r\nCall-ID: %d-%d@sipsend\r\n"
			"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
			"Content-Length: 0\r\n\r\n", argv[i + 1], argv[i + 2],
			tcp ? "TCP" : "UDP", (int)getpid(), k, k, argv[i + 1],
			(int)getpid(), k);
		size_t first = tcp && split && split < (size_t)len ? split :
			       (size_t)len;
		ssize_t n;

		n = send_part(fd, msg, first,
			      tcp ? NULL : (struct sockaddr *)&to,
			      tcp ? 0 : tolen);
		if (n == (ssize_t)first && first < (size_t)len) {
			poll(NULL, 0, 50);
			n = send_part(fd, msg + first, (size_t)len - first,
				      NULL, 0);
			if (n == (ssize_t)((size_t)len - first))
				n = len;
		}
		if (n != len) {
			fprintf(stderr, "sipsend: send %d: %s\n", k,
				n < 0 ? strerror((int)-n) : "short");
			goto out;
		}
		printf("sent INVITE %d (%d bytes) over %s%s\n", k, len,
		       tcp ? "TCP" : "UDP", use_uring ? " via io_uring" : "");
		poll(NULL, 0, 100);
	}
	rc = 0;
out:
	if (fd >= 0) {
		/* Let TCP try its retransmissions before the close. */
		if (tcp)
			poll(NULL, 0, 500);
		close(fd);
	}
	return rc;
}

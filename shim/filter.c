// SPDX-License-Identifier: MIT
/*
 * A listening SIP socket stays the program's own (its epoll registration,
 * made before listen(), must keep working), but it must never take a
 * connection from the network: those go to sipsecd's TLS port. A classic
 * BPF socket filter on the listener drops every segment, SYNs included,
 * whose source is not this host: IPv4 or IPv6 loopback, or a source equal
 * to the destination (a local connection to a specific address). sipsecd
 * connects from there; a remote client's SYN is dropped as by a firewall.
 * Accepted sockets inherit the filter.
 *
 * The loads use SKF_NET_OFF: a TCP socket's filter sees the transport
 * header at offset 0.
 */
#include <errno.h>
#include <linux/filter.h>
#include <sys/socket.h>

#include "shim.h"

#define NET(off) (SKF_NET_OFF + (off))
#define LD_W(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(off))
#define JEQ_X(t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, t, f)
#define JEQ_K(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, t, f)
#define TAX BPF_STMT(BPF_MISC | BPF_TAX, 0)

/* Jump offsets count instructions after the jump; labels in comments. */
static struct sock_filter local_only[] = {
	/* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, NET(0)),
	/* 1 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
	/* 2 */ JEQ_K(4, 0, 6), /* IPv6 at 9 */
	/* IPv4: saddr at 12, daddr at 16 */
	/* 3 */ LD_W(16),
	/* 4 */ TAX,
	/* 5 */ LD_W(12),
	/* 6 */ JEQ_X(27, 0), /* src == dst: accept */
	/* 7 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 24),
	/* 8 */ JEQ_K(127, 25, 26), /* 127/8: accept, else drop */
	/* IPv6: saddr at 8..23, daddr at 24..39 */
	/* 9 */ JEQ_K(6, 0, 25),
	/* 10 */ LD_W(24), TAX, LD_W(8), JEQ_X(0, 12), /* else ::1 at 26 */
	/* 14 */ LD_W(28), TAX, LD_W(12), JEQ_X(0, 8),
	/* 18 */ LD_W(32), TAX, LD_W(16), JEQ_X(0, 4),
	/* 22 */ LD_W(36), TAX, LD_W(20), JEQ_X(8, 0),
	/* 26: src == ::1 ? */
	/* 26 */ LD_W(8), JEQ_K(0, 0, 7),
	/* 28 */ LD_W(12), JEQ_K(0, 0, 5),
	/* 30 */ LD_W(16), JEQ_K(0, 0, 3),
	/* 32 */ LD_W(20), JEQ_K(1, 0, 1),
	/* 34 */ BPF_STMT(BPF_RET | BPF_K, 0xffffffff), /* accept */
	/* 35 */ BPF_STMT(BPF_RET | BPF_K, 0), /* drop */
};

int shim_filter_local_only(int fd)
{
	struct sock_fprog prog = {
		.len = sizeof(local_only) / sizeof(local_only[0]),
		.filter = local_only,
	};

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
		       sizeof(prog)) < 0)
		return -errno;
	return 0;
}

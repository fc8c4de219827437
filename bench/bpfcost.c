// SPDX-License-Identifier: MIT
/*
 * bpfcost: what sipsec's eBPF program (bpf/egress.bpf.c, entry point
 * sipsec_tc_egress) costs per packet, on the packets of the unit test
 * bpf/cost_per_packet: passes (a TLS segment, a pure ACK, a UDP datagram
 * that is not SIP) and drops (a UDP INVITE with and without reports, a
 * segment from the middle of a TCP flow that began with SIP).
 *
 * BPF_PROG_TEST_RUN runs a program on one prepared packet REPEAT times in
 * the kernel and returns the mean time of a run, which includes the
 * harness's own work around each run. So the same packets also go through
 * two baselines (bench/baseline.bpf.c): an empty program, whose time is
 * the harness's, subtracted to give the program's own cost, and one that
 * only bumps a per-CPU counter, for scale. Programs alternate within a
 * round; each figure is the best of ROUNDS rounds (the least disturbed on
 * a shared machine).
 *
 *   bpfcost [REPEAT]     default 1000000; needs root (bpf())
 *
 * Prints a markdown section for bench/results/latest.md. Exit 1 if a
 * packet does not get its verdict, 2 on bad usage, 77 if the programs
 * cannot be loaded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sipsec_abi.h"
#include "baseline.skel.h"
#include "bpf_packets.h"
#include "egress.skel.h"

#define ROUNDS 7
#define PASS TC_ACT_UNSPEC
#define DROP TC_ACT_SHOT

/* An Ethernet frame carrying IPv4 from 198.18.0.1 to 198.18.0.2. */
struct frame {
	uint8_t b[1536];
	uint32_t len;
};

#define TCP_SYN 0x02
#define TCP_ACK 0x10
#define TCP_PSH_ACK 0x18

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* proto IPPROTO_TCP or IPPROTO_UDP; seq and flags for TCP only. */
static void frame_build(struct frame *f, int proto, uint16_t sport,
			uint16_t dport, uint32_t seq, uint8_t flags,
			const void *payload, size_t plen)
{
	uint8_t *ip = f->b + ETH_HLEN, *l4 = ip + 20;
	size_t l4len = proto == IPPROTO_TCP ? 20 : 8;

	memset(f, 0, sizeof(*f));
	memcpy(f->b, "\x02\x53\x00\x00\x00\x02\x02\x53\x00\x00\x00\x01", 12);
	put16(f->b + 12, ETH_P_IP);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4len + plen));
	ip[8] = 64;
	ip[9] = (uint8_t)proto;
	inet_pton(AF_INET, "198.18.0.1", ip + 12);
	inet_pton(AF_INET, "198.18.0.2", ip + 16);
	put16(l4, sport);
	put16(l4 + 2, dport);
	if (proto == IPPROTO_TCP) {
		uint32_t nseq = htonl(seq);

		memcpy(l4 + 4, &nseq, 4);
		l4[12] = 5 << 4;
		l4[13] = flags;
		put16(l4 + 14, 65535);
	} else {
		put16(l4 + 4, (uint16_t)(8 + plen));
	}
	memcpy(l4 + l4len, payload, plen);
	f->len = (uint32_t)(ETH_HLEN + 20 + l4len + plen);
}

/* Runs prog on f repeat times; returns the mean ns per run, or -1 if the
 * verdict is not the expected one. */
static long run(int prog, const struct frame *f, int verdict, int repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->b,
		    .data_size_in = f->len, .repeat = repeat);
	int err = bpf_prog_test_run_opts(prog, &opts);

	if (err) {
		fprintf(stderr, "bpfcost: test run: %s\n", strerror(-err));
		return -1;
	}
	if ((int)opts.retval != verdict) {
		fprintf(stderr, "bpfcost: verdict %d, want %d\n",
			(int)opts.retval, verdict);
		return -1;
	}
	return opts.duration;
}

static int set_policy(struct egress *skel, int reports)
{
	struct sipsec_policy pol = {
		.abi_version = SIPSEC_ABI_VERSION,
		.mode = SIPSEC_MODE_ENFORCE,
		.flags = reports ? SIPSEC_POLICY_F_EVENTS : 0,
		.n_sip_ports = 1,
		.sip_ports = { 5060 },
	};
	uint32_t key = 0;

	return bpf_map_update_elem(bpf_map__fd(skel->maps.sipsec_policy),
				   &key, &pol, BPF_ANY);
}

struct bench_case {
	const char *packet;
	int verdict;
	int reports; /* policy sends events (ring buffer, recent slots) */
	struct frame f;
	long best[3]; /* ns: empty, counter, sipsec */
};

/* The flows the TCP cases belong to, set up as the unit test does: the
 * TLS one decided by its ClientHello, the SIP one by its INVITE. */
static int prepare_flows(int prog)
{
	struct frame f;

	frame_build(&f, IPPROTO_TCP, 40200, 5061, 1, TCP_SYN, NULL, 0);
	if (run(prog, &f, PASS, 1) < 0)
		return -1;
	frame_build(&f, IPPROTO_TCP, 40200, 5061, 2, TCP_PSH_ACK,
		    client_hello, sizeof(client_hello));
	if (run(prog, &f, PASS, 1) < 0)
		return -1;
	frame_build(&f, IPPROTO_TCP, 40201, 5060, 1, TCP_SYN, NULL, 0);
	if (run(prog, &f, PASS, 1) < 0)
		return -1;
	frame_build(&f, IPPROTO_TCP, 40201, 5060, 2, TCP_PSH_ACK, invite,
		    strlen(invite));
	return run(prog, &f, DROP, 1) < 0 ? -1 : 0;
}

static void build_cases(struct bench_case *c)
{
	static unsigned char big[1200], dns[512];

	memset(big, 0x5a, sizeof(big));
	memcpy(big, "\x17\x03\x03\x04\xab", 5); /* TLS application data */
	memset(dns, 0, sizeof(dns));
	memcpy(dns, "\x12\x34\x01\x00", 4);
	c[0].packet = "TCP segment of an established TLS flow, 1.2 KB";
	frame_build(&c[0].f, IPPROTO_TCP, 40200, 5061, 100, TCP_PSH_ACK, big,
		    sizeof(big));
	c[1].packet = "pure ACK";
	frame_build(&c[1].f, IPPROTO_TCP, 40200, 5061, 9, TCP_ACK, NULL, 0);
	c[2].packet = "UDP, 512 B, not SIP (DNS)";
	frame_build(&c[2].f, IPPROTO_UDP, 40202, 53, 0, 0, dns, sizeof(dns));
	c[3].packet = "UDP INVITE, with report (ring buffer + recent slot)";
	c[3].reports = 1;
	frame_build(&c[3].f, IPPROTO_UDP, 40202, 5060, 0, 0, invite,
		    strlen(invite));
	c[4].packet = "UDP INVITE, reports off";
	c[4].f = c[3].f;
	c[5].packet = "TCP segment from the middle of a SIP flow, with report";
	c[5].reports = 1;
	frame_build(&c[5].f, IPPROTO_TCP, 40201, 5060, 2 + strlen(invite),
		    TCP_PSH_ACK, middle, strlen(middle));
	for (int i = 0; i < 6; i++) {
		c[i].verdict = i < 3 ? PASS : DROP;
		c[i].best[0] = c[i].best[1] = c[i].best[2] = -1;
	}
}

static int measure(struct bench_case *c, int n, struct egress *skel,
		   const int prog[3], int repeat)
{
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < n; i++) {
			if (set_policy(skel, c[i].reports))
				return -1;
			for (int k = 0; k < 3; k++) {
				/* The baselines pass everything. */
				long ns = run(prog[k], &c[i].f,
					      k < 2 ? TC_ACT_OK : c[i].verdict,
					      repeat);

				if (ns < 0) {
					fprintf(stderr, "bpfcost: %s\n",
						c[i].packet);
					return -1;
				}
				if (c[i].best[k] < 0 || ns < c[i].best[k])
					c[i].best[k] = ns;
			}
		}
	}
	return 0;
}

static void print_section(const struct bench_case *c, int n, int repeat)
{
	struct utsname u;

	uname(&u);
	printf("## The eBPF program's cost per packet\n\n");
	printf("`bench/bpfcost.c`: `BPF_PROG_TEST_RUN` of `sipsec_tc_egress` "
	       "(enforce, SIP port 5060), repeat %d per run, best of %d runs "
	       "(least disturbed), kernel %s. The empty program "
	       "(`bench/baseline.bpf.c`, returns `TC_ACT_OK`) runs on the same "
	       "packets in the same runs: its time is the harness's, and "
	       "\"above the empty program\" is sipsec's own cost. For scale, "
	       "a program that only bumps a per-CPU counter is shown too.\n\n",
	       repeat, ROUNDS, u.release);
	printf("| packet | verdict | ns per packet | ns above the empty program |\n");
	printf("|---|---|---|---|\n");
	for (int i = 0; i < n; i++)
		printf("| %s | %s | %ld | %ld |\n", c[i].packet,
		       c[i].verdict == PASS ? "pass" : "drop", c[i].best[2],
		       c[i].best[2] - c[i].best[0]);
	printf("| (empty program, on the pure ACK) | pass | %ld | 0 |\n",
	       c[1].best[0]);
	printf("| (per-CPU counter only, on the pure ACK) | pass | %ld | %ld |\n",
	       c[1].best[1], c[1].best[1] - c[1].best[0]);
	printf("\nWith reports on, the ring buffer has no reader here and is "
	       "full after its first 1,700 events or so: those figures count "
	       "a report whose ring buffer copy fails (and is counted as lost); "
	       "the recent slot is written either way.\n");
}

int main(int argc, char **argv)
{
	struct bench_case c[6];
	struct baseline *base = NULL;
	struct egress *skel = NULL;
	int repeat = argc > 1 ? atoi(argv[1]) : 1000000;
	int prog[3], rc = 1;

	if (repeat <= 0) {
		fprintf(stderr, "usage: bpfcost [REPEAT]\n");
		return 2;
	}
	base = baseline__open_and_load();
	skel = egress__open();
	if (skel) {
		/* Only the entry point measured: half the verifier's work. */
		bpf_program__set_autoload(skel->progs.sipsec_tc_egress_l3, false);
		bpf_program__set_autoload(skel->progs.sipsec_tc_ingress, false);
		bpf_program__set_autoload(skel->progs.sipsec_tc_ingress_l3,
					  false);
	}
	if (!base || !skel || egress__load(skel)) {
		fprintf(stderr, "bpfcost: cannot load the programs (%s): "
			"needs root and BPF\n", strerror(errno));
		rc = 77;
		goto out;
	}
	prog[0] = bpf_program__fd(base->progs.tc_empty);
	prog[1] = bpf_program__fd(base->progs.tc_count);
	prog[2] = bpf_program__fd(skel->progs.sipsec_tc_egress);
	build_cases(c);
	if (set_policy(skel, 1) || prepare_flows(prog[2]) ||
	    measure(c, 6, skel, prog, repeat))
		goto out;
	print_section(c, 6, repeat);
	rc = 0;
out:
	egress__destroy(skel);
	baseline__destroy(base);
	return rc;
}

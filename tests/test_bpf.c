// SPDX-License-Identifier: MIT
/*
 * The enforcement program (bpf/egress.bpf.c) on crafted Ethernet frames,
 * run with BPF_PROG_TEST_RUN: each test asserts the verdict and the
 * per-reason counter. Needs root (bpf()); skipped with the reason without.
 * `cost_per_packet` runs the packets bench/bpfcost.c times with a large
 * repeat and asserts their verdicts; the figures are the benchmark's.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sipsec_abi.h"
#include "bpf_packets.h"
#include "egress.skel.h"

#define PASS TC_ACT_UNSPEC
#define DROP TC_ACT_SHOT

static const char ok200[] =
	"SIP/2.0 200 OK\r\n"
	"Via: SIP/2.0/UDP 198.18.0.1:5060;branch=z9hG4bK-1\r\n"
	"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
static const unsigned char app_data[] = {
	0x17, 0x03, 0x03, 0x00, 0x20, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02,
};

static struct egress *skel;
static int load_err;

/* Without privileges every test skips with the reason; libbpf's own
 * account of the failure would only repeat it. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static void setup(void)
{
	libbpf_set_print(quiet);
	skel = egress__open();
	if (!skel) {
		load_err = -errno;
		return;
	}
	/* The ingress entries share the egress body: not loading them
	 * halves the verifier's work per test (it counts in the VM). */
	bpf_program__set_autoload(skel->progs.sipsec_tc_ingress, false);
	bpf_program__set_autoload(skel->progs.sipsec_tc_ingress_l3, false);
	load_err = egress__load(skel);
	if (load_err) {
		egress__destroy(skel);
		skel = NULL;
	}
}

static void teardown(void)
{
	egress__destroy(skel);
	skel = NULL;
}

static void need_prog(void)
{
	if (!skel)
		cr_skip_test("cannot load the BPF program (%s): needs root and "
			     "BPF", strerror(-load_err));
}

TestSuite(bpf, .init = setup, .fini = teardown);

/* --- frames ------------------------------------------------------- */

struct pkt_spec {
	int family; /* 4 or 6 */
	int proto; /* IPPROTO_TCP / IPPROTO_UDP / other */
	const char *src, *dst;
	uint16_t sport, dport;
	uint32_t seq;
	uint8_t tcp_flags; /* 0x02 SYN, 0x10 ACK */
	uint16_t frag_off; /* IPv4: flags + offset, host order */
	uint32_t frag_id;
	int v6_frag; /* IPv6: add a fragment header */
	uint16_t v6_frag_off; /* its offset field (offset << 3 | M) */
	int v6_ext; /* IPv6: this many destination options headers */
	int vlan; /* one 802.1Q tag */
	int l3; /* no Ethernet header */
};

struct frame {
	uint8_t b[2048];
	size_t len;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static void build(struct frame *f, const struct pkt_spec *s,
		  const void *payload, size_t plen)
{
	uint8_t *p = f->b, *ip, *l4;
	size_t l4len = 0, off = 0;
	int proto = s->proto ? s->proto : IPPROTO_UDP;

	memset(f, 0, sizeof(*f));
	if (!s->l3) {
		memcpy(p, "\x02\x53\x00\x00\x00\x02\x02\x53\x00\x00\x00\x01", 12);
		off = 12;
		if (s->vlan) {
			put16(p + off, ETH_P_8021Q);
			put16(p + off + 2, 42);
			off += 4;
		}
		put16(p + off, s->family == 6 ? ETH_P_IPV6 : ETH_P_IP);
		off += 2;
	}
	ip = p + off;
	if (proto == IPPROTO_TCP)
		l4len = 20;
	else if (proto == IPPROTO_UDP)
		l4len = 8;
	if (s->family == 6) {
		uint8_t nh = proto, *h = ip + 40;
		size_t ext = 0;

		ip[0] = 0x60;
		ip[7] = 64;
		inet_pton(AF_INET6, s->src, ip + 8);
		inet_pton(AF_INET6, s->dst, ip + 24);
		if (s->v6_frag) {
			h[0] = nh;
			put16(h + 2, s->v6_frag_off);
			put32(h + 4, s->frag_id);
			nh = IPPROTO_FRAGMENT;
			h += 8;
			ext += 8;
		}
		for (int i = 0; i < s->v6_ext; i++) {
			/* prepend in front of what is there */
			memmove(ip + 40 + 8, ip + 40, ext);
			ip[40] = nh;
			ip[41] = 0;
			memset(ip + 42, 0, 6);
			ip[42] = 1; /* PadN */
			ip[43] = 4;
			nh = IPPROTO_DSTOPTS;
			ext += 8;
		}
		ip[6] = nh;
		l4 = ip + 40 + ext;
		put16(ip + 4, ext + l4len + plen);
	} else {
		ip[0] = 0x45;
		put16(ip + 2, 20 + l4len + plen);
		put16(ip + 4, s->frag_id);
		put16(ip + 6, s->frag_off);
		ip[8] = 64;
		ip[9] = proto;
		inet_pton(AF_INET, s->src, ip + 12);
		inet_pton(AF_INET, s->dst, ip + 16);
		l4 = ip + 20;
	}
	if (proto == IPPROTO_TCP) {
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put32(l4 + 4, s->seq);
		l4[12] = 5 << 4;
		l4[13] = s->tcp_flags ? s->tcp_flags : 0x18;
		put16(l4 + 14, 65535);
	} else if (proto == IPPROTO_UDP) {
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put16(l4 + 4, 8 + plen);
	}
	if (plen)
		memcpy(l4 + l4len, payload, plen);
	f->len = (size_t)(l4 + l4len + plen - p);
}

/* --- running ------------------------------------------------------ */

static int prog_fd(const char *name)
{
	struct bpf_program *prog;

	prog = bpf_object__find_program_by_name(skel->obj, name);
	cr_assert(prog, "no program %s", name);
	return bpf_program__fd(prog);
}

static int run_prog(const char *name, const struct frame *f, uint32_t mark)
{
	struct __sk_buff ctx = { .mark = mark };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->b,
		    .data_size_in = (uint32_t)f->len, .repeat = 1);
	int err;

	if (mark) {
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
	}
	err = bpf_prog_test_run_opts(prog_fd(name), &opts);
	cr_assert_eq(err, 0, "test run of a %zu-byte frame: %s", f->len,
		     strerror(-err));
	return (int)opts.retval;
}

static int run(const struct frame *f)
{
	return run_prog("sipsec_tc_egress", f, 0);
}

static uint64_t counter(enum sipsec_reason r)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sipsec_count v[ncpu];
	uint32_t key = r;
	uint64_t sum = 0;

	cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(skel->maps.sipsec_counters),
					 &key, v), 0);
	for (int i = 0; i < ncpu; i++)
		sum += v[i].packets;
	return sum;
}

/* Runs f and checks the verdict and that exactly the counter of the
 * expected reason moved, by one. */
static void expect(const struct frame *f, int verdict,
		   enum sipsec_reason why, const char *what)
{
	uint64_t before[SIPSEC_REASON_MAX];
	int got;

	for (int r = 0; r < SIPSEC_REASON_MAX; r++)
		before[r] = counter(r);
	got = run(f);
	cr_assert_eq(got, verdict, "%s: verdict %d, want %d", what, got,
		     verdict);
	for (int r = 0; r < SIPSEC_REASON_MAX; r++) {
		uint64_t d = counter(r) - before[r];

		cr_assert_eq(d, r == (int)why ? 1u : 0u,
			     "%s: counter %d moved by %llu (want reason %d)",
			     what, r, (unsigned long long)d, why);
	}
}

static void set_policy(uint32_t mode, const uint16_t *ports, size_t n)
{
	struct sipsec_policy pol = {
		.abi_version = SIPSEC_ABI_VERSION,
		.mode = mode,
		.flags = SIPSEC_POLICY_F_EVENTS,
		.n_sip_ports = (uint16_t)n,
	};
	uint32_t key = 0;

	memcpy(pol.sip_ports, ports, n * sizeof(*ports));
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.sipsec_policy),
					 &key, &pol, BPF_ANY), 0);
}

static const uint16_t port5060[] = { 5060 };

#define UDP4(sp, dp) { .family = 4, .proto = IPPROTO_UDP, \
	.src = "198.18.0.1", .dst = "198.18.0.2", .sport = sp, .dport = dp }
#define UDP6(sp, dp) { .family = 6, .proto = IPPROTO_UDP, \
	.src = "2001:db8:5153::1", .dst = "2001:db8:5153::2", .sport = sp, \
	.dport = dp }
#define TCP4(sp, dp, sq, fl) { .family = 4, .proto = IPPROTO_TCP, \
	.src = "198.18.0.1", .dst = "198.18.0.2", .sport = sp, .dport = dp, \
	.seq = sq, .tcp_flags = fl }
#define TCP6(sp, dp, sq, fl) { .family = 6, .proto = IPPROTO_TCP, \
	.src = "2001:db8:5153::1", .dst = "2001:db8:5153::2", .sport = sp, \
	.dport = dp, .seq = sq, .tcp_flags = fl }
#define SYN 0x02
#define ACK 0x10
#define PSH_ACK 0x18

/* A SYN for a flow, which teaches the program its first sequence number. */
static void syn(struct pkt_spec s)
{
	struct frame f;

	s.tcp_flags = SYN;
	build(&f, &s, NULL, 0);
	expect(&f, PASS, SIPSEC_PASS_NO_PAYLOAD, "SYN");
}

/* --- SIP by content ----------------------------------------------- */

Test(bpf, a_cleartext_invite_over_udp_is_dropped_v4_and_v6)
{
	struct pkt_spec s4 = UDP4(5060, 5060), s6 = UDP6(5060, 5060);
	struct frame f;

	need_prog();
	build(&f, &s4, invite, strlen(invite));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "UDP/IPv4 INVITE");
	build(&f, &s6, invite, strlen(invite));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "UDP/IPv6 INVITE");
}

Test(bpf, a_cleartext_200_ok_over_udp_is_dropped_v4_and_v6)
{
	struct pkt_spec s4 = UDP4(5060, 5060), s6 = UDP6(5060, 5060);
	struct frame f;

	need_prog();
	build(&f, &s4, ok200, strlen(ok200));
	expect(&f, DROP, SIPSEC_DROP_SIP_RESPONSE, "UDP/IPv4 200 OK");
	build(&f, &s6, ok200, strlen(ok200));
	expect(&f, DROP, SIPSEC_DROP_SIP_RESPONSE, "UDP/IPv6 200 OK");
}

Test(bpf, a_cleartext_invite_and_200_ok_over_tcp_are_dropped_v4_and_v6)
{
	struct pkt_spec c4 = TCP4(40000, 5060, 1000, PSH_ACK);
	struct pkt_spec s4 = TCP4(5060, 40000, 7000, PSH_ACK);
	struct pkt_spec c6 = TCP6(40000, 5060, 1000, PSH_ACK);
	struct pkt_spec s6 = TCP6(5060, 40000, 7000, PSH_ACK);
	struct frame f;

	need_prog();
	syn(c4);
	c4.seq++;
	build(&f, &c4, invite, strlen(invite));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "TCP/IPv4 INVITE");
	syn(s4);
	s4.seq++;
	build(&f, &s4, ok200, strlen(ok200));
	expect(&f, DROP, SIPSEC_DROP_SIP_RESPONSE, "TCP/IPv4 200 OK");
	syn(c6);
	c6.seq++;
	build(&f, &c6, invite, strlen(invite));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "TCP/IPv6 INVITE");
	syn(s6);
	s6.seq++;
	build(&f, &s6, ok200, strlen(ok200));
	expect(&f, DROP, SIPSEC_DROP_SIP_RESPONSE, "TCP/IPv6 200 OK");
}

Test(bpf, sip_on_an_unusual_port_is_recognised_by_content)
{
	struct pkt_spec u = UDP4(41000, 7777), t = TCP6(41000, 8080, 5, 0);
	static const char reg[] = "REGISTER sips:example.net SIP/2.0\r\n\r\n";
	static const char opt[] = "OPTIONS tel:+15551234567 SIP/2.0\r\n\r\n";
	static const char ring[] = "sip/2.0 180 Ringing\r\n\r\n";
	struct frame f;

	need_prog();
	build(&f, &u, invite, strlen(invite));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "INVITE to UDP 7777");
	build(&f, &u, opt, strlen(opt));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "OPTIONS tel: to UDP 7777");
	build(&f, &u, ring, strlen(ring));
	expect(&f, DROP, SIPSEC_DROP_SIP_RESPONSE, "lower-case status line");
	syn(t);
	t.seq++;
	build(&f, &t, reg, strlen(reg));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "REGISTER sips: to TCP 8080");
}

Test(bpf, keep_alives_before_a_message_do_not_hide_it)
{
	struct pkt_spec u = UDP4(41000, 7777);
	char buf[512];
	struct frame f;

	need_prog();
	snprintf(buf, sizeof(buf), "\r\n\r\n%s", invite);
	build(&f, &u, buf, strlen(buf));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "CRLF CRLF INVITE");
	memset(buf, '\n', 20);
	strcpy(buf + 20, invite);
	build(&f, &u, buf, strlen(buf));
	expect(&f, DROP, SIPSEC_DROP_SIP_PADDED, "20 LF then INVITE");
	build(&f, &u, "\r\n\r\n", 4);
	expect(&f, PASS, SIPSEC_PASS_NOT_SIP, "a bare keep-alive off SIP ports");
}

/* --- TCP flow state ----------------------------------------------- */

Test(bpf, a_segment_from_the_middle_of_a_cleartext_sip_flow_is_dropped)
{
	struct pkt_spec s = TCP4(40001, 5080, 5000, PSH_ACK);
	struct frame f;
	uint32_t isn = s.seq;

	need_prog();
	syn(s);
	s.seq = isn + 1;
	build(&f, &s, invite, 60);
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "first segment");
	s.seq = isn + 1 + 60;
	build(&f, &s, middle, strlen(middle));
	expect(&f, DROP, SIPSEC_DROP_SIP_FLOW, "a middle segment");
	build(&f, &s, client_hello, sizeof(client_hello));
	expect(&f, DROP, SIPSEC_DROP_SIP_FLOW,
	       "a later segment that looks like TLS");
	s.tcp_flags = ACK;
	build(&f, &s, NULL, 0);
	expect(&f, PASS, SIPSEC_PASS_NO_PAYLOAD, "a pure ACK");
}

Test(bpf, a_first_segment_too_short_to_tell_is_held_until_tcp_resends_it)
{
	struct pkt_spec s = TCP6(40002, 9999, 100, PSH_ACK);
	struct frame f;

	need_prog();
	syn(s);
	s.seq = 101;
	build(&f, &s, "INV", 3);
	expect(&f, DROP, SIPSEC_DROP_SIP_PARTIAL, "\"INV\"");
	s.seq = 104;
	build(&f, &s, invite + 3, 40);
	expect(&f, DROP, SIPSEC_DROP_SIP_PARTIAL, "the rest, before the start");
	s.seq = 101; /* the retransmission, collapsed */
	build(&f, &s, invite, 43);
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "the resent start");
	s.seq = 144;
	build(&f, &s, invite + 43, 30);
	expect(&f, DROP, SIPSEC_DROP_SIP_FLOW, "the rest");
}

Test(bpf, a_short_first_segment_that_cannot_be_sip_passes)
{
	struct pkt_spec s = TCP4(40003, 9999, 100, PSH_ACK);
	struct frame f;

	need_prog();
	syn(s);
	s.seq = 101;
	build(&f, &s, "\x00\x01", 2);
	expect(&f, PASS, SIPSEC_PASS_NOT_SIP, "two binary bytes");
	s.seq = 103;
	build(&f, &s, middle, strlen(middle));
	expect(&f, PASS, SIPSEC_PASS_NOT_SIP, "then text");
	build(&f, &s, invite, strlen(invite));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST,
	       "then an INVITE at a segment start");
	build(&f, &s, middle, strlen(middle));
	expect(&f, DROP, SIPSEC_DROP_SIP_FLOW, "and everything after");
}

Test(bpf, a_flow_that_began_with_tls_passes_whatever_its_segments_hold)
{
	struct pkt_spec s = TCP4(40004, 5061, 1, PSH_ACK);
	struct pkt_spec p = TCP6(40005, 5060, 1, PSH_ACK); /* on a SIP port */
	struct frame f;

	need_prog();
	syn(s);
	s.seq = 2;
	build(&f, &s, client_hello, sizeof(client_hello));
	expect(&f, PASS, SIPSEC_PASS_TLS, "ClientHello");
	s.seq = 2 + sizeof(client_hello);
	build(&f, &s, middle, strlen(middle));
	expect(&f, PASS, SIPSEC_PASS_TLS, "a later segment");
	syn(p);
	p.seq = 2;
	build(&f, &p, app_data, sizeof(app_data));
	expect(&f, PASS, SIPSEC_PASS_TLS, "TLS record on SIP port 5060");
	p.seq = 2 + sizeof(app_data);
	build(&f, &p, "\x42\x42\x42\x42", 4);
	expect(&f, PASS, SIPSEC_PASS_TLS, "its next segment");
}

Test(bpf, a_sip_port_admits_only_tls_and_esp)
{
	struct pkt_spec t = TCP4(40006, 5060, 1, PSH_ACK), u = UDP6(40006, 5060);
	static const char hello[] = "HELLO world\r\n";
	struct frame f;

	need_prog();
	syn(t);
	t.seq = 2;
	build(&f, &t, hello, strlen(hello));
	expect(&f, DROP, SIPSEC_DROP_SIP_PORT, "text to TCP 5060");
	t.seq = 2 + strlen(hello);
	build(&f, &t, client_hello, sizeof(client_hello));
	expect(&f, DROP, SIPSEC_DROP_SIP_PORT, "and the rest of that flow");
	build(&f, &u, "\x01\x02\x03\x04", 4);
	expect(&f, DROP, SIPSEC_DROP_SIP_PORT, "binary to UDP 5060");
	build(&f, &u, app_data, sizeof(app_data));
	expect(&f, PASS, SIPSEC_PASS_TLS, "a TLS record to UDP 5060");
	build(&f, &u, NULL, 0);
	expect(&f, PASS, SIPSEC_PASS_NO_PAYLOAD, "an empty datagram");
}

Test(bpf, configured_sip_ports_replace_the_default)
{
	static const uint16_t ports[] = { 5080, 5090 };
	struct pkt_spec a = UDP4(40007, 5090), b = UDP4(40007, 5060);
	struct frame f;

	need_prog();
	set_policy(SIPSEC_MODE_ENFORCE, ports, 2);
	build(&f, &a, "\x01\x02", 2);
	expect(&f, DROP, SIPSEC_DROP_SIP_PORT, "binary to 5090");
	build(&f, &b, "\x01\x02", 2);
	expect(&f, PASS, SIPSEC_PASS_NOT_SIP, "binary to 5060, not listed");
}

/* --- what passes --------------------------------------------------- */

Test(bpf, esp_passes)
{
	struct pkt_spec e4 = { .family = 4, .proto = IPPROTO_ESP,
			       .src = "198.18.0.1", .dst = "198.18.0.2" };
	struct pkt_spec e6 = { .family = 6, .proto = IPPROTO_ESP,
			       .src = "2001:db8::1", .dst = "2001:db8::2" };
	struct pkt_spec nat = UDP4(4500, 4500);
	static const unsigned char esp[] = { 0, 0, 1, 0, 0, 0, 0, 1, 0xaa };
	struct frame f;

	need_prog();
	build(&f, &e4, esp, sizeof(esp));
	expect(&f, PASS, SIPSEC_PASS_ESP, "ESP/IPv4");
	build(&f, &e6, esp, sizeof(esp));
	expect(&f, PASS, SIPSEC_PASS_ESP, "ESP/IPv6");
	build(&f, &nat, esp, sizeof(esp));
	expect(&f, PASS, SIPSEC_PASS_ESP, "ESP in UDP 4500");
}

Test(bpf, traffic_that_is_not_sip_passes)
{
	struct pkt_spec http = TCP4(40008, 80, 1, PSH_ACK), dns = UDP6(40008, 53);
	struct pkt_spec icmp = { .family = 4, .proto = IPPROTO_ICMP,
				 .src = "198.18.0.1", .dst = "198.18.0.2" };
	static const char get[] = "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char ssh[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
	struct frame f, arp = { .len = 42 };

	need_prog();
	syn(http);
	http.seq = 2;
	build(&f, &http, get, strlen(get));
	expect(&f, PASS, SIPSEC_PASS_NOT_SIP, "HTTP GET");
	http.sport++;
	http.seq = 1;
	syn(http);
	http.seq = 2;
	build(&f, &http, ssh, strlen(ssh));
	expect(&f, PASS, SIPSEC_PASS_NOT_SIP, "SSH banner");
	build(&f, &dns, "\x12\x34\x01\x00\x00\x01", 6);
	expect(&f, PASS, SIPSEC_PASS_NOT_SIP, "DNS query");
	build(&f, &icmp, "\x08\x00\x00\x00", 4);
	expect(&f, PASS, SIPSEC_PASS_OTHER_PROTO, "ICMP");
	put16(arp.b + 12, ETH_P_ARP);
	expect(&arp, PASS, SIPSEC_PASS_NOT_IP, "ARP");
}

/* An ICMP error (type, code) quoting the start of the datagram s with
 * payload pl, as a kernel would send it from src. */
static void icmp_error(struct frame *f, int family, uint8_t type,
		       const struct pkt_spec *s, const char *pl, size_t quote)
{
	struct pkt_spec outer = { .family = family,
				  .proto = family == 6 ? IPPROTO_ICMPV6 :
							 IPPROTO_ICMP,
				  .src = s->dst, .dst = s->src };
	struct pkt_spec in = *s;
	struct frame q;
	uint8_t body[1500] = { type, 3 };

	in.l3 = 1;
	build(&q, &in, pl, strlen(pl));
	if (quote > q.len)
		quote = q.len;
	memcpy(body + 8, q.b, quote);
	build(f, &outer, body, 8 + quote);
}

Test(bpf, an_icmp_error_quoting_sip_is_dropped)
{
	struct pkt_spec to5060 = UDP4(40010, 5060), dns = UDP4(40010, 53);
	struct pkt_spec other = UDP4(40010, 5070), v6 = UDP6(40010, 5060);
	struct pkt_spec tls = TCP4(40010, 5061, 1, PSH_ACK);
	struct frame f;

	need_prog();
	/* Port unreachable for a request the kernel decrypted from ESP:
	 * RFC 792's minimum quote (header and 8 bytes), and a long one. */
	icmp_error(&f, 4, 3, &to5060, invite, 28);
	expect(&f, DROP, SIPSEC_DROP_SIP_ICMP, "ICMP quoting UDP to 5060");
	icmp_error(&f, 4, 3, &to5060, invite, 548);
	expect(&f, DROP, SIPSEC_DROP_SIP_ICMP, "ICMP quoting an INVITE");
	/* Off the SIP ports, by what it quotes. */
	icmp_error(&f, 4, 3, &other, invite, 548);
	expect(&f, DROP, SIPSEC_DROP_SIP_ICMP, "ICMP quoting SIP on 5070");
	icmp_error(&f, 6, 1, &v6, invite, 300);
	expect(&f, DROP, SIPSEC_DROP_SIP_ICMP, "ICMPv6 quoting UDP to 5060");
	icmp_error(&f, 4, 11, &to5060, ok200, 200);
	expect(&f, DROP, SIPSEC_DROP_SIP_ICMP, "time exceeded, a 200 OK");
	/* What is not SIP passes. */
	icmp_error(&f, 4, 3, &dns, "\x12\x34\x01\x00\x00\x01", 34);
	expect(&f, PASS, SIPSEC_PASS_OTHER_PROTO, "ICMP quoting DNS");
	icmp_error(&f, 4, 3, &tls, "\x17\x03\x03\x00\x10", 60);
	expect(&f, PASS, SIPSEC_PASS_OTHER_PROTO, "ICMP quoting TLS");
	icmp_error(&f, 4, 3, &other, invite, 12);
	expect(&f, PASS, SIPSEC_PASS_OTHER_PROTO, "a quote too short to tell");
}

/* --- malformed and truncated -------------------------------------- */

Test(bpf, malformed_and_truncated_headers_are_dropped)
{
	struct pkt_spec u = UDP4(5060, 5060), t = TCP4(40009, 80, 1, PSH_ACK);
	struct pkt_spec uv = UDP4(5060, 5060), u6 = UDP6(5060, 5060);
	struct frame f;

	need_prog();
	build(&f, &u, invite, strlen(invite));
	f.b[14] = 0x44; /* IHL 4 */
	expect(&f, DROP, SIPSEC_DROP_MALFORMED, "IPv4 IHL < 5");
	build(&f, &u, invite, strlen(invite));
	f.b[14] = 0x55; /* version 5 */
	expect(&f, DROP, SIPSEC_DROP_MALFORMED, "IPv4 version 5");
	build(&f, &u, invite, strlen(invite));
	put16(f.b + 16, 1400); /* longer than the frame */
	expect(&f, DROP, SIPSEC_DROP_MALFORMED, "IPv4 total length > frame");
	/* Frames that end inside a header: behind an 802.1Q tag, because
	 * newer kernels' BPF_PROG_TEST_RUN refuses an EtherType IP frame
	 * shorter than an IP header before the program runs. */
	uv.vlan = 1;
	build(&f, &uv, invite, strlen(invite));
	f.len = 18 + 12;
	expect(&f, DROP, SIPSEC_DROP_MALFORMED, "truncated IPv4 header");
	build(&f, &uv, NULL, 0);
	f.len = 18 + 20 + 4;
	put16(f.b + 20, 24);
	expect(&f, DROP, SIPSEC_DROP_MALFORMED, "truncated UDP header");
	u6.vlan = 1;
	build(&f, &u6, invite, strlen(invite));
	f.len = 18 + 30;
	expect(&f, DROP, SIPSEC_DROP_MALFORMED, "truncated IPv6 header");
	build(&f, &uv, NULL, 0);
	f.len = 18; /* EtherType IPv4, nothing after it */
	expect(&f, DROP, SIPSEC_DROP_MALFORMED, "IPv4 EtherType, no header");
	build(&f, &t, invite, strlen(invite));
	f.b[14 + 20 + 12] = 4 << 4; /* TCP data offset 4 */
	expect(&f, DROP, SIPSEC_DROP_MALFORMED, "TCP data offset < 5");
	build(&f, &t, invite, 10);
	f.b[14 + 20 + 12] = 15 << 4; /* options past the end */
	expect(&f, DROP, SIPSEC_DROP_MALFORMED, "TCP header past the end");
}

Test(bpf, ipv6_extension_headers_are_followed_and_bounded)
{
	struct pkt_spec a = UDP6(41000, 7777), b = UDP6(41000, 7777);
	struct frame f;

	need_prog();
	a.v6_ext = 2;
	build(&f, &a, invite, strlen(invite));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "INVITE behind 2 options");
	b.v6_ext = 7;
	build(&f, &b, "\x01", 1);
	expect(&f, DROP, SIPSEC_DROP_UNPARSED, "7 extension headers");
}

Test(bpf, later_fragments_follow_their_first)
{
	struct pkt_spec first = UDP4(41000, 7777), later = UDP4(41000, 7777);
	struct pkt_spec other = UDP4(41000, 7777);
	struct pkt_spec f6 = UDP6(41000, 7777), l6 = UDP6(41000, 7777);
	struct frame f;

	need_prog();
	first.frag_id = 77;
	first.frag_off = 0x2000; /* MF */
	build(&f, &first, invite, strlen(invite));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "first fragment");
	later.frag_id = 77;
	later.frag_off = 185; /* 1480 bytes in */
	later.proto = IPPROTO_UDP;
	build(&f, &later, NULL, 0);
	memcpy(f.b + 14 + 20, middle, 40); /* no UDP header in it */
	f.len = 14 + 20 + 40;
	put16(f.b + 16, 60);
	expect(&f, DROP, SIPSEC_DROP_SIP_FRAGMENT, "its later fragment");
	other.frag_id = 78;
	other.frag_off = 185;
	build(&f, &other, NULL, 0);
	f.len = 14 + 20 + 40;
	put16(f.b + 16, 60);
	expect(&f, PASS, SIPSEC_PASS_FRAGMENT, "a later fragment of another");
	first.frag_id = 79;
	build(&f, &first, "\x01\x02\x03\x04", 4);
	expect(&f, DROP, SIPSEC_DROP_MALFORMED, "a tiny first fragment");
	f6.v6_frag = 1;
	f6.frag_id = 0x12345;
	f6.v6_frag_off = 1; /* offset 0, M */
	build(&f, &f6, invite, strlen(invite));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "first IPv6 fragment");
	l6.v6_frag = 1;
	l6.frag_id = 0x12345;
	l6.v6_frag_off = 1480; /* offset 185 * 8, last */
	build(&f, &l6, middle, 40);
	expect(&f, DROP, SIPSEC_DROP_SIP_FRAGMENT, "its later fragment");
}

Test(bpf, a_vlan_tag_does_not_hide_sip)
{
	struct pkt_spec s = UDP4(41000, 7777);
	struct frame f;

	need_prog();
	s.vlan = 1;
	build(&f, &s, invite, strlen(invite));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "INVITE in 802.1Q");
}

Test(bpf, devices_without_a_link_header_get_the_l3_program)
{
	/* BPF_PROG_TEST_RUN derives skb->protocol from bytes 12-13 as if
	 * they were an EtherType: sources chosen so that those bytes say
	 * IPv4 (8.0.x.x) and IPv6 (xxxx:xxxx:86dd::). */
	struct pkt_spec s4 = UDP4(41000, 7777), s6 = UDP6(41000, 7777);
	struct frame f;

	need_prog();
	s4.l3 = 1;
	s4.src = "8.0.0.1";
	build(&f, &s4, invite, strlen(invite));
	cr_assert_eq(run_prog("sipsec_tc_egress_l3", &f, 0), DROP);
	s6.l3 = 1;
	s6.src = "2001:db8:86dd::1";
	build(&f, &s6, ok200, strlen(ok200));
	cr_assert_eq(run_prog("sipsec_tc_egress_l3", &f, 0), DROP);
	build(&f, &s6, "\x01\x02\x03\x04\x05\x06", 6);
	cr_assert_eq(run_prog("sipsec_tc_egress_l3", &f, 0), PASS);
	cr_assert_eq(counter(SIPSEC_DROP_SIP_REQUEST), 1);
	cr_assert_eq(counter(SIPSEC_DROP_SIP_RESPONSE), 1);
}

/* --- policy --------------------------------------------------------- */

Test(bpf, exempt_peers_and_networks_get_cleartext)
{
	struct sipsec_exempt_key k = { .prefixlen = 96 + 24 };
	struct sipsec_exempt v = { .policy_id = 3,
				   .flags = SIPSEC_EXEMPT_F_CLEARTEXT };
	struct pkt_spec in = UDP4(5060, 5060), out = UDP4(5060, 5060);
	struct pkt_spec s6 = UDP6(5060, 5060);
	struct frame f;
	int fd;

	need_prog();
	set_policy(SIPSEC_MODE_ENFORCE, port5060, 1);
	fd = bpf_map__fd(skel->maps.sipsec_exempt);
	k.addr[10] = k.addr[11] = 0xff;
	inet_pton(AF_INET, "198.18.0.0", k.addr + 12);
	cr_assert_eq(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0);
	k.prefixlen = 64;
	inet_pton(AF_INET6, "2001:db8:5153::", k.addr);
	cr_assert_eq(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0);
	build(&f, &in, invite, strlen(invite));
	expect(&f, PASS, SIPSEC_PASS_EXEMPT, "to an exempt IPv4 network");
	out.dst = "198.18.1.2";
	build(&f, &out, invite, strlen(invite));
	expect(&f, DROP, SIPSEC_DROP_SIP_REQUEST, "outside it");
	build(&f, &s6, invite, strlen(invite));
	expect(&f, PASS, SIPSEC_PASS_EXEMPT, "to an exempt IPv6 network");
}

Test(bpf, the_daemons_marked_socket_is_exempt)
{
	struct sipsec_policy pol = {
		.abi_version = SIPSEC_ABI_VERSION,
		.exempt_mark = 0x5150000,
		.exempt_mark_mask = 0xffff0000,
		.n_sip_ports = 1,
		.sip_ports = { 5060 },
	};
	struct pkt_spec s = UDP4(5060, 5060);
	uint32_t key = 0;
	struct frame f;

	need_prog();
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.sipsec_policy),
					 &key, &pol, BPF_ANY), 0);
	build(&f, &s, invite, strlen(invite));
	cr_assert_eq(run_prog("sipsec_tc_egress", &f, 0x5150042), PASS);
	cr_assert_eq(counter(SIPSEC_PASS_MARK), 1);
	cr_assert_eq(run_prog("sipsec_tc_egress", &f, 0x42), DROP);
	cr_assert_eq(counter(SIPSEC_DROP_SIP_REQUEST), 1);
}

Test(bpf, monitor_mode_reports_but_drops_nothing_and_off_inspects_nothing)
{
	struct pkt_spec s = UDP4(5060, 5060);
	struct frame f;

	need_prog();
	set_policy(SIPSEC_MODE_MONITOR, port5060, 1);
	build(&f, &s, invite, strlen(invite));
	expect(&f, PASS, SIPSEC_PASS_MONITOR, "INVITE in monitor mode");
	set_policy(SIPSEC_MODE_OFF, port5060, 1);
	expect(&f, PASS, SIPSEC_PASS_DISABLED, "INVITE with enforcement off");
}

/* --- reports -------------------------------------------------------- */

struct got_events {
	int n;
	struct sipsec_event last;
};

static int on_event(void *ctx, void *data, size_t len)
{
	struct got_events *g = ctx;

	cr_assert_eq(len, sizeof(struct sipsec_event));
	memcpy(&g->last, data, sizeof(g->last));
	g->n++;
	return 0;
}

Test(bpf, a_drop_is_reported_with_addresses_ports_reason_and_first_bytes)
{
	struct pkt_spec s = UDP6(41234, 5060);
	struct got_events g = { 0 };
	struct ring_buffer *rb;
	struct sipsec_event rec;
	uint8_t want[16];
	uint32_t slot = 0;
	struct frame f;
	int ncpu;

	need_prog();
	rb = ring_buffer__new(bpf_map__fd(skel->maps.sipsec_events), on_event,
			      &g, NULL);
	cr_assert(rb);
	build(&f, &s, invite, strlen(invite));
	cr_assert_eq(run(&f), DROP);
	cr_assert_eq(ring_buffer__consume(rb), 1);
	cr_assert_eq(g.n, 1);
	cr_assert_eq(g.last.reason, SIPSEC_DROP_SIP_REQUEST);
	cr_assert_eq(g.last.verdict, SIPSEC_VERDICT_DROP);
	cr_assert_eq(g.last.family, SIPSEC_FAMILY_IPV6);
	cr_assert_eq(g.last.proto, IPPROTO_UDP);
	cr_assert_eq(g.last.dir, SIPSEC_DIR_EGRESS);
	cr_assert_eq(g.last.sport, 41234);
	cr_assert_eq(g.last.dport, 5060);
	inet_pton(AF_INET6, "2001:db8:5153::2", want);
	cr_assert_arr_eq(g.last.daddr, want, 16);
	cr_assert_eq(g.last.payload_len, strlen(invite));
	cr_assert_eq(g.last.snap_len, SIPSEC_SNAP_LEN);
	cr_assert_arr_eq(g.last.data, invite, SIPSEC_SNAP_LEN);
	cr_assert_eq(g.last.len, f.len);
	cr_assert_eq(g.last.seq, 1);

	/* The same event in this CPU's first slot of the recent array. */
	ncpu = libbpf_num_possible_cpus();
	struct sipsec_event all[ncpu];
	int hits = 0;
	cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(skel->maps.sipsec_recent),
					 &slot, all), 0);
	for (int i = 0; i < ncpu; i++) {
		if (all[i].seq != 1)
			continue;
		rec = all[i];
		hits++;
	}
	cr_assert_eq(hits, 1);
	cr_assert_eq(memcmp(&rec, &g.last, sizeof(rec)), 0);
	ring_buffer__free(rb);
}

Test(bpf, a_drop_on_a_known_association_is_flagged)
{
	struct sipsec_assoc_key k = { .peer_port = 5061, .local_port = 40100,
				      .family = SIPSEC_FAMILY_IPV4,
				      .proto = IPPROTO_UDP };
	struct sipsec_assoc v = { .conn_id = 9 };
	struct pkt_spec s = UDP4(40100, 5061);
	struct got_events g = { 0 };
	struct ring_buffer *rb;
	struct frame f;

	need_prog();
	k.peer[10] = k.peer[11] = 0xff;
	inet_pton(AF_INET, "198.18.0.2", k.peer + 12);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.sipsec_assocs),
					 &k, &v, BPF_ANY), 0);
	rb = ring_buffer__new(bpf_map__fd(skel->maps.sipsec_events), on_event,
			      &g, NULL);
	cr_assert(rb);
	build(&f, &s, invite, strlen(invite));
	cr_assert_eq(run(&f), DROP);
	cr_assert_eq(ring_buffer__consume(rb), 1);
	cr_assert(g.last.flags & SIPSEC_EVENT_F_ASSOC);
	ring_buffer__free(rb);
}

/* --- cost ----------------------------------------------------------- */

static uint32_t mean_ns(const char *prog, const struct frame *f, int verdict)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->b,
		    .data_size_in = (uint32_t)f->len, .repeat = 100000);

	cr_assert_eq(bpf_prog_test_run_opts(prog_fd(prog), &opts), 0);
	cr_assert_eq((int)opts.retval, verdict);
	return opts.duration;
}

Test(bpf, cost_per_packet)
{
	struct pkt_spec tls = TCP4(40200, 5061, 1, PSH_ACK);
	struct pkt_spec sip = TCP4(40201, 5060, 1, PSH_ACK);
	struct pkt_spec u = UDP4(40202, 5060), dns = UDP4(40202, 53);
	struct pkt_spec ack = TCP4(40200, 5061, 9, ACK);
	unsigned char big[1200];
	struct frame f;
	uint32_t ns[6];

	need_prog();
	set_policy(SIPSEC_MODE_ENFORCE, port5060, 1);
	syn(tls);
	tls.seq = 2;
	build(&f, &tls, client_hello, sizeof(client_hello));
	run(&f);
	memset(big, 0x5a, sizeof(big));
	memcpy(big, app_data, 5);
	tls.seq = 100;
	build(&f, &tls, big + 5, sizeof(big) - 5);
	ns[0] = mean_ns("sipsec_tc_egress", &f, PASS);
	build(&f, &ack, NULL, 0);
	ns[1] = mean_ns("sipsec_tc_egress", &f, PASS);
	memcpy(big, "\x12\x34\x01\x00", 4);
	build(&f, &dns, big, 512);
	ns[2] = mean_ns("sipsec_tc_egress", &f, PASS);
	build(&f, &u, invite, strlen(invite));
	ns[3] = mean_ns("sipsec_tc_egress", &f, DROP);
	syn(sip);
	sip.seq = 2;
	build(&f, &sip, invite, strlen(invite));
	run(&f);
	sip.seq = 2 + strlen(invite);
	build(&f, &sip, middle, strlen(middle));
	ns[4] = mean_ns("sipsec_tc_egress", &f, DROP);
	/* Drops without reports (policy flag off): the verdict alone. */
	{
		struct sipsec_policy pol = {
			.abi_version = SIPSEC_ABI_VERSION,
			.n_sip_ports = 1, .sip_ports = { 5060 },
		};
		uint32_t key = 0;

		cr_assert_eq(bpf_map_update_elem(
			bpf_map__fd(skel->maps.sipsec_policy), &key, &pol,
			BPF_ANY), 0);
		build(&f, &u, invite, strlen(invite));
		ns[5] = mean_ns("sipsec_tc_egress", &f, DROP);
	}
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		cr_assert_lt(ns[i], 20000, "implausibly slow: %u ns", ns[i]);
}

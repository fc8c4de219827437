// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sipsec's guarantee: no cleartext SIP leaves the host, whatever sends it
 * (a program without the shim, a static binary, a raw or packet socket,
 * io_uring, a daemon that crashed). A TC classifier on clsact egress of
 * every enforced interface, and on ingress where policy asks.
 *
 * What it drops, per packet, IPv4 and IPv6, UDP and TCP:
 *  - SIP by content on any port: a payload that starts (after CR/LF
 *    keep-alives) with a request line "METHOD SP sip:|sips:|tel:" or a
 *    status line "SIP/2.0 NNN" (RFC 3261 7.1, 7.2). The request line is
 *    recognised by its method token and URI scheme, not by the trailing
 *    "SIP/2.0": a long Request-URI would push that out of any bounded
 *    window, and a bounded window is all a verifier-checked program has.
 *  - On the configured SIP ports, everything that is not a TLS record or
 *    ESP (an allowlist).
 *  - Every later segment of a TCP flow that began with SIP (or, on a SIP
 *    port, with anything but TLS), wherever its segment boundaries fall:
 *    per-direction flow state in an LRU hash, decided by the first payload
 *    (its sequence number is learnt from the SYN). A first segment too
 *    short to tell and consistent with SIP is dropped undecided; TCP then
 *    retransmits it, usually with more bytes.
 *  - Later fragments of a datagram whose first fragment was dropped.
 *  - Headers that do not parse (a receiver would drop them anyway, and a
 *    parser that gave up and passed would be a way around the rest).
 * Exempt: peers and networks that policy allows cleartext to (LPM trie),
 * and the daemon's own marked socket.
 *
 * Structure: helpers return 0 (go on), a positive pass reason or a
 * negative drop reason (enum sipsec_reason, sipsec_abi.h); only enforce()
 * turns a reason into a verdict, a counter bump and a report. A pass is
 * TC_ACT_UNSPEC, so that filters after ours still run; a drop is
 * TC_ACT_SHOT. Headers and the payload window are read straight from the
 * linear area when they lie in it, through bpf_skb_load_bytes when not
 * (veth and GSO packets can be non-linear): load_hdr(). Only stable
 * __sk_buff fields are used. Four entry points share one inline body:
 * egress and ingress, for Ethernet devices and for devices without a
 * link-layer header (tun, WireGuard, ipip, gre), where TC sees the IP
 * header first.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sipsec_abi.h"

#define PAYLOAD_WINDOW 64 /* payload bytes read to classify; power of 2 */
#define METHOD_WINDOW 40 /* a request line's method, SP and scheme fit */
#define STATUS_LEN 11 /* "SIP/2.0 200" */
#define CRLF_MAX 16 /* leading CR/LF skipped (RFC 3261 7.5, RFC 5626) */
#define IPV6_EXT_MAX 6 /* IPv6 extension headers followed */
#define VLAN_MAX 2 /* 802.1Q / 802.1ad tags followed */
#define TINY_FRAGMENT 40 /* a first fragment must carry this much
			  * payload (RFC 1858's tiny fragments) */
#define ESP_IN_UDP_PORT 4500 /* RFC 3948 */

/* Load-time settings, written into .rodata before load. */
const volatile __u32 cfg_snap_len = SIPSEC_SNAP_LEN; /* payload bytes in
						      * reports; 0: none */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SIPSEC_REASON_MAX);
	__type(key, __u32); /* enum sipsec_reason */
	__type(value, struct sipsec_count);
} sipsec_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sipsec_policy);
} sipsec_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SIPSEC_FLOWS_DEFAULT);
	__type(key, struct sipsec_flow_key);
	__type(value, struct sipsec_flow);
} sipsec_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SIPSEC_FRAGS_MAX);
	__type(key, struct sipsec_frag_key);
	__type(value, struct sipsec_frag);
} sipsec_frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SIPSEC_EXEMPT_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* LPM tries require it */
	__type(key, struct sipsec_exempt_key);
	__type(value, struct sipsec_exempt);
} sipsec_exempt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SIPSEC_ASSOCS_MAX);
	__type(key, struct sipsec_assoc_key);
	__type(value, struct sipsec_assoc);
} sipsec_assocs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SIPSEC_EVENTS_BYTES);
} sipsec_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SIPSEC_RECENT_SLOTS);
	__type(key, __u32);
	__type(value, struct sipsec_event);
} sipsec_recent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sipsec_cursor);
} sipsec_cursor SEC(".maps");

enum link_type { LINK_ETH, LINK_IP };

enum frag_kind { FRAG_NONE, FRAG_FIRST, FRAG_LATER };

/* What the start of a payload looks like. */
enum kind {
	K_NONE,
	K_REQUEST,
	K_RESPONSE,
	K_PREFIX, /* too short to tell; every byte so far fits SIP */
	K_TLS,
	K_CRLF, /* nothing but CR/LF: a keep-alive */
	K_PADDED, /* more CR/LF than CRLF_MAX, then more */
};

/* The parsed packet; offsets are from skb->data. */
struct pkt {
	__u8 saddr[16]; /* network order, IPv4-mapped */
	__u8 daddr[16];
	__u32 l4off;
	__u32 end; /* just past the IP datagram (excludes link padding) */
	__u32 payoff;
	__u32 paylen;
	__u32 seq; /* TCP */
	__u32 frag_id;
	__u16 sport; /* host order */
	__u16 dport;
	__u8 family; /* enum sipsec_family; 0 until the IP header parsed */
	__u8 proto;
	__u8 syn;
	__u8 frag; /* enum frag_kind */
	__u8 dir; /* enum sipsec_dir */
	__u8 pad[3];
};

static __always_inline void count(__u32 reason, __u32 len)
{
	struct sipsec_count *c;

	c = bpf_map_lookup_elem(&sipsec_counters, &reason);
	if (c) {
		/* Per-CPU, and TC runs with bottom halves off: no atomics. */
		c->packets++;
		c->bytes += len;
	}
}

/* Unused slots of the port list are 0, which no TCP or UDP packet uses;
 * comparing all of them (rather than the first n_sip_ports) keeps the
 * verifier from splitting its walk on n. */
static __always_inline bool is_sip_port(const struct sipsec_policy *pol,
					__u16 port)
{
	if (!pol->abi_version)
		return port == SIPSEC_DEFAULT_SIP_PORT;
	if (port == 0)
		return false;
#pragma unroll
	for (__u32 i = 0; i < SIPSEC_MAX_SIP_PORTS; i++) {
		if (pol->sip_ports[i] == port)
			return true;
	}
	return false;
}

static __always_inline bool on_sip_port(const struct sipsec_policy *pol,
					const struct pkt *p)
{
	return is_sip_port(pol, p->sport) || is_sip_port(pol, p->dport);
}

/* --- reading the packet ------------------------------------------- */

/*
 * A helper's length argument must be provably in [1, max]. Given a length
 * the caller knows is in that range at run time (max a power of 2), spell
 * the bounds out as ((n - 1) & (max - 1)) + 1:
 *  - 6.1's verifier learns no lower bound from "n != 0" (JNE/JEQ against a
 *    constant refine ranges only in later kernels; 6.18's does);
 *  - a compare-and-clamp is no good either: clang compares one register
 *    and passes another (n - 1 vs n), whose bounds the verifier (6.1 and
 *    6.18) does not link;
 *  - the empty asm keeps clang from folding the arithmetic away.
 */
#define helper_len(n, max) ({						\
	__u64 __n = (n);						\
	_Static_assert(((max) & ((max) - 1)) == 0, "power of 2");	\
	asm volatile("" : "+r"(__n));					\
	((__n - 1) & ((max) - 1)) + 1;					\
})

/*
 * Reads copy straight from the skb's linear area, a few loads, where
 * bpf_skb_load_bytes costs a helper call (about 22 ns; the pass path made
 * three or four). The caller works on its copy, so no packet pointer
 * outlives the read.
 */
#define PKT_OFF_MAX 0x3fff /* past every header and payload window: the
			    * longest chain we follow ends near 12 KB */

/* A pointer to len bytes at off when they lie in the linear area, else
 * NULL. The verifier learns a bound for a packet pointer's variable offset
 * only below 64 KB (MAX_PACKET_OFF), so the offset is masked to one; the
 * compare keeps a larger one out. The empty asm stops clang from dropping
 * the mask because of that compare: the verifier (6.1 and 6.18) does not
 * carry a bound over from a compared register to another one holding the
 * same value. The asm on skb makes clang read data and data_end at a
 * fixed offset from the context each time: in a loop it would otherwise
 * keep &skb->data_end in a register, and the verifier (6.1 and 6.18)
 * refuses a load through a moved context pointer.
 * The verifier's price: an offset added to a packet pointer is tracked
 * precisely, back to the header lengths it came from, so paths that differ
 * only in those are no longer pruned together: 6.18 processes about 2.7
 * times the instructions it did with the helper alone, 6.1 about 3 times
 * (seconds under emulation, far below the limit). */
static __always_inline const void *linear(struct __sk_buff *skb, __u64 off,
					  __u32 len)
{
	__u64 masked = off;
	void *data, *end;

	asm volatile("" : "+r"(skb), "+r"(masked));
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	data += masked & PKT_OFF_MAX;
	if (off > PKT_OFF_MAX || data + len > end)
		return NULL;
	return data;
}

/*
 * Copies the header *to from offset off, and returns 0, or a negative
 * errno where the packet ends before it. A header in the paged part (a
 * non-linear veth or GSO packet) is read through the helper, which leaves
 * the skb as it is (bpf_skb_pull_data could have to copy a cloned one).
 * The copy keeps the types of *to, so clang copies in words; the packet
 * may be misaligned, which the verifier allows on x86 (no strict
 * alignment).
 */
#define load_hdr(skb, off, to) ({					\
	__u64 __off = (off);						\
	const typeof(*(to)) *__from = linear((skb), __off, sizeof(*(to))); \
									\
	__from ? (__builtin_memcpy((to), __from, sizeof(*(to))), 0) :	\
		 bpf_skb_load_bytes((skb), __off, (to), sizeof(*(to)));	\
})

/* The payload window, as a type: a global function's pointer argument is
 * checked against its pointee's size (5.12+). Aligned so that it is copied
 * in 8-byte words. */
struct window {
	__u8 b[PAYLOAD_WINDOW];
} __attribute__((aligned(8)));

/* A payload that fills the window is read like a header; a shorter one
 * through the helper, with a length of its own: bytes past the datagram
 * (link padding) must not enter the window. */
static __always_inline __u32 load_payload(struct __sk_buff *skb, __u32 off,
					  __u32 avail, struct window *w)
{
	__u32 n = avail < PAYLOAD_WINDOW ? avail : PAYLOAD_WINDOW;

	if (n == 0)
		return 0;
	if (n == PAYLOAD_WINDOW)
		return load_hdr(skb, off, w) ? 0 : n;
	if (bpf_skb_load_bytes(skb, off, w->b, helper_len(n, PAYLOAD_WINDOW)))
		return 0;
	return n;
}

/* --- payload classification --------------------------------------- */

/* RFC 8446 5.1: ContentType 20..23, legacy_record_version 0x0300..0x0304
 * (SSL 3.0 to TLS 1.3, whose records say 0x0303). */
static __always_inline bool is_tls_record(const __u8 *b, __u32 n)
{
	return n >= 3 && b[0] >= 20 && b[0] <= 23 && b[1] == 3 && b[2] <= 4;
}

static __always_inline __u32 count_crlf(const __u8 *b, __u32 n)
{
#pragma unroll
	for (__u32 i = 0; i < CRLF_MAX; i++) {
		if (i >= n || (b[i] != '\r' && b[i] != '\n'))
			return i;
	}
	return CRLF_MAX;
}

/* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF; the
 * version is case-insensitive (RFC 3261 7.1), so is matched so here. */
static __always_inline int match_status(const __u8 *b, __u32 n)
{
#pragma unroll
	for (__u32 i = 0; i < STATUS_LEN; i++) {
		__u8 c = b[i];
		bool ok;

		if (i >= n)
			return K_PREFIX;
		switch (i) {
		case 0: ok = (c | 0x20) == 's'; break;
		case 1: ok = (c | 0x20) == 'i'; break;
		case 2: ok = (c | 0x20) == 'p'; break;
		case 3: ok = c == '/'; break;
		case 4: ok = c == '2'; break;
		case 5: ok = c == '.'; break;
		case 6: ok = c == '0'; break;
		case 7: ok = c == ' '; break;
		default: ok = c >= '0' && c <= '9'; break;
		}
		if (!ok)
			return K_NONE;
	}
	return K_RESPONSE;
}

/*
 * Request-Line = Method SP Request-URI SP SIP-Version CRLF, with a sip:,
 * sips: or tel: URI (schemes are case-insensitive, RFC 3261 19.1.4);
 * extra spaces before the URI are tolerated, as lenient parsers do.
 *
 * A table-driven automaton: per byte, a class lookup and a transition
 * lookup, no branch. A switch per byte made the verifier explore every
 * state of the automaton at every byte (half a million instructions on
 * 6.18, minutes under emulation for 6.1); table lookups at variable
 * offsets give unknown scalars, which it follows in one pass.
 */
enum rq_class {
	C_OTHER, C_TOKEN, C_S, C_I, C_P, C_T, C_E, C_L, C_COLON, C_SP,
	C_END, /* past the payload */
	C_MAX = 16,
};

enum rq_state {
	RQ_METHOD0, RQ_METHOD, RQ_SP, RQ_S, RQ_SI, RQ_SIP, RQ_SIPS, RQ_T,
	RQ_TE, RQ_TEL,
	RQ_MATCH, RQ_FAIL, RQ_SHORT, /* final; SHORT: ran out, still SIP */
	RQ_MAX = 16,
};

/* Ranges first, then the entries that refine them. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Winitializer-overrides"
#define LETTER(u, cls) [u] = cls, [(u) | 0x20] = cls
static const __u8 rq_class[256] = {
	['!'] = C_TOKEN, ['%'] = C_TOKEN, ['\''] = C_TOKEN, ['*'] = C_TOKEN,
	['+'] = C_TOKEN, ['-'] = C_TOKEN, ['.'] = C_TOKEN, ['_'] = C_TOKEN,
	['`'] = C_TOKEN, ['~'] = C_TOKEN,
	['0' ... '9'] = C_TOKEN, ['A' ... 'Z'] = C_TOKEN,
	['a' ... 'z'] = C_TOKEN,
	LETTER('S', C_S), LETTER('I', C_I), LETTER('P', C_P),
	LETTER('T', C_T), LETTER('E', C_E), LETTER('L', C_L),
	[':'] = C_COLON, [' '] = C_SP,
};

#define ROW(st) [(st) * C_MAX ... (st) * C_MAX + C_MAX - 1] = RQ_FAIL
#define GO(st, cls, next) [(st) * C_MAX + (cls)] = next
#define END(st) GO(st, C_END, RQ_SHORT)
static const __u8 rq_next[RQ_MAX * C_MAX] = {
	ROW(RQ_METHOD0), ROW(RQ_METHOD), ROW(RQ_SP), ROW(RQ_S), ROW(RQ_SI),
	ROW(RQ_SIP), ROW(RQ_SIPS), ROW(RQ_T), ROW(RQ_TE), ROW(RQ_TEL),
	ROW(RQ_FAIL), ROW(13), ROW(14), ROW(15),
	[RQ_MATCH * C_MAX ... RQ_MATCH * C_MAX + C_MAX - 1] = RQ_MATCH,
	[RQ_SHORT * C_MAX ... RQ_SHORT * C_MAX + C_MAX - 1] = RQ_SHORT,
	GO(RQ_METHOD0, C_TOKEN, RQ_METHOD), GO(RQ_METHOD0, C_S, RQ_METHOD),
	GO(RQ_METHOD0, C_I, RQ_METHOD), GO(RQ_METHOD0, C_P, RQ_METHOD),
	GO(RQ_METHOD0, C_T, RQ_METHOD), GO(RQ_METHOD0, C_E, RQ_METHOD),
	GO(RQ_METHOD0, C_L, RQ_METHOD),
	GO(RQ_METHOD, C_TOKEN, RQ_METHOD), GO(RQ_METHOD, C_S, RQ_METHOD),
	GO(RQ_METHOD, C_I, RQ_METHOD), GO(RQ_METHOD, C_P, RQ_METHOD),
	GO(RQ_METHOD, C_T, RQ_METHOD), GO(RQ_METHOD, C_E, RQ_METHOD),
	GO(RQ_METHOD, C_L, RQ_METHOD), GO(RQ_METHOD, C_SP, RQ_SP),
	GO(RQ_SP, C_SP, RQ_SP), GO(RQ_SP, C_S, RQ_S), GO(RQ_SP, C_T, RQ_T),
	GO(RQ_S, C_I, RQ_SI), GO(RQ_SI, C_P, RQ_SIP),
	GO(RQ_SIP, C_COLON, RQ_MATCH), GO(RQ_SIP, C_S, RQ_SIPS),
	GO(RQ_SIPS, C_COLON, RQ_MATCH),
	GO(RQ_T, C_E, RQ_TE), GO(RQ_TE, C_L, RQ_TEL),
	GO(RQ_TEL, C_COLON, RQ_MATCH),
	END(RQ_METHOD0), END(RQ_METHOD), END(RQ_SP), END(RQ_S), END(RQ_SI),
	END(RQ_SIP), END(RQ_SIPS), END(RQ_T), END(RQ_TE), END(RQ_TEL),
};
#pragma clang diagnostic pop

/* Global, so verified once on its own (with n unknown) rather than once
 * per path that reaches it: each caller path arrived with its own bounds
 * on n, and the verifier walked the 40 iterations for every one. */
__noinline int match_request(const struct window *w, __u32 n)
{
	const __u8 *b;
	__u64 st = RQ_METHOD0;

	if (!w) /* a global function's pointer may be NULL, as far as the
		 * verifier knows */
		return K_NONE;
	b = w->b;

	/* A bounded loop (5.3+), not unrolled: unrolled, clang hoists the 40
	 * class lookups ahead of the transitions and spills them past the
	 * 512-byte stack. The verifier walks the 40 iterations. */
#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < METHOD_WINDOW; i++) {
		/* mask = all ones while i < n, else 0, without a branch: a
		 * branch on i < n would refine n differently on every path,
		 * and the verifier would walk the rest of the loop once per
		 * value of n. The empty asm keeps clang from turning this
		 * back into a compare. */
		__u64 d = (__u64)i - n;
		__u64 mask, cls, idx;

		asm volatile("" : "+r"(d));
		mask = (__s64)d >> 63;
		cls = (rq_class[b[i]] & mask) | (C_END & ~mask);
		idx = ((st & (RQ_MAX - 1)) * C_MAX) | (cls & (C_MAX - 1));
		/* 6.1's verifier loses the bounds of an OR of two bounded
		 * values; the mask (kept by the asm) gives them back. */
		asm volatile("" : "+r"(idx));
		st = rq_next[idx & (RQ_MAX * C_MAX - 1)];
		/* Most payloads that are not SIP fail within a few bytes.
		 * Leaving here splits no state worth keeping apart. */
		if (st >= RQ_MATCH)
			break;
	}
	if (st == RQ_MATCH)
		return K_REQUEST;
	if (st == RQ_SHORT)
		return K_PREFIX;
	return K_NONE; /* no match, or a method longer than any real one */
}

/* stream: a TCP flow's first bytes, where a short prefix of SIP counts
 * (the rest follows in the next segment); a datagram is complete.
 * A global function (function-by-function verification, 5.6+; a context
 * argument is fine): verified once, not once per caller. As a static
 * function, verified at each of its three callers, it cost the 6.18
 * verifier 500,000 instructions and 1.8 s, and 6.1 under emulation a
 * minute and a half. */
__noinline int payload_kind(struct __sk_buff *skb, __u32 off, __u32 len,
			    bool stream)
{
	struct window w;
	__u8 *buf = w.b;
	__u32 n, k;
	int st, rq;

	__builtin_memset(&w, 0, sizeof(w));
	n = load_payload(skb, off, len, &w);
	if (!n)
		return K_NONE;
	if (is_tls_record(buf, n))
		return K_TLS;
	if (buf[0] == '\r' || buf[0] == '\n') {
		k = count_crlf(buf, n);
		if (k == n)
			return K_CRLF;
		if (k >= CRLF_MAX)
			return K_PADDED;
		/* Read again past the CR/LF rather than index the buffer at
		 * a variable offset. */
		n = load_payload(skb, off + k, len - k, &w);
		if (!n)
			return K_NONE;
	}
	st = match_status(buf, n);
	if (st == K_RESPONSE)
		return K_RESPONSE;
	rq = match_request(&w, n);
	if (rq == K_REQUEST)
		return K_REQUEST;
	if (stream && (st == K_PREFIX || rq == K_PREFIX))
		return K_PREFIX;
	return K_NONE;
}

/* --- headers ------------------------------------------------------ */

static __always_inline int parse_link(struct __sk_buff *skb, int link,
				      __u32 *l3off, __u16 *proto)
{
	__be16 h_proto;
	__u32 off = ETH_HLEN;

	if (link == LINK_IP) {
		/* No link-layer header: TC sees the IP header first. */
		*l3off = 0;
		*proto = (__u16)skb->protocol;
		return 0;
	}
	if (load_hdr(skb, 12, &h_proto))
		return SIPSEC_PASS_NOT_IP; /* a runt: nothing of IP in it */
#pragma unroll
	for (int i = 0; i < VLAN_MAX; i++) {
		if (h_proto != bpf_htons(ETH_P_8021Q) &&
		    h_proto != bpf_htons(ETH_P_8021AD))
			break;
		/* A tag in the frame (not offloaded to skb->vlan_tci):
		 * TCI, then the inner EtherType. */
		if (load_hdr(skb, off + 2, &h_proto))
			return -SIPSEC_DROP_MALFORMED;
		off += 4;
	}
	*l3off = off;
	*proto = h_proto;
	return 0;
}

static __always_inline void map_ipv4(__u8 *dst, __be32 a)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &a, 4);
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, __u32 off,
				      struct pkt *p)
{
	struct iphdr ip;
	__u32 hlen, tot, fo;

	if (load_hdr(skb, off, &ip))
		return -SIPSEC_DROP_MALFORMED;
	hlen = ip.ihl * 4;
	if (ip.version != 4 || hlen < sizeof(ip))
		return -SIPSEC_DROP_MALFORMED;
	tot = bpf_ntohs(ip.tot_len);
	if (tot == 0) {
		/* IPv4 BIG TCP (6.3+) GSO packets: the length is the skb's. */
		p->end = skb->len;
	} else {
		if (tot < hlen || off + tot > skb->len)
			return -SIPSEC_DROP_MALFORMED;
		p->end = off + tot;
	}
	p->family = SIPSEC_FAMILY_IPV4;
	map_ipv4(p->saddr, ip.saddr);
	map_ipv4(p->daddr, ip.daddr);
	p->proto = ip.protocol;
	p->frag_id = bpf_ntohs(ip.id);
	fo = bpf_ntohs(ip.frag_off);
	if (fo & 0x1fff)
		p->frag = FRAG_LATER;
	else if (fo & 0x2000) /* more fragments */
		p->frag = FRAG_FIRST;
	p->l4off = off + hlen;
	if (p->proto == IPPROTO_AH && p->frag != FRAG_LATER) {
		/* AH authenticates but does not encrypt (RFC 4302): look
		 * through it. Length in 32-bit words, minus 2. */
		__u8 ah[2];

		if (load_hdr(skb, p->l4off, &ah))
			return -SIPSEC_DROP_MALFORMED;
		p->proto = ah[0];
		p->l4off += (ah[1] + 2) * 4;
	}
	if (p->l4off > p->end)
		return -SIPSEC_DROP_MALFORMED;
	return 0;
}

static __always_inline bool is_ipv6_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING ||
	       nh == IPPROTO_DSTOPTS || nh == IPPROTO_FRAGMENT ||
	       nh == IPPROTO_AH;
}

struct frag6_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-byte units << 3, M flag in bit 0 */
	__be32 id;
};

static __always_inline int parse_ipv6(struct __sk_buff *skb, __u32 off,
				      struct pkt *p)
{
	struct ipv6hdr ip6;
	__u32 len;
	__u8 nh;

	if (load_hdr(skb, off, &ip6))
		return -SIPSEC_DROP_MALFORMED;
	if (ip6.version != 6)
		return -SIPSEC_DROP_MALFORMED;
	len = bpf_ntohs(ip6.payload_len);
	if (len == 0) {
		/* BIG TCP GSO packets (5.19+) leave the length 0. */
		p->end = skb->len;
	} else {
		if (off + sizeof(ip6) + len > skb->len)
			return -SIPSEC_DROP_MALFORMED;
		p->end = off + sizeof(ip6) + len;
	}
	p->family = SIPSEC_FAMILY_IPV6;
	__builtin_memcpy(p->saddr, &ip6.saddr, 16);
	__builtin_memcpy(p->daddr, &ip6.daddr, 16);
	off += sizeof(ip6);
	nh = ip6.nexthdr;
#pragma unroll
	for (int i = 0; i < IPV6_EXT_MAX; i++) {
		if (!is_ipv6_ext(nh))
			break;
		if (nh == IPPROTO_FRAGMENT) {
			struct frag6_hdr fh;
			__u16 fo;

			if (load_hdr(skb, off, &fh))
				return -SIPSEC_DROP_MALFORMED;
			fo = bpf_ntohs(fh.frag_off);
			p->frag_id = bpf_ntohl(fh.id);
			nh = fh.nexthdr;
			off += sizeof(fh);
			if (fo & 0xfff8) {
				p->frag = FRAG_LATER;
				break;
			}
			if (fo & 1)
				p->frag = FRAG_FIRST;
		} else {
			__u8 oh[2]; /* next header, length */

			if (load_hdr(skb, off, &oh))
				return -SIPSEC_DROP_MALFORMED;
			/* RFC 8200 4.3-4.6: units of 8 bytes, not counting
			 * the first 8; AH (RFC 4302): 4 bytes, minus 2. */
			if (nh == IPPROTO_AH)
				off += (oh[1] + 2) * 4;
			else
				off += (oh[1] + 1) * 8;
			nh = oh[0];
		}
	}
	/* A chain longer than we follow could hide a SIP payload. */
	if (p->frag != FRAG_LATER && is_ipv6_ext(nh))
		return -SIPSEC_DROP_UNPARSED;
	p->proto = nh;
	p->l4off = off;
	if (off > p->end)
		return -SIPSEC_DROP_MALFORMED;
	return 0;
}

static __always_inline int parse_tcp(struct __sk_buff *skb, struct pkt *p)
{
	struct tcphdr th;
	__u32 doff;

	if (p->l4off + sizeof(th) > p->end ||
	    load_hdr(skb, p->l4off, &th))
		return -SIPSEC_DROP_MALFORMED;
	doff = th.doff * 4;
	if (doff < sizeof(th) || p->l4off + doff > p->end)
		return -SIPSEC_DROP_MALFORMED;
	p->sport = bpf_ntohs(th.source);
	p->dport = bpf_ntohs(th.dest);
	p->seq = bpf_ntohl(th.seq);
	p->syn = th.syn;
	p->payoff = p->l4off + doff;
	p->paylen = p->end - p->payoff;
	return 0;
}

static __always_inline int parse_udp(struct __sk_buff *skb, struct pkt *p)
{
	struct udphdr uh;

	if (p->l4off + sizeof(uh) > p->end ||
	    load_hdr(skb, p->l4off, &uh))
		return -SIPSEC_DROP_MALFORMED;
	p->sport = bpf_ntohs(uh.source);
	p->dport = bpf_ntohs(uh.dest);
	p->payoff = p->l4off + sizeof(uh);
	p->paylen = p->end - p->payoff;
	return 0;
}

/* --- verdicts ----------------------------------------------------- */

static __always_inline void frag_key(struct sipsec_frag_key *k,
				     const struct pkt *p)
{
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->saddr, p->saddr, 16);
	__builtin_memcpy(k->daddr, p->daddr, 16);
	k->id = p->frag_id;
	k->family = p->family;
	k->proto = p->proto;
	k->dir = p->dir;
}

static __always_inline int later_fragment(const struct pkt *p)
{
	struct sipsec_frag_key k;

	frag_key(&k, p);
	if (bpf_map_lookup_elem(&sipsec_frags, &k))
		return -SIPSEC_DROP_SIP_FRAGMENT;
	return SIPSEC_PASS_FRAGMENT;
}

static __always_inline void remember_fragment(const struct pkt *p,
					      __u32 reason)
{
	struct sipsec_frag_key k;
	struct sipsec_frag v = {
		.ts_ns = bpf_ktime_get_ns(),
		.reason = reason,
	};

	frag_key(&k, p);
	bpf_map_update_elem(&sipsec_frags, &k, &v, BPF_ANY);
}

static __always_inline int udp_verdict(struct __sk_buff *skb,
				       const struct sipsec_policy *pol,
				       const struct pkt *p)
{
	int kind;

	if (!p->paylen)
		return SIPSEC_PASS_NO_PAYLOAD;
	if (p->sport == ESP_IN_UDP_PORT || p->dport == ESP_IN_UDP_PORT) {
		/* RFC 3948 2.2: ESP in UDP starts with a non-zero SPI; IKE
		 * there starts with a zero marker. */
		__u32 spi = 0;

		if (p->paylen >= sizeof(spi) &&
		    !load_hdr(skb, p->payoff, &spi) &&
		    spi)
			return SIPSEC_PASS_ESP;
	}
	kind = payload_kind(skb, p->payoff, p->paylen, false);
	if (kind == K_REQUEST)
		return -SIPSEC_DROP_SIP_REQUEST;
	if (kind == K_RESPONSE)
		return -SIPSEC_DROP_SIP_RESPONSE;
	if (kind == K_PADDED)
		return -SIPSEC_DROP_SIP_PADDED;
	if (kind == K_TLS)
		return SIPSEC_PASS_TLS;
	if (on_sip_port(pol, p))
		return -SIPSEC_DROP_SIP_PORT;
	return SIPSEC_PASS_NOT_SIP;
}

static __always_inline void flow_key(struct sipsec_flow_key *k,
				     const struct pkt *p)
{
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->saddr, p->saddr, 16);
	__builtin_memcpy(k->daddr, p->daddr, 16);
	k->sport = p->sport;
	k->dport = p->dport;
	k->family = p->family;
	k->dir = p->dir;
}

/*
 * TCP: the first payload of each direction decides the flow's state; the
 * state decides every later segment, whatever bytes it starts with.
 */
static __always_inline int tcp_verdict(struct __sk_buff *skb,
				       const struct sipsec_policy *pol,
				       const struct pkt *p)
{
	struct sipsec_flow_key key;
	struct sipsec_flow *fl, nf;
	__u32 data_seq = p->seq + (p->syn ? 1 : 0); /* SYN takes one */
	__u8 state;
	int kind, r;

	if (!p->syn && !p->paylen)
		return SIPSEC_PASS_NO_PAYLOAD; /* pure ACKs: no lookup */
	flow_key(&key, p);
	__builtin_memset(&nf, 0, sizeof(nf));
	if (p->syn) {
		/* A connection (re)starts on this 4-tuple: earlier state
		 * belongs to an earlier connection. */
		nf.first_ns = bpf_ktime_get_ns();
		nf.start_seq = data_seq;
		nf.flags = SIPSEC_FLOW_F_START;
		nf.state = SIPSEC_FLOW_NEW;
		bpf_map_update_elem(&sipsec_flows, &key, &nf, BPF_ANY);
	}
	if (!p->paylen)
		return SIPSEC_PASS_NO_PAYLOAD;
	fl = bpf_map_lookup_elem(&sipsec_flows, &key);
	if (fl) {
		switch (fl->state) {
		case SIPSEC_FLOW_SIP:
			fl->dropped++;
			return -SIPSEC_DROP_SIP_FLOW;
		case SIPSEC_FLOW_BLOCKED:
			fl->dropped++;
			return -SIPSEC_DROP_SIP_PORT;
		case SIPSEC_FLOW_TLS:
			return SIPSEC_PASS_TLS;
		case SIPSEC_FLOW_OTHER:
			/* A SIP message at a segment start, later on. */
			kind = payload_kind(skb, p->payoff, p->paylen, false);
			if (kind != K_REQUEST && kind != K_RESPONSE)
				return SIPSEC_PASS_NOT_SIP;
			r = kind == K_REQUEST ? -SIPSEC_DROP_SIP_REQUEST :
						-SIPSEC_DROP_SIP_RESPONSE;
			fl->state = SIPSEC_FLOW_SIP;
			fl->reason = -r;
			fl->dropped++;
			return r;
		default:
			/* Undecided, and these bytes are not the stream's
			 * first: its first segment was dropped undecided.
			 * The receiver cannot use them before it; drop
			 * rather than let a SIP tail through. */
			if ((fl->flags & SIPSEC_FLOW_F_START) &&
			    data_seq != fl->start_seq) {
				fl->dropped++;
				return -SIPSEC_DROP_SIP_PARTIAL;
			}
			break;
		}
	}

	kind = payload_kind(skb, p->payoff, p->paylen, true);
	nf.start_seq = data_seq;
	nf.flags = SIPSEC_FLOW_F_START;
	switch (kind) {
	case K_REQUEST:
		state = SIPSEC_FLOW_SIP;
		r = -SIPSEC_DROP_SIP_REQUEST;
		break;
	case K_RESPONSE:
		state = SIPSEC_FLOW_SIP;
		r = -SIPSEC_DROP_SIP_RESPONSE;
		break;
	case K_PADDED:
		state = SIPSEC_FLOW_SIP;
		r = -SIPSEC_DROP_SIP_PADDED;
		break;
	case K_TLS:
		state = SIPSEC_FLOW_TLS;
		r = SIPSEC_PASS_TLS;
		break;
	case K_PREFIX:
		state = SIPSEC_FLOW_NEW;
		r = -SIPSEC_DROP_SIP_PARTIAL;
		break;
	default:
		if (on_sip_port(pol, p)) {
			state = SIPSEC_FLOW_BLOCKED;
			r = -SIPSEC_DROP_SIP_PORT;
		} else if (kind == K_CRLF) {
			/* A keep-alive before the first message: the
			 * stream's meaningful start moves past it. */
			state = SIPSEC_FLOW_NEW;
			nf.start_seq = data_seq + p->paylen;
			r = SIPSEC_PASS_NOT_SIP;
		} else {
			state = SIPSEC_FLOW_OTHER;
			r = SIPSEC_PASS_NOT_SIP;
		}
		break;
	}
	if (fl) {
		fl->state = state;
		fl->start_seq = nf.start_seq;
		fl->flags |= SIPSEC_FLOW_F_START;
		fl->reason = r < 0 ? -r : r;
		if (r < 0)
			fl->dropped++;
	} else {
		/* No SYN seen: a flow picked up mid-way (enforcement came
		 * later, or its entry was evicted). Best effort from here. */
		nf.first_ns = bpf_ktime_get_ns();
		nf.state = state;
		nf.reason = r < 0 ? -r : r;
		nf.dropped = r < 0;
		bpf_map_update_elem(&sipsec_flows, &key, &nf, BPF_ANY);
	}
	return r;
}

/*
 * An ICMP error quotes the start of the datagram that caused it (RFC 792:
 * the IP header and 8 bytes; RFC 1812 and 4443: as much as fits). Where
 * that datagram was SIP, in the clear or decrypted from ESP by this
 * kernel (a port unreachable for a request that found no listener), the
 * error carries it out in the clear: dropped, whatever else it says.
 * Quoted headers are truncated by nature, so they are read here with
 * their own bounds, not the datagram's.
 */
static __always_inline bool icmp_is_error(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMPV6)
		return type < 128; /* RFC 4443 2.1 */
	return type == 3 || type == 4 || type == 5 || type == 11 ||
	       type == 12;
}

static __always_inline int icmp_verdict(struct __sk_buff *skb,
					const struct sipsec_policy *pol,
					const struct pkt *p)
{
	__u32 in = p->l4off + 8, l4 = 0, pay;
	__u8 h[2], proto = 0;
	__be16 ports[2];
	int kind;

	if (p->l4off + 2 > p->end || bpf_skb_load_bytes(skb, p->l4off, h, 2))
		return SIPSEC_PASS_OTHER_PROTO; /* not for us to judge */
	if (!icmp_is_error(p->proto, h[0]))
		return SIPSEC_PASS_OTHER_PROTO;
	if (p->proto == IPPROTO_ICMP) {
		__u8 vi[10];

		if (in + sizeof(vi) > p->end ||
		    bpf_skb_load_bytes(skb, in, vi, sizeof(vi)))
			return SIPSEC_PASS_OTHER_PROTO; /* quotes too little */
		l4 = in + (vi[0] & 0x0f) * 4;
		proto = vi[9];
	} else {
		__u8 nh;

		if (in + 40 > p->end || bpf_skb_load_bytes(skb, in + 6, &nh, 1))
			return SIPSEC_PASS_OTHER_PROTO;
		l4 = in + 40;
		proto = nh; /* extension headers: not followed in a quote */
	}
	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
		return SIPSEC_PASS_OTHER_PROTO;
	if (l4 + sizeof(ports) > p->end ||
	    bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)))
		return SIPSEC_PASS_OTHER_PROTO;
	if (is_sip_port(pol, bpf_ntohs(ports[0])) ||
	    is_sip_port(pol, bpf_ntohs(ports[1])))
		return -SIPSEC_DROP_SIP_ICMP;
	pay = l4 + (proto == IPPROTO_UDP ? 8 : 20);
	if (pay >= p->end)
		return SIPSEC_PASS_OTHER_PROTO;
	kind = payload_kind(skb, pay, p->end - pay, false);
	if (kind == K_REQUEST || kind == K_RESPONSE || kind == K_PADDED)
		return -SIPSEC_DROP_SIP_ICMP;
	return SIPSEC_PASS_OTHER_PROTO;
}

static __always_inline int classify(struct __sk_buff *skb, int link,
				    const struct sipsec_policy *pol,
				    struct pkt *p)
{
	__u32 l3off = 0;
	__u16 proto = 0;
	int r;

	r = parse_link(skb, link, &l3off, &proto);
	if (r)
		return r;
	if (proto == bpf_htons(ETH_P_IP))
		r = parse_ipv4(skb, l3off, p);
	else if (proto == bpf_htons(ETH_P_IPV6))
		r = parse_ipv6(skb, l3off, p);
	else
		return SIPSEC_PASS_NOT_IP;
	if (r)
		return r;
	if (p->frag == FRAG_LATER)
		return later_fragment(p);
	switch (p->proto) {
	case IPPROTO_ESP:
		return SIPSEC_PASS_ESP;
	case IPPROTO_TCP:
		r = parse_tcp(skb, p);
		break;
	case IPPROTO_UDP:
		r = parse_udp(skb, p);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return icmp_verdict(skb, pol, p);
	default:
		return SIPSEC_PASS_OTHER_PROTO;
	}
	if (r)
		return r;
	/* A first fragment that stops short of the payload would hand the
	 * start line to a later fragment (RFC 1858's tiny fragments). */
	if (p->frag == FRAG_FIRST && p->paylen < TINY_FRAGMENT)
		return -SIPSEC_DROP_MALFORMED;
	if (p->proto == IPPROTO_TCP)
		return tcp_verdict(skb, pol, p);
	return udp_verdict(skb, pol, p);
}

/* --- exemptions and reports --------------------------------------- */

/* The trie holds every network of the policy, so that its longest match
 * is the section that governs the peer (a [peer] inside an exempt realm
 * may still require TLS); the flag says whether that one allows
 * cleartext. */
static __always_inline bool peer_exempt(const struct pkt *p)
{
	struct sipsec_exempt_key k;
	struct sipsec_exempt *v;

	k.prefixlen = 128;
	if (p->dir == SIPSEC_DIR_EGRESS)
		__builtin_memcpy(k.addr, p->daddr, 16);
	else
		__builtin_memcpy(k.addr, p->saddr, 16);
	v = bpf_map_lookup_elem(&sipsec_exempt, &k);
	return v && (v->flags & SIPSEC_EXEMPT_F_CLEARTEXT);
}

static __always_inline bool is_assoc(const struct pkt *p)
{
	struct sipsec_assoc_key k;

	__builtin_memset(&k, 0, sizeof(k));
	if (p->dir == SIPSEC_DIR_EGRESS) {
		__builtin_memcpy(k.peer, p->daddr, 16);
		k.peer_port = p->dport;
		k.local_port = p->sport;
	} else {
		__builtin_memcpy(k.peer, p->saddr, 16);
		k.peer_port = p->sport;
		k.local_port = p->dport;
	}
	k.family = p->family;
	k.proto = p->proto;
	return bpf_map_lookup_elem(&sipsec_assocs, &k) != NULL;
}

/*
 * One event, written into this CPU's next slot of the recent array (read
 * by `sipsecctl events`, any number of readers, also when the daemon is
 * gone) and copied onto the ring buffer (read by the daemon). A full ring
 * buffer costs the daemon the event, never the verdict.
 */
static __always_inline void report(struct __sk_buff *skb,
				   const struct sipsec_policy *pol,
				   const struct pkt *p, __u32 reason,
				   __u8 verdict, __u8 flags)
{
	struct sipsec_cursor *cur;
	struct sipsec_event *ev;
	__u32 zero = 0, slot, n;

	if (pol->abi_version && !(pol->flags & SIPSEC_POLICY_F_EVENTS))
		return;
	cur = bpf_map_lookup_elem(&sipsec_cursor, &zero);
	if (!cur)
		return;
	slot = cur->next & (SIPSEC_RECENT_SLOTS - 1);
	ev = bpf_map_lookup_elem(&sipsec_recent, &slot);
	if (!ev)
		return;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->seq = ++cur->next;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->ifindex = skb->ifindex;
	ev->len = skb->len;
	ev->payload_len = p->paylen;
	ev->mark = skb->mark;
	__builtin_memcpy(ev->saddr, p->saddr, 16);
	__builtin_memcpy(ev->daddr, p->daddr, 16);
	ev->sport = p->sport;
	ev->dport = p->dport;
	ev->family = p->family;
	ev->proto = p->proto;
	ev->dir = p->dir;
	ev->reason = reason;
	ev->verdict = verdict;
	ev->flags = flags;
	n = p->paylen < cfg_snap_len ? p->paylen : cfg_snap_len;
	if (n > SIPSEC_SNAP_LEN)
		n = SIPSEC_SNAP_LEN;
	if (n && !bpf_skb_load_bytes(skb, p->payoff, ev->data,
				     helper_len(n, SIPSEC_SNAP_LEN)))
		ev->snap_len = n;
	if (bpf_ringbuf_output(&sipsec_events, ev, sizeof(*ev), 0))
		count(SIPSEC_CNT_EVENTS_LOST, 0);
}

static __always_inline int enforce(struct __sk_buff *skb, int link, __u8 dir)
{
	const struct sipsec_policy *pol;
	struct pkt p;
	__u32 zero = 0;
	__u8 flags = 0;
	int r;

	pol = bpf_map_lookup_elem(&sipsec_policy, &zero);
	if (!pol)
		return TC_ACT_UNSPEC; /* an array's entry 0 always exists */
	if (pol->mode == SIPSEC_MODE_OFF) {
		count(SIPSEC_PASS_DISABLED, skb->len);
		return TC_ACT_UNSPEC;
	}
	__builtin_memset(&p, 0, sizeof(p));
	p.dir = dir;
	r = classify(skb, link, pol, &p);
	if (r >= 0) {
		count(r, skb->len);
		return TC_ACT_UNSPEC;
	}
	r = -r;
	if (pol->exempt_mark &&
	    (skb->mark & (pol->exempt_mark_mask ?: ~0u)) == pol->exempt_mark) {
		count(SIPSEC_PASS_MARK, skb->len);
		return TC_ACT_UNSPEC;
	}
	if (p.family && peer_exempt(&p)) {
		count(SIPSEC_PASS_EXEMPT, skb->len);
		return TC_ACT_UNSPEC;
	}
	if (p.family && p.sport && is_assoc(&p))
		flags |= SIPSEC_EVENT_F_ASSOC;
	if (pol->mode == SIPSEC_MODE_MONITOR) {
		count(SIPSEC_PASS_MONITOR, skb->len);
		report(skb, pol, &p, r, SIPSEC_VERDICT_MONITOR, flags);
		return TC_ACT_UNSPEC;
	}
	if (p.frag == FRAG_FIRST)
		remember_fragment(&p, r);
	count(r, skb->len);
	report(skb, pol, &p, r, SIPSEC_VERDICT_DROP, flags);
	return TC_ACT_SHOT;
}

SEC("tc")
int sipsec_tc_egress(struct __sk_buff *skb)
{
	return enforce(skb, LINK_ETH, SIPSEC_DIR_EGRESS);
}

SEC("tc")
int sipsec_tc_egress_l3(struct __sk_buff *skb)
{
	return enforce(skb, LINK_IP, SIPSEC_DIR_EGRESS);
}

SEC("tc")
int sipsec_tc_ingress(struct __sk_buff *skb)
{
	return enforce(skb, LINK_ETH, SIPSEC_DIR_INGRESS);
}

SEC("tc")
int sipsec_tc_ingress_l3(struct __sk_buff *skb)
{
	return enforce(skb, LINK_IP, SIPSEC_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";

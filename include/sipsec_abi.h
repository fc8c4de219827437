/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The ABI between the eBPF enforcement programs (bpf/egress.bpf.c) and user
 * space (daemon/enforce.c, tools/drops.c): map keys and values, the drop
 * event, and the enums they carry. Included by BPF C and by user space C.
 *
 * Rules that keep old pinned maps from being misread by a newer daemon:
 *  - fixed-width types only, explicit padding, a size assertion per struct;
 *  - SIPSEC_ABI_VERSION changes with any change to a struct below, to an
 *    enum's values or to a map's type or key/value types; the loader stores
 *    it in sipsec_policy.abi_version, which stays at offset 0 forever, and
 *    refuses to adopt pinned maps of another version (it replaces them);
 *  - enum values are never renumbered, only appended.
 *
 * Byte order: addresses are in network byte order, every other integer in
 * host byte order (both sides run on one host). IPv4 addresses are stored
 * IPv4-mapped (::ffff:a.b.c.d, RFC 4291 2.5.5.2) so that one 16-byte field
 * and one LPM trie serve both families.
 */
#ifndef SIPSEC_ABI_H
#define SIPSEC_ABI_H

#include <linux/types.h>

#define SIPSEC_ABI_VERSION 1

#define SIPSEC_MAX_SIP_PORTS 16 /* ports in the policy's allowlist */
#define SIPSEC_SNAP_LEN 64 /* first payload bytes kept in an event */
#define SIPSEC_RECENT_SLOTS 32 /* recent events kept per CPU; power of 2 */
#define SIPSEC_REASON_MAX 32 /* entries of the counters map */

/* Default sizes; the loader may change the flow table's before load. */
#define SIPSEC_FLOWS_DEFAULT 65536
#define SIPSEC_FRAGS_MAX 4096
#define SIPSEC_EXEMPT_MAX 65536
#define SIPSEC_ASSOCS_MAX 16384
#define SIPSEC_EVENTS_BYTES (256 * 1024) /* ring buffer; power of 2 */

/* The SIP port used when the policy map was never written (objects loaded
 * by hand with bpftool): fail closed on RFC 3261's default port. */
#define SIPSEC_DEFAULT_SIP_PORT 5060

/*
 * Why a packet passed or was dropped: the index of the counters map, the
 * reason in an event. Pass reasons are below SIPSEC_DROP_FIRST, drop
 * reasons from it. In the BPF program, helpers return 0 (go on), a
 * positive pass reason or a negative drop reason.
 */
enum sipsec_reason {
	SIPSEC_R_NONE = 0, /* never counted */
	SIPSEC_PASS_NOT_IP = 1, /* not IPv4/IPv6 (ARP, LLDP, runts) */
	SIPSEC_PASS_OTHER_PROTO = 2, /* IP, but not TCP, UDP or ESP */
	SIPSEC_PASS_NO_PAYLOAD = 3, /* TCP control segment, empty datagram */
	SIPSEC_PASS_NOT_SIP = 4, /* payload that is not SIP, off SIP ports */
	SIPSEC_PASS_TLS = 5, /* TLS record, or a flow that began with one */
	SIPSEC_PASS_ESP = 6, /* IP protocol 50, or ESP in UDP 4500 */
	SIPSEC_PASS_FRAGMENT = 7, /* later fragment of a datagram let out */
	SIPSEC_PASS_EXEMPT = 8, /* would drop; the peer is exempt by policy */
	SIPSEC_PASS_MARK = 9, /* would drop; the daemon's marked socket */
	SIPSEC_PASS_MONITOR = 10, /* would drop; policy mode is monitor */
	SIPSEC_PASS_DISABLED = 11, /* policy mode is off */
	SIPSEC_DROP_FIRST = 16,
	SIPSEC_DROP_SIP_REQUEST = 16, /* starts with a SIP request line */
	SIPSEC_DROP_SIP_RESPONSE = 17, /* starts with a SIP status line */
	SIPSEC_DROP_SIP_FLOW = 18, /* later segment of a TCP flow that began
				    * with SIP, wherever its boundaries fall */
	SIPSEC_DROP_SIP_PARTIAL = 19, /* start of a TCP flow too short to
				       * tell, consistent with SIP; TCP
				       * retransmits it with more bytes */
	SIPSEC_DROP_SIP_PORT = 20, /* on a SIP port: neither TLS nor ESP */
	SIPSEC_DROP_SIP_FRAGMENT = 21, /* later fragment of a dropped one */
	SIPSEC_DROP_SIP_PADDED = 22, /* more leading CR/LF than a keep-alive */
	SIPSEC_DROP_MALFORMED = 23, /* IP/TCP/UDP header that does not parse */
	SIPSEC_DROP_UNPARSED = 24, /* too many IPv6 extension headers */
	SIPSEC_DROP_SIP_ICMP = 25, /* an ICMP error quoting a SIP datagram
				    * (after ESP decryption: in the clear) */
	SIPSEC_CNT_EVENTS_LOST = 31, /* not a verdict: ring buffer was full */
};

/* What became of the packet an event describes. */
enum sipsec_verdict {
	SIPSEC_VERDICT_PASS = 0,
	SIPSEC_VERDICT_DROP = 1,
	SIPSEC_VERDICT_MONITOR = 2, /* would have been dropped */
};

/* sipsec_policy.mode. Zero (a policy map never written) enforces. */
enum sipsec_mode {
	SIPSEC_MODE_ENFORCE = 0,
	SIPSEC_MODE_MONITOR = 1, /* count and report, drop nothing */
	SIPSEC_MODE_OFF = 2, /* pass everything, inspect nothing */
};

enum sipsec_dir {
	SIPSEC_DIR_EGRESS = 0,
	SIPSEC_DIR_INGRESS = 1,
};

/* Address family fields hold the IP version, not AF_* (which differ
 * between the BPF target's headers and libc's only in theory). */
enum sipsec_family {
	SIPSEC_FAMILY_IPV4 = 4,
	SIPSEC_FAMILY_IPV6 = 6,
};

/* One counter of the counters map (per CPU; user space sums). */
struct sipsec_count {
	__u64 packets;
	__u64 bytes; /* skb->len: the frame as TC sees it (GSO: all of it) */
};
_Static_assert(sizeof(struct sipsec_count) == 16, "sipsec_count size");

/* sipsec_policy.flags */
enum sipsec_policy_flags {
	SIPSEC_POLICY_F_EVENTS = 1u << 0, /* report drops (ring buffer, recent) */
};

/* The mark sipsecd puts on its own discovery socket (SO_MARK): the one
 * sender of cleartext SIP the egress program lets out (policy
 * exempt_mark), for the pre-shared crypto-system's discovery. */
#define SIPSEC_DISCOVERY_MARK 0x5150d15cu

/* The policy map's only entry (key 0), written by the daemon. */
struct sipsec_policy {
	__u32 abi_version; /* SIPSEC_ABI_VERSION; 0: never written */
	__u32 mode; /* enum sipsec_mode */
	__u32 flags; /* enum sipsec_policy_flags */
	__u32 exempt_mark; /* skb->mark & exempt_mark_mask of the daemon's
			    * own socket (pre-shared discovery); 0: none */
	__u32 exempt_mark_mask; /* 0: all 32 bits */
	__u16 n_sip_ports;
	__u16 pad;
	__u16 sip_ports[SIPSEC_MAX_SIP_PORTS]; /* allowlist: TLS/ESP only;
						* unused slots 0 */
};
_Static_assert(sizeof(struct sipsec_policy) == 56, "sipsec_policy size");

/* TCP flow state, decided by the first payload of each direction. */
enum sipsec_flow_state {
	SIPSEC_FLOW_NEW = 0, /* SYN seen, or first bytes undecided */
	SIPSEC_FLOW_SIP = 1, /* began with SIP: every segment dropped */
	SIPSEC_FLOW_TLS = 2, /* began with a TLS record: passes */
	SIPSEC_FLOW_OTHER = 3, /* began with something else, off SIP ports */
	SIPSEC_FLOW_BLOCKED = 4, /* on a SIP port, not TLS: dropped */
};

enum sipsec_flow_flags {
	SIPSEC_FLOW_F_START = 1u << 0, /* start_seq is known (SYN seen) */
};

/* Flow table key: one direction of a TCP connection. */
struct sipsec_flow_key {
	__u8 saddr[16]; /* sender, network order, IPv4-mapped */
	__u8 daddr[16];
	__u16 sport; /* host order */
	__u16 dport;
	__u8 family; /* enum sipsec_family */
	__u8 dir; /* enum sipsec_dir */
	__u8 pad[2];
};
_Static_assert(sizeof(struct sipsec_flow_key) == 40, "flow key size");

struct sipsec_flow {
	__u64 first_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at creation */
	__u32 start_seq; /* sequence number of the first payload byte */
	__u32 dropped; /* segments dropped (approximate: not atomic) */
	__u8 state; /* enum sipsec_flow_state */
	__u8 flags; /* enum sipsec_flow_flags */
	__u8 reason; /* enum sipsec_reason that decided the state */
	__u8 pad[5];
};
_Static_assert(sizeof(struct sipsec_flow) == 24, "flow size");

/* Datagrams whose first fragment was dropped: their later fragments go
 * too. IPv4 identification is 16 bits, IPv6's 32. */
struct sipsec_frag_key {
	__u8 saddr[16]; /* network order, IPv4-mapped */
	__u8 daddr[16];
	__u32 id; /* host order */
	__u8 family; /* enum sipsec_family */
	__u8 proto; /* IPPROTO_UDP / IPPROTO_TCP */
	__u8 dir; /* enum sipsec_dir */
	__u8 pad;
};
_Static_assert(sizeof(struct sipsec_frag_key) == 40, "frag key size");

struct sipsec_frag {
	__u64 ts_ns; /* bpf_ktime_get_ns() when the first fragment went */
	__u8 reason; /* enum sipsec_reason of the first fragment */
	__u8 pad[7];
};
_Static_assert(sizeof(struct sipsec_frag) == 16, "frag size");

/* Exemptions: the networks of every policy section, in an LPM trie, so
 * that the longest match is the section that governs a peer (as in the
 * daemon); those whose policy allows cleartext (require = none) carry
 * SIPSEC_EXEMPT_F_CLEARTEXT. Key: prefixlen in bits over addr; IPv4
 * networks are IPv4-mapped, prefix + 96. */
struct sipsec_exempt_key {
	__u32 prefixlen;
	__u8 addr[16]; /* network order */
};
_Static_assert(sizeof(struct sipsec_exempt_key) == 20, "exempt key size");

enum sipsec_exempt_flags {
	SIPSEC_EXEMPT_F_CLEARTEXT = 1u << 0, /* policy says require = none;
					     * without it: TLS/IPsec required */
};

struct sipsec_exempt {
	__u32 policy_id; /* index of the section in the daemon's config */
	__u32 flags; /* enum sipsec_exempt_flags */
};
_Static_assert(sizeof(struct sipsec_exempt) == 8, "exempt size");

/* Associations the daemon protects, mirrored for inspection and for the
 * program's drop reports (a drop on a protected flow is flagged). */
struct sipsec_assoc_key {
	__u8 peer[16]; /* network order, IPv4-mapped */
	__u16 peer_port; /* host order */
	__u16 local_port;
	__u8 family; /* enum sipsec_family */
	__u8 proto; /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad[2];
};
_Static_assert(sizeof(struct sipsec_assoc_key) == 24, "assoc key size");

struct sipsec_assoc {
	__u64 conn_id; /* the daemon's connection id (sipsecctl status) */
	__u32 created_s; /* CLOCK_REALTIME seconds, low 32 bits */
	__u8 mech; /* enum sipsec_mech (sipsec_ctl.h) */
	__u8 path; /* enum sipsec_path (sipsec_ctl.h) */
	__u8 pad[2];
};
_Static_assert(sizeof(struct sipsec_assoc) == 16, "assoc size");

/* sipsec_event.flags */
enum sipsec_event_flags {
	SIPSEC_EVENT_F_ASSOC = 1u << 0, /* the flow is a known association */
};

/*
 * A drop (or, in monitor mode, a would-be drop): sent on the ring buffer
 * that the daemon reads, and kept in the per-CPU "recent" array that
 * `sipsecctl events` reads (a ring buffer has one reader).
 */
struct sipsec_event {
	__u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC, ns */
	__u64 seq; /* per CPU, from 1; slot = (seq - 1) % RECENT_SLOTS */
	__u32 ifindex; /* skb->ifindex */
	__u32 len; /* skb->len, bytes */
	__u32 payload_len; /* TCP/UDP payload bytes, 0 if unknown */
	__u32 mark; /* skb->mark */
	__u8 saddr[16]; /* network order, IPv4-mapped; 0 if unknown */
	__u8 daddr[16];
	__u16 sport; /* host order */
	__u16 dport;
	__u8 family; /* enum sipsec_family, 0 if not parsed */
	__u8 proto; /* IPPROTO_* */
	__u8 dir; /* enum sipsec_dir */
	__u8 reason; /* enum sipsec_reason */
	__u8 verdict; /* enum sipsec_verdict */
	__u8 flags; /* enum sipsec_event_flags */
	__u8 snap_len; /* valid bytes in data */
	__u8 pad[5];
	__u8 data[SIPSEC_SNAP_LEN]; /* first payload bytes */
};
_Static_assert(sizeof(struct sipsec_event) == 144, "event size");

/* The per-CPU write position of the recent-events array. */
struct sipsec_cursor {
	__u64 next; /* events written on this CPU */
};
_Static_assert(sizeof(struct sipsec_cursor) == 8, "cursor size");

/* Names of the pinned objects inside the pin folder: the maps' and
 * programs' own names. */
#define SIPSEC_PIN_COUNTERS "sipsec_counters"
#define SIPSEC_PIN_POLICY "sipsec_policy"
#define SIPSEC_PIN_FLOWS "sipsec_flows"
#define SIPSEC_PIN_FRAGS "sipsec_frags"
#define SIPSEC_PIN_EXEMPT "sipsec_exempt"
#define SIPSEC_PIN_ASSOCS "sipsec_assocs"
#define SIPSEC_PIN_EVENTS "sipsec_events"
#define SIPSEC_PIN_RECENT "sipsec_recent"
#define SIPSEC_PIN_CURSOR "sipsec_cursor"

/* TC filter identity: clsact, this handle and priority, on every
 * enforced interface. Priority 1 runs first; a pass returns
 * TC_ACT_UNSPEC so that filters after ours still run. */
#define SIPSEC_TC_HANDLE 0x5153
#define SIPSEC_TC_PRIORITY 1

#endif

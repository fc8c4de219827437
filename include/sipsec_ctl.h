/* SPDX-License-Identifier: MIT */
/*
 * The control protocol between the shim / sipsecctl and sipsecd.
 *
 * Transport: a SOCK_SEQPACKET socket on an abstract Unix address
 * ("\0" SIPSEC_CTL_DEFAULT_NAME unless configured otherwise). Abstract names
 * live in the network namespace, so each lab host (and each container) has
 * its own daemon. One datagram is one message: a struct sipsec_ctl_hdr and
 * a body of the size the type defines; at most one descriptor rides along
 * (SCM_RIGHTS). The daemon checks the peer's SO_PEERCRED against policy at
 * accept, and every descriptor it receives before it acts on it.
 *
 * Byte order: host (both ends are on one host). Every struct has explicit
 * padding and a size assertion so that an old client and a new daemon
 * detect a mismatch from the length, never misread.
 */
#ifndef SIPSEC_CTL_H
#define SIPSEC_CTL_H

#include <stdint.h>

#define SIPSEC_CTL_DEFAULT_NAME "sipsec/ctl"
#define SIPSEC_CTL_MAGIC 0x53495043u /* "SIPC" */
#define SIPSEC_CTL_VERSION 1
#define SIPSEC_CTL_MAX_MSG 4096 /* header included */

enum sipsec_ctl_type {
	SIPSEC_CTL_HELLO = 1, /* both ways: struct sipsec_ctl_hello */
	SIPSEC_CTL_STATUS = 2, /* request: no body; reply: see below */
	SIPSEC_CTL_STATUS_CONN = 3, /* reply part: struct sipsec_ctl_conn */
	SIPSEC_CTL_POLICY = 4, /* request: no body; reply: sipsec_ctl_policy */
	/* shim -> daemon, with the program's unconnected TCP socket:
	 * struct sipsec_ctl_connect; reply struct sipsec_ctl_connected, or
	 * hdr.status -errno (the program's connect() then fails with
	 * ECONNREFUSED: protection could not be had). */
	SIPSEC_CTL_CONNECT = 5,
	/* shim -> daemon: the program listens on a SIP port (its socket
	 * now admits only local connections); the daemon takes TLS for it
	 * and connects each authenticated connection to the program's
	 * socket, opening it with a struct sipsec_preamble:
	 * struct sipsec_ctl_listen; reply: no body. */
	SIPSEC_CTL_LISTEN = 6,
	/* shim -> daemon: a delivered connection's preamble said path
	 * KERNEL: the kTLS socket itself waits in the daemon. Request
	 * struct sipsec_ctl_fetch (the preamble's id and the listener's
	 * secret); reply: no body, the socket attached (SCM_RIGHTS), or
	 * hdr.status -errno. The daemon then forgets the descriptor. */
	SIPSEC_CTL_FETCH = 7,
	/* reply part of SIPSEC_CTL_STATUS, after the connections: one
	 * credential cache entry, struct sipsec_ctl_cache */
	SIPSEC_CTL_STATUS_CACHE = 8,
	/* shim -> daemon, with the program's bound UDP socket: it carries
	 * SIP (bound to a SIP port, or sending to one). Request struct
	 * sipsec_ctl_udp (the address it is bound to); reply struct
	 * sipsec_ctl_udp_ok, or hdr.status -errno. The daemon reads the
	 * socket's address and owner, and closes its copy. From then on the
	 * shim exchanges the program's datagrams with the daemon's relay
	 * address, each behind a struct sipsec_dgram (DESIGN.md, "User-space
	 * data path"). */
	SIPSEC_CTL_UDP = 9,
	SIPSEC_CTL_ERROR = 15, /* reply: no body, hdr.status = -errno */
};

/* hdr.flags */
#define SIPSEC_CTL_F_MORE 0x1 /* more replies to this seq follow */

struct sipsec_ctl_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t len; /* bytes, header included */
	uint32_t seq; /* echoed in replies */
	int32_t status; /* replies: 0 or -errno */
	uint16_t flags;
	uint16_t pad;
};
_Static_assert(sizeof(struct sipsec_ctl_hdr) == 24, "ctl header size");

/* Client kinds, for logs and policy. */
enum sipsec_ctl_role {
	SIPSEC_CTL_ROLE_SHIM = 1,
	SIPSEC_CTL_ROLE_CTL = 2,
};

struct sipsec_ctl_hello {
	uint16_t min_version; /* oldest protocol version the sender speaks */
	uint16_t max_version;
	uint16_t role; /* enum sipsec_ctl_role; 0 in the daemon's reply */
	uint16_t pad;
	char software[32]; /* NUL-terminated, e.g. "sipsec 0.1.0" */
};
_Static_assert(sizeof(struct sipsec_ctl_hello) == 40, "hello size");

/* Kernel features found at start-up (struct sipsec_ctl_status.features). */
enum sipsec_feature {
	SIPSEC_FEAT_KTLS = 1u << 0, /* TCP_ULP "tls" exists */
	SIPSEC_FEAT_ESP = 1u << 1, /* an ESP SA can be added */
	SIPSEC_FEAT_BPF_TC = 1u << 2, /* BPF_PROG_TYPE_SCHED_CLS loads */
	SIPSEC_FEAT_BTF = 1u << 3, /* /sys/kernel/btf/vmlinux */
	SIPSEC_FEAT_IO_URING = 1u << 4, /* an io_uring could be set up */
};

/* Reply to SIPSEC_CTL_STATUS: this, then one SIPSEC_CTL_STATUS_CONN per
 * connection and one SIPSEC_CTL_STATUS_CACHE per credential cache entry,
 * every message but the last flagged SIPSEC_CTL_F_MORE. */
struct sipsec_ctl_status {
	uint32_t pid;
	uint32_t uptime_s;
	uint32_t features; /* enum sipsec_feature */
	uint32_t n_conns;
	uint32_t n_peers; /* policy entries: peers + realms */
	uint32_t pad;
	uint64_t config_loaded_at; /* unix seconds */
	char software[32];
	char loop_backend[16]; /* "io_uring" or "poll" */
	char host_name[64]; /* our certificate name, from policy */
	char config_path[128];
	char ktls_reason[64]; /* why kTLS is (not) used */
	char esp_reason[64];
	/* pre-shared-key discovery (daemon/discovery.c); port 0: off */
	struct sipsec_ctl_discovery {
		uint32_t sent, received, accepted, repeated, failed;
		uint32_t rejected_checksum; /* changed, or another key */
		uint32_t rejected_time; /* timestamp outside the skew */
		uint32_t rejected_replay; /* nonce seen before */
		uint32_t rejected_other; /* malformed, unknown sender, ... */
		uint16_t port;
		uint16_t pad;
	} disc;
};
_Static_assert(sizeof(struct sipsec_ctl_status) == 440, "status size");

enum sipsec_mech { SIPSEC_MECH_NONE, SIPSEC_MECH_TLS, SIPSEC_MECH_IPSEC,
		   SIPSEC_MECH_PRESHARED };
enum sipsec_datapath { SIPSEC_PATH_NONE, SIPSEC_PATH_KERNEL,
		       SIPSEC_PATH_USERSPACE };

struct sipsec_ctl_addr {
	uint16_t family; /* AF_INET or AF_INET6 */
	uint16_t port; /* host order */
	uint8_t addr[16]; /* v4 in the first 4 bytes */
};

/* What the shim needs to pick SIP sockets without asking each time. */
struct sipsec_ctl_policy {
	uint16_t sip_ports[32]; /* union over all policies; 0 = unused */
	uint32_t handshake_timeout_ms;
	uint32_t pad;
};
_Static_assert(sizeof(struct sipsec_ctl_policy) == 72, "policy size");

struct sipsec_ctl_connect {
	struct sipsec_ctl_addr peer; /* where the program connects */
	uint32_t flags; /* reserved, 0 */
	uint32_t pad;
};
_Static_assert(sizeof(struct sipsec_ctl_connect) == 28, "connect size");

struct sipsec_ctl_udp {
	struct sipsec_ctl_addr bound; /* the program's socket */
	uint32_t flags; /* reserved, 0 */
	uint32_t pad;
};
_Static_assert(sizeof(struct sipsec_ctl_udp) == 28, "udp size");

struct sipsec_ctl_udp_ok {
	struct sipsec_ctl_addr relay; /* the daemon's end, same family */
	uint8_t path; /* enum sipsec_datapath */
	uint8_t pad[3];
};
_Static_assert(sizeof(struct sipsec_ctl_udp_ok) == 24, "udp_ok size");

/* Ahead of each datagram between a program's UDP SIP socket and the
 * daemon's relay address: to the daemon, where the program sent it; to
 * the program, where it came from. The program never sees it. */
#define SIPSEC_DGRAM_MAGIC 0x53445331u /* "SDS1" */
struct sipsec_dgram {
	uint32_t magic;
	struct sipsec_ctl_addr peer;
};
_Static_assert(sizeof(struct sipsec_dgram) == 24, "dgram header size");

/* The identities that authenticated an association, for the shim's
 * cross-check of the SIP messages on it (the framework draft, section
 * 4.5): the peer certificate's subjectAltName DNS names, IP addresses
 * (text) and sip:/sips: URI hosts (its subject CN only without a SAN),
 * then the realm of the peer's policy section. A DNS name may be a
 * "*.domain" wildcard (one label). Unused names are all zero. */
#define SIPSEC_ID_MAX_NAMES 4
#define SIPSEC_ID_NAME_LEN 64 /* NUL included */
enum sipsec_idcheck { /* policy identity_check; zero (enforce) is the
			 * default, so a forgotten field fails closed */
	SIPSEC_IDCHECK_ENFORCE = 0,
	SIPSEC_IDCHECK_LOG = 1,
	SIPSEC_IDCHECK_OFF = 2,
};
struct sipsec_ctl_identity {
	uint8_t mode; /* enum sipsec_idcheck */
	uint8_t n; /* names used, <= SIPSEC_ID_MAX_NAMES */
	uint8_t pad[2];
	char names[SIPSEC_ID_MAX_NAMES][SIPSEC_ID_NAME_LEN];
};
_Static_assert(sizeof(struct sipsec_ctl_identity) == 260, "identity size");

/* Reply to CONNECT. path NONE means policy allows cleartext to this peer
 * (configured per peer, never by default): the shim connects as asked. */
struct sipsec_ctl_connected {
	uint64_t id;
	struct sipsec_ctl_addr local; /* what getsockname() should report */
	uint8_t mech; /* enum sipsec_mech */
	uint8_t path; /* enum sipsec_datapath */
	uint8_t name_verified;
	uint8_t pad;
	char peer_name[64]; /* identity the certificate proved */
	struct sipsec_ctl_identity ident; /* what the shim checks against */
	uint8_t pad2[4];
};
_Static_assert(sizeof(struct sipsec_ctl_connected) == 360, "connected size");

struct sipsec_ctl_listen {
	struct sipsec_ctl_addr bound; /* the program's bound address */
	uint8_t secret[16]; /* opens every delivered connection */
};
_Static_assert(sizeof(struct sipsec_ctl_listen) == 36, "listen size");

struct sipsec_ctl_fetch {
	uint64_t id;
	uint8_t secret[16];
};
_Static_assert(sizeof(struct sipsec_ctl_fetch) == 24, "fetch size");

/* The first bytes the daemon writes on a connection it delivers to a
 * listening program; the shim's accept() consumes them, checks the
 * secret, and reports the peer they name. Never seen by the program. */
#define SIPSEC_PREAMBLE_MAGIC "SIPSEC-B" /* B: with the identity */
struct sipsec_preamble {
	char magic[8];
	uint8_t secret[16];
	uint64_t id;
	struct sipsec_ctl_addr peer; /* the remote end, for accept() */
	struct sipsec_ctl_addr local; /* local address it connected to,
					 with the program's port */
	uint8_t mech;
	uint8_t path;
	uint8_t name_verified;
	uint8_t pad[5];
	char peer_name[64];
	struct sipsec_ctl_identity ident;
	uint8_t pad2[4];
};
_Static_assert(sizeof(struct sipsec_preamble) == 408, "preamble size");

struct sipsec_ctl_conn {
	uint64_t id;
	struct sipsec_ctl_addr local;
	struct sipsec_ctl_addr peer;
	uint64_t bytes_in; /* plaintext bytes delivered to the program */
	uint64_t bytes_out; /* plaintext bytes the program sent */
	uint32_t age_s;
	uint8_t mech; /* enum sipsec_mech */
	uint8_t path; /* enum sipsec_datapath */
	uint8_t name_verified; /* 1: certificate matched peer_name, or the
				* peer proved its section's psk */
	uint8_t outgoing; /* 1: the program connected; 0: accepted */
	char peer_name[64];
	char tls_version[16];
	char cipher[48];
	char path_reason[64];
	/* kernel TLS (added at the end: an old sipsecctl sees the length
	 * change and says so, never misreads) */
	uint8_t ktls_tx; /* 1: the kernel encrypts what the program sends */
	uint8_t ktls_rx; /* 1: the kernel decrypts what it receives */
	/* the agreement (in what was padding: zero from older daemons) */
	uint8_t agreed; /* 0: standard SIPS peer, no agreement; 1: agreed
			 * with a sipsec peer (ALPN sipsec/1); 2: the same,
			 * resumed from the credential cache */
	uint8_t keying; /* enum sec_keying of the agreed mechanism */
	uint8_t flow; /* 1 tcp, 2 udp (a channel of datagrams); 0: tcp */
	uint8_t pad[3];
	char ktls_reason[64]; /* why not, when either is off */
};
_Static_assert(sizeof(struct sipsec_ctl_conn) == 336, "conn size");

/* One credential cache entry (daemon/credcache.c): a next hop, what was
 * agreed with it, whether a TLS session can resume it. Never a key. */
struct sipsec_ctl_cache {
	struct sipsec_ctl_addr peer; /* its TLS address */
	char name[80]; /* the identity its certificate proved */
	uint8_t mech; /* enum sipsec_mech; NONE: no agreement (standard) */
	uint8_t keying; /* enum sec_keying */
	uint8_t resumable; /* 1: holds a TLS session */
	uint8_t agreed_session; /* 1: resuming it skips the agreement */
	uint32_t hits; /* agreements skipped thanks to it */
	uint32_t age_s;
	uint32_t expires_in_s;
};
_Static_assert(sizeof(struct sipsec_ctl_cache) == 116, "cache entry size");

#endif

/* SPDX-License-Identifier: MIT */
/*
 * sipsecd's map: the exports of each daemon file. sipsecctl links the
 * same objects (config parsing for `check`, probes, certificates).
 */
#ifndef SIPSECD_H
#define SIPSECD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "secagree.h"
#include "sip.h"
#include "sipsec.h"
#include "sipsec_abi.h"
#include "sipsec_ctl.h"

/* config.c: the INI file, parsed with libinih */
enum mech_bit {
	MECH_TLS = 1u << SIPSEC_MECH_TLS,
	MECH_IPSEC = 1u << SIPSEC_MECH_IPSEC,
	MECH_PRESHARED = 1u << SIPSEC_MECH_PRESHARED,
	MECH_NONE = 1u << SIPSEC_MECH_NONE, /* cleartext: explicit only */
};
enum ktls_mode { KTLS_PREFER, KTLS_REQUIRE, KTLS_OFF };
enum id_check { IDCHECK_ENFORCE, IDCHECK_LOG, IDCHECK_OFF };
enum uring_mode { URING_AUTO, URING_OFF };

#define POLICY_MAX_NETS 16
#define POLICY_MAX_PORTS 8
#define POLICY_MAX_PSK 64
#define POLICY_MAX_PSK_ID 64
#define POLICY_MIN_PSK 16 /* bytes: 128 bits, as for any AEAD key */
#define CONFIG_MAX_POLICIES 4096
#define CONFIG_MAX_IDS 16
#define CONFIG_MAX_SKIP 16 /* enforce_skip interfaces */

/* Which keys a section set; unset keys are inherited peer -> realm ->
 * global. */
enum policy_key {
	PK_NAME = 1u << 0,
	PK_REQUIRE = 1u << 1,
	PK_ALLOW = 1u << 2,
	PK_SIP_PORTS = 1u << 3,
	PK_TLS_PORT = 1u << 4,
	PK_TLS_MIN = 1u << 5,
	PK_CA = 1u << 6,
	PK_CERT = 1u << 7,
	PK_KEY = 1u << 8,
	PK_PSK = 1u << 9,
	PK_PSK_ID = 1u << 10,
	PK_KTLS = 1u << 11,
	PK_IDCHECK = 1u << 12,
	PK_DISCOVERY = 1u << 13,
	PK_CLOCK_SKEW = 1u << 14,
};

/* Cleartext discovery with the pre-shared crypto-system (discovery.c). */
enum discovery_mode { DISCOVERY_OFF, DISCOVERY_PSK };

/* One policy: [global], a [peer NAME] or a [realm DOMAIN] section. */
struct policy {
	char label[64]; /* "peer pbx1", "realm example.net", "global" */
	int line; /* where the section starts */
	bool is_realm;
	char realm[64]; /* peer: the realm it belongs to; realm: its domain */
	struct sipsec_net nets[POLICY_MAX_NETS];
	size_t n_nets;
	char name[256]; /* name expected in the peer's certificate, SNI */
	uint32_t require; /* mech_bit: the mechanism that must be agreed */
	uint32_t allow; /* mech_bit: acceptable mechanisms */
	uint16_t sip_ports[POLICY_MAX_PORTS];
	size_t n_sip_ports;
	uint16_t tls_port;
	uint16_t tls_min; /* 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3) */
	char *ca, *cert, *key; /* paths */
	uint8_t psk[POLICY_MAX_PSK];
	size_t psk_len;
	char psk_identity[POLICY_MAX_PSK_ID];
	enum ktls_mode ktls;
	enum id_check idcheck;
	uint8_t discovery; /* enum discovery_mode */
	uint32_t clock_skew_s; /* discovery: accepted timestamp skew */
	uint32_t set; /* enum policy_key */
};

struct config {
	char *path;
	time_t loaded_at;
	/* [global] daemon settings */
	char host_name[256]; /* this host's name, as in its certificate */
	enum log_target log_target;
	enum log_level log_level;
	char *pin_dir;
	/* [global] eBPF enforcement (enforce.c) */
	uint32_t enforce_mode; /* enum sipsec_mode: enforce = on|monitor|off */
	char enforce_skip[CONFIG_MAX_SKIP][16]; /* interfaces left alone */
	size_t n_enforce_skip;
	bool enforce_ingress; /* inspect arriving traffic too */
	uint32_t enforce_flows; /* TCP flow table entries; 0: default */
	char *ctl_name;
	uint32_t handshake_timeout_ms;
	uint32_t max_pending;
	uint32_t max_conns;
	uint32_t cache_size; /* credential cache entries; 0: none */
	uint32_t cache_lifetime_s;
	enum uring_mode io_uring;
	enum ktls_mode esp; /* SIP over UDP in the kernel's ESP: prefer
			     * (default), require, off */
	uint32_t esp_lifetime_s; /* an SA's hard limit; rekey at 5/6 */
	uint16_t discovery_port; /* daemons' UDP port for discovery */
	uid_t allow_uids[CONFIG_MAX_IDS];
	size_t n_allow_uids;
	gid_t allow_gids[CONFIG_MAX_IDS];
	size_t n_allow_gids;
	/* [global] policy defaults; policies[0] */
	struct policy *pol;
	size_t n_pol;
};

/** Receives each problem found in a file: "FILE:LINE: reason". */
typedef void (*config_err_fn)(void *ctx, const char *msg);

/**
 * @brief Parse and validate a configuration file.
 * @return 0 and *out, or -EINVAL after reporting every bad line through
 * err (log_warnx when NULL), or -errno when the file cannot be read.
 */
int config_load(const char *path, struct config **out, config_err_fn err,
		void *ctx);
void config_free(struct config *cfg);
const char *mech_name(unsigned mech);
int mech_mask_format(uint32_t mask, char *buf, size_t len);

/* policy.c: which policy governs a peer, with inheritance resolved */
const struct policy *policy_global(const struct config *cfg);
const struct policy *policy_find(const struct config *cfg,
				 const struct sockaddr *peer);
const struct policy *policy_find_realm(const struct config *cfg,
				       const char *domain);
/** @brief The section with a psk under identity whose networks hold peer
 * (NULL if none; *known: whether any section has that identity). */
const struct policy *policy_find_psk(const struct config *cfg,
				     const struct sockaddr *peer,
				     const char *identity, bool *known);
/** @brief Fill *eff with p's settings, inherited ones filled in. */
void policy_effective(const struct config *cfg, const struct policy *p,
		      struct policy *eff);
void policy_dump(const struct config *cfg, FILE *f);
/** @brief Whether any policy names port as a SIP port. */
bool policy_is_sip_port(const struct config *cfg, uint16_t port);

/* probe.c: what the running kernel offers */
struct probe_result {
	uint32_t features; /* enum sipsec_feature */
	char ktls[64]; /* "present" or why not */
	char esp[64];
	char bpf_tc[64];
	char io_uring[64];
	uint32_t ktls_suites; /* enum ktls_suite_bit the kernel accepts */
	char ktls_suites_str[64];
};

void probe_kernel(struct probe_result *r);
void probe_format(const struct probe_result *r, char *buf, size_t len);

/* ktls.c: kernel TLS offload after an OpenSSL handshake */
enum ktls_suite_bit {
	KTLS_AES_128_GCM = 1u << 0,
	KTLS_AES_256_GCM = 1u << 1,
	KTLS_CHACHA20_POLY1305 = 1u << 2,
};
struct conn;
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

/** @brief Which AEADs TLS_TX accepts; needs features & SIPSEC_FEAT_KTLS. */
void ktls_probe_suites(struct probe_result *r);
/** @brief Offer only offloadable suites, enable kTLS, capture secrets. */
int ktls_ctx_setup(SSL_CTX *ctx, uint32_t suites, bool server, char *why,
		   size_t wlen);
void ktls_keylog(const SSL *ssl, const char *line);
/** @brief RFC 8446 7.3 record key and IV from a traffic secret. */
int ktls_tls13_derive(const char *digest, const uint8_t *secret, size_t slen,
		      uint8_t *key, size_t klen, uint8_t *iv, size_t ivlen);
int ktls_install_rx13(int fd, uint16_t cipher, const char *digest,
		      const uint8_t *secret, size_t slen, uint64_t rec_seq);
/**
 * @brief After the handshake on fd: check OpenSSL's offload, install
 * TLS 1.3 receive. @return 0 with c->ktls_tx/rx set, or -errno and the
 * reason in why (the socket must then not be used).
 */
int ktls_finish(struct conn *c, int fd, char *why, size_t wlen);
/** @brief Free the SSL without a byte written. */
void ktls_release(struct conn *c);

/* loop.c: the event loop, io_uring with a poll(2) fallback */
struct loop;
typedef void (*loop_cb)(struct loop *l, int fd, uint32_t revents,
			void *arg);

int loop_new(struct loop **out, enum uring_mode mode);
void loop_free(struct loop *l);
const char *loop_backend(const struct loop *l);
/** @brief Watch fd for events (POLLIN/POLLOUT) until loop_del. */
int loop_add(struct loop *l, int fd, uint32_t events, loop_cb cb, void *arg);
int loop_mod(struct loop *l, int fd, uint32_t events);
int loop_del(struct loop *l, int fd);
/** @brief A non-blocking listening socket, watched for POLLIN: fd or
 * -errno. */
int loop_listen(struct loop *l, int type, const struct sockaddr *sa,
		socklen_t len, int backlog, loop_cb cb, void *arg);
/** @brief accept4(SOCK_NONBLOCK | SOCK_CLOEXEC) on listener fd: the new
 * descriptor, or -errno. Out of descriptors, it takes the waiting
 * connection with a spare one and closes it (its peer's address in *sa)
 * and returns -EMFILE or -ENFILE, logging for what, so that a backlog the
 * daemon cannot serve drains instead of waking the loop again and again. */
int loop_accept(struct loop *l, int fd, struct sockaddr *sa, socklen_t *len,
		const char *what);
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* control.c: the daemon's end of the control protocol */
struct daemon;
int control_open(struct daemon *d);
void control_close(struct daemon *d);
bool control_cred_allowed(const struct config *cfg, uid_t uid, gid_t gid);

/* sockcheck.c: what a received descriptor must be before we act on it */
struct sock_expect {
	int type; /* SOCK_STREAM or SOCK_DGRAM */
	int state; /* TCP state (TCP_CLOSE, ...), or -1 for any */
};

/**
 * @brief Check a descriptor received from a client: an AF_INET or AF_INET6
 * socket of the expected type and protocol (TCP for streams, UDP for
 * datagrams), in the expected TCP state, created by the sending user.
 * @return 0, or -ENOTSOCK / -EAFNOSUPPORT / -EPROTOTYPE / -EISCONN ... /
 * -EPERM (owner).
 */
int sock_check(int fd, const struct sock_expect *want, uid_t sender_uid);

/* tls.c: OpenSSL contexts, handshakes, identities */
/** @brief A cached context; ktls_suites != 0 makes a kernel-path one; a
 * policy with a psk gets a PSK context (tls_psk.c), without certificates. */
SSL_CTX *tls_ctx_get(const struct policy *eff, bool server,
		     uint32_t ktls_suites, char *why, size_t wlen);
void tls_ctx_flush(void);
/** @brief A client SSL for fd; *expect receives the identity it checks
 * (for a PSK peer, tls_psk_name()). */
SSL *tls_client_new(SSL_CTX *ctx, int fd, const struct policy *eff,
		    const struct sockaddr *peer, char *expect, size_t elen);
SSL *tls_server_new(SSL_CTX *ctx, int fd);
/** @return 0 done; -EAGAIN with *want = POLLIN/POLLOUT; -ECONNREFUSED
 * with the reason in why. A PSK handshake is done only when the key was
 * used and ALPN sipsec/1 selected. */
int tls_handshake(SSL *ssl, uint32_t *want, char *why, size_t wlen);
int tls_check_client_name(SSL *ssl, const char *name, char *why,
			  size_t wlen);
/**
 * @brief The identities the peer's certificate proved (SAN DNS, IP, SIP
 * URI hosts; CN only without a SAN), then the policy's realm, and its
 * identity_check mode: what the shim checks SIP messages against.
 */
void tls_peer_identity(SSL *ssl, const struct policy *eff,
		       struct sipsec_ctl_identity *out);
void tls_describe(SSL *ssl, char *version, size_t vlen, char *cipher,
		  size_t clen);
const char *tls_error_string(void);

/* tls_psk.c: TLS 1.3 external PSK between two daemons */
/** @brief TLS 1.3 only, psk_dhe_ke, SHA-256 suites, PSK callbacks; no
 * certificates. */
int tls_psk_ctx_setup(SSL_CTX *ctx, bool server, char *why, size_t wlen);
/** @brief Client: offer eff's psk under its psk_identity. */
int tls_psk_client(SSL *ssl, const struct policy *eff);
/** @brief Server: keys are looked up in *cfg (the one current when the
 * ClientHello arrives) for a client at peer. */
int tls_psk_server(SSL *ssl, struct config *const *cfg,
		   const struct sockaddr *peer);
/** @brief Whether ssl was set up to authenticate by PSK only. */
bool tls_psk_expected(const SSL *ssl);
/** @brief After the handshake: the identity whose key the peer proved,
 * or NULL (no PSK was used). */
const char *tls_psk_identity(SSL *ssl);
/** @brief Why a PSK handshake failed (identity, address), or NULL. */
const char *tls_psk_note(const SSL *ssl);
/** @brief The name a PSK peer is known by: policy name, realm, identity. */
void tls_psk_name(const struct policy *eff, char *buf, size_t len);

/* conn.c: protected connections, their lifecycle, limits and timeouts */
enum conn_state {
	CONN_TCP, /* outgoing: TCP connect to the peer's TLS port */
	CONN_HANDSHAKE, /* TLS handshake */
	CONN_AGREE, /* agreement between two daemons inside TLS */
	CONN_PAIRING, /* outgoing: waiting for the program's relay socket */
	CONN_DELIVER, /* incoming: connecting to the program's socket */
	CONN_RELAY, /* user-space data path */
	CONN_FETCH, /* incoming kernel path: the shim fetches the socket */
	CONN_KERNEL, /* kernel path: a record for status, no descriptor */
	CONN_CHANNEL, /* UDP datagrams between two daemons (udp.c) */
};

#define RELAY_BUF 16384 /* one TLS record's worth */

struct relay_buf {
	size_t off, len;
	uint8_t data[RELAY_BUF];
};

/* What a connection needs until it is handed to the kernel, and on the
 * user-space paths for its whole life: allocated with it, freed at the
 * hand-over, so that a kernel-path connection costs the daemon no more
 * than its record for status. */
struct conn_aux {
	struct sipsec_ctl_identity ident; /* for the shim's SIP check */
	uint8_t rx_secret[64]; /* TLS 1.3 peer traffic secret, wiped */
	uint8_t rx_secret_len;
};

struct conn {
	struct conn *prev, *next;
	struct daemon *d;
	uint64_t id;
	enum conn_state state;
	bool outgoing;
	int tls_fd; /* TLS to the peer */
	SSL *ssl;
	int plain_fd; /* our plaintext connection with the program */
	int prog_fd; /* outgoing: the program's socket until handed over */
	int reply_fd; /* outgoing: the shim's control connection */
	uint32_t reply_seq;
	struct listener *lst; /* incoming: the program it goes to */
	struct sockaddr_storage peer, local; /* the TLS connection's ends */
	uint64_t deadline_ms;
	uint64_t created_ms;
	char expect[80]; /* identity to verify, "name" or "IP:addr" */
	char peer_name[64]; /* identity the certificate (or PSK) proved */
	uint8_t name_verified;
	char psk_identity[POLICY_MAX_PSK_ID]; /* incoming: the key it used */
	struct conn_aux *aux; /* freed at the hand-over to the kernel */
	char tls_version[16], cipher[48];
	char path_reason[64];
	uint64_t bytes_in, bytes_out;
	/* user-space relay */
	struct relay_buf *up, *down; /* program -> peer, peer -> program */
	bool plain_eof, plain_shut, tls_eof, tls_shut;
	bool ssl_wants_read, ssl_wants_write;
	bool plain_readable, tls_readable; /* as the loop last said */
	bool mirrored; /* in the enforcement's associations map */
	uint64_t linger_ms; /* the program is done: the peer has until then */
	/* what the loop watches now */
	uint32_t tls_ev, plain_ev;
	/* kernel path */
	bool kernel; /* the handshake runs for the kernel path */
	uint8_t ktls_tx, ktls_rx;
	int prog_flags; /* outgoing: the program's file status flags */
	char ktls_reason[64]; /* why not, when the path is not the kernel */
	uint64_t check_ms; /* CONN_KERNEL: next look for the socket */
	uint64_t rx_records; /* read after the handshake (TLS 1.3 RX seq) */
	/* agreement */
	struct agree *agree; /* while CONN_AGREE */
	uint8_t mech, keying; /* what was agreed (sec_mech_id, sec_keying) */
	uint8_t agreed; /* 1: with a sipsec peer; 2: resumed from the cache */
	uint8_t flow; /* enum agree_flow: what the connection carries */
	uint8_t flows; /* incoming: the flows the listener's programs take */
	/* udp.c: a channel carrying the datagrams of UDP SIP programs */
	struct chan *chan;
	uint32_t spi_in, spi_out; /* ipsec agreed: the SAs' SPIs (esp.c) */
};

int conn_init(struct daemon *d);
void conn_exit(struct daemon *d);
struct conn *conn_new(struct daemon *d, bool outgoing);
/** @brief Close a connection; a reason is logged, none for a clean end. */
void conn_close(struct conn *c, const char *reason);
/** @brief Run what the connection's state allows; called on any event. */
void conn_run(struct conn *c);
/** @brief Watch the connection's descriptors for what it now waits on. */
void conn_watch(struct conn *c, uint32_t tls_events, uint32_t plain_events);
/** @brief Mirror the connection into the enforcement's associations map. */
void conn_mirror(struct conn *c, uint8_t path);
uint64_t now_ms(void);
/** @brief "open-file limit N; ...": for messages about running out of
 * descriptors. Returns buf. */
const char *nofile_note(char *buf, size_t len);
/** @brief Past the setup: data moves (relay, kernel, channel). */
bool conn_is_up(const struct conn *c);
void conn_export(const struct conn *c, struct sipsec_ctl_conn *out);
/** @brief The effective policy for c's peer, as configured now. */
void conn_policy(const struct conn *c, struct policy *eff);
/** @brief Which path policy and kernel give c; why says so when not
 * the kernel. @return 1 kernel, 0 user space, -ECONNREFUSED refused. */
int conn_choose_path(struct conn *c, const struct policy *eff, char *why,
		     size_t wlen);
/** @brief The handshake ended on the kernel path: keep only a record. */
void conn_to_kernel(struct conn *c);
/**
 * @brief Whether the socket of a kernel-path record still exists (1, 0 or
 * -errno); with @in and @out, also its TCP payload bytes received and
 * sent (acknowledged), TLS record overhead included.
 */
int sockdiag_alive(const struct sockaddr_storage *local,
		   const struct sockaddr_storage *peer, uint64_t *in,
		   uint64_t *out);

/* agree_msg.c: the agreement's messages, written and checked, no I/O */
#define AGREE_ALPN "sipsec/1"
enum agree_flow { AGREE_FLOW_TCP = 1, AGREE_FLOW_UDP = 2 };

struct agree {
	bool server, refused;
	uint8_t flow; /* enum agree_flow; a server learns it from the offer */
	uint8_t flows; /* server: the flows this host takes (bit mask) */
	int step; /* client: 1 offered, 3 verified, 4 done;
		   * server: 2 answered, 4 confirmed */
	uint32_t allow, require, keyings; /* policy, as for sec_select() */
	char self[64], peer[64]; /* X-SIP-SECURE-FROM / -TO */
	char call_id[40], tag[16];
	struct sec_mech offer[SEC_MAX_MECHS]; /* the client's */
	size_t n_offer;
	struct sec_mech server_list[SEC_MAX_MECHS];
	size_t n_server;
	struct sec_mech choice;
	/* ipsec on a udp flow: each side's inbound SPI (Sipsec-Spi); ours
	 * from spi_alloc, when ipsec is offered (client) or chosen (server) */
	uint32_t spi_self, spi_peer;
	int (*spi_alloc)(void *arg, uint32_t *spi);
	void *spi_arg;
	/* server: is this the identity the client's certificate proved? */
	bool (*id_ok)(void *arg, const char *name);
	void *id_arg;
	char why[200]; /* the reason, when a step fails or refuses */
	/* agree.c: one message in flight each way (the answer is written
	 * while the message it answers is still being read from in[]) */
	bool writing;
	size_t in_len, out_len, out_off;
	char in[4096], out[4096];
};

void agree_init(struct agree *a, bool server, uint8_t flow);
const char *agree_flow_name(uint8_t flow);
/* Each returns the length of the next message in buf, or -errno with
 * a->why. A server's refusal is a message too (a 4xx; a->refused). */
int agree_offer(struct agree *a, char *buf, size_t len);
int agree_answer(struct agree *a, const struct sip_msg *req, char *buf,
		 size_t len);
int agree_verify(struct agree *a, const struct sip_msg *resp, char *buf,
		 size_t len);
int agree_confirm(struct agree *a, const struct sip_msg *req, char *buf,
		  size_t len);
/** @return 0 when the client's agreement is complete. */
int agree_done(struct agree *a, const struct sip_msg *resp);

/* agree.c: the agreement over the TLS connection */
void agree_ctx_setup(SSL_CTX *ctx, bool server);
/** @brief Count records read after the handshake (kernel path). */
void agree_watch_records(struct conn *c);
/** @brief Whether the handshake selected ALPN sipsec/1. */
bool agree_selected(SSL *ssl);
/**
 * @brief After the handshake: a standard SIPS peer (0, c->mech tls), an
 * agreement resumed from the cache and still allowed by policy (0,
 * c->agreed 2), or the agreement starts (1, CONN_AGREE); -errno with why.
 */
int agree_start(struct conn *c, char *why, size_t wlen);
/** @return 0 agreed; -EAGAIN with *want; -errno with c->agree->why. */
int agree_step(struct conn *c, uint32_t *want);
void agree_end(struct conn *c);
/** @brief For log lines: how c's mechanism was settled. */
const char *agree_describe(const struct conn *c);

/* credcache.c: agreements and TLS sessions per next hop (draft 4.4) */
struct sipsec_ctl_cache;
void credcache_ctx_setup(SSL_CTX *ctx, bool server);
/** @brief Client: offer the cached session. @return 1 offered, 0 none. */
int credcache_resume(struct conn *c);
/** @brief Client, after the handshake: 1 when the resumed session carries
 * an agreement (c->mech, c->keying set), 0 otherwise. */
int credcache_agreed(struct conn *c);
/** @brief Server, after the handshake: the same, from the ticket. */
int credcache_ticket_agreed(struct conn *c);
/** @brief Server: a ticket with the agreement's outcome, written with the
 * next SSL_write, or at once with @flush. */
int credcache_issue_ticket(struct conn *c, bool flush);
/** @brief Client: remember c's agreement for its next hop. */
void credcache_store(struct conn *c);
void credcache_forget(struct conn *c);
void credcache_flush(void);
size_t credcache_count(void);
/** @brief What is cached for a next hop: 0, or -ENOENT (none, expired). */
int credcache_lookup(const struct sockaddr_storage *peer, const char *name,
		     uint8_t *mech, uint8_t *keying);
/** @brief Tests: the clock entries age by (NULL: the monotonic one). */
void credcache_set_clock(uint64_t (*fn)(void));
int credcache_walk(int (*fn)(void *arg, const struct sipsec_ctl_cache *e,
			     bool last),
		   void *arg);

/* outgoing.c: the program connects: CONNECT from the shim */
int outgoing_start(struct daemon *d, int client_fd, uint32_t seq,
		   const struct sipsec_ctl_connect *req, int prog_fd,
		   uid_t uid);
void outgoing_run(struct conn *c);
/** @brief A UDP channel to peer's sipsecd (TLS port from policy). */
int outgoing_channel(struct daemon *d, const struct sockaddr_storage *peer,
		     struct conn **out);

/* incoming.c: the program listens: LISTEN from the shim, TLS accepts */
int incoming_listen(struct daemon *d, const struct sipsec_ctl_listen *req);
/** @brief Take TLS for a UDP program's address: channels (udp.c). */
int incoming_listen_udp(struct daemon *d, const struct sipsec_ctl_addr *bound);
void incoming_run(struct conn *c);
void incoming_drop(struct conn *c);
/** @brief FETCH: send the shim the kernel-path socket it was rung for. */
int incoming_fetch(struct daemon *d, int client_fd, uint32_t seq,
		   const struct sipsec_ctl_fetch *req);
void incoming_exit(struct daemon *d);

/* relay.c: the loopback pair and the user-space data path */
int relay_init(struct daemon *d);
void relay_exit(struct daemon *d);
/** @brief Connect fd to the relay endpoint and expect it for c. */
int relay_pair(struct conn *c, int fd);
void relay_forget(struct conn *c);
/** @brief The connection enters the user-space data path. */
void relay_start(struct conn *c);
/** @brief Note what the loop reported ready, before relay_pump(). */
void relay_ready(struct conn *c, int fd, uint32_t revents);
/** @return 0 still running, 1 both directions closed, <0 error. */
int relay_pump(struct conn *c);

/* udp.c: SIP over UDP on the user-space path, channels between daemons */
int udp_init(struct daemon *d);
void udp_exit(struct daemon *d);
/** @brief SIPSEC_CTL_UDP: the program's UDP SIP socket fd (always
 * closed) goes through us. @return 0 and *ok, or -errno. */
int udp_register(struct daemon *d, const struct sipsec_ctl_udp *req, int fd,
		 uid_t uid, struct sipsec_ctl_udp_ok *ok);
/** @brief The agreement settled a udp flow: c carries datagrams now. */
int udp_chan_up(struct conn *c, char *why, size_t wlen);
void udp_chan_run(struct conn *c);
void udp_chan_free(struct conn *c);
/** @brief Whether c's channel has carried nothing for too long. */
bool udp_chan_idle(const struct conn *c, uint64_t now);
void udp_chan_describe(const struct conn *c, char *buf, size_t len);

/* xfrm_msg.c, xfrm.c: ESP transport-mode SAs and policies for SIP over
 * UDP, through XFRM netlink (libmnl). xfrm_msg.c writes and reads the
 * messages without I/O; xfrm.c talks to the kernel. */
struct nlmsghdr;

/* sipsec's SAs and policies carry a reqid in this range; everything else
 * in the kernel's databases belongs to someone else and is left alone. */
#define XFRM_REQID_BASE 0x51500000u
#define XFRM_REQID_MASK 0xffff0000u
#define XFRM_IS_SIPSEC(reqid) (((reqid) & XFRM_REQID_MASK) == XFRM_REQID_BASE)
/* Inbound SPIs come from this range (below 256 is reserved, RFC 4303). */
#define XFRM_SPI_MIN 0x00010000u
#define XFRM_SPI_MAX 0xfffffffeu
#define ESP_AEAD_NAME "rfc4106(gcm(aes))"
#define ESP_ICV_BITS 128
#define ESP_SALT_LEN 4 /* RFC 4106 3.1 */
#define ESP_KEY_MAX 32
#define ESP_REPLAY_WINDOW 64
#define XFRM_MSG_MAX_LEN 2048 /* enough for any message built here */

/** One ESP transport-mode SA; keys are wiped by whoever fills them. */
struct esp_sa {
	struct sockaddr_storage src, dst; /* ports ignored */
	uint32_t spi; /* host byte order */
	uint32_t reqid;
	uint8_t key[ESP_KEY_MAX];
	uint8_t key_len; /* 16 or 32 */
	uint8_t salt[ESP_SALT_LEN];
	uint32_t soft_s, hard_s; /* seconds after adding; 0: none */
	uint64_t soft_packets, hard_packets; /* 0: none */
};

/** One policy: one direction of one SIP flow; a port of 0 is any. */
struct xfrm_sp {
	struct sockaddr_storage src, dst; /* host addresses and ports */
	uint8_t dir; /* XFRM_POLICY_OUT or XFRM_POLICY_IN */
	bool prefixed; /* src_plen/dst_plen apply; else both are hosts */
	uint8_t src_plen, dst_plen;
	bool bypass; /* no template: matching packets pass in the clear
		      * (loopback); sipsec's by priority XFRM_PRIO_BYPASS */
	uint32_t reqid;
	uint32_t priority; /* 0: the default */
	uint32_t index; /* dumps: the kernel's index */
};

/* Policy priorities (lower wins): host-wide SIP policies below what an
 * administrator sets by default, loopback bypasses above them. */
#define XFRM_PRIO_BYPASS 0x5140u
#define XFRM_PRIO_SIP 0x5150u

/** What a dump shows of one SA; never its key. */
struct xfrm_sa_status {
	struct sockaddr_storage src, dst;
	uint32_t spi, reqid;
	char alg[64];
	uint16_t key_bits, icv_bits; /* key without the salt */
	uint32_t replay_window;
	int64_t life_left_s; /* to the hard time limit; -1: none */
	uint64_t hard_packets; /* 0: none */
	uint64_t packets, bytes;
	uint32_t replay, replay_window_drops, integrity_failed;
};

enum xfrm_event_type { XFRM_EV_ACQUIRE = 1, XFRM_EV_EXPIRE = 2 };

/** An event the kernel sent on the ACQUIRE and EXPIRE groups. */
struct xfrm_event {
	uint8_t type; /* enum xfrm_event_type */
	uint8_t proto; /* ACQUIRE: the flow's protocol (IPPROTO_UDP) */
	bool hard; /* EXPIRE: hard (SA gone) or soft (rekey now) */
	/* ACQUIRE: the packet's flow, ports included; EXPIRE: the SA's ends */
	struct sockaddr_storage src, dst;
	uint32_t policy_index; /* ACQUIRE */
	uint8_t policy_dir;
	uint32_t seq; /* ACQUIRE: pass to xfrm_spi_alloc() */
	uint32_t spi, reqid; /* EXPIRE: the SA; ACQUIRE: the template's reqid */
};

/* xfrm_msg.c. Builders write one request into buf (XFRM_MSG_MAX_LEN
 * bytes) and return its length, or -errno with the reason in why. */
int xfrm_msg_sa(void *buf, uint16_t type, uint32_t seq,
		const struct esp_sa *sa, char *why, size_t wlen);
int xfrm_msg_sa_del(void *buf, uint32_t seq, const struct sockaddr *dst,
		    uint32_t spi, char *why, size_t wlen);
int xfrm_msg_spi(void *buf, uint32_t seq, const struct sockaddr *src,
		 const struct sockaddr *dst, uint32_t reqid, uint32_t acq_seq,
		 char *why, size_t wlen);
int xfrm_msg_policy(void *buf, uint16_t type, uint32_t seq,
		    const struct xfrm_sp *sp, char *why, size_t wlen);
/** @brief Parse a NEWSA (dump, ALLOCSPI answer). @return 0, -EINVAL. */
int xfrm_parse_sa(const struct nlmsghdr *nlh, struct xfrm_sa_status *st,
		  time_t now);
int xfrm_parse_policy(const struct nlmsghdr *nlh, struct xfrm_sp *sp);
/** @return 1 an event in *ev, 0 a message of no interest, -EINVAL. */
int xfrm_parse_event(const struct nlmsghdr *nlh, struct xfrm_event *ev);
/** @brief One line for logs and sipsecctl: SPI, ends, algorithm, life,
 * counters. Never key bytes. */
void xfrm_sa_format(const struct xfrm_sa_status *st, char *buf, size_t len);
/** @brief The four policies (out and in, SIP port as destination and as
 * source) that make every UDP datagram between self and peer to or from
 * port need ESP. */
void xfrm_sip_policies(const struct sockaddr *self,
		       const struct sockaddr *peer, uint16_t port,
		       uint32_t reqid, struct xfrm_sp sp[4]);

/* xfrm.c */
struct xfrm;

/** @brief A request socket and, with events, a second one subscribed to
 * ACQUIRE and EXPIRE. @return 0, or -errno with the reason in why. */
int xfrm_open(struct xfrm **out, bool events, char *why, size_t wlen);
void xfrm_close(struct xfrm *x);
/** @brief The events socket (non-blocking) for the loop, or -1. */
int xfrm_events_fd(const struct xfrm *x);
/** @brief Read pending events. @return how many (0: none pending), or
 * -errno with why (-ENOBUFS: events were lost, dump to resynchronise). */
int xfrm_events_read(struct xfrm *x, struct xfrm_event *ev, size_t max,
		     char *why, size_t wlen);
/** @brief A unique inbound SPI in [XFRM_SPI_MIN, XFRM_SPI_MAX], held by a
 * larval SA until xfrm_sa_update() completes it; acq_seq ties it to an
 * ACQUIRE (0: none). */
int xfrm_spi_alloc(struct xfrm *x, const struct sockaddr *src,
		   const struct sockaddr *dst, uint32_t reqid,
		   uint32_t acq_seq, uint32_t *spi, char *why, size_t wlen);
/** @return 0 added, 1 already there (kept, not replaced), -errno. */
int xfrm_sa_add(struct xfrm *x, const struct esp_sa *sa, char *why,
		size_t wlen);
/** @brief Replace or complete (after xfrm_spi_alloc) an SA. */
int xfrm_sa_update(struct xfrm *x, const struct esp_sa *sa, char *why,
		   size_t wlen);
int xfrm_sa_del(struct xfrm *x, const struct sockaddr *dst, uint32_t spi,
		char *why, size_t wlen);
/** @return 0 added, 1 already there (kept), -errno. */
int xfrm_policy_add(struct xfrm *x, const struct xfrm_sp *sp, char *why,
		    size_t wlen);
int xfrm_policy_del(struct xfrm *x, const struct xfrm_sp *sp, char *why,
		    size_t wlen);
/** @brief Call fn for each of sipsec's SAs (complete ones, not larval)
 * or policies; a non-zero return of fn stops the walk and is returned. */
int xfrm_dump_sas(struct xfrm *x,
		  int (*fn)(void *arg, const struct xfrm_sa_status *st),
		  void *arg, char *why, size_t wlen);
int xfrm_dump_policies(struct xfrm *x,
		       int (*fn)(void *arg, const struct xfrm_sp *sp),
		       void *arg, char *why, size_t wlen);
/** @brief Delete all of sipsec's SAs and policies; others stay. */
int xfrm_flush(struct xfrm *x, char *why, size_t wlen);

/* esp_keys.c: ESP keys exported from the daemons' TLS 1.3 session
 * (RFC 5705, RFC 8446 7.5); the construction is in docs/esp.md */
#define ESP_EXPORTER_LABEL "EXPORTER-sipsec-esp"
#define ESP_KEYS_VERSION 1
#define ESP_KEYS_CONTEXT_MAX (2 + 16 + 16 + 4 + 4)

/** @brief The exporter context: version, family (4 or 6), client and
 * server address, the client's and the server's inbound SPI, in network
 * byte order. @return its length, or -EINVAL / -EAFNOSUPPORT. */
int esp_keys_context(uint8_t *buf, size_t len, const struct sockaddr *client,
		     const struct sockaddr *server, uint32_t spi_client_in,
		     uint32_t spi_server_in);
/**
 * @brief This side's outbound and inbound SA (ends, SPI, key, salt) from
 * the TLS 1.3 session ssl between the client and server daemons. The
 * client's out equals the server's in, and the other way round. reqid and
 * lifetimes are left to the caller; wipe both with esp_sa_wipe().
 * @return 0, or -errno with the reason in why.
 */
int esp_keys_derive(SSL *ssl, bool server, const struct sockaddr *client,
		    const struct sockaddr *server_addr,
		    uint32_t spi_client_in, uint32_t spi_server_in,
		    uint8_t key_len, struct esp_sa *out, struct esp_sa *in,
		    char *why, size_t wlen);
void esp_sa_wipe(struct esp_sa *sa);

/* esp.c: SIP over UDP in the kernel's ESP: policies, ACQUIRE, keys */
int esp_init(struct daemon *d);
void esp_exit(struct daemon *d);
bool esp_active(const struct daemon *d);
/** @brief Let the agreement on c offer ESP (keying, inbound SPI). */
void esp_agree_setup(struct conn *c, struct agree *a);
int esp_spi_alloc(void *arg, uint32_t *spi);
/** @brief ipsec was agreed on c: keys from its TLS session into SAs. */
int esp_up(struct conn *c, char *why, size_t wlen);
/** @brief An inbound SPI for SAs from peer to self (ports ignored). */
int esp_spi_for(struct daemon *d, const struct sockaddr_storage *self,
		const struct sockaddr_storage *peer, uint32_t *spi);
/** @brief SAs keyed by the discovery (key_out/key_in: key then salt). */
int esp_install_psk(struct daemon *d, const struct sockaddr_storage *self,
		    const struct sockaddr_storage *peer, uint32_t spi_in,
		    uint32_t spi_out, const uint8_t *key_out,
		    const uint8_t *key_in, uint8_t key_len, const char *who,
		    char *why, size_t wlen);

/* discovery.c: cleartext discovery with the pre-shared crypto-system */
int discovery_init(struct daemon *d);
void discovery_exit(struct daemon *d);
/** @brief Whether policy has the peer agree by discovery (a key). */
bool discovery_wanted(struct daemon *d, const struct sockaddr_storage *peer);
/** @brief Offer to peer (unless under way); sip_port: what wanted it. */
int discovery_start(struct daemon *d, const struct sockaddr_storage *peer,
		    uint16_t sip_port);
void discovery_tick(struct daemon *d, uint64_t now);
void discovery_status(const struct daemon *d,
		      struct sipsec_ctl_discovery *out);

/* main.c */
struct daemon {
	struct config *cfg;
	struct loop *loop;
	struct probe_result probe;
	time_t started;
	int ctl_fd;
	int sig_fd;
	size_t n_clients;
	bool debug; /* -d: keep debug level across reloads */
	/* conn.c */
	struct conn *conns;
	size_t n_conns, n_pending;
	uint64_t next_id;
	int timer_fd;
	/* relay.c */
	int relay_fd[2]; /* loopback listeners: [0] IPv4, [1] IPv6 */
	struct sockaddr_storage relay_addr[2];
	/* incoming.c */
	struct listener *listeners;
	/* udp.c */
	int udp_fd[2]; /* relay addresses: [0] 127.0.0.1, [1] ::1 */
	struct sockaddr_storage udp_addr[2];
	struct udp_ep *eps; /* the programs' registered UDP SIP sockets */
	/* esp.c: NULL when SIP over UDP takes the user-space path */
	struct esp *esp;
	/* discovery.c: NULL when no policy asks for it */
	struct discovery *disc;
	/* enforce.c: NULL when not loaded */
	struct enforce *enf;
};

#endif

// SPDX-License-Identifier: MIT
/*
 * SIP over UDP in the kernel's ESP (DESIGN.md, "Data paths"; docs/esp.md
 * for the kernel objects and the keys, docs/udp.md for the flow).
 *
 *   start     policies with level required for every SIP port, any
 *             address (loopback bypassed): from here no UDP SIP datagram
 *             leaves or enters the host in the clear, whatever program
 *             sends it. Policies and SAs a previous sipsecd left are kept.
 *   ACQUIRE   the kernel holds a flow with no SA: a channel to the peer's
 *             sipsecd (its TLS port), agreed with Sipsec-Flow: udp; both
 *             sides can ESP, so ipsec with keying exporter is chosen and
 *             each side's inbound SPI (allocated here, held by the kernel)
 *             rides in Sipsec-Spi
 *   keys      both sides derive the two SAs from the TLS 1.3 exporter
 *             (esp_keys.c) and install them; the channel's job is done
 *   EXPIRE    soft, on an outbound SA: a new channel, new SPIs, new keys
 *             (the kernel sends on the newest SA); hard: the kernel
 *             deleted it, and the next datagram raises an ACQUIRE
 *
 * Shimmed programs keep their UDP sockets untouched on this path: the
 * shim's registration is answered with path KERNEL.
 *
 * SAs outlive the daemon: a restart keeps calls going, and stopping
 * sipsecd leaves SIP over UDP blocked (the policies stay), never in the
 * clear. `sipsecctl sas` shows the SAs from the kernel.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/xfrm.h>
#include <openssl/ssl.h>

#include "sipsecd.h"

#define ESP_REQID (XFRM_REQID_BASE | 1u)
#define ESP_KEY_LEN 32 /* AES-256-GCM */
/* Sequence numbers are 32-bit (no ESN): rekey long before they wrap. */
#define ESP_SOFT_PACKETS 0xc0000000ull
#define ESP_HARD_PACKETS 0xfff00000ull

struct esp {
	struct xfrm *x;
	uint64_t acquires, rekeys, installed;
};

bool esp_active(const struct daemon *d)
{
	return d->esp != NULL;
}

static void set_any(struct sockaddr_storage *ss, int family, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)family;
	sipsec_sa_set_port(ss, port);
}

static void set_loopback(struct sockaddr_storage *ss, int family)
{
	set_any(ss, family, 0);
	if (family == AF_INET)
		((struct sockaddr_in *)ss)->sin_addr.s_addr =
			htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)ss)->sin6_addr = in6addr_loopback;
}

/* One policy; counts what was added and what a previous daemon left. */
static int put_policy(struct esp *e, const struct xfrm_sp *sp, int *added,
		      int *kept)
{
	char why[160];
	int r = xfrm_policy_add(e->x, sp, why, sizeof(why));

	if (r < 0) {
		log_warnx("ESP: %s", why);
		return r;
	}
	(*(r ? kept : added))++;
	return 0;
}

/* For one family: loopback in the clear (the daemon's own relay, local
 * programs), then the SIP ports: any address, both directions, the port
 * as destination and as source (requests and responses). */
static int install_policies(struct daemon *d, struct esp *e, int family,
			    int *added, int *kept)
{
	uint8_t lo_bits = family == AF_INET ? 8 : 128;
	int err;

	for (int dir = 0; dir < 2; dir++) {
		struct xfrm_sp sp = { .prefixed = true, .bypass = true,
				      .priority = XFRM_PRIO_BYPASS };

		sp.dir = dir ? XFRM_POLICY_IN : XFRM_POLICY_OUT;
		set_any(&sp.src, family, 0);
		set_loopback(&sp.dst, family);
		sp.dst_plen = lo_bits;
		if (dir) { /* in: from loopback */
			struct sockaddr_storage t = sp.src;

			sp.src = sp.dst;
			sp.dst = t;
			sp.src_plen = lo_bits;
			sp.dst_plen = 0;
		}
		err = put_policy(e, &sp, added, kept);
		if (err)
			return err;
	}
	for (size_t i = 0; i < d->cfg->n_pol; i++) {
		const struct policy *p = &d->cfg->pol[i];

		for (size_t j = 0; j < p->n_sip_ports; j++) {
			uint16_t port = p->sip_ports[j];

			for (int k = 0; k < 4; k++) {
				struct xfrm_sp sp = {
					.prefixed = true, .reqid = ESP_REQID,
					.priority = XFRM_PRIO_SIP,
					.dir = k < 2 ? XFRM_POLICY_OUT :
						       XFRM_POLICY_IN,
				};

				set_any(&sp.src, family, k == 1 || k == 2 ?
							 port : 0);
				set_any(&sp.dst, family, k == 0 || k == 3 ?
							 port : 0);
				err = put_policy(e, &sp, added, kept);
				if (err)
					return err;
			}
		}
	}
	return 0;
}

static int count_sa(void *arg, const struct xfrm_sa_status *st)
{
	(void)st;
	(*(int *)arg)++;
	return 0;
}

/* The SIP port of an ACQUIRE's flow: its destination port when that is
 * a SIP port (a request), else its source port (a response). */
static uint16_t sip_port_of(const struct daemon *d,
			    const struct xfrm_event *ev)
{
	uint16_t dport = sipsec_sa_port((const struct sockaddr *)&ev->dst);

	return policy_is_sip_port(d->cfg, dport) ?
		       dport :
		       sipsec_sa_port((const struct sockaddr *)&ev->src);
}

static bool keying_with(struct daemon *d, const struct sockaddr_storage *peer)
{
	for (struct conn *c = d->conns; c; c = c->next)
		if (c->flow == AGREE_FLOW_UDP && !conn_is_up(c) &&
		    sipsec_sa_same_ip(&c->peer, peer))
			return true;
	return false;
}

/* Agree with the peer's sipsecd, which installs the SAs (esp_up()). */
static void key_peer(struct daemon *d, const struct sockaddr_storage *peer,
		     uint16_t sip_port, const char *what)
{
	struct sockaddr_storage to = *peer;
	struct conn *c;
	char a[64];
	int err;

	if (keying_with(d, peer))
		return; /* under way */
	if (discovery_wanted(d, peer)) {
		discovery_start(d, peer, sip_port);
		return;
	}
	sipsec_sa_set_port(&to, sip_port);
	sipsec_sa_format((struct sockaddr *)&to, a, sizeof(a));
	log_info("ESP: %s for %s: agreeing keys with its sipsecd", what, a);
	err = outgoing_channel(d, &to, &c);
	if (err)
		log_warnx("ESP: %s: no channel: %s", a, strerror(-err));
}

/* Whether addr is one of this host's: it can be bound to. */
static bool is_local(const struct sockaddr_storage *addr)
{
	struct sockaddr_storage a = *addr;
	int s = socket(a.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool local;

	if (s < 0)
		return false;
	sipsec_sa_set_port(&a, 0);
	local = bind(s, (struct sockaddr *)&a, a.ss_family == AF_INET ?
				sizeof(struct sockaddr_in) :
				sizeof(struct sockaddr_in6)) == 0;
	close(s);
	return local;
}

static uint16_t first_sip_port(struct daemon *d,
			       const struct sockaddr_storage *peer)
{
	const struct policy *p = policy_find(d->cfg, (const struct sockaddr *)peer);
	struct policy eff;

	policy_effective(d->cfg, p ? p : policy_global(d->cfg), &eff);
	return eff.n_sip_ports ? eff.sip_ports[0] : 5060;
}

static void on_event(struct daemon *d, const struct xfrm_event *ev)
{
	struct esp *e = d->esp;

	if (ev->type == XFRM_EV_ACQUIRE) {
		if (!XFRM_IS_SIPSEC(ev->reqid) ||
		    ev->policy_dir != XFRM_POLICY_OUT)
			return;
		e->acquires++;
		key_peer(d, &ev->dst, sip_port_of(d, ev), "a datagram waits");
		return;
	}
	if (ev->type != XFRM_EV_EXPIRE || !XFRM_IS_SIPSEC(ev->reqid))
		return;
	if (ev->hard) {
		log_info("ESP: SA %08x expired; the next datagram agrees anew",
			 ev->spi);
		return;
	}
	/* Soft: each end sees it for both its SAs; the outbound one's
	 * (its destination is not ours) makes this end rekey, and the
	 * peer does the same for its own. */
	if (is_local(&ev->dst))
		return;
	e->rekeys++;
	key_peer(d, &ev->dst, first_sip_port(d, &ev->dst), "rekey");
}

static void on_xfrm(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct daemon *d = arg;
	struct xfrm_event ev[16];
	char why[160];
	int n;

	(void)l;
	(void)fd;
	(void)revents;
	n = xfrm_events_read(d->esp->x, ev, ARRAY_SIZE(ev), why, sizeof(why));
	if (n < 0) {
		log_warnx("ESP: %s", why);
		return;
	}
	for (int i = 0; i < n; i++)
		on_event(d, &ev[i]);
}

int esp_init(struct daemon *d)
{
	static const struct sipsec_ctl_addr any6 = { .family = AF_INET6 };
	static const struct sipsec_ctl_addr any4 = { .family = AF_INET };
	int added = 0, kept = 0, sas = 0, err;
	struct sipsec_ctl_addr where;
	char why[160];
	struct esp *e;

	d->esp = NULL;
	if (d->cfg->esp == KTLS_OFF) {
		log_info("ESP: off by configuration; SIP over UDP takes the "
			 "user-space path");
		return 0;
	}
	if (!(d->probe.features & SIPSEC_FEAT_ESP)) {
		log_info("ESP: %s; SIP over UDP takes the user-space path",
			 d->probe.esp);
		return d->cfg->esp == KTLS_REQUIRE ? -ENOTSUP : 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	err = xfrm_open(&e->x, true, why, sizeof(why));
	if (!err)
		err = install_policies(d, e, AF_INET, &added, &kept);
	if (!err)
		err = install_policies(d, e, AF_INET6, &added, &kept);
	if (!err)
		err = loop_add(d->loop, xfrm_events_fd(e->x), POLLIN, on_xfrm,
			       d);
	if (err) {
		if (err != -EPERM && !why[0])
			snprintf(why, sizeof(why), "%s", strerror(-err));
		log_warnx("ESP: %s; SIP over UDP takes the user-space path",
			  why);
		if (e->x)
			xfrm_close(e->x);
		free(e);
		return d->cfg->esp == KTLS_REQUIRE ? err : 0;
	}
	xfrm_dump_sas(e->x, count_sa, &sas, why, sizeof(why));
	d->esp = e;
	log_info("ESP: SIP over UDP in the kernel: %d policies added, %d kept, "
		 "%d SAs kept from before", added, kept, sas);
	/* Peers agree keys through our TLS port, for every SIP port, whether
	 * or not a shimmed program asked: the policies cover all programs. */
	for (size_t j = 0; j < policy_global(d->cfg)->n_sip_ports; j++) {
		where = any6;
		where.port = policy_global(d->cfg)->sip_ports[j];
		if (incoming_listen_udp(d, &where)) {
			where = any4;
			where.port = policy_global(d->cfg)->sip_ports[j];
			incoming_listen_udp(d, &where);
		}
	}
	return 0;
}

void esp_exit(struct daemon *d)
{
	if (!d->esp)
		return;
	/* Policies and SAs stay: calls go on through a restart, and no SIP
	 * over UDP leaves in the clear while sipsecd is away. */
	loop_del(d->loop, xfrm_events_fd(d->esp->x));
	xfrm_close(d->esp->x);
	free(d->esp);
	d->esp = NULL;
}

/* An inbound SPI from the kernel for SAs from peer to self. */
int esp_spi_for(struct daemon *d, const struct sockaddr_storage *self,
		const struct sockaddr_storage *peer, uint32_t *spi)
{
	char why[160];
	int err;

	if (!d->esp)
		return -ENOTSUP;
	err = xfrm_spi_alloc(d->esp->x, (const struct sockaddr *)peer,
			     (const struct sockaddr *)self, ESP_REQID, 0, spi,
			     why, sizeof(why));
	if (err)
		log_warnx("ESP: inbound SPI: %s", why);
	return err;
}

/* The ends of c's TLS connection, ports cleared: the SAs' ends. */
static int ends(struct conn *c, struct sockaddr_storage *self,
		struct sockaddr_storage *peer)
{
	socklen_t len = sizeof(*self);

	if (getsockname(c->tls_fd, (struct sockaddr *)self, &len) < 0)
		return -errno;
	*peer = c->peer;
	sipsec_sa_set_port(self, 0);
	sipsec_sa_set_port(peer, 0);
	return 0;
}

int esp_spi_alloc(void *arg, uint32_t *spi)
{
	struct conn *c = arg;
	struct sockaddr_storage self, peer;
	int err = ends(c, &self, &peer);

	return err ? err : esp_spi_for(c->d, &self, &peer, spi);
}

void esp_agree_setup(struct conn *c, struct agree *a)
{
	if (!c->d->esp)
		return;
	a->keyings = 1u << SEC_K_EXPORTER;
	a->spi_alloc = esp_spi_alloc;
	a->spi_arg = c;
}

/* Lifetimes and reqid, then both SAs: inbound first (it completes the
 * SPI the kernel holds for us), since the peer may send as soon as its
 * own outbound SA is in. Wipes the keys. */
static int install(struct daemon *d, struct esp_sa *out, struct esp_sa *in,
		   const char *who, const char *how, char *why, size_t wlen)
{
	struct esp *e = d->esp;
	char a[64];
	int err;

	out->reqid = in->reqid = ESP_REQID;
	/* Rekey at 5/6 of the lifetime, the inbound SA a little later so
	 * that the outbound one's owner starts it. */
	out->hard_s = in->hard_s = d->cfg->esp_lifetime_s;
	out->soft_s = out->hard_s / 6 * 5;
	in->soft_s = out->soft_s + (out->hard_s - out->soft_s) / 2;
	out->soft_packets = in->soft_packets = ESP_SOFT_PACKETS;
	out->hard_packets = in->hard_packets = ESP_HARD_PACKETS;
	err = xfrm_sa_update(e->x, in, why, wlen);
	if (!err)
		err = xfrm_sa_add(e->x, out, why, wlen);
	if (err >= 0) {
		e->installed++;
		sipsec_sa_format((struct sockaddr *)&out->dst, a, sizeof(a));
		log_info("ESP: SAs with %s (%s): out SPI %08x, in SPI %08x, "
			 "%s, keys %s", a, who, out->spi, in->spi,
			 ESP_AEAD_NAME, how);
	}
	esp_sa_wipe(out);
	esp_sa_wipe(in);
	return err < 0 ? err : 0;
}

int esp_install_psk(struct daemon *d, const struct sockaddr_storage *self,
		    const struct sockaddr_storage *peer, uint32_t spi_in,
		    uint32_t spi_out, const uint8_t *key_out,
		    const uint8_t *key_in, uint8_t key_len, const char *who,
		    char *why, size_t wlen)
{
	struct esp_sa out = { 0 }, in = { 0 };

	if (!d->esp || key_len > ESP_KEY_MAX) {
		snprintf(why, wlen, "ipsec agreed, but this host has no ESP");
		return -ENOTSUP;
	}
	out.src = in.dst = *self;
	out.dst = in.src = *peer;
	sipsec_sa_set_port(&out.src, 0);
	sipsec_sa_set_port(&out.dst, 0);
	sipsec_sa_set_port(&in.src, 0);
	sipsec_sa_set_port(&in.dst, 0);
	out.spi = spi_out;
	in.spi = spi_in;
	out.key_len = in.key_len = key_len;
	memcpy(out.key, key_out, key_len);
	memcpy(out.salt, key_out + key_len, ESP_SALT_LEN);
	memcpy(in.key, key_in, key_len);
	memcpy(in.salt, key_in + key_len, ESP_SALT_LEN);
	return install(d, &out, &in, who, "from the pre-shared key (HKDF)",
		       why, wlen);
}

int esp_up(struct conn *c, char *why, size_t wlen)
{
	struct sockaddr_storage self, peer;
	const struct sockaddr *client, *server;
	struct esp_sa out, in;
	int err;

	if (!c->d->esp) {
		snprintf(why, wlen, "ipsec agreed, but this host has no ESP");
		return -ENOTSUP;
	}
	err = ends(c, &self, &peer);
	if (err) {
		snprintf(why, wlen, "getsockname: %s", strerror(-err));
		return err;
	}
	client = (struct sockaddr *)(c->outgoing ? &self : &peer);
	server = (struct sockaddr *)(c->outgoing ? &peer : &self);
	err = esp_keys_derive(c->ssl, !c->outgoing, client, server,
			      c->outgoing ? c->spi_in : c->spi_out,
			      c->outgoing ? c->spi_out : c->spi_in,
			      ESP_KEY_LEN, &out, &in, why, wlen);
	if (err)
		return err;
	return install(c->d, &out, &in, c->peer_name[0] ? c->peer_name :
		       c->expect, "from the TLS session", why, wlen);
}

// SPDX-License-Identifier: MIT
/*
 * Cleartext discovery with the framework draft's pre-shared crypto-system
 * (sections 4.2, 4.6, 5.1, 6; docs/discovery.md), for peers whose policy
 * says `discovery = psk`: they share a key, and agree in the clear, over
 * UDP, between the two daemons.
 *
 *   initiator  an OPTIONS from our discovery socket to the peer's
 *              (discovery_port, 5062 by default), with a message/sip-secure
 *              attachment of the Supports variant: our mechanisms, our
 *              nonce, our inbound SPI if we offer ipsec, authenticated
 *              with the peer's key (HMAC-SHA-256, time and nonce against
 *              replays). Sent again after 0.5, 1, 2 s, with a fresh
 *              Authorization each time, then given up.
 *   responder  acts only on an attachment that verifies with the key
 *              policy holds for the sender's address, whose
 *              X-SIP-SECURE-FROM is the name policy gives that peer
 *              (draft 4.5), fresh and not replayed; anything else is
 *              dropped and counted, unanswered. It chooses, and answers
 *              200 with an authenticated Requires variant that names the
 *              request's nonce, its own nonce and inbound SPI.
 *   outcome    ipsec (keying psk): ESP SAs keyed with HKDF-SHA-256 from the
 *              key and both nonces (preshared_keys.c), in the kernel;
 *              tls: the UDP channel of udp.c, a TLS connection that the
 *              same key authenticates (TLS 1.3 external PSK).
 *
 * A request repeated with the same nonce gets the same answer (its loss
 * is the usual reason), never a second set of SAs. Nothing here ever lets
 * a program's datagram out in the clear: until the outcome, they are
 * dropped, and SIP retransmits.
 *
 * The socket carries SIPSEC_DISCOVERY_MARK, the one mark the eBPF layer
 * lets cleartext SIP out with: another program sending such an OPTIONS is
 * dropped on egress.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "preshared.h"
#include "sipsecd.h"

#define DISC_TRIES 4
#define DISC_T1_MS 500
#define DISC_MAX 256 /* exchanges remembered at once */
#define DISC_KEEP_MS 32000 /* a responder's answer, for repeats */
#define DISC_KEY_LEN 32 /* ESP: AES-256-GCM */
#define REPLAY_MAX 4096
#define MSG_MAX 8192

struct disc {
	struct disc *next;
	bool initiator, done;
	struct sockaddr_storage peer; /* its discovery socket */
	struct sockaddr_storage self; /* our address towards it */
	uint16_t sip_port; /* initiator: the SIP port that wanted it */
	uint8_t nonce_i[PSK_NONCE_LEN], nonce_r[PSK_NONCE_LEN];
	uint32_t spi_i, spi_r; /* initiator's and responder's inbound */
	char call_id[40];
	unsigned cseq;
	int tries;
	uint64_t next_ms, gone_ms;
	size_t answer_len; /* responder: the answer, for a repeat */
	char answer[MSG_MAX];
};

struct discovery {
	int fd;
	struct psk_replay *replay;
	struct disc *list;
	size_t n;
	struct sipsec_ctl_discovery st;
};

static char msg[MSG_MAX];

static uint64_t unix_now(void)
{
	return (uint64_t)time(NULL);
}

static void rand_hex(char *out, size_t bytes)
{
	uint8_t r[16];

	if (bytes > sizeof(r) || RAND_bytes(r, (int)bytes) != 1)
		memset(r, 0x5a, sizeof(r)); /* names a transaction only */
	for (size_t i = 0; i < bytes && i < sizeof(r); i++)
		sprintf(out + 2 * i, "%02x", r[i]);
}

/* The effective policy for addr, when it runs discovery with a key. */
static bool peer_policy(struct daemon *d, const struct sockaddr_storage *addr,
			struct policy *eff)
{
	const struct policy *p = policy_find(d->cfg,
					     (const struct sockaddr *)addr);

	if (!p)
		return false;
	policy_effective(d->cfg, p, eff);
	if (eff->discovery == DISCOVERY_PSK && eff->psk_len)
		return true;
	explicit_bzero(eff->psk, sizeof(eff->psk));
	return false;
}

static void self_identity(struct daemon *d, const struct sockaddr_storage *self,
			  char *out, size_t len)
{
	if (d->cfg->host_name[0])
		sipsec_strlcpy(out, d->cfg->host_name, len);
	else if (sipsec_sa_ip((const struct sockaddr *)self, out, len))
		sipsec_strlcpy(out, "unnamed", len);
}

/* Our address on the route to peer. */
static int route_source(const struct sockaddr_storage *peer,
			struct sockaddr_storage *self)
{
	struct sockaddr_storage to = *peer;
	socklen_t len = sizeof(*self);
	int s = socket(peer->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (s < 0)
		return -errno;
	sipsec_sa_set_port(&to, 9);
	if (connect(s, (struct sockaddr *)&to, to.ss_family == AF_INET ?
			       sizeof(struct sockaddr_in) :
			       sizeof(struct sockaddr_in6)) < 0 ||
	    getsockname(s, (struct sockaddr *)self, &len) < 0)
		err = -errno;
	close(s);
	sipsec_sa_set_port(self, 0);
	return err;
}

static void drop_disc(struct discovery *ds, struct disc *x)
{
	for (struct disc **pp = &ds->list; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			ds->n--;
			OPENSSL_cleanse(x, sizeof(*x));
			free(x);
			return;
		}
	}
}

static struct disc *new_disc(struct discovery *ds)
{
	struct disc *x;

	if (ds->n >= DISC_MAX)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->next = ds->list;
	ds->list = x;
	ds->n++;
	return x;
}

/* What this host can set up for a udp flow with that peer, in our order
 * of preference: ESP in the kernel where it is on, else datagrams in TLS. */
static size_t our_mechs(struct daemon *d, const struct policy *eff,
			struct sec_mech *m)
{
	size_t n = 0;

	if (esp_active(d) && (eff->allow & MECH_IPSEC))
		sec_mech_make(&m[n++], SEC_MECH_IPSEC, SEC_K_PSK);
	if (eff->allow & MECH_TLS)
		sec_mech_make(&m[n++], SEC_MECH_TLS, SEC_K_DEFAULT);
	return n;
}

static uint32_t acceptable(struct daemon *d, const struct policy *eff,
			   uint32_t *require)
{
	uint32_t can = MECH_TLS | (esp_active(d) ? MECH_IPSEC : 0);

	/* As on a udp flow agreed in TLS: 'tls' is met by ESP keyed from
	 * what authenticates the peer, here the pre-shared key. */
	*require = eff->require == MECH_TLS ? MECH_TLS | MECH_IPSEC :
					      eff->require;
	return eff->allow & can;
}

/* A SIP message around one attachment: an OPTIONS (request) or its 200
 * (answer, echoing req's Via, From, To, Call-ID, CSeq). */
static int wrap(struct daemon *d, const struct disc *x, const char *to,
		const char *from, const struct sip_msg *req, const char *att,
		size_t alen, char *out, size_t cap)
{
	static const enum sip_hdr echo[] = { SIP_H_VIA, SIP_H_FROM, SIP_H_TO,
					     SIP_H_CALL_ID, SIP_H_CSEQ };
	char boundary[40] = "sipsec-", self[64], branch[24];
	size_t off = 0;
	int n;

	rand_hex(boundary + 7, 8);
	if (req) {
		n = snprintf(out, cap, "SIP/2.0 200 OK\r\n");
		off = n > 0 ? (size_t)n : cap;
		for (size_t i = 0; i < ARRAY_SIZE(echo) && off < cap; i++) {
			const struct sip_header *h = NULL;

			while (off < cap && (h = sip_find(req, echo[i], h))) {
				n = snprintf(out + off, cap - off,
					     "%.*s: %.*s\r\n", (int)h->name.n,
					     h->name.p, (int)h->value.n,
					     h->value.p);
				off += n > 0 ? (size_t)n : cap;
			}
		}
	} else {
		if (sipsec_sa_ip((const struct sockaddr *)&x->self, self,
				 sizeof(self)))
			return -EINVAL;
		rand_hex(branch, 8);
		n = snprintf(out, cap,
			     "OPTIONS sip:%s SIP/2.0\r\n"
			     "Via: SIP/2.0/UDP %s%s%s:%u;branch=z9hG4bK%s\r\n"
			     "Max-Forwards: 0\r\n"
			     "From: <sip:%s>;tag=%.12s\r\n"
			     "To: <sip:%s>\r\n"
			     "Call-ID: %s\r\n"
			     "CSeq: %u OPTIONS\r\n",
			     to, x->self.ss_family == AF_INET6 ? "[" : "", self,
			     x->self.ss_family == AF_INET6 ? "]" : "",
			     d->cfg->discovery_port, branch, from, x->call_id,
			     to, x->call_id, x->cseq);
		off = n > 0 ? (size_t)n : cap;
	}
	if (off >= cap)
		return -ENOSPC;
	n = snprintf(out + off, cap - off,
		     "Content-Type: multipart/mixed;boundary=%s\r\n"
		     "Content-Length: %zu\r\n\r\n--%s\r\n%.*s\r\n--%s--\r\n",
		     boundary, strlen(boundary) * 2 + alen + 12, boundary,
		     (int)alen, att, boundary);
	if (n < 0 || (size_t)n >= cap - off)
		return -ENOSPC;
	return (int)(off + (size_t)n);
}

static int send_to(struct daemon *d, const struct sockaddr_storage *to,
		   const char *p, size_t n)
{
	struct discovery *ds = d->disc;

	if (sendto(ds->fd, p, n, MSG_DONTWAIT, (const struct sockaddr *)to,
		   to->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
					      sizeof(struct sockaddr_in6)) < 0)
		return -errno;
	return 0;
}

/* (Re)sends the initiator's OPTIONS, with a fresh Authorization. */
static int send_request(struct daemon *d, struct disc *x)
{
	struct psk_attach a = { .variant = PSK_SUPPORTS,
				.auth = PSK_AUTH_HMAC_SHA256 };
	static char att[PSK_ATTACH_MAX];
	char why[160];
	struct policy eff;
	int n, err;

	if (!peer_policy(d, &x->peer, &eff))
		return -EACCES;
	sipsec_strlcpy(a.to, eff.name, sizeof(a.to));
	self_identity(d, &x->self, a.from, sizeof(a.from));
	sipsec_strlcpy(a.realm, eff.psk_identity, sizeof(a.realm));
	a.n_mechs = our_mechs(d, &eff, a.mechs);
	memcpy(a.nonce, x->nonce_i, sizeof(a.nonce));
	a.spi = x->spi_i;
	a.time = unix_now();
	n = psk_attach_build(&a, eff.psk, eff.psk_len, att, sizeof(att), why,
			     sizeof(why));
	explicit_bzero(eff.psk, sizeof(eff.psk));
	if (n < 0) {
		log_warnx("discovery: building the offer: %s", why);
		return n;
	}
	x->cseq++;
	n = wrap(d, x, a.to, a.from, NULL, att, (size_t)n, msg, sizeof(msg));
	if (n < 0)
		return n;
	err = send_to(d, &x->peer, msg, (size_t)n);
	if (!err)
		d->disc->st.sent++;
	return err;
}

bool discovery_wanted(struct daemon *d, const struct sockaddr_storage *peer)
{
	struct policy eff;
	bool want;

	if (!d->disc)
		return false;
	want = peer_policy(d, peer, &eff);
	explicit_bzero(eff.psk, sizeof(eff.psk));
	return want;
}

int discovery_start(struct daemon *d, const struct sockaddr_storage *peer,
		    uint16_t sip_port)
{
	struct discovery *ds = d->disc;
	struct disc *x;
	char a[64];
	int err;

	if (!ds)
		return -ENOTSUP;
	for (x = ds->list; x; x = x->next)
		if (x->initiator && !x->done &&
		    sipsec_sa_same_ip(&x->peer, peer))
			return 0; /* under way */
	x = new_disc(ds);
	if (!x)
		return -EBUSY;
	x->initiator = true;
	x->peer = *peer;
	sipsec_sa_set_port(&x->peer, d->cfg->discovery_port);
	x->sip_port = sip_port;
	err = route_source(&x->peer, &x->self);
	if (!err && RAND_bytes(x->nonce_i, sizeof(x->nonce_i)) != 1)
		err = -EIO;
	if (!err && esp_active(d))
		esp_spi_for(d, &x->self, &x->peer, &x->spi_i);
	rand_hex(x->call_id, 12);
	if (!err)
		err = send_request(d, x);
	sipsec_sa_format((struct sockaddr *)&x->peer, a, sizeof(a));
	if (err) {
		log_warnx("discovery: to %s: %s", a, strerror(-err));
		drop_disc(ds, x);
		return err;
	}
	x->tries = 1;
	x->next_ms = now_ms() + DISC_T1_MS;
	log_info("discovery: offered to %s (pre-shared key, cleartext "
		 "OPTIONS)", a);
	return 0;
}

static void count_reject(struct discovery *ds, int err)
{
	switch (err) {
	case -EACCES:
		ds->st.rejected_checksum++;
		break;
	case -ETIME:
		ds->st.rejected_time++;
		break;
	case -EALREADY:
		ds->st.rejected_replay++;
		break;
	default:
		ds->st.rejected_other++;
		break;
	}
}

/* Verifies the attachment of m from src: the key of src's policy, the
 * draft 4.5 check of its X-SIP-SECURE-FROM, and that it is for us. */
static int accept_attach(struct daemon *d, const struct sip_msg *m,
			 const struct sockaddr_storage *src, uint8_t variant,
			 struct psk_attach *a, struct policy *eff, char *why,
			 size_t wlen)
{
	struct psk_policy pol = { .now = unix_now() };
	char self[64];
	struct sockaddr_storage me;
	const char *p;
	size_t n;
	int err;

	if (!peer_policy(d, src, eff)) {
		snprintf(why, wlen, "no discovery key for this address");
		return -EPERM;
	}
	pol.skew_s = eff->clock_skew_s;
	err = psk_attach_find(m, &p, &n);
	if (err) {
		snprintf(why, wlen, "%s", err == -ENOENT ? "no message/sip-secure "
			 "attachment" : "malformed body");
		return -EBADMSG;
	}
	err = psk_attach_verify(p, n, eff->psk, eff->psk_len, &pol,
				d->disc->replay, a, why, wlen);
	if (err)
		return err;
	if (a->variant != variant) {
		snprintf(why, wlen, "a %s attachment where a %s belongs",
			 a->variant == PSK_SUPPORTS ? "Supports" : "Requires",
			 variant == PSK_SUPPORTS ? "Supports" : "Requires");
		return -EPROTO;
	}
	if (a->realm[0] && strcmp(a->realm, eff->psk_identity)) {
		snprintf(why, wlen, "key context '%s' is not this peer's",
			 a->realm);
		return -EPERM;
	}
	if (strcmp(a->from, eff->name)) {
		snprintf(why, wlen, "X-SIP-SECURE-FROM '%s' is not the peer's "
			 "configured identity '%.63s'", a->from, eff->name);
		return -EPERM;
	}
	if (route_source(src, &me) == 0) {
		self_identity(d, &me, self, sizeof(self));
		if (strcmp(a->to, self)) {
			snprintf(why, wlen, "X-SIP-SECURE-TO '%s' is not us "
				 "('%s')", a->to, self);
			return -EPERM;
		}
	}
	return 0;
}

static void install_esp(struct daemon *d, struct disc *x, const uint8_t *psk,
			size_t plen, const char *who)
{
	uint8_t i2r[ESP_KEY_MAX + ESP_SALT_LEN], r2i[sizeof(i2r)];
	char why[200];
	int err;

	err = psk_esp_keys(psk, plen, x->nonce_i, x->nonce_r, x->spi_i,
			   x->spi_r, DISC_KEY_LEN, i2r, r2i);
	if (!err)
		err = esp_install_psk(d, &x->self, &x->peer,
				      x->initiator ? x->spi_i : x->spi_r,
				      x->initiator ? x->spi_r : x->spi_i,
				      x->initiator ? i2r : r2i,
				      x->initiator ? r2i : i2r, DISC_KEY_LEN,
				      who, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "key schedule failed");
	OPENSSL_cleanse(i2r, sizeof(i2r));
	OPENSSL_cleanse(r2i, sizeof(r2i));
	if (err)
		log_warnx("discovery: ESP with %s: %s", who, why);
}

/* A verified OPTIONS: choose, answer, and key ESP if that was chosen. */
static void respond(struct daemon *d, const struct sip_msg *m,
		    const struct sockaddr_storage *src)
{
	struct discovery *ds = d->disc;
	struct psk_attach a, r = { .variant = PSK_REQUIRES,
				   .auth = PSK_AUTH_HMAC_SHA256 };
	static char att[PSK_ATTACH_MAX];
	struct sec_mech choice;
	struct policy eff;
	uint32_t allow, require;
	char why[200], peer[64], w[160];
	struct disc *x;
	int err, n;

	sipsec_sa_format((const struct sockaddr *)src, peer, sizeof(peer));
	err = accept_attach(d, m, src, PSK_SUPPORTS, &a, &eff, why,
			    sizeof(why));
	if (err) {
		count_reject(ds, err);
		log_warnx("discovery: from %s: rejected: %s", peer, why);
		goto out;
	}
	for (x = ds->list; x; x = x->next) {
		if (!x->initiator && sipsec_sa_same_ip(&x->peer, src) &&
		    !CRYPTO_memcmp(x->nonce_i, a.nonce, sizeof(a.nonce))) {
			/* Our answer was lost: the same one again. */
			send_to(d, src, x->answer, x->answer_len);
			ds->st.repeated++;
			goto out;
		}
	}
	allow = acceptable(d, &eff, &require);
	if (sec_select(a.mechs, a.n_mechs, allow, require, 1u << SEC_K_PSK,
		       &choice, w, sizeof(w))) {
		ds->st.rejected_other++;
		log_warnx("discovery: from %s: nothing acceptable: %s", peer, w);
		goto out;
	}
	if (choice.mech == SEC_MECH_IPSEC && !a.spi) {
		ds->st.rejected_other++;
		log_warnx("discovery: from %s: ipsec offered without an SPI",
			  peer);
		goto out;
	}
	x = new_disc(ds);
	if (!x) {
		log_warnx("discovery: from %s: too many exchanges", peer);
		goto out;
	}
	x->peer = *src;
	x->gone_ms = now_ms() + DISC_KEEP_MS;
	memcpy(x->nonce_i, a.nonce, sizeof(x->nonce_i));
	x->spi_i = a.spi;
	if (route_source(src, &x->self) ||
	    RAND_bytes(x->nonce_r, sizeof(x->nonce_r)) != 1 ||
	    (choice.mech == SEC_MECH_IPSEC &&
	     esp_spi_for(d, &x->self, src, &x->spi_r))) {
		log_warnx("discovery: from %s: no nonce, route or SPI", peer);
		drop_disc(ds, x);
		goto out;
	}
	sipsec_strlcpy(r.to, a.from, sizeof(r.to));
	sipsec_strlcpy(r.from, a.to, sizeof(r.from));
	sipsec_strlcpy(r.realm, eff.psk_identity, sizeof(r.realm));
	r.mechs[0] = choice;
	r.n_mechs = 1;
	memcpy(r.nonce, x->nonce_r, sizeof(r.nonce));
	memcpy(r.reply_to, a.nonce, sizeof(r.reply_to));
	r.has_reply_to = true;
	r.spi = choice.mech == SEC_MECH_IPSEC ? x->spi_r : 0;
	r.time = unix_now();
	n = psk_attach_build(&r, eff.psk, eff.psk_len, att, sizeof(att), why,
			     sizeof(why));
	if (n >= 0)
		n = wrap(d, x, r.to, r.from, m, att, (size_t)n, x->answer,
			 sizeof(x->answer));
	if (n < 0 || send_to(d, src, x->answer, (size_t)n)) {
		log_warnx("discovery: answering %s failed", peer);
		drop_disc(ds, x);
		goto out;
	}
	x->answer_len = (size_t)n;
	ds->st.accepted++;
	log_info("discovery: from %s (%s): verified, %s chosen", peer, a.from,
		 sec_mech_name(choice.mech));
	if (choice.mech == SEC_MECH_IPSEC)
		install_esp(d, x, eff.psk, eff.psk_len, a.from);
out:
	explicit_bzero(eff.psk, sizeof(eff.psk));
}

/* A verified answer to one of our offers: the outcome. */
static void conclude(struct daemon *d, const struct sip_msg *m,
		     const struct sockaddr_storage *src)
{
	struct discovery *ds = d->disc;
	struct psk_attach a;
	struct policy eff;
	struct sec_mech mine[SEC_MAX_MECHS];
	uint32_t allow, require;
	char why[200], peer[64], w[160];
	struct sec_mech choice;
	struct disc *x;
	size_t nm;
	int err;

	sipsec_sa_format((const struct sockaddr *)src, peer, sizeof(peer));
	err = accept_attach(d, m, src, PSK_REQUIRES, &a, &eff, why,
			    sizeof(why));
	if (err) {
		count_reject(ds, err);
		log_warnx("discovery: answer from %s: rejected: %s", peer, why);
		goto out;
	}
	for (x = ds->list; x; x = x->next)
		if (x->initiator && !x->done &&
		    sipsec_sa_same_ip(&x->peer, src) &&
		    a.has_reply_to &&
		    !CRYPTO_memcmp(x->nonce_i, a.reply_to, sizeof(a.reply_to)))
			break;
	if (!x) {
		ds->st.rejected_other++;
		log_warnx("discovery: answer from %s to no offer of ours", peer);
		goto out;
	}
	/* The choice must be one we offered and policy accepts. */
	nm = our_mechs(d, &eff, mine);
	allow = acceptable(d, &eff, &require);
	if (a.n_mechs != 1 ||
	    sec_select(a.mechs, 1, allow, require, 1u << SEC_K_PSK, &choice,
		       w, sizeof(w)) ||
	    sec_select(mine, nm, 1u << choice.mech, 0, 1u << SEC_K_PSK,
		       &choice, w, sizeof(w))) {
		ds->st.rejected_other++;
		log_warnx("discovery: answer from %s: %s is not acceptable", peer,
			  a.n_mechs ? sec_mech_name(a.mechs[0].mech) : "nothing");
		goto out;
	}
	if (choice.mech == SEC_MECH_IPSEC && (!a.spi || !x->spi_i)) {
		ds->st.rejected_other++;
		log_warnx("discovery: answer from %s: ipsec without SPIs", peer);
		goto out;
	}
	x->done = true;
	x->gone_ms = now_ms();
	memcpy(x->nonce_r, a.nonce, sizeof(x->nonce_r));
	x->spi_r = a.spi;
	ds->st.accepted++;
	log_info("discovery: %s (%s) answered: %s", peer, a.from,
		 sec_mech_name(choice.mech));
	if (choice.mech == SEC_MECH_IPSEC) {
		install_esp(d, x, eff.psk, eff.psk_len, a.from);
	} else {
		struct sockaddr_storage to = x->peer;
		struct conn *c;

		/* Datagrams in TLS; the same key authenticates it. */
		sipsec_sa_set_port(&to, x->sip_port);
		if (outgoing_channel(d, &to, &c))
			log_warnx("discovery: %s: no channel", peer);
	}
out:
	explicit_bzero(eff.psk, sizeof(eff.psk));
}

static void on_datagram(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct daemon *d = arg;

	(void)l;
	(void)ev;
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage src = { 0 };
		socklen_t len = sizeof(src);
		struct sip_msg m;
		char why[160];
		ssize_t n = recvfrom(fd, msg, sizeof(msg), MSG_DONTWAIT,
				     (struct sockaddr *)&src, &len);

		if (n < 0)
			return;
		sipsec_sa_unmap(&src); /* the socket is dual-stack */
		d->disc->st.received++;
		if (sip_parse(msg, (size_t)n, SIP_DGRAM, &m, why,
			      sizeof(why))) {
			d->disc->st.rejected_other++;
			continue;
		}
		if (m.request && sip_str_eq(m.method, "OPTIONS"))
			respond(d, &m, &src);
		else if (!m.request && m.status == 200)
			conclude(d, &m, &src);
		else
			d->disc->st.rejected_other++;
	}
}

void discovery_tick(struct daemon *d, uint64_t now)
{
	struct discovery *ds = d->disc;
	struct disc *x, *next;
	char a[64];

	if (!ds)
		return;
	for (x = ds->list; x; x = next) {
		next = x->next;
		if (!x->initiator || x->done) {
			if (now >= x->gone_ms)
				drop_disc(ds, x);
			continue;
		}
		if (now < x->next_ms)
			continue;
		sipsec_sa_format((struct sockaddr *)&x->peer, a, sizeof(a));
		if (x->tries == DISC_TRIES) {
			ds->st.failed++;
			log_warnx("discovery: %s did not answer (%d offers): "
				  "nothing is sent to it", a, x->tries);
			drop_disc(ds, x);
			continue;
		}
		send_request(d, x);
		x->next_ms = now + ((uint64_t)DISC_T1_MS << x->tries);
		x->tries++;
	}
}

void discovery_status(const struct daemon *d, struct sipsec_ctl_discovery *out)
{
	memset(out, 0, sizeof(*out));
	if (d->disc)
		*out = d->disc->st;
	if (d->disc)
		out->port = d->cfg->discovery_port;
}

int discovery_init(struct daemon *d)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6,
				    .sin6_addr = IN6ADDR_ANY_INIT };
	uint32_t mark = SIPSEC_DISCOVERY_MARK, skew = 30;
	struct discovery *ds;
	int zero = 0, fd;
	bool any = false;

	d->disc = NULL;
	for (size_t i = 1; i < d->cfg->n_pol; i++) {
		struct policy eff;

		policy_effective(d->cfg, &d->cfg->pol[i], &eff);
		explicit_bzero(eff.psk, sizeof(eff.psk));
		if (eff.discovery == DISCOVERY_PSK) {
			any = true;
			if (eff.clock_skew_s > skew)
				skew = eff.clock_skew_s;
		}
	}
	if (!any)
		return 0;
	ds = calloc(1, sizeof(*ds));
	if (!ds)
		return -ENOMEM;
	/* Replays are remembered as long as a timestamp is accepted. */
	ds->replay = psk_replay_new(REPLAY_MAX, 2 * skew + 5);
	in6.sin6_port = htons(d->cfg->discovery_port);
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!ds->replay || fd < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) ||
	    bind(fd, (struct sockaddr *)&in6, sizeof(in6)) ||
	    loop_add(d->loop, fd, POLLIN, on_datagram, d)) {
		int err = errno ? -errno : -ENOMEM;

		log_warnx("discovery: UDP port %u: %s", d->cfg->discovery_port,
			  strerror(-err));
		if (fd >= 0)
			close(fd);
		psk_replay_free(ds->replay);
		free(ds);
		return err;
	}
	ds->fd = fd;
	d->disc = ds;
	log_info("discovery: pre-shared-key discovery on UDP port %u",
		 d->cfg->discovery_port);
	return 0;
}

void discovery_exit(struct daemon *d)
{
	struct discovery *ds = d->disc;

	if (!ds)
		return;
	loop_del(d->loop, ds->fd);
	close(ds->fd);
	while (ds->list)
		drop_disc(ds, ds->list);
	psk_replay_free(ds->replay);
	free(ds);
	d->disc = NULL;
}

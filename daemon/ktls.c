// SPDX-License-Identifier: MIT
/*
 * Kernel TLS: the record keys of a finished handshake go into the socket
 * (TCP_ULP "tls", SOL_TLS TLS_TX / TLS_RX) and the daemon steps out.
 *
 * Debian's OpenSSL 3.0 offloads TLS 1.2 in both directions and TLS 1.3
 * for sending only (SSL_OP_ENABLE_KTLS, socket BIO). TLS 1.3 receive is
 * installed here: the peer's application traffic secret comes from the
 * key log callback, the record key and IV from HKDF-Expand-Label
 * (RFC 8446 section 7.3) through OpenSSL's "TLS13-KDF", and the record
 * sequence number is the count of records OpenSSL read under that key:
 * without read-ahead, OpenSSL stops reading at the last handshake record
 * (checked with SSL_has_pending()), and agree.c counts the records of
 * the agreement that follow.
 *
 * Which AEADs the kernel has is probed once at start-up with TLS_TX on a
 * loopback TCP pair per cipher; contexts on the kernel path offer only
 * those, so a negotiated suite is always offloadable and a peer that
 * offers none is refused at the handshake with OpenSSL's reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include "sipsecd.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef SOL_TLS
#define SOL_TLS 282
#endif

/* One offloadable AEAD: its kernel cipher and its OpenSSL names. */
static const struct {
	uint32_t bit;
	uint16_t kernel; /* TLS_CIPHER_* */
	int nid;
	const char *name, *tls13, *tls12;
} aeads[] = {
	{ KTLS_AES_128_GCM, TLS_CIPHER_AES_GCM_128, NID_aes_128_gcm,
	  "AES-128-GCM", "TLS_AES_128_GCM_SHA256",
	  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256" },
	{ KTLS_AES_256_GCM, TLS_CIPHER_AES_GCM_256, NID_aes_256_gcm,
	  "AES-256-GCM", "TLS_AES_256_GCM_SHA384",
	  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384" },
	{ KTLS_CHACHA20_POLY1305, TLS_CIPHER_CHACHA20_POLY1305,
	  NID_chacha20_poly1305, "ChaCha20-Poly1305",
	  "TLS_CHACHA20_POLY1305_SHA256",
	  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305" },
};

union ktls_crypto {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/* A connected loopback TCP pair: the client end, and *server the accepted
 * one, which must stay open (tls_init() wants TCP_ESTABLISHED, and a FIN
 * from the peer would make it CLOSE_WAIT). */
static int loopback_client(int *server)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct pollfd p;
	int l = -1, c = -1, s, err = 0;

	*server = -1;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, len) < 0 ||
	    listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0) {
		err = -errno;
		goto out;
	}
	if (connect(c, (struct sockaddr *)&a, len) < 0 && errno != EINPROGRESS) {
		err = -errno;
		goto out;
	}
	/* lo may be down (a fresh namespace): then this waits, not fails. */
	p = (struct pollfd){ .fd = c, .events = POLLOUT };
	if (poll(&p, 1, 1000) != 1) {
		err = -ETIMEDOUT;
		goto out;
	}
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		err = -errno;
	*server = s;
out:
	if (l >= 0)
		close(l);
	if (err && c >= 0)
		close(c);
	return err ? err : c;
}

static int crypto_fill(union ktls_crypto *ci, uint16_t version,
		       uint16_t cipher, const uint8_t *key, const uint8_t *iv,
		       const uint8_t *seq, socklen_t *len)
{
	memset(ci, 0, sizeof(*ci));
	ci->info.version = version;
	ci->info.cipher_type = cipher;
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
		/* RFC 8446 5.3: the 12-byte IV is salt (4) || iv (8). */
		memcpy(ci->gcm128.key, key, 16);
		memcpy(ci->gcm128.salt, iv, 4);
		memcpy(ci->gcm128.iv, iv + 4, 8);
		memcpy(ci->gcm128.rec_seq, seq, 8);
		*len = sizeof(ci->gcm128);
		return 0;
	case TLS_CIPHER_AES_GCM_256:
		memcpy(ci->gcm256.key, key, 32);
		memcpy(ci->gcm256.salt, iv, 4);
		memcpy(ci->gcm256.iv, iv + 4, 8);
		memcpy(ci->gcm256.rec_seq, seq, 8);
		*len = sizeof(ci->gcm256);
		return 0;
	case TLS_CIPHER_CHACHA20_POLY1305:
		memcpy(ci->chacha.key, key, 32);
		memcpy(ci->chacha.iv, iv, 12);
		memcpy(ci->chacha.rec_seq, seq, 8);
		*len = sizeof(ci->chacha);
		return 0;
	}
	return -EOPNOTSUPP;
}

void ktls_probe_suites(struct probe_result *r)
{
	static const uint8_t zero[32];
	union ktls_crypto ci;
	socklen_t len;
	char *p = r->ktls_suites_str;
	size_t left = sizeof(r->ktls_suites_str);

	r->ktls_suites = 0;
	r->ktls_suites_str[0] = 0;
	if (!(r->features & SIPSEC_FEAT_KTLS))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(aeads); i++) {
		int srv, fd = loopback_client(&srv), ok = 0;

		if (fd < 0)
			continue;
		crypto_fill(&ci, TLS_1_3_VERSION, aeads[i].kernel, zero, zero,
			    zero, &len);
		ok = setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == 0 &&
		     setsockopt(fd, SOL_TLS, TLS_TX, &ci, len) == 0;
		close(fd);
		close(srv);
		if (!ok)
			continue;
		r->ktls_suites |= aeads[i].bit;
		int n = snprintf(p, left, "%s%s", p == r->ktls_suites_str ?
				 "" : " ", aeads[i].name);
		if (n > 0 && (size_t)n < left) {
			p += n;
			left -= (size_t)n;
		}
	}
}

int ktls_ctx_setup(SSL_CTX *ctx, uint32_t suites, bool server, char *why,
		   size_t wlen)
{
	char l13[160] = "", l12[512] = "";

	for (size_t i = 0; i < ARRAY_SIZE(aeads); i++) {
		if (!(suites & aeads[i].bit))
			continue;
		snprintf(l13 + strlen(l13), sizeof(l13) - strlen(l13), "%s%s",
			 l13[0] ? ":" : "", aeads[i].tls13);
		snprintf(l12 + strlen(l12), sizeof(l12) - strlen(l12), "%s%s",
			 l12[0] ? ":" : "", aeads[i].tls12);
	}
	if (!l13[0]) {
		snprintf(why, wlen, "the kernel offloads none of the TLS AEADs");
		return -EOPNOTSUPP;
	}
	if (SSL_CTX_set_ciphersuites(ctx, l13) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, l12) != 1) {
		snprintf(why, wlen, "cipher lists: %s", tls_error_string());
		return -EINVAL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
	/* Not one byte past the handshake may sit in OpenSSL's buffers: the
	 * kernel must see every application record (rec_seq 0). */
	SSL_CTX_set_read_ahead(ctx, 0);
	SSL_CTX_set_keylog_callback(ctx, ktls_keylog);
	/* A ticket would reach the program's kTLS socket as a non-data
	 * record; our own peers never need one. */
	if (server)
		SSL_CTX_set_num_tickets(ctx, 0);
	return 0;
}

static int unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (s[0] && s[1] && s[0] != ' ' && s[0] != '\n') {
		unsigned v;

		if (n == cap || sscanf(s, "%2x", &v) != 1)
			return -EINVAL;
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return (int)n;
}

/* OpenSSL's key log (NSS format): "LABEL <client random> <secret>". The
 * secret we need is the one the peer sends with: on a client the
 * server's, on a server the client's. */
void ktls_keylog(const SSL *ssl, const char *line)
{
	struct conn *c = SSL_get_app_data(ssl);
	const char *want = SSL_is_server(ssl) ? "CLIENT_TRAFFIC_SECRET_0 " :
						"SERVER_TRAFFIC_SECRET_0 ";
	const char *sp;
	int n;

	if (!c || strncmp(line, want, strlen(want)))
		return;
	sp = strchr(line + strlen(want), ' ');
	if (!sp)
		return;
	n = unhex(sp + 1, c->aux->rx_secret, sizeof(c->aux->rx_secret));
	c->aux->rx_secret_len = n > 0 ? (uint8_t)n : 0;
}

int ktls_tls13_derive(const char *digest, const uint8_t *secret, size_t slen,
		      uint8_t *key, size_t klen, uint8_t *iv, size_t ivlen)
{
	static const char prefix[] = "tls13 ";
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, err = 0;
	OSSL_PARAM params[6];
	const char *labels[2] = { "key", "iv" };
	uint8_t *outs[2] = { key, iv };
	size_t lens[2] = { klen, ivlen };

	kdf = EVP_KDF_fetch(NULL, "TLS13-KDF", NULL);
	if (!kdf || !(kctx = EVP_KDF_CTX_new(kdf))) {
		err = -ENOSYS;
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		/* RFC 8446 7.3: HKDF-Expand-Label(Secret, label, "", len). */
		params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
		params[1] = OSSL_PARAM_construct_utf8_string(
			OSSL_KDF_PARAM_DIGEST, (char *)digest, 0);
		params[2] = OSSL_PARAM_construct_octet_string(
			OSSL_KDF_PARAM_KEY, (void *)secret, slen);
		params[3] = OSSL_PARAM_construct_octet_string(
			OSSL_KDF_PARAM_PREFIX, (void *)prefix,
			sizeof(prefix) - 1);
		params[4] = OSSL_PARAM_construct_octet_string(
			OSSL_KDF_PARAM_LABEL, (void *)labels[i],
			strlen(labels[i]));
		params[5] = OSSL_PARAM_construct_end();
		if (EVP_KDF_derive(kctx, outs[i], lens[i], params) != 1) {
			err = -EINVAL;
			goto out;
		}
	}
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return err;
}

int ktls_install_rx13(int fd, uint16_t cipher, const char *digest,
		      const uint8_t *secret, size_t slen, uint64_t rec_seq)
{
	uint8_t key[32], iv[12], seq[8];
	union ktls_crypto ci;
	size_t klen = cipher == TLS_CIPHER_AES_GCM_128 ? 16 : 32;
	socklen_t len;
	int err;

	for (int i = 7; i >= 0; i--, rec_seq >>= 8)
		seq[i] = (uint8_t)rec_seq; /* network order, RFC 8446 5.3 */
	err = ktls_tls13_derive(digest, secret, slen, key, klen, iv, sizeof(iv));
	if (!err)
		err = crypto_fill(&ci, TLS_1_3_VERSION, cipher, key, iv, seq,
				  &len);
	if (!err && setsockopt(fd, SOL_TLS, TLS_RX, &ci, len) < 0)
		err = -errno;
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	OPENSSL_cleanse(&ci, sizeof(ci));
	return err;
}

int ktls_finish(struct conn *c, int fd, char *why, size_t wlen)
{
	const SSL_CIPHER *sc = SSL_get_current_cipher(c->ssl);
	const EVP_MD *md = sc ? SSL_CIPHER_get_handshake_digest(sc) : NULL;
	int nid = sc ? SSL_CIPHER_get_cipher_nid(sc) : NID_undef;
	uint16_t kcipher = 0;
	int err = 0;

	for (size_t i = 0; i < ARRAY_SIZE(aeads); i++)
		if (aeads[i].nid == nid)
			kcipher = aeads[i].kernel;
	c->ktls_tx = BIO_get_ktls_send(SSL_get_wbio(c->ssl)) == 1;
	c->ktls_rx = BIO_get_ktls_recv(SSL_get_rbio(c->ssl)) == 1;
	if (!kcipher || !md) {
		snprintf(why, wlen, "kTLS: suite %s cannot be offloaded",
			 sc ? SSL_CIPHER_get_name(sc) : "(none)");
		err = -EOPNOTSUPP;
		goto out;
	}
	if (!c->ktls_tx) {
		snprintf(why, wlen, "kTLS: OpenSSL did not offload sending");
		err = -EOPNOTSUPP;
		goto out;
	}
	if (SSL_has_pending(c->ssl)) {
		/* Records OpenSSL holds would be lost to the program. */
		snprintf(why, wlen, "kTLS: data buffered past the handshake");
		err = -EPROTO;
		goto out;
	}
	if (!c->ktls_rx && SSL_version(c->ssl) == TLS1_3_VERSION) {
		if (!c->aux->rx_secret_len) {
			snprintf(why, wlen, "kTLS: no TLS 1.3 traffic secret");
			err = -EPROTO;
			goto out;
		}
		err = ktls_install_rx13(fd, kcipher, EVP_MD_get0_name(md),
					c->aux->rx_secret, c->aux->rx_secret_len,
					c->rx_records);
		if (err) {
			snprintf(why, wlen, "kTLS: TLS_RX: %s", strerror(-err));
			goto out;
		}
		c->ktls_rx = 1;
	}
	if (!c->ktls_rx) {
		snprintf(why, wlen, "kTLS: OpenSSL did not offload receiving");
		err = -EOPNOTSUPP;
	}
out:
	OPENSSL_cleanse(c->aux->rx_secret, sizeof(c->aux->rx_secret));
	c->aux->rx_secret_len = 0;
	if (err)
		sipsec_strlcpy(c->ktls_reason, why, sizeof(c->ktls_reason));
	return err;
}

void ktls_release(struct conn *c)
{
	if (!c->ssl)
		return;
	/* The kernel owns the records now: OpenSSL must not write a byte
	 * (no close_notify from SSL_free), nor keep any state. */
	SSL_set_quiet_shutdown(c->ssl, 1);
	SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);
	c->ssl = NULL;
}

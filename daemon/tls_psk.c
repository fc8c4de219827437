// SPDX-License-Identifier: MIT
/*
 * TLS 1.3 external pre-shared keys between two sipsec daemons (RFC 8446
 * 2.2 and 4.2.11; the requirements draft makes a direct pre-shared-key
 * solution a MUST). A peer whose policy has a `psk` authenticates by it,
 * never by a certificate: its contexts load none, and a certificate the
 * other side sends anyway ends the handshake.
 *
 * The key only authenticates: OpenSSL's default key exchange mode is
 * psk_dhe_ke, so every connection still runs an (EC)DHE exchange and has
 * forward secrecy. psk_ke (SSL_OP_ALLOW_NO_DHE_KEX) is never enabled.
 *
 * The client offers the key of its policy for the peer under the
 * policy's psk_identity. The server looks the identity up among the
 * sections whose networks hold the client's address (policy_find_psk), so
 * a key is good only from where it is configured. The hash bound to the
 * key is SHA-256 (the session carries TLS_AES_128_GCM_SHA256; any suite
 * with that hash may be negotiated).
 *
 * Per connection state hangs off the SSL (ex_data), freed and wiped with
 * it. Key bytes live in OpenSSL's SSL_SESSION (cleansed when freed) and
 * in the configuration, never in a log line or a status reply.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "sipsecd.h"

struct psk_state {
	bool server;
	SSL_SESSION *sess; /* client: the key to offer */
	char identity[POLICY_MAX_PSK_ID]; /* client: offered; server: found */
	bool found; /* server: the client named a key we hold for it */
	struct config *const *cfg; /* server: where keys are looked up */
	struct sockaddr_storage peer; /* server: the client's address */
	char note[200]; /* why a PSK handshake cannot succeed */
};

static int psk_idx = -1;

static void state_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
		       long argl, void *argp)
{
	struct psk_state *s = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (!s)
		return;
	SSL_SESSION_free(s->sess);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

static struct psk_state *state(const SSL *ssl)
{
	return psk_idx < 0 ? NULL : SSL_get_ex_data(ssl, psk_idx);
}

static struct psk_state *state_new(SSL *ssl, bool server)
{
	struct psk_state *s;

	if (psk_idx < 0)
		psk_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, state_free);
	if (psk_idx < 0 || state(ssl))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (!SSL_set_ex_data(ssl, psk_idx, s)) {
		free(s);
		return NULL;
	}
	s->server = server;
	return s;
}

/* A session that carries only what RFC 8446 ties to an external PSK: the
 * key, the protocol and a suite for its hash. */
static SSL_SESSION *key_session(SSL *ssl, const uint8_t *key, size_t len)
{
	static const unsigned char aes128gcm[] = { 0x13, 0x01 };
	const SSL_CIPHER *suite = SSL_CIPHER_find(ssl, aes128gcm);
	SSL_SESSION *sess = SSL_SESSION_new();

	if (!sess || !suite || !SSL_SESSION_set1_master_key(sess, key, len) ||
	    !SSL_SESSION_set_cipher(sess, suite) ||
	    !SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION)) {
		SSL_SESSION_free(sess);
		return NULL;
	}
	return sess;
}

/* Client: OpenSSL asks for the key before the ClientHello (md NULL) and
 * again after a HelloRetryRequest, with the hash the server chose. */
static int use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id,
		       size_t *idlen, SSL_SESSION **sess)
{
	struct psk_state *s = state(ssl);
	const EVP_MD *ours;
	const SSL_CIPHER *suite;

	*sess = NULL;
	*id = NULL;
	*idlen = 0;
	if (!s || !s->sess)
		return 1; /* nothing to offer: the handshake fails later */
	suite = SSL_SESSION_get0_cipher(s->sess);
	ours = SSL_CIPHER_get_handshake_digest(suite);
	if (md && (!ours || EVP_MD_get_type(md) != EVP_MD_get_type(ours)))
		return 1;
	if (!SSL_SESSION_up_ref(s->sess))
		return 0;
	*sess = s->sess;
	*id = (const unsigned char *)s->identity;
	*idlen = strlen(s->identity);
	return 1;
}

/* Identities come from the network: only printable ones are looked up
 * (and so can appear in a log line). */
static bool printable(const unsigned char *id, size_t len)
{
	if (!len || len >= POLICY_MAX_PSK_ID)
		return false;
	for (size_t i = 0; i < len; i++)
		if (id[i] < 0x21 || id[i] > 0x7e)
			return false;
	return true;
}

/* Server: the identity the client named. An identity we do not hold for
 * this address is ignored (RFC 8446 4.2.11); with no certificate in a PSK
 * context the handshake then fails, and the note says why. */
static int find_session(SSL *ssl, const unsigned char *id, size_t len,
			SSL_SESSION **sess)
{
	struct psk_state *s = state(ssl);
	const struct policy *p;
	struct policy eff;
	char name[POLICY_MAX_PSK_ID], addr[64];
	bool known;

	*sess = NULL;
	if (!s || !s->server || !s->cfg || !*s->cfg)
		return 1;
	sipsec_sa_format((struct sockaddr *)&s->peer, addr, sizeof(addr));
	if (!printable(id, len)) {
		snprintf(s->note, sizeof(s->note), "PSK identity from %s is "
			 "empty, too long or not printable", addr);
		return 1;
	}
	memcpy(name, id, len);
	name[len] = 0;
	p = policy_find_psk(*s->cfg, (struct sockaddr *)&s->peer, name, &known);
	if (!p) {
		snprintf(s->note, sizeof(s->note), known ?
			 "PSK identity '%s' is not configured for %s" :
			 "unknown PSK identity '%s' from %s", name, addr);
		return 1;
	}
	policy_effective(*s->cfg, p, &eff);
	*sess = key_session(ssl, eff.psk, eff.psk_len);
	explicit_bzero(eff.psk, sizeof(eff.psk));
	if (!*sess)
		return 0;
	sipsec_strlcpy(s->identity, name, sizeof(s->identity));
	s->found = true;
	/* Until the Finished proves the key, a failure means the wrong one
	 * (the binder or the Finished does not verify). */
	snprintf(s->note, sizeof(s->note), "PSK '%s' from %s: wrong key?",
		 name, addr);
	return 1;
}

/* A PSK peer never authenticates by certificate: a server that sends one
 * (it did not take our key) is refused. */
static int refuse_certificate(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
		x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct psk_state *s = ssl ? state(ssl) : NULL;

	(void)ok;
	if (s)
		snprintf(s->note, sizeof(s->note), "the server did not take "
			 "PSK '%s' and sent a certificate", s->identity);
	return 0;
}

/* The key's hash is SHA-256, and a server takes a PSK only if the suite
 * it chose has that hash: offer only those (of what ktls.c left). */
static int sha256_suites(SSL_CTX *ctx, char *why, size_t wlen)
{
	STACK_OF(SSL_CIPHER) *all = SSL_CTX_get_ciphers(ctx);
	char list[256] = "";
	size_t off = 0;

	for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
		const EVP_MD *md = SSL_CIPHER_get_handshake_digest(c);

		/* TLS 1.3 suites are 0x13XX (RFC 8446 B.4). */
		if (SSL_CIPHER_get_protocol_id(c) >> 8 != 0x13 || !md ||
		    EVP_MD_get_type(md) != NID_sha256)
			continue;
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
					off ? ":" : "", SSL_CIPHER_get_name(c));
		if (off >= sizeof(list))
			break;
	}
	if (!off || off >= sizeof(list) ||
	    SSL_CTX_set_ciphersuites(ctx, list) != 1) {
		snprintf(why, wlen, "PSK: no TLS 1.3 suite with SHA-256 to "
			 "offer");
		return -ENOENT;
	}
	return 0;
}

int tls_psk_ctx_setup(SSL_CTX *ctx, bool server, char *why, size_t wlen)
{
	/* External PSKs as used here exist in TLS 1.3 only. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_NO_DHE_KEX);
	if (server) {
		SSL_CTX_set_psk_find_session_callback(ctx, find_session);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_psk_use_session_callback(ctx, use_session);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, refuse_certificate);
	}
	return sha256_suites(ctx, why, wlen);
}

int tls_psk_client(SSL *ssl, const struct policy *eff)
{
	struct psk_state *s;

	if (!eff->psk_len || !eff->psk_identity[0])
		return -EINVAL;
	s = state_new(ssl, false);
	if (!s)
		return -ENOMEM;
	sipsec_strlcpy(s->identity, eff->psk_identity, sizeof(s->identity));
	s->sess = key_session(ssl, eff->psk, eff->psk_len);
	if (!s->sess)
		return -ENOMEM;
	snprintf(s->note, sizeof(s->note), "PSK '%s' refused by the server "
		 "(wrong key or identity?)", s->identity);
	return 0;
}

int tls_psk_server(SSL *ssl, struct config *const *cfg,
		   const struct sockaddr *peer)
{
	struct psk_state *s = state_new(ssl, true);

	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	memcpy(&s->peer, peer, peer->sa_family == AF_INET6 ?
	       sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	snprintf(s->note, sizeof(s->note), "the client offered no PSK");
	return 0;
}

bool tls_psk_expected(const SSL *ssl)
{
	return state(ssl) != NULL;
}

const char *tls_psk_identity(SSL *ssl)
{
	struct psk_state *s = state(ssl);

	if (!s || !SSL_is_init_finished(ssl) || !SSL_session_reused(ssl))
		return NULL;
	if (s->server && !s->found)
		return NULL;
	return s->identity;
}

const char *tls_psk_note(const SSL *ssl)
{
	struct psk_state *s = state(ssl);

	return s && s->note[0] ? s->note : NULL;
}

void tls_psk_name(const struct policy *eff, char *buf, size_t len)
{
	snprintf(buf, len, "%s", eff->name[0] ? eff->name :
				 eff->realm[0] ? eff->realm :
						 eff->psk_identity);
}

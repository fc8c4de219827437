// SPDX-License-Identifier: MIT
/*
 * TLS with OpenSSL: contexts built from policy, non-blocking handshakes
 * driven by the event loop, and the identity a handshake proved.
 *
 * Both sides authenticate (mutual TLS): the server asks for and requires
 * a client certificate chaining to the policy's CA. The name to verify
 * comes from the peer's policy entry, never from the network: a client
 * sends it as SNI and checks it against the server certificate
 * (SSL_set1_host); a peer without a configured name must present a
 * certificate for the IP address the program connected to. A server
 * checks a connecting client against the name its policy gives, when
 * it gives one.
 *
 * A peer whose policy has a psk authenticates by that key instead, with
 * no certificate either way (tls_psk.c); it must be a sipsec daemon, so
 * its handshake is done only with ALPN sipsec/1 selected.
 *
 * Contexts are cached per (CA, certificate, key, minimum version, kernel
 * path or not: ktls.c restricts the suites and captures secrets; or PSK,
 * which needs none of the files) and rebuilt on reload; SSL objects hold
 * their own reference.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sipsecd.h"

#define MAX_CTX 64

struct ctx_entry {
	SSL_CTX *ctx;
	char *ca, *cert, *key;
	uint16_t tls_min;
	bool server, psk;
	uint32_t ktls_suites;
};

static struct ctx_entry cache[MAX_CTX];
static size_t n_cache;

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The reason of the last OpenSSL failure, for a log line. */
const char *tls_error_string(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return "unknown TLS error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/*
 * The chain sent with our certificate, built once here rather than by
 * OpenSSL on every handshake: the certificates from the cert file plus
 * what the CA file supplies up to the root, without the root, which the
 * peer must hold already to trust us. OpenSSL's default (no chain in the
 * cert file) verifies our own chain again for each handshake and sends
 * the root too, and every certificate sent costs the peer a decode
 * (OpenSSL 3.0 decodes each public key through its provider decoders,
 * 140-220 us on the benchmark machine). Where the chain cannot be built
 * (our issuer is not in the CA file) OpenSSL's default stays.
 */
static void chain_build(SSL_CTX *ctx, const struct policy *eff)
{
	if (SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_UNTRUSTED |
					  SSL_BUILD_CHAIN_FLAG_NO_ROOT) == 1) {
		SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
		return;
	}
	log_debug("cert %s: no chain to a root in %s (%s): OpenSSL builds "
		  "it per handshake", eff->cert, eff->ca, tls_error_string());
}

static SSL_CTX *ctx_build(const struct policy *eff, bool server,
			  uint32_t ktls_suites, char *why, size_t wlen)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() :
					    TLS_client_method());

	if (!ctx) {
		snprintf(why, wlen, "SSL_CTX_new: %s", tls_error_string());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, eff->tls_min);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			      SSL_MODE_RELEASE_BUFFERS);
	/* No renegotiation (TLS 1.2), no compression. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_NO_COMPRESSION);
	if (ktls_suites &&
	    ktls_ctx_setup(ctx, ktls_suites, server, why, wlen))
		goto fail;
	agree_ctx_setup(ctx, server);
	credcache_ctx_setup(ctx, server);
	if (eff->psk_len) {
		if (tls_psk_ctx_setup(ctx, server, why, wlen))
			goto fail;
		return ctx;
	}
	if (!eff->cert || !eff->key || !eff->ca) {
		snprintf(why, wlen, "policy [%s] has no %s", eff->label,
			 !eff->cert ? "cert" : !eff->key ? "key" : "ca");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, eff->cert) != 1) {
		snprintf(why, wlen, "cert %s: %s", eff->cert,
			 tls_error_string());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, eff->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(why, wlen, "key %s: %s", eff->key, tls_error_string());
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, eff->ca, NULL) != 1) {
		snprintf(why, wlen, "ca %s: %s", eff->ca, tls_error_string());
		goto fail;
	}
	chain_build(ctx, eff);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
			   (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
			   NULL);
	if (server) {
		static const unsigned char sid[] = "sipsecd";

		STACK_OF(X509_NAME) *names;

		SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
		names = SSL_load_client_CA_file(eff->ca);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *tls_ctx_get(const struct policy *eff, bool server,
		     uint32_t ktls_suites, char *why, size_t wlen)
{
	bool psk = eff->psk_len > 0;
	struct ctx_entry *e;

	for (size_t i = 0; i < n_cache; i++) {
		e = &cache[i];
		if (e->server != server || e->ktls_suites != ktls_suites ||
		    e->psk != psk)
			continue;
		/* A PSK context holds no key and no file: one fits all. */
		if (psk || (e->tls_min == eff->tls_min &&
			    same(e->ca, eff->ca) && same(e->cert, eff->cert) &&
			    same(e->key, eff->key)))
			return e->ctx;
	}
	if (n_cache == MAX_CTX) {
		snprintf(why, wlen, "more than %d distinct TLS contexts",
			 MAX_CTX);
		return NULL;
	}
	e = &cache[n_cache];
	memset(e, 0, sizeof(*e));
	e->ctx = ctx_build(eff, server, ktls_suites, why, wlen);
	if (!e->ctx)
		return NULL;
	e->server = server;
	e->psk = psk;
	e->ktls_suites = ktls_suites;
	e->tls_min = eff->tls_min;
	e->ca = eff->ca ? strdup(eff->ca) : NULL;
	e->cert = eff->cert ? strdup(eff->cert) : NULL;
	e->key = eff->key ? strdup(eff->key) : NULL;
	n_cache++;
	return e->ctx;
}

void tls_ctx_flush(void)
{
	for (size_t i = 0; i < n_cache; i++) {
		SSL_CTX_free(cache[i].ctx);
		free(cache[i].ca);
		free(cache[i].cert);
		free(cache[i].key);
	}
	n_cache = 0;
}

SSL *tls_client_new(SSL_CTX *ctx, int fd, const struct policy *eff,
		    const struct sockaddr *peer, char *expect, size_t elen)
{
	SSL *ssl = SSL_new(ctx);
	char ip[INET6_ADDRSTRLEN];

	if (!ssl)
		return NULL;
	SSL_set_fd(ssl, fd);
	SSL_set_connect_state(ssl);
	if (eff->psk_len) {
		/* The key proves the peer: no certificate to check. */
		if (tls_psk_client(ssl, eff))
			goto fail;
		tls_psk_name(eff, expect, elen);
		if (eff->name[0])
			SSL_set_tlsext_host_name(ssl, eff->name);
	} else if (eff->name[0]) {
		snprintf(expect, elen, "%s", eff->name);
		SSL_set_tlsext_host_name(ssl, eff->name);
		if (SSL_set1_host(ssl, eff->name) != 1)
			goto fail;
	} else {
		/* No name in policy: the certificate must name the address
		 * the program connected to. */
		if (sipsec_sa_ip(peer, ip, sizeof(ip)) ||
		    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip) != 1)
			goto fail;
		snprintf(expect, elen, "IP:%s", ip);
	}
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

SSL *tls_server_new(SSL_CTX *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);

	if (!ssl)
		return NULL;
	SSL_set_fd(ssl, fd);
	SSL_set_accept_state(ssl);
	return ssl;
}

/* A PSK handshake that completed: the key was used (not a certificate)
 * and the peer is a sipsec daemon. */
static int psk_done(SSL *ssl, char *why, size_t wlen)
{
	if (!tls_psk_identity(ssl)) {
		snprintf(why, wlen, "%s", tls_psk_note(ssl));
		return -ECONNREFUSED;
	}
	if (!agree_selected(ssl)) {
		snprintf(why, wlen, "PSK '%s': the peer did not select ALPN "
			 AGREE_ALPN ", only a sipsec daemon may hold the key",
			 tls_psk_identity(ssl));
		return -ECONNREFUSED;
	}
	return 0;
}

int tls_handshake(SSL *ssl, uint32_t *want, char *why, size_t wlen)
{
	char tls[200];
	int rc, err;

	ERR_clear_error();
	rc = SSL_do_handshake(ssl);
	if (rc == 1)
		return tls_psk_expected(ssl) ? psk_done(ssl, why, wlen) : 0;
	err = SSL_get_error(ssl, rc);
	if (err == SSL_ERROR_WANT_READ) {
		*want = POLLIN;
		return -EAGAIN;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		*want = POLLOUT;
		return -EAGAIN;
	}
	if (tls_psk_expected(ssl)) {
		/* Name the key (not the key material): which one, from where,
		 * and what TLS said. */
		if (err == SSL_ERROR_SYSCALL && !ERR_peek_error())
			snprintf(tls, sizeof(tls), "connection closed");
		else
			snprintf(tls, sizeof(tls), "%s", tls_error_string());
		snprintf(why, wlen, "%s (%s)", tls_psk_note(ssl), tls);
	} else if (SSL_get_verify_result(ssl) != X509_V_OK)
		snprintf(why, wlen, "certificate check failed: %s",
			 X509_verify_cert_error_string(
				 SSL_get_verify_result(ssl)));
	else if (err == SSL_ERROR_SYSCALL && !ERR_peek_error())
		snprintf(why, wlen, "connection closed during handshake");
	else
		snprintf(why, wlen, "handshake failed: %s", tls_error_string());
	return -ECONNREFUSED;
}

int tls_check_client_name(SSL *ssl, const char *name, char *why, size_t wlen)
{
	X509 *crt = SSL_get0_peer_certificate(ssl);

	if (!crt) {
		snprintf(why, wlen, "client sent no certificate");
		return -EACCES;
	}
	if (X509_check_host(crt, name, 0, 0, NULL) != 1) {
		snprintf(why, wlen, "client certificate does not name '%s'",
			 name);
		return -EACCES;
	}
	return 0;
}

void tls_describe(SSL *ssl, char *version, size_t vlen, char *cipher,
		  size_t clen)
{
	snprintf(version, vlen, "%s", SSL_get_version(ssl));
	snprintf(cipher, clen, "%s", SSL_get_cipher_name(ssl));
}

/* Adds a name unless it is there already; the list is bounded (debug
 * log for the rest: the first ones are the certificate's own order). */
static void id_add(struct sipsec_ctl_identity *id, const char *name,
		   size_t len)
{
	if (!len || len >= SIPSEC_ID_NAME_LEN || memchr(name, 0, len)) {
		log_debug("identity: '%.*s' skipped (empty, too long or with "
			  "a NUL)", (int)(len < 80 ? len : 80), name);
		return;
	}
	for (size_t i = 0; i < id->n; i++)
		if (strlen(id->names[i]) == len &&
		    !strncasecmp(id->names[i], name, len))
			return;
	if (id->n == SIPSEC_ID_MAX_NAMES) {
		log_debug("identity: more than %d names, '%.*s' not kept",
			  SIPSEC_ID_MAX_NAMES, (int)len, name);
		return;
	}
	memcpy(id->names[id->n], name, len);
	id->names[id->n][len] = 0;
	id->n++;
}

static void id_add_san(struct sipsec_ctl_identity *id, const GENERAL_NAME *g)
{
	const unsigned char *d;
	char ip[INET6_ADDRSTRLEN];
	struct sip_str host;
	int len;

	switch (g->type) {
	case GEN_DNS:
		d = ASN1_STRING_get0_data(g->d.dNSName);
		id_add(id, (const char *)d,
		       (size_t)ASN1_STRING_length(g->d.dNSName));
		break;
	case GEN_IPADD:
		d = ASN1_STRING_get0_data(g->d.iPAddress);
		len = ASN1_STRING_length(g->d.iPAddress);
		if ((len == 4 && inet_ntop(AF_INET, d, ip, sizeof(ip))) ||
		    (len == 16 && inet_ntop(AF_INET6, d, ip, sizeof(ip))))
			id_add(id, ip, strlen(ip));
		break;
	case GEN_URI:
		/* RFC 5922 7.1: a SIP domain as a URI SAN. */
		d = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if (sip_uri_host((struct sip_str){ (const char *)d,
						   (size_t)len }, &host) == 0)
			id_add(id, host.p, host.n);
		break;
	default:
		break;
	}
}

void tls_peer_identity(SSL *ssl, const struct policy *eff,
		       struct sipsec_ctl_identity *out)
{
	X509 *crt = SSL_get0_peer_certificate(ssl);
	GENERAL_NAMES *sans = NULL;
	char cn[SIPSEC_ID_NAME_LEN];

	memset(out, 0, sizeof(*out));
	out->mode = eff->idcheck == IDCHECK_LOG ? SIPSEC_IDCHECK_LOG :
		    eff->idcheck == IDCHECK_OFF ? SIPSEC_IDCHECK_OFF :
						  SIPSEC_IDCHECK_ENFORCE;
	if (crt)
		sans = X509_get_ext_d2i(crt, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++)
		id_add_san(out, sk_GENERAL_NAME_value(sans, i));
	if (crt && !sans &&
	    X509_NAME_get_text_by_NID(X509_get_subject_name(crt),
				      NID_commonName, cn, sizeof(cn)) > 0)
		id_add(out, cn, strlen(cn));
	/* Without a certificate (external PSK) the key speaks for the name
	 * policy gives the peer. */
	if (!crt && eff->name[0])
		id_add(out, eff->name, strlen(eff->name));
	/* A peer configured in realm D speaks for D (a [realm D] section
	 * that matched has its domain in realm too). */
	if (eff->realm[0])
		id_add(out, eff->realm, strlen(eff->realm));
	GENERAL_NAMES_free(sans);
}

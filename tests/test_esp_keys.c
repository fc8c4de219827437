// SPDX-License-Identifier: MIT
/*
 * ESP keys from the daemons' TLS session (daemon/esp_keys.c), on an
 * in-memory TLS 1.3 pair (a BIO pair, a throwaway P-256 certificate): both
 * ends must derive the same key for each direction, the directions must
 * differ, and another session, SPI or address must give other keys.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sipsecd.h"

#define SPI_C 0x5a520001u /* the client's inbound SPI */
#define SPI_S 0x5a520002u /* the server's inbound SPI */

struct pair {
	SSL_CTX *cctx, *sctx;
	SSL *client, *server;
};

static struct sockaddr_storage caddr, saddr;
static char why[256];

static void v4(struct sockaddr_storage *ss, const char *a)
{
	struct sockaddr_in *in = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(5061);
	cr_assert_eq(inet_pton(AF_INET, a, &in->sin_addr), 1);
}

/* A self-signed certificate is enough: the exporter does not care who
 * the peer is, and the client does not verify here. */
static void server_cert(SSL_CTX *ctx)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *crt = X509_new();

	cr_assert_not_null(key);
	cr_assert_not_null(crt);
	X509_set_version(crt, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
	X509_gmtime_adj(X509_getm_notBefore(crt), 0);
	X509_gmtime_adj(X509_getm_notAfter(crt), 3600);
	X509_set_pubkey(crt, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(crt), "CN",
				   MBSTRING_ASC,
				   (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(crt, X509_get_subject_name(crt));
	cr_assert(X509_sign(crt, key, EVP_sha256()) > 0);
	cr_assert_eq(SSL_CTX_use_certificate(ctx, crt), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_free(crt);
	EVP_PKEY_free(key);
}

static void handshake(struct pair *p, int version)
{
	BIO *cb, *sb;
	int rc = 0, rs = 0;

	p->cctx = SSL_CTX_new(TLS_client_method());
	p->sctx = SSL_CTX_new(TLS_server_method());
	cr_assert(p->cctx && p->sctx);
	SSL_CTX_set_min_proto_version(p->cctx, version);
	SSL_CTX_set_max_proto_version(p->cctx, version);
	server_cert(p->sctx);
	p->client = SSL_new(p->cctx);
	p->server = SSL_new(p->sctx);
	cr_assert_eq(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(p->client, cb, cb);
	SSL_set_bio(p->server, sb, sb);
	SSL_set_connect_state(p->client);
	SSL_set_accept_state(p->server);
	for (int i = 0; i < 20 && (rc != 1 || rs != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(p->client);
		if (rs != 1)
			rs = SSL_do_handshake(p->server);
	}
	cr_assert_eq(rc, 1, "client handshake");
	cr_assert_eq(rs, 1, "server handshake");
	cr_assert_eq(SSL_version(p->client), version);
}

static void pair_free(struct pair *p)
{
	SSL_free(p->client);
	SSL_free(p->server);
	SSL_CTX_free(p->cctx);
	SSL_CTX_free(p->sctx);
}

static void derive(SSL *ssl, bool server, uint32_t spi_c, uint32_t spi_s,
		   uint8_t key_len, struct esp_sa *out, struct esp_sa *in)
{
	int err = esp_keys_derive(ssl, server, (void *)&caddr, (void *)&saddr,
				  spi_c, spi_s, key_len, out, in, why,
				  sizeof(why));

	cr_assert_eq(err, 0, "%s", why);
}

static bool same_key(const struct esp_sa *a, const struct esp_sa *b)
{
	return a->key_len == b->key_len &&
	       !memcmp(a->key, b->key, a->key_len) &&
	       !memcmp(a->salt, b->salt, ESP_SALT_LEN);
}

static void setup(void)
{
	v4(&caddr, "192.0.2.1");
	v4(&saddr, "192.0.2.2");
}

TestSuite(esp_keys, .init = setup);

/* Both ends of one session derive; client out must be server in. */
static void both_ends(struct pair *p, uint8_t key_len, struct esp_sa *c_out,
		      struct esp_sa *c_in, struct esp_sa *s_out,
		      struct esp_sa *s_in)
{
	handshake(p, TLS1_3_VERSION);
	derive(p->client, false, SPI_C, SPI_S, key_len, c_out, c_in);
	derive(p->server, true, SPI_C, SPI_S, key_len, s_out, s_in);
	cr_assert_eq(c_out->key_len, key_len);
	cr_assert(same_key(c_out, s_in));
	cr_assert(same_key(s_out, c_in));
	cr_assert_not(same_key(c_out, c_in), "directions share a key");
}

Test(esp_keys, client_out_is_server_in_and_the_other_way)
{
	struct esp_sa c_out, c_in, s_out, s_in;
	struct pair p;

	both_ends(&p, 16, &c_out, &c_in, &s_out, &s_in);
	/* SPIs and ends: each SA is named by its receiver's SPI */
	cr_assert_eq(c_out.spi, SPI_S);
	cr_assert_eq(s_in.spi, SPI_S);
	cr_assert_eq(c_in.spi, SPI_C);
	cr_assert_eq(s_out.spi, SPI_C);
	cr_assert(sipsec_sa_equal(&c_out.src, &s_in.src));
	cr_assert(sipsec_sa_equal(&c_out.dst, &s_in.dst));
	cr_assert_eq(((struct sockaddr_in *)&c_out.dst)->sin_addr.s_addr,
		     inet_addr("192.0.2.2"));
	cr_assert_eq(sipsec_sa_port((void *)&c_out.dst), 0);
	esp_sa_wipe(&c_out);
	cr_assert_eq(c_out.key_len, 0);
	for (size_t i = 0; i < sizeof(c_out.key); i++)
		cr_assert_eq(c_out.key[i], 0, "key byte %zu not wiped", i);
	pair_free(&p);
}

Test(esp_keys, aes256_keys_match_too)
{
	struct esp_sa c_out, c_in, s_out, s_in;
	struct pair p;

	both_ends(&p, 32, &c_out, &c_in, &s_out, &s_in);
	pair_free(&p);
}

Test(esp_keys, another_session_spi_or_address_gives_other_keys)
{
	struct esp_sa a_out, a_in, b_out, b_in;
	struct pair p, q;

	handshake(&p, TLS1_3_VERSION);
	handshake(&q, TLS1_3_VERSION);
	derive(p.client, false, SPI_C, SPI_S, 16, &a_out, &a_in);
	derive(q.client, false, SPI_C, SPI_S, 16, &b_out, &b_in);
	cr_assert_not(same_key(&a_out, &b_out), "two sessions, one key");
	cr_assert_not(same_key(&a_in, &b_in));
	derive(p.client, false, SPI_C + 0x100, SPI_S, 16, &b_out, &b_in);
	cr_assert_not(same_key(&a_out, &b_out), "the SPI is not bound");
	v4(&caddr, "192.0.2.3");
	derive(p.client, false, SPI_C, SPI_S, 16, &b_out, &b_in);
	cr_assert_not(same_key(&a_out, &b_out), "the address is not bound");
	pair_free(&p);
	pair_free(&q);
}

Test(esp_keys, tls12_and_bad_inputs_are_refused)
{
	struct esp_sa out, in;
	struct sockaddr_storage v6addr = { .ss_family = AF_INET6 };
	struct pair p;

	handshake(&p, TLS1_2_VERSION);
	cr_assert_eq(esp_keys_derive(p.client, false, (void *)&caddr,
				     (void *)&saddr, SPI_C, SPI_S, 16, &out,
				     &in, why, sizeof(why)), -EPROTO);
	cr_assert(strstr(why, "TLS 1.3"), "%s", why);
	pair_free(&p);
	handshake(&p, TLS1_3_VERSION);
	cr_assert_eq(esp_keys_derive(p.client, false, (void *)&caddr,
				     (void *)&saddr, SPI_C, SPI_C, 16, &out,
				     &in, why, sizeof(why)), -EINVAL);
	cr_assert_eq(esp_keys_derive(p.client, false, (void *)&caddr,
				     (void *)&saddr, SPI_C, SPI_S, 24, &out,
				     &in, why, sizeof(why)), -EINVAL);
	cr_assert_eq(esp_keys_derive(p.client, false, (void *)&caddr,
				     (void *)&v6addr, SPI_C, SPI_S, 16, &out,
				     &in, why, sizeof(why)), -EINVAL);
	pair_free(&p);
}

Test(esp_keys, context_layout_is_as_documented)
{
	static const uint8_t want[] = {
		1, 4, 192, 0, 2, 1, 192, 0, 2, 2,
		0x5a, 0x52, 0x00, 0x01, 0x5a, 0x52, 0x00, 0x02,
	};
	uint8_t ctx[ESP_KEYS_CONTEXT_MAX];
	int n = esp_keys_context(ctx, sizeof(ctx), (void *)&caddr,
				 (void *)&saddr, SPI_C, SPI_S);

	cr_assert_eq(n, (int)sizeof(want));
	cr_assert_arr_eq(ctx, want, sizeof(want));
}

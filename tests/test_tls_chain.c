// SPDX-License-Identifier: MIT
/*
 * The certificate chain each daemon sends (daemon/tls.c): built once from
 * the cert file and the CA file, up to the root and without it. The peer
 * holds the root already; every certificate sent costs it a decode.
 *
 * A root CA signs an intermediate, which signs the server's certificate;
 * the root signs the client's directly. The server's cert file holds its
 * certificate alone and its CA file the root and the intermediate (the
 * intermediate reaches the wire only through the chain built here); the
 * client's CA file holds the root alone. Both ends run in this process on
 * a socket pair.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sipsecd.h"
#include "tls_pair.h"

static char dir[] = "/tmp/sipsec-chain-XXXXXX";

static struct end cli, srv;

static void ext(X509 *crt, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, crt, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	cr_assert_not_null(e);
	cr_assert(X509_add_ext(crt, e, -1));
	X509_EXTENSION_free(e);
}

/* A P-256 certificate for cn, signed by (issuer, ikey), or self-signed. */
static X509 *make(const char *cn, EVP_PKEY *key, X509 *issuer,
		  EVP_PKEY *ikey, const char *san)
{
	static long serial = 1;
	X509 *crt = X509_new();

	cr_assert_not_null(crt);
	X509_set_version(crt, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(crt), serial++);
	X509_gmtime_adj(X509_getm_notBefore(crt), -60);
	X509_gmtime_adj(X509_getm_notAfter(crt), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(crt), "CN",
				   MBSTRING_ASC, (const unsigned char *)cn,
				   -1, -1, 0);
	X509_set_issuer_name(crt, X509_get_subject_name(issuer ? issuer : crt));
	X509_set_pubkey(crt, key);
	if (san) {
		ext(crt, issuer, NID_subject_alt_name, san);
		ext(crt, issuer, NID_basic_constraints, "critical,CA:FALSE");
	} else {
		ext(crt, issuer ? issuer : crt, NID_basic_constraints,
		    "critical,CA:TRUE");
		ext(crt, issuer ? issuer : crt, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
	}
	cr_assert(X509_sign(crt, ikey ? ikey : key, EVP_sha256()));
	return crt;
}

static void save(const char *name, X509 *a, X509 *b, EVP_PKEY *key)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert(PEM_write_X509(f, a));
	if (b)
		cr_assert(PEM_write_X509(f, b));
	fclose(f);
	if (!key)
		return;
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
	fclose(f);
}

static struct config *load(const char *who, const char *ca)
{
	char path[128];
	struct config *cfg = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.conf", dir, who);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "cert = %s/%s.pem\nkey = %s/%s.key\nca = %s/%s.pem\n",
		dir, who, dir, who, dir, ca);
	fclose(f);
	cr_assert_eq(config_load(path, &cfg, NULL, NULL), 0);
	return cfg;
}

static void setup(void)
{
	EVP_PKEY *rk, *ik, *sk, *ck;
	X509 *root, *inter, *server, *client;

	cr_assert_not_null(mkdtemp(dir));
	rk = EVP_EC_gen("P-256");
	ik = EVP_EC_gen("P-256");
	sk = EVP_EC_gen("P-256");
	ck = EVP_EC_gen("P-256");
	cr_assert(rk && ik && sk && ck);
	root = make("chain test root", rk, NULL, NULL, NULL);
	inter = make("chain test intermediate", ik, root, rk, NULL);
	server = make("server.test", sk, inter, ik, "IP:192.0.2.2");
	client = make("client.test", ck, root, rk, "IP:192.0.2.1");
	save("root", root, NULL, NULL);
	save("cas", root, inter, NULL);
	save("server", server, NULL, sk);
	save("client", client, NULL, ck);
	X509_free(root);
	X509_free(inter);
	X509_free(server);
	X509_free(client);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(ck);
	cli.fd = srv.fd = -1;
}

static void teardown(void)
{
	char cmd[96];

	tls_pair_free(&cli, &srv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(tls_chain, .init = setup, .fini = teardown);

static void pair(void)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(5061) };
	struct policy eff;
	SSL_CTX *ctx;
	int sv[2];

	cli.cfg = load("client", "root");
	srv.cfg = load("server", "cas");
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
		     0);
	cli.fd = sv[0];
	srv.fd = sv[1];
	inet_pton(AF_INET, "192.0.2.2", &to.sin_addr);
	policy_effective(cli.cfg, policy_global(cli.cfg), &eff);
	ctx = tls_ctx_get(&eff, false, 0, cli.why, sizeof(cli.why));
	cr_assert_not_null(ctx, "%s", cli.why);
	cli.ssl = tls_client_new(ctx, cli.fd, &eff, (struct sockaddr *)&to,
				 cli.expect, sizeof(cli.expect));
	cr_assert_not_null(cli.ssl);
	policy_effective(srv.cfg, policy_global(srv.cfg), &eff);
	ctx = tls_ctx_get(&eff, true, 0, srv.why, sizeof(srv.why));
	cr_assert_not_null(ctx, "%s", srv.why);
	srv.ssl = tls_server_new(ctx, srv.fd);
	cr_assert_not_null(srv.ssl);
}

static void names(STACK_OF(X509) *chain, char *out, size_t len)
{
	size_t off = 0;
	char name[128];

	out[0] = 0;
	for (int i = 0; i < sk_X509_num(chain) && off < len; i++) {
		X509_NAME_oneline(X509_get_subject_name(sk_X509_value(chain, i)),
				  name, sizeof(name));
		off += (size_t)snprintf(out + off, len - off, "[%s] ", name);
	}
}

Test(tls_chain, the_chain_sent_reaches_the_root_without_it)
{
	STACK_OF(X509) *got;
	char seen[512];

	pair();
	tls_pair_handshake(&cli, &srv);
	cr_assert_eq(cli.rc, 0, "client: %s", cli.why);
	cr_assert_eq(srv.rc, 0, "server: %s", srv.why);
	/* The client's view: the server's certificate and the intermediate
	 * from the server's CA file; the root stays home. */
	got = SSL_get_peer_cert_chain(cli.ssl);
	names(got, seen, sizeof(seen));
	cr_assert_eq(sk_X509_num(got), 2, "client received %s", seen);
	cr_assert_eq(X509_check_issued(sk_X509_value(got, 1),
				       sk_X509_value(got, 0)), X509_V_OK,
		     "client received %s", seen);
	/* The server's view (the peer's certificate is not in this list on
	 * a server): nothing beyond the client's own certificate, which the
	 * root signed. */
	got = SSL_get_peer_cert_chain(srv.ssl);
	names(got, seen, sizeof(seen));
	cr_assert_eq(sk_X509_num(got), 0, "server received %s", seen);
	cr_assert_not_null(SSL_get0_peer_certificate(srv.ssl));
}

// SPDX-License-Identifier: MIT
/*
 * TLS 1.3 external PSK between two daemons (daemon/tls_psk.c through
 * daemon/tls.c), with both ends in this process on a socket pair and
 * each configured from its own file: the key must match, be offered
 * under an identity the server holds, from an address the server's
 * section covers, and the result is a TLS 1.3 session with (EC)DHE,
 * ALPN sipsec/1, no certificate, and the identity policy gives.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "sipsecd.h"
#include "tls_pair.h"

#define KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define BAD "ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* The client daemon, 192.0.2.1, knows the server as pbx2. */
static const char client_conf[] =
	"name = pbx1.example.net\n"
	"[peer pbx2]\naddress = 192.0.2.2\nname = pbx2.example.net\n"
	"psk = hex:%s\npsk_identity = %s\n";
/* The server knows the client's network; a second section holds another
 * key under another identity for the same network. */
static const char server_conf[] =
	"[peer pbx1]\naddress = 192.0.2.0/28\nname = pbx1.example.net\n"
	"psk = hex:" KEY "\npsk_identity = pbx1.example.net\n"
	"[peer other]\naddress = 192.0.2.0/24\nname = other.example.net\n"
	"psk = hex:" BAD "\npsk_identity = other\n";

static struct end cli, srv;

static struct config *load(const char *text)
{
	char path[64];
	struct config *cfg = NULL;
	int fd = memfd_create("sipsec-conf", MFD_CLOEXEC);

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	cr_assert_eq(config_load(path, &cfg, NULL, NULL), 0);
	close(fd);
	return cfg;
}

static void addr(struct sockaddr_in *in, const char *ip)
{
	memset(in, 0, sizeof(*in));
	in->sin_family = AF_INET;
	in->sin_port = htons(5061);
	inet_pton(AF_INET, ip, &in->sin_addr);
}

static void eff_for(const struct config *cfg, const char *ip,
		    struct policy *eff)
{
	struct sockaddr_in in;
	const struct policy *p;

	addr(&in, ip);
	p = policy_find(cfg, (struct sockaddr *)&in);
	policy_effective(cfg, p ? p : policy_global(cfg), eff);
}

/* Both ends set up: the client offers key under identity, the server sees
 * it come from client_ip. */
static void pair(const char *key, const char *identity, const char *client_ip)
{
	char text[512];
	struct sockaddr_in from;
	struct policy eff;
	SSL_CTX *ctx;
	int sv[2];

	snprintf(text, sizeof(text), client_conf, key, identity);
	cli.cfg = load(text);
	srv.cfg = load(server_conf);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
		     0);
	cli.fd = sv[0];
	srv.fd = sv[1];

	eff_for(cli.cfg, "192.0.2.2", &eff);
	ctx = tls_ctx_get(&eff, false, 0, cli.why, sizeof(cli.why));
	cr_assert_not_null(ctx, "%s", cli.why);
	addr(&from, "192.0.2.2");
	cli.ssl = tls_client_new(ctx, cli.fd, &eff, (struct sockaddr *)&from,
				 cli.expect, sizeof(cli.expect));
	cr_assert_not_null(cli.ssl);

	eff_for(srv.cfg, client_ip, &eff);
	ctx = tls_ctx_get(&eff, true, 0, srv.why, sizeof(srv.why));
	cr_assert_not_null(ctx, "%s", srv.why);
	srv.ssl = tls_server_new(ctx, srv.fd);
	cr_assert_not_null(srv.ssl);
	addr(&from, client_ip);
	cr_assert_eq(tls_psk_server(srv.ssl, &srv.cfg,
				    (struct sockaddr *)&from), 0);
}

static void handshake(void)
{
	tls_pair_handshake(&cli, &srv);
}

static void teardown(void)
{
	tls_pair_free(&cli, &srv);
}

static void setup(void)
{
	cli.fd = srv.fd = -1;
}

TestSuite(tls_psk, .init = setup, .fini = teardown);

Test(tls_psk, the_same_key_authenticates_both_daemons)
{
	struct sipsec_ctl_identity id;
	struct policy eff;

	pair(KEY, "pbx1.example.net", "192.0.2.1");
	handshake();
	cr_assert_eq(srv.rc, 0, "server: %s / client %s", srv.why, cli.why);
	cr_assert_eq(SSL_version(cli.ssl), TLS1_3_VERSION);
	cr_assert(agree_selected(cli.ssl) && agree_selected(srv.ssl),
		  "ALPN " AGREE_ALPN " not selected");
	/* Authenticated by the key alone. */
	cr_assert_null(SSL_get0_peer_certificate(cli.ssl));
	cr_assert_null(SSL_get0_peer_certificate(srv.ssl));
	cr_assert_str_eq(tls_psk_identity(cli.ssl), "pbx1.example.net");
	cr_assert_str_eq(tls_psk_identity(srv.ssl), "pbx1.example.net");
	/* psk_dhe_ke: an (EC)DHE group was negotiated. */
	cr_assert_neq(SSL_get_negotiated_group(srv.ssl), 0);
	/* The client knows the server by the name its policy gives. */
	cr_assert_str_eq(cli.expect, "pbx2.example.net");
	/* What the server's shim checks requests against: the name of the
	 * section that holds the key. */
	eff_for(srv.cfg, "192.0.2.1", &eff);
	tls_peer_identity(srv.ssl, &eff, &id);
	cr_assert_eq(id.n, 1);
	cr_assert_str_eq(id.names[0], "pbx1.example.net");
}

/* A handshake both sides must refuse, the server saying why. */
static void refused(const char *key, const char *identity,
		    const char *client_ip, const char *reason)
{
	pair(key, identity, client_ip);
	handshake();
	cr_assert_eq(cli.rc, -ECONNREFUSED);
	cr_assert_eq(srv.rc, -ECONNREFUSED);
	cr_assert_not_null(strstr(srv.why, reason), "%s", srv.why);
}

Test(tls_psk, a_wrong_key_fails_on_both_sides_naming_the_psk)
{
	refused(BAD, "pbx1.example.net", "192.0.2.1",
		"PSK 'pbx1.example.net' from 192.0.2.1");
	cr_assert_not_null(strstr(srv.why, "wrong key"), "%s", srv.why);
	cr_assert_not_null(strstr(cli.why, "PSK 'pbx1.example.net'"), "%s",
			   cli.why);
	cr_assert_null(strstr(srv.why, BAD + 4), "key material in: %s",
		       srv.why);
}

Test(tls_psk, an_unknown_identity_is_refused)
{
	refused(KEY, "nobody", "192.0.2.1", "unknown PSK identity 'nobody'");
}

Test(tls_psk, a_key_from_outside_its_sections_networks_is_refused)
{
	/* 192.0.2.200 is in [peer other] (/24), not in [peer pbx1] (/28). */
	refused(KEY, "pbx1.example.net", "192.0.2.200",
		"PSK identity 'pbx1.example.net' is not configured for "
		"192.0.2.200");
}

Test(tls_psk, the_exporter_gives_both_sides_the_same_keys)
{
	static const char label[] = "EXPORTER-sipsec-test";
	unsigned char a[32], b[32], zero[32] = { 0 };

	pair(KEY, "pbx1.example.net", "192.0.2.1");
	handshake();
	cr_assert_eq(srv.rc, 0, "server: %s / client %s", srv.why, cli.why);
	cr_assert_eq(SSL_export_keying_material(cli.ssl, a, sizeof(a), label,
						sizeof(label) - 1, NULL, 0, 0),
		     1);
	cr_assert_eq(SSL_export_keying_material(srv.ssl, b, sizeof(b), label,
						sizeof(label) - 1, NULL, 0, 0),
		     1);
	cr_assert_eq(memcmp(a, b, sizeof(a)), 0);
	cr_assert_neq(memcmp(a, zero, sizeof(a)), 0);
}

Test(tls_psk, a_client_that_proved_a_key_is_the_section_holding_it)
{
	struct daemon d = { 0 };
	struct conn c = { 0 };
	struct policy eff;

	srv.cfg = load(server_conf);
	d.cfg = srv.cfg;
	c.d = &d;
	addr((struct sockaddr_in *)&c.peer, "192.0.2.20");
	/* By address alone, 192.0.2.20 is [peer other]... */
	conn_policy(&c, &eff);
	cr_assert_str_eq(eff.label, "peer other");
	/* ...but a client there that proved pbx1's key is pbx1 only if the
	 * key's section covers it: it does not, so the address decides. */
	strcpy(c.psk_identity, "pbx1.example.net");
	conn_policy(&c, &eff);
	cr_assert_str_eq(eff.label, "peer other");
	addr((struct sockaddr_in *)&c.peer, "192.0.2.3");
	strcpy(c.psk_identity, "other");
	conn_policy(&c, &eff);
	cr_assert_str_eq(eff.label, "peer other");
}

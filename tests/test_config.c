// SPDX-License-Identifier: MIT
/* The configuration file: good files, inheritance, lookup, and bad lines
 * each named with file, line and reason. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sipsecd.h"

struct errs {
	char text[8192];
	int n;
};

static void collect(void *ctx, const char *msg)
{
	struct errs *e = ctx;
	size_t off = strlen(e->text);

	snprintf(e->text + off, sizeof(e->text) - off, "%s\n", msg);
	e->n++;
}

static char path[64];

static const char *write_conf(const char *text)
{
	FILE *f;
	int fd;

	strcpy(path, "/tmp/sipsec-test-conf.XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static int load(const char *text, struct config **cfg, struct errs *e)
{
	int rc;

	memset(e, 0, sizeof(*e));
	rc = config_load(write_conf(text), cfg, collect, e);
	unlink(path);
	return rc;
}

static void expect_error(const char *text, int line, const char *reason)
{
	struct config *cfg = NULL;
	struct errs e;
	char want[128];

	cr_assert_eq(load(text, &cfg, &e), -EINVAL, "accepted:\n%s", text);
	cr_assert_null(cfg);
	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	cr_assert(strstr(e.text, want), "no error on line %d in:\n%s", line,
		  e.text);
	cr_assert(strstr(e.text, reason), "reason '%s' missing in:\n%s",
		  reason, e.text);
}

static struct sockaddr_storage sa(const char *addr)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;

	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1)
		in->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1)
		in6->sin6_family = AF_INET6;
	else
		cr_assert_fail("bad test address %s", addr);
	return ss;
}

Test(config, example_file_is_valid)
{
	struct config *cfg = NULL;
	struct errs e = { 0 };
	const struct policy *p;
	struct policy eff;
	struct sockaddr_storage a = sa("2001:db8:1::20");

	cr_assert_eq(config_load("examples/sipsec.conf", &cfg, collect, &e), 0,
		     "%s", e.text);
	cr_assert_str_eq(cfg->host_name, "pbx1.example.net");
	cr_assert_eq(cfg->n_pol, 4);
	p = policy_find(cfg, (struct sockaddr *)&a);
	cr_assert_not_null(p);
	cr_assert_str_eq(p->label, "peer gw1");
	policy_effective(cfg, p, &eff);
	cr_assert_str_eq(eff.name, "gw1.example.net");
	cr_assert_eq(eff.n_sip_ports, 2);
	cr_assert_eq(eff.sip_ports[1], 5080);
	cr_assert_eq(eff.tls_port, 0); /* SIP port + 1 */
	cr_assert_str_eq(eff.ca, "/etc/sipsec/ca.pem");
	config_free(cfg);
}

Test(config, empty_file_gives_safe_defaults)
{
	struct config *cfg = NULL;
	struct errs e;
	const struct policy *g;

	cr_assert_eq(load("", &cfg, &e), 0);
	g = policy_global(cfg);
	cr_assert_eq(g->require, MECH_TLS);
	cr_assert(!(g->allow & MECH_NONE), "cleartext allowed by default");
	cr_assert_eq(g->tls_min, 0x0304);
	cr_assert_eq(g->ktls, KTLS_PREFER);
	cr_assert_eq(g->idcheck, IDCHECK_ENFORCE);
	cr_assert_str_eq(cfg->ctl_name, "@sipsec/ctl");
	cr_assert_eq(cfg->esp, KTLS_PREFER);
	cr_assert_eq(cfg->esp_lifetime_s, 3600);
	config_free(cfg);
}

Test(config, esp_settings)
{
	struct config *cfg = NULL;
	struct errs e;

	cr_assert_eq(load("esp = off\nesp_lifetime = 12\n", &cfg, &e), 0);
	cr_assert_eq(cfg->esp, KTLS_OFF);
	cr_assert_eq(cfg->esp_lifetime_s, 12);
	config_free(cfg);
	expect_error("esp = sometimes\n", 1, "allowed values");
	expect_error("esp_lifetime = 9\n", 1, "10 to 86400");
}

Test(config, peer_inherits_from_realm_then_global)
{
	struct config *cfg = NULL;
	struct errs e;
	struct policy eff;

	cr_assert_eq(load("[global]\ntls_port = 6061\nktls = off\n"
			  "[realm ex.net]\naddress = 10.1.0.0/16\n"
			  "name = ex.net\nrequire = ipsec\n"
			  "[peer a]\nrealm = ex.net\naddress = 10.1.2.3\n"
			  "ktls = require\n", &cfg, &e), 0, "%s", e.text);
	policy_effective(cfg, &cfg->pol[2], &eff);
	cr_assert_str_eq(eff.name, "ex.net");
	cr_assert_eq(eff.require, MECH_IPSEC);
	cr_assert_eq(eff.ktls, KTLS_REQUIRE);
	cr_assert_eq(eff.tls_port, 6061);
	config_free(cfg);
}

Test(config, longest_prefix_wins_and_peer_wins_a_tie)
{
	struct config *cfg = NULL;
	struct errs e;
	struct sockaddr_storage a = sa("10.1.2.3"), b = sa("10.1.9.9"),
				c = sa("10.2.0.1"), d = sa("fd00::1");

	cr_assert_eq(load("[realm r]\naddress = 10.1.0.0/16, 10.2.0.1\n"
			  "[peer p]\naddress = 10.1.2.0/24\n"
			  "[peer q]\naddress = 10.2.0.1/32\n", &cfg, &e), 0,
		     "%s", e.text);
	cr_assert_str_eq(policy_find(cfg, (void *)&a)->label, "peer p");
	cr_assert_str_eq(policy_find(cfg, (void *)&b)->label, "realm r");
	cr_assert_str_eq(policy_find(cfg, (void *)&c)->label, "peer q");
	cr_assert_null(policy_find(cfg, (void *)&d));
	config_free(cfg);
}

Test(config, every_bad_line_is_reported)
{
	struct config *cfg = NULL;
	struct errs e;

	cr_assert_eq(load("[global]\n"
			  "tls_port = 70000\n" /* 2 */
			  "colour = blue\n" /* 3 */
			  "no equals sign\n" /* 4 */
			  "[peer x]\n"
			  "address = 10.0.0.1/8\n", /* 6: host bits */
			  &cfg, &e), -EINVAL);
	/* 4 bad lines, and the peer whose only address was refused */
	cr_assert_eq(e.n, 5, "%s", e.text);
	cr_assert(strstr(e.text, ":5: [peer x]: needs 'address'"), "%s", e.text);
	cr_assert(strstr(e.text, ":2: tls_port = '70000'"), "%s", e.text);
	cr_assert(strstr(e.text, ":3: unknown key 'colour'"), "%s", e.text);
	cr_assert(strstr(e.text, ":4: expected 'key = value'"), "%s", e.text);
	cr_assert(strstr(e.text, ":6: address = '10.0.0.1/8'"), "%s", e.text);
}

Test(config, bad_values_name_their_reason)
{
	expect_error("log_level = loud\n", 1, "error, warn, info or debug");
	expect_error("require = rot13\n", 1, "unknown mechanism");
	expect_error("require = tls, ipsec\n", 1, "one mechanism only");
	expect_error("sip_ports = 5060, 5060\n", 1, "distinct ports");
	expect_error("sip_ports = 0\n", 1, "distinct ports");
	expect_error("tls_min_version = 1.1\n", 1, "1.2 or 1.3");
	expect_error("ktls = maybe\n", 1, "allowed values");
	expect_error("ca = relative/ca.pem\n", 1, "absolute path");
	expect_error("max_pending = 0\n", 1, "1 to 65536");
	expect_error("max_pending = 12abc\n", 1, "1 to 65536");
	expect_error("handshake_timeout_ms = -5\n", 1, "100 to 60000");
	expect_error("[control]\nsocket = /run/x.sock\n", 2, "abstract");
	expect_error("[control]\nallow_users = no-such-user-here\n", 2,
		     "unknown user");
	expect_error("[control]\nallow_groups = no-such-group-here\n", 2,
		     "unknown group");
}

Test(config, bad_sections_are_reported)
{
	expect_error("[peers x]\nname = a\n", 1, "unknown section");
	expect_error("[peer]\n", 1, "the name must be one word");
	expect_error("[peer a]\naddress = 10.0.0.1\n[peer a]\naddress = "
		     "10.0.0.2\n", 3, "already defined on line 1");
	expect_error("[peer a]\nname = a.ex\n", 1, "needs 'address'");
	expect_error("[peer a]\naddress = 10.0.0.1\nrealm = nope\n", 1,
		     "realm 'nope' is not defined");
	expect_error("[realm r]\nrealm = x\n", 2, "unknown key 'realm'");
	expect_error("[global\n", 1, "without ']'");
	expect_error("[peer a]\naddress = 10.0.0.1\nrequire = preshared\n", 1,
		     "needs psk");
	expect_error("[peer a]\naddress = 10.0.0.1\nrequire = ipsec\n"
		     "allow = tls\n", 1, "not in 'allow'");
}

Test(config, long_and_indented_lines_are_refused)
{
	char text[600];

	snprintf(text, sizeof(text), "[global]\nname = %0300d\nlog = stderr\n",
		 0);
	expect_error(text, 2, "line longer than");
	expect_error("[global]\nname = a\n  continued\n", 3,
		     "continuation lines are not supported");
}

Test(config, psk_is_checked_and_never_echoed)
{
	struct config *cfg = NULL;
	struct errs e;
	char text[256];
	char kpath[] = "/tmp/sipsec-test-psk.XXXXXX";
	int fd;

	expect_error("[peer a]\naddress = 10.0.0.1\npsk = hex:00112233\n", 3,
		     "shorter than 16 bytes");
	cr_assert_eq(load("[peer a]\naddress = 10.0.0.1\npsk = hex:zz11\n",
			  &cfg, &e), -EINVAL);
	cr_assert(strstr(e.text, "(hidden)"), "%s", e.text);
	cr_assert_null(strstr(e.text, "zz11"), "key echoed: %s", e.text);

	fd = mkstemp(kpath);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "00112233445566778899aabbccddeeff\n", 33), 33);
	close(fd);
	snprintf(text, sizeof(text),
		 "[peer a]\naddress = 10.0.0.1\npsk = file:%s\n"
		 "psk_identity = a\n", kpath);
	chmod(kpath, 0644);
	expect_error(text, 3, "readable by others");
	chmod(kpath, 0600);
	cr_assert_eq(load(text, &cfg, &e), 0, "%s", e.text);
	cr_assert_eq(cfg->pol[1].psk_len, 16);
	cr_assert_eq(cfg->pol[1].psk[15], 0xff);
	config_free(cfg);
	unlink(kpath);
}

Test(config, psk_needs_an_identity_and_belongs_to_a_peer)
{
	struct config *cfg = NULL;
	struct errs e;

	expect_error("[peer a]\naddress = 10.0.0.1\n"
		     "psk = hex:00112233445566778899aabbccddeeff\n", 1,
		     "[peer a]: psk needs psk_identity");
	expect_error("[peer a]\naddress = 10.0.0.1\npsk_identity = a\n", 1,
		     "psk_identity without psk");
	expect_error("[peer a]\naddress = 10.0.0.1\npsk_identity = a b\n", 3,
		     "printable ASCII without spaces");
	/* One key per peer: never a default for all of them. */
	expect_error("psk = hex:00112233445566778899aabbccddeeff\n", 1,
		     "belongs to one peer");
	expect_error("[global]\npsk_identity = x\n", 2, "belongs to one peer");
	/* A realm's key and identity are its peers' by inheritance. */
	cr_assert_eq(load("[realm r.example]\naddress = 10.1.0.0/16\n"
			  "psk = hex:00112233445566778899aabbccddeeff\n"
			  "psk_identity = r\n[peer a]\naddress = 10.1.0.1\n"
			  "realm = r.example\n", &cfg, &e), 0, "%s", e.text);
	config_free(cfg);
}

Test(config, check_shows_only_the_length_of_a_psk)
{
	struct config *cfg = NULL;
	struct errs e;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(load("[peer a]\naddress = 10.0.0.1\npsk = hex:"
			  "a1b2c3d4e5f60718293a4b5c6d7e8f90\n"
			  "psk_identity = pbx1\n", &cfg, &e), 0, "%s", e.text);
	f = open_memstream(&out, &len);
	policy_dump(cfg, f);
	fclose(f);
	cr_assert_not_null(strstr(out, "psk            set (16 bytes), "
				  "identity pbx1"), "%s", out);
	cr_assert_null(strstr(out, "a1b2"), "key shown: %s", out);
	free(out);
	config_free(cfg);
}

Test(config, missing_file_is_an_errno)
{
	struct config *cfg = NULL;

	cr_assert_eq(config_load("/nonexistent/sipsec.conf", &cfg, NULL, NULL),
		     -ENOENT);
	cr_assert_null(cfg);
}

Test(config, comments_bom_and_keys_before_sections)
{
	struct config *cfg = NULL;
	struct errs e;

	cr_assert_eq(load("\xef\xbb\xbf# comment\n; another\nname = h ; inline\n"
			  "\n[control]\nallow_users = 0, 65534\n", &cfg, &e),
		     0, "%s", e.text);
	cr_assert_str_eq(cfg->host_name, "h");
	cr_assert_eq(cfg->n_allow_uids, 2);
	cr_assert_eq(cfg->allow_uids[1], 65534);
	config_free(cfg);
}

// SPDX-License-Identifier: MIT
/*
 * sipsecctl certs: a demo CA and host certificates (EC P-256, SHA-256),
 * enough for a lab or a first test between two hosts. Not a CA for
 * production: keys are written unencrypted (mode 0600).
 *
 * An existing DIR/ca.pem + DIR/ca.key is reused, so hosts can be added
 * later and still chain to the same CA.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "sipsec.h"
#include "sipsecctl.h"

static void usage(FILE *f)
{
	fprintf(f,
"NAME\n"
"    sipsecctl certs - make a demo CA and host certificates\n"
"\n"
"SYNOPSIS\n"
"    sipsecctl certs [--days N] [--ca-name CN] DIR NAME[=ADDR[,ADDR]...]...\n"
"\n"
"DESCRIPTION\n"
"    Writes DIR/ca.pem and DIR/ca.key (kept if they exist), and for each\n"
"    NAME a certificate DIR/NAME.pem and key DIR/NAME.key signed by that\n"
"    CA: EC P-256, SHA-256, subject CN=NAME, subjectAltName DNS:NAME plus\n"
"    IP:ADDR for each address given, usable as TLS server and client.\n"
"    Keys are mode 0600. For labs and tests, not for production.\n"
"\n"
"OPTIONS\n"
"    --days N       validity in days (default 825)\n"
"    --ca-name CN   the CA's common name (default \"sipsec demo CA\")\n"
"\n"
"EXAMPLE\n"
"    sipsecctl certs /etc/sipsec/demo pbx1.example.net=192.0.2.10\n");
}

static int write_pem(const char *dir, const char *name, const char *ext,
		     X509 *crt, EVP_PKEY *key)
{
	char path[4096];
	FILE *f = NULL;
	int fd, ok = 0;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  key ? 0600 : 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		fprintf(stderr, "sipsecctl certs: %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) :
		   PEM_write_X509(f, crt);
	if (fclose(f) != 0)
		ok = 0;
	if (!ok)
		fprintf(stderr, "sipsecctl certs: cannot write %s\n", path);
	return ok ? 0 : -1;
}

static int add_ext(X509 *crt, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, crt, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(crt, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* Signs a new certificate for key (self-signed when issuer is NULL). */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer,
		       EVP_PKEY *issuer_key, long days, const char *san)
{
	X509 *crt = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	bool ca = !issuer;
	int err = -1;

	if (!crt || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f; /* positive */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt)))
		goto out;
	X509_set_version(crt, 2);
	X509_gmtime_adj(X509_getm_notBefore(crt), -3600);
	X509_gmtime_adj(X509_getm_notAfter(crt), days * 86400);
	X509_set_pubkey(crt, key);
	name = X509_get_subject_name(crt);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(crt, ca ? name : X509_get_subject_name(issuer));
	if (!issuer)
		issuer = crt;
	if (add_ext(crt, issuer, NID_basic_constraints,
		    ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE") ||
	    add_ext(crt, issuer, NID_key_usage,
		    ca ? "critical,keyCertSign,cRLSign" :
			 "critical,digitalSignature") ||
	    add_ext(crt, issuer, NID_subject_key_identifier, "hash") ||
	    (!ca && add_ext(crt, issuer, NID_authority_key_identifier,
			    "keyid:always")) ||
	    (!ca && add_ext(crt, issuer, NID_ext_key_usage,
			    "serverAuth,clientAuth")) ||
	    (san && add_ext(crt, issuer, NID_subject_alt_name, san)))
		goto out;
	if (!X509_sign(crt, ca ? key : issuer_key, EVP_sha256()))
		goto out;
	err = 0;
out:
	BN_free(bn);
	if (err) {
		X509_free(crt);
		return NULL;
	}
	return crt;
}

static int load_ca(const char *dir, X509 **crt, EVP_PKEY **key)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	if (!(f = fopen(path, "re")))
		return errno == ENOENT ? 0 : -errno;
	*crt = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	if (!(f = fopen(path, "re")))
		return -errno;
	*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return *crt && *key ? 1 : -EINVAL;
}

/* "name=1.2.3.4,2001:db8::1" -> "DNS:name,IP:1.2.3.4,IP:2001:db8::1" */
static int san_of(const char *arg, char *name, size_t nlen, char *san,
		  size_t slen)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	char addrs[1024], *save = NULL, *tok;
	size_t off;

	if (!len || len >= nlen || strchr(arg, '/'))
		return -EINVAL;
	memcpy(name, arg, len);
	name[len] = '\0';
	off = (size_t)snprintf(san, slen, "DNS:%s", name);
	if (!eq)
		return 0;
	if (strlen(eq + 1) >= sizeof(addrs))
		return -EINVAL;
	strcpy(addrs, eq + 1);
	for (tok = strtok_r(addrs, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		struct sipsec_net net;

		if (sipsec_net_parse(tok, &net) || strchr(tok, '/'))
			return -EINVAL;
		off += (size_t)snprintf(san + off, slen - off, ",IP:%s", tok);
		if (off >= slen)
			return -EINVAL;
	}
	return 0;
}

int cmd_certs(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "days", required_argument, NULL, 'd' },
		{ "ca-name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *ca_name = "sipsec demo CA", *dir;
	X509 *ca = NULL;
	EVP_PKEY *ca_key = NULL;
	uint32_t days = 825;
	int opt, rc = 1, have;

	(void)o;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			if (sipsec_parse_u32(optarg, 1, 36500, &days)) {
				fprintf(stderr, "sipsecctl certs: --days: 1 to "
					"36500\n");
				return 2;
			}
			break;
		case 'n': ca_name = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind < 2) {
		usage(stderr);
		return 2;
	}
	dir = argv[optind++];
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "sipsecctl certs: %s: %s\n", dir,
			strerror(errno));
		return 1;
	}
	have = load_ca(dir, &ca, &ca_key);
	if (have < 0) {
		fprintf(stderr, "sipsecctl certs: %s/ca.pem exists but %s/ca.key "
			"cannot be used: %s\n", dir, dir, strerror(-have));
		goto out;
	}
	if (!have) {
		ca_key = EVP_EC_gen("P-256");
		ca = ca_key ? make_cert(ca_name, ca_key, NULL, NULL, days, NULL) :
			      NULL;
		if (!ca || write_pem(dir, "ca", "pem", ca, NULL) ||
		    write_pem(dir, "ca", "key", NULL, ca_key))
			goto out;
		printf("%s/ca.pem\n", dir);
	}
	for (; optind < argc; optind++) {
		char name[256], san[2048];
		EVP_PKEY *key;
		X509 *crt;
		int err;

		if (san_of(argv[optind], name, sizeof(name), san, sizeof(san))) {
			fprintf(stderr, "sipsecctl certs: '%s': expected "
				"NAME[=ADDR[,ADDR]...]\n", argv[optind]);
			goto out;
		}
		key = EVP_EC_gen("P-256");
		crt = key ? make_cert(name, key, ca, ca_key, days, san) : NULL;
		err = !crt || write_pem(dir, name, "pem", crt, NULL) ||
		      write_pem(dir, name, "key", NULL, key);
		X509_free(crt);
		EVP_PKEY_free(key);
		if (err)
			goto out;
		printf("%s/%s.pem (%s)\n", dir, name, san);
	}
	rc = 0;
out:
	if (rc)
		ERR_print_errors_fp(stderr);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rc;
}

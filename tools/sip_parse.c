// SPDX-License-Identifier: MIT
/*
 * sipsecctl sip-parse: one SIP message from stdin through the parser the
 * shim and the daemon use (common/sip.c), to see what they would make of
 * a message a legacy program sends, or why they would refuse it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "secagree.h"
#include "sip.h"
#include "sipsecctl.h"

#define INPUT_MAX (SIP_MAX_HEAD + SIP_MAX_BODY)

static void usage(FILE *f)
{
	fprintf(f,
"NAME\n"
"    sipsecctl sip-parse - parse one SIP message from stdin\n"
"\n"
"SYNOPSIS\n"
"    sipsecctl [--json] sip-parse [--dgram] [--json] < MESSAGE\n"
"\n"
"DESCRIPTION\n"
"    Reads one SIP message (RFC 3261) on standard input and prints what\n"
"    sipsec's parser makes of it: the start line, each header with the\n"
"    name sipsec knows it by (compact forms such as 'v' or 'l' fold into\n"
"    their long names) and its value as written, the body's length, and\n"
"    for a multipart/mixed body each part with its headers. The security\n"
"    agreement headers (X-SIP-SECURE-SUPPORTS, -REQUIRES, -METHOD of the\n"
"    framework draft; Security-Client, -Server, -Verify of RFC 3329) are\n"
"    parsed with their grammar, each mechanism on a line starting '='\n"
"    (crypto-system, name, keying, preference, realm, M for mutual\n"
"    authentication); one that does not parse rejects the message.\n"
"    Otherwise it\n"
"    prints \"rejected: \" and the reason, naming the line and the fault,\n"
"    or the limit that was hit.\n"
"\n"
"    By default the input is framed as on TCP or TLS: Content-Length is\n"
"    mandatory, and input that ends before the message does is rejected\n"
"    (\"incomplete: ...\"); bytes after the message are counted as the\n"
"    start of a next one. With --dgram it is framed as one UDP datagram:\n"
"    the body is the rest of the input, cut to Content-Length if that is\n"
"    smaller.\n"
"\n"
"    Limits: %d bytes of start line and headers, %d headers, %d bytes of\n"
"    body, %d parts of %d headers each; at most %d bytes are read.\n"
"    Values are printed on one line, CR and LF of folded headers as \\r\n"
"    and \\n.\n"
"\n"
"OPTIONS\n"
"    -d, --dgram   frame the input as a datagram, not a stream\n"
"    -j, --json    one JSON object: {\"accepted\": ..., \"reason\": ...} or\n"
"                  the start line, \"headers\", \"body_length\", \"parts\"\n"
"    -h, --help    this text\n"
"\n"
"EXIT STATUS\n"
"    0 accepted; 1 rejected (or stdin unreadable); 2 bad usage.\n",
		SIP_MAX_HEAD, SIP_MAX_HEADERS, SIP_MAX_BODY, SIP_MAX_PARTS,
		SIP_MAX_PART_HEADERS, INPUT_MAX);
}

/* A security-agreement header, parsed with its grammar: the draft's for
 * X-SIP-SECURE-SUPPORTS/-REQUIRES/-METHOD, RFC 3329's for Security-*.
 * @return the mechanisms, 0 for another header, -errno with why. */
static int sec_header(const struct sip_header *h, struct sec_mech *m,
		      char *why, size_t wlen)
{
	switch (h->id) {
	case SIP_H_X_SECURE_SUPPORTS:
		return secx_parse_header(SECX_SUPPORTS, h->value.p, h->value.n,
					 m, SEC_MAX_MECHS, why, wlen);
	case SIP_H_X_SECURE_REQUIRES:
		return secx_parse_header(SECX_REQUIRES, h->value.p, h->value.n,
					 m, SEC_MAX_MECHS, why, wlen);
	case SIP_H_X_SECURE_METHOD:
		return secx_parse_header(SECX_METHOD, h->value.p, h->value.n,
					 m, SEC_MAX_MECHS, why, wlen);
	case SIP_H_SECURITY_CLIENT:
	case SIP_H_SECURITY_SERVER:
	case SIP_H_SECURITY_VERIFY:
		return sec3329_parse(h->value.p, h->value.n, m, SEC_MAX_MECHS,
				     why, wlen);
	default:
		return 0;
	}
}

/* The first security header that does not parse: its reason. */
static const char *sec_headers_check(const struct sip_header *h, size_t n,
				     char *why, size_t wlen)
{
	struct sec_mech m[SEC_MAX_MECHS];
	char w[200];

	for (size_t i = 0; i < n; i++) {
		if (sec_header(&h[i], m, w, sizeof(w)) >= 0)
			continue;
		snprintf(why, wlen, "%.*s: %s", (int)h[i].name.n, h[i].name.p,
			 w);
		return why;
	}
	return NULL;
}

static void text_mechs(const struct sip_header *h, const char *indent)
{
	struct sec_mech m[SEC_MAX_MECHS];
	char w[200];
	int n = sec_header(h, m, w, sizeof(w));

	for (int i = 0; i < n; i++)
		printf("%s  = %-9s %s%s%s q=%u%s%s%s\n", indent,
		       sec_mech_name(m[i].mech), m[i].name,
		       m[i].keying_name[0] ? " k:" : "", m[i].keying_name,
		       m[i].q, m[i].realm[0] ? " r:" : "", m[i].realm,
		       m[i].mutual ? " M" : "");
}

static void json_mechs(const struct sip_header *h)
{
	struct sec_mech m[SEC_MAX_MECHS];
	char w[200];
	int n = sec_header(h, m, w, sizeof(w));

	if (n <= 0)
		return;
	printf(",\"mechanisms\":[");
	for (int i = 0; i < n; i++) {
		printf("%s{", i ? "," : "");
		json_kv_str(stdout, "mechanism", sec_mech_name(m[i].mech), true);
		json_kv_str(stdout, "name", m[i].name, true);
		json_kv_str(stdout, "keying", m[i].keying_name, true);
		json_kv_str(stdout, "realm", m[i].realm, true);
		json_kv_bool(stdout, "mutual", m[i].mutual, true);
		json_kv_u64(stdout, "q", m[i].q, false);
		putchar('}');
	}
	putchar(']');
}

static void text_value(struct sip_str v)
{
	for (size_t i = 0; i < v.n; i++) {
		unsigned char c = (unsigned char)v.p[i];

		if (c == '\r')
			fputs("\\r", stdout);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void text_headers(const struct sip_header *h, size_t n,
			 const char *indent)
{
	for (size_t i = 0; i < n; i++) {
		const char *id = sip_header_name(h[i].id);

		printf("%s%-22s %.*s: ", indent, *id ? id : "-",
		       (int)h[i].name.n, h[i].name.p);
		text_value(h[i].value);
		putchar('\n');
		text_mechs(&h[i], indent);
	}
}

static void json_headers(const struct sip_header *h, size_t n)
{
	printf("\"headers\":[");
	for (size_t i = 0; i < n; i++) {
		printf("%s{", i ? "," : "");
		json_kv_str(stdout, "id", sip_header_name(h[i].id), true);
		printf("\"name\":");
		json_strn(stdout, h[i].name.p, h[i].name.n);
		printf(",\"value\":");
		json_strn(stdout, h[i].value.p, h[i].value.n);
		json_mechs(&h[i]);
		putchar('}');
	}
	putchar(']');
}

static void print_text(const struct sip_msg *m, size_t in,
		       const struct sip_part *parts, int n, const char *mwhy)
{
	if (m->request)
		printf("request  %.*s %.*s\n", (int)m->method.n, m->method.p,
		       (int)m->uri.n, m->uri.p);
	else
		printf("response %d %.*s\n", m->status, (int)m->reason.n,
		       m->reason.p);
	printf("headers  %zu\n", m->n_hdr);
	text_headers(m->hdr, m->n_hdr, "  ");
	printf("body     %zu bytes\n", m->body.n);
	if (n >= 0)
		printf("parts    %d\n", n);
	for (int i = 0; i < n; i++) {
		printf("  part %d: %zu headers, %zu bytes of body\n", i + 1,
		       parts[i].n_hdr, parts[i].body.n);
		text_headers(parts[i].hdr, parts[i].n_hdr, "    ");
	}
	if (m->len < in)
		printf("trailing %zu bytes after the message\n", in - m->len);
	if (mwhy)
		printf("rejected: %s\n", mwhy);
}

static void print_json(const struct sip_msg *m, size_t in,
		       const struct sip_part *parts, int n, const char *mwhy)
{
	printf("{\"accepted\":%s,", mwhy ? "false" : "true");
	if (mwhy)
		json_kv_str(stdout, "reason", mwhy, true);
	json_kv_bool(stdout, "request", m->request, true);
	if (m->request) {
		printf("\"method\":");
		json_strn(stdout, m->method.p, m->method.n);
		printf(",\"uri\":");
		json_strn(stdout, m->uri.p, m->uri.n);
	} else {
		printf("\"status\":%d,\"reason_phrase\":", m->status);
		json_strn(stdout, m->reason.p, m->reason.n);
	}
	putchar(',');
	json_headers(m->hdr, m->n_hdr);
	printf(",\"body_length\":%zu,\"length\":%zu,\"trailing\":%zu",
	       m->body.n, m->len, in - m->len);
	if (n >= 0) {
		printf(",\"parts\":[");
		for (int i = 0; i < n; i++) {
			printf("%s{", i ? "," : "");
			json_headers(parts[i].hdr, parts[i].n_hdr);
			printf(",\"body_length\":%zu}", parts[i].body.n);
		}
		putchar(']');
	}
	printf("}\n");
}

static void rejected(bool json, const char *prefix, const char *why)
{
	char full[320];

	snprintf(full, sizeof(full), "%s%s", prefix, why);
	if (json) {
		printf("{\"accepted\":false,");
		json_kv_str(stdout, "reason", full, false);
		printf("}\n");
	} else {
		printf("rejected: %s\n", full);
	}
}

int cmd_sip_parse(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dgram", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static char buf[INPUT_MAX + 1];
	static struct sip_msg m;
	static struct sip_part parts[SIP_MAX_PARTS];
	enum sip_framing framing = SIP_STREAM;
	bool json = o->json;
	char why[256], mwhy[256];
	const char *bad;
	size_t in = 0;
	int opt, err, n;

	optind = 0; /* a fresh getopt scan: glibc resets on 0 */
	while ((opt = getopt_long(argc, argv, "djh", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': framing = SIP_DGRAM; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sipsecctl sip-parse: unexpected '%s' (the "
			"message comes on stdin)\n", argv[optind]);
		return 2;
	}
	/* Bounded: one byte past the largest message tells it is too long. */
	while (in < sizeof(buf)) {
		ssize_t k = read(STDIN_FILENO, buf + in, sizeof(buf) - in);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			fprintf(stderr, "sipsecctl sip-parse: stdin: %s\n",
				strerror(errno));
			return 1;
		}
		if (!k)
			break;
		in += (size_t)k;
	}
	if (in > INPUT_MAX) {
		snprintf(why, sizeof(why), "input longer than %d bytes "
			 "(SIP_MAX_HEAD + SIP_MAX_BODY)", INPUT_MAX);
		rejected(json, "", why);
		return 1;
	}
	err = sip_parse(buf, in, framing, &m, why, sizeof(why));
	if (err) {
		rejected(json, err == -EAGAIN ? "incomplete: " : "", why);
		return 1;
	}
	n = sip_multipart(&m, parts, SIP_MAX_PARTS, mwhy, sizeof(mwhy));
	bad = n < 0 && n != -ENOMSG ? mwhy : NULL;
	/* A security header sipsecd could not read rejects the message. */
	if (!bad)
		bad = sec_headers_check(m.hdr, m.n_hdr, mwhy, sizeof(mwhy));
	for (int i = 0; !bad && i < n; i++)
		bad = sec_headers_check(parts[i].hdr, parts[i].n_hdr, mwhy,
					sizeof(mwhy));
	if (json)
		print_json(&m, in, parts, n, bad);
	else
		print_text(&m, in, parts, n, bad);
	return bad ? 1 : 0;
}

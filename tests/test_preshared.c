// SPDX-License-Identifier: MIT
/* The pre-shared crypto-system: attachments built, parsed and verified
 * (integrity, time, replay, NULL transform, encryption), found in a SIP
 * body, the replay cache, and the HKDF key schedule, with the vectors of
 * docs/preshared.md. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "preshared.h"
#include "sipsec.h"

#define T0 1700000000ULL

static char why[256];
static uint8_t key[32]; /* 00 01 .. 1f */

static void init_key(void)
{
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
}

TestSuite(preshared, .init = init_key);

/* The attachment of the vector: fixed key, nonces, time and tnonce. */
static void fixture(struct psk_attach *a)
{
	memset(a, 0, sizeof(*a));
	a->variant = PSK_SUPPORTS;
	a->auth = PSK_AUTH_HMAC_SHA256;
	strcpy(a->to, "pbx2.example.net");
	strcpy(a->from, "pbx1.example.net");
	strcpy(a->realm, "example.net");
	sec_mech_make(&a->mechs[0], SEC_MECH_IPSEC, SEC_K_PSK);
	sec_mech_make(&a->mechs[1], SEC_MECH_PRESHARED, SEC_K_DEFAULT);
	a->n_mechs = 2;
	for (size_t i = 0; i < PSK_NONCE_LEN; i++)
		a->nonce[i] = (uint8_t)(0xa0 + i);
	a->spi = 0x5a520001;
	a->time = T0;
	strcpy(a->tnonce, "0123456789abcdef");
}

static const char vector[] =
	"Content-Type: message/sip-secure\r\n"
	"Content-Length: 0\r\n"
	"X-SIP-SECURE-TO: pbx2.example.net\r\n"
	"X-SIP-SECURE-FROM: pbx1.example.net\r\n"
	"X-SIP-SECURE-METHOD: preshared.sec.sip.iana=(r:example.net)\r\n"
	"X-SIP-SECURE-SUPPORTS: ipsec.sec.sip.iana=(k:psk); preshared.sec.sip.iana\r\n"
	"Sipsec-Nonce: oKGio6SlpqeoqaqrrK2urw==\r\n"
	"Sipsec-Spi: 5a520001\r\n"
	"Authorization: hmac-sha256; time=1700000000:0123456789abcdef; "
	"sqPaipzsNDPSzINdn2Me5hlqtHrn5I6m+hptkncD7F4=\r\n"
	"\r\n";

static int build(struct psk_attach *a, char *out, size_t cap)
{
	why[0] = '\0';
	return psk_attach_build(a, key, sizeof(key), out, cap, why,
				sizeof(why));
}

static int verify(const char *p, size_t n, const struct psk_policy *pol,
		  struct psk_replay *rc, struct psk_attach *a)
{
	why[0] = '\0';
	return psk_attach_verify(p, n, key, sizeof(key), pol, rc, a, why,
				 sizeof(why));
}

static const struct psk_policy pol = { T0, 30, false };

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

Test(preshared, the_vector_builds_to_the_exact_bytes_and_checksum)
{
	struct psk_attach a;
	char out[PSK_ATTACH_MAX + 1];
	int n;

	fixture(&a);
	n = build(&a, out, sizeof(out));
	cr_assert_eq(n, (int)strlen(vector), "%d %s", n, why);
	cr_assert_str_eq(out, vector);
}

Test(preshared, the_vector_verifies_and_reads_back)
{
	struct psk_attach a, want;

	fixture(&want);
	cr_assert_eq(verify(vector, strlen(vector), &pol, NULL, &a), 0, "%s",
		     why);
	cr_assert_eq(a.variant, PSK_SUPPORTS);
	cr_assert_eq(a.auth, PSK_AUTH_HMAC_SHA256);
	cr_assert_eq(a.enc, PSK_ENC_NULL);
	cr_assert_str_eq(a.to, want.to);
	cr_assert_str_eq(a.from, want.from);
	cr_assert_str_eq(a.realm, "example.net");
	cr_assert_eq(a.n_mechs, 2);
	cr_assert_eq(a.mechs[0].mech, SEC_MECH_IPSEC);
	cr_assert_eq(a.mechs[0].keying, SEC_K_PSK);
	cr_assert_eq(a.mechs[1].mech, SEC_MECH_PRESHARED);
	cr_assert_arr_eq(a.nonce, want.nonce, PSK_NONCE_LEN);
	cr_assert_not(a.has_reply_to);
	cr_assert_eq(a.spi, 0x5a520001);
	cr_assert_eq(a.time, T0);
	cr_assert_str_eq(a.tnonce, "0123456789abcdef");
	cr_assert_str_eq(a.body, "");
}

/* Every byte, changed: outside the Authorization line (and the line end
 * before it) only the checksum can notice, so -EACCES; inside it, a change
 * may also make the attachment unreadable or drop the header (-EBADMSG,
 * -EPERM). Never 0. */
Test(preshared, a_changed_byte_anywhere_is_refused)
{
	size_t n = strlen(vector), auth = strstr(vector, "Authorization") -
					  vector,
	       auth_end = strchr(vector + auth, '\n') - vector;
	char buf[sizeof(vector)];
	struct psk_attach a;
	size_t eacces = 0;

	for (size_t i = 0; i < n; i++) {
		int rc;

		memcpy(buf, vector, n);
		buf[i] ^= 0x01;
		rc = verify(buf, n, &pol, NULL, &a);
		cr_assert_neq(rc, 0, "byte %zu changed, still verifies", i);
		if (i + 1 < auth || i > auth_end)
			cr_assert_eq(rc, -EACCES, "byte %zu: %d %s", i, rc,
				     why);
		else
			cr_assert(rc == -EACCES || rc == -EBADMSG ||
					  rc == -EPERM,
				  "byte %zu: %d %s", i, rc, why);
		eacces += rc == -EACCES;
	}
	cr_assert_gt(eacces, n * 9 / 10);
}

Test(preshared, a_changed_body_byte_is_refused)
{
	struct psk_attach a;
	char out[PSK_ATTACH_MAX + 1];
	int n;

	fixture(&a);
	strcpy(a.body, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n");
	n = build(&a, out, sizeof(out));
	cr_assert_gt(n, 0, "%s", why);
	cr_assert_eq(verify(out, (size_t)n, &pol, NULL, &a), 0, "%s", why);
	cr_assert_str_eq(a.body, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n");
	out[n - 3] = '2';
	cr_assert_eq(verify(out, (size_t)n, &pol, NULL, &a), -EACCES);
	cr_assert(strstr(why, "checksum"), "%s", why);
}

Test(preshared, a_wrong_key_is_refused)
{
	struct psk_attach a;
	uint8_t other[32];

	memcpy(other, key, sizeof(other));
	other[31] ^= 0x80;
	cr_assert_eq(psk_attach_verify(vector, strlen(vector), other,
				       sizeof(other), &pol, NULL, &a, why,
				       sizeof(why)),
		     -EACCES);
	cr_assert(strstr(why, "key"), "%s", why);
	/* too short a key is the caller's error, not a verdict */
	cr_assert_eq(psk_attach_verify(vector, strlen(vector), key, 8, &pol,
				       NULL, &a, why, sizeof(why)),
		     -EINVAL);
}

Test(preshared, timestamps_outside_the_skew_are_refused)
{
	struct psk_policy p = pol;
	struct psk_attach a;
	size_t n = strlen(vector);

	p.now = T0 + 30;
	cr_assert_eq(verify(vector, n, &p, NULL, &a), 0, "%s", why);
	p.now = T0 - 30;
	cr_assert_eq(verify(vector, n, &p, NULL, &a), 0, "%s", why);
	p.now = T0 + 31; /* expired */
	cr_assert_eq(verify(vector, n, &p, NULL, &a), -ETIME);
	cr_assert(strstr(why, "before now"), "%s", why);
	p.now = T0 - 31; /* from the future */
	cr_assert_eq(verify(vector, n, &p, NULL, &a), -ETIME);
	cr_assert(strstr(why, "after now"), "%s", why);
	p.now = 0;
	cr_assert_eq(verify(vector, n, &p, NULL, &a), -ETIME);
}

Test(preshared, a_replayed_nonce_is_refused_and_a_new_one_accepted)
{
	struct psk_replay *rc = psk_replay_new(16, 2 * 30 + 10);
	struct psk_attach a;
	char out[PSK_ATTACH_MAX + 1];
	int n;

	cr_assert_not_null(rc);
	cr_assert_eq(verify(vector, strlen(vector), &pol, rc, &a), 0, "%s",
		     why);
	cr_assert_eq(verify(vector, strlen(vector), &pol, rc, &a), -EALREADY);
	cr_assert(strstr(why, "0123456789abcdef"), "%s", why);
	fixture(&a);
	a.tnonce[0] = '\0'; /* a fresh random one */
	n = build(&a, out, sizeof(out));
	cr_assert_gt(n, 0, "%s", why);
	cr_assert_eq(strlen(a.tnonce), 16);
	cr_assert_str_neq(a.tnonce, "0123456789abcdef");
	cr_assert_eq(verify(out, (size_t)n, &pol, rc, &a), 0, "%s", why);
	cr_assert_eq(psk_replay_count(rc), 2);
	psk_replay_free(rc);
}

Test(preshared, a_forged_attachment_does_not_touch_the_replay_cache)
{
	struct psk_replay *rc = psk_replay_new(4, 70);
	char buf[sizeof(vector)];
	struct psk_attach a;

	memcpy(buf, vector, sizeof(vector));
	buf[20] ^= 1;
	cr_assert_eq(verify(buf, strlen(buf), &pol, rc, &a), -EACCES);
	cr_assert_eq(psk_replay_count(rc), 0);
	psk_replay_free(rc);
}

Test(preshared, replay_entries_expire_after_their_ttl)
{
	struct psk_replay *rc = psk_replay_new(2, 70);

	cr_assert_eq(psk_replay_check(rc, "b", "a", "n1", 1000), 0);
	cr_assert_eq(psk_replay_check(rc, "b", "a", "n1", 1069), -EALREADY);
	cr_assert_eq(psk_replay_check(rc, "b", "a", "n1", 1070), 0);
	cr_assert_eq(psk_replay_count(rc), 1);
	/* the key is the triple */
	cr_assert_eq(psk_replay_check(rc, "c", "a", "n1", 1070), 0);
	cr_assert_eq(psk_replay_check(rc, "b", "a", "n1", 1071), -EALREADY);
	psk_replay_free(rc);
}

Test(preshared, a_full_replay_cache_refuses_rather_than_forgets)
{
	struct psk_replay *rc = psk_replay_new(3, 70);
	char n[8];

	for (int i = 0; i < 3; i++) {
		snprintf(n, sizeof(n), "n%d", i);
		cr_assert_eq(psk_replay_check(rc, "b", "a", n, 1000 + i), 0);
	}
	cr_assert_eq(psk_replay_check(rc, "b", "a", "n9", 1010), -ENOSPC);
	cr_assert_eq(psk_replay_check(rc, "b", "a", "n0", 1010), -EALREADY);
	cr_assert_eq(psk_replay_count(rc), 3);
	/* the oldest expires: room again */
	cr_assert_eq(psk_replay_check(rc, "b", "a", "n9", 1070), 0);
	cr_assert_eq(psk_replay_count(rc), 3);
	cr_assert_null(psk_replay_new(0, 70));
	cr_assert_null(psk_replay_new(4, 0));
	psk_replay_free(NULL);
	psk_replay_free(rc);
}

Test(preshared, the_null_transform_is_accepted_only_where_allowed)
{
	struct psk_policy p = pol;
	struct psk_attach a;
	char out[PSK_ATTACH_MAX + 1];
	int n;

	fixture(&a);
	a.auth = PSK_AUTH_NULL;
	n = psk_attach_build(&a, NULL, 0, out, sizeof(out), why, sizeof(why));
	cr_assert_gt(n, 0, "%s", why);
	cr_assert_null(strstr(out, "Authorization"));
	cr_assert_eq(verify(out, (size_t)n, &p, NULL, &a), -EPERM);
	cr_assert(strstr(why, "policy"), "%s", why);
	p.allow_null = true;
	cr_assert_eq(verify(out, (size_t)n, &p, NULL, &a), 0, "%s", why);
	cr_assert_eq(a.auth, PSK_AUTH_NULL);
	/* without a key too */
	cr_assert_eq(psk_attach_verify(out, (size_t)n, NULL, 0, &p, NULL, &a,
				       why, sizeof(why)), 0, "%s", why);
}

static const char null_requires[] =
	"Content-Type: message/sip-secure\r\n"
	"Content-Length: 0\r\n"
	"X-SIP-SECURE-TO: pbx1.example.net\r\n"
	"X-SIP-SECURE-FROM: pbx2.example.net\r\n"
	"X-SIP-SECURE-METHOD: preshared.sec.sip.iana\r\n"
	"X-SIP-SECURE-REQUIRES: preshared.sec.sip.iana\r\n"
	"Sipsec-Nonce: sLGys7S1tre4ubq7vL2+vw==\r\n"
	"Sipsec-Reply-To: oKGio6SlpqeoqaqrrK2urw==\r\n"
	"Authorization: null\r\n"
	"\r\n";

Test(preshared, the_null_transform_is_never_accepted_on_a_requires)
{
	struct psk_policy p = pol;
	struct psk_attach a;
	char out[PSK_ATTACH_MAX + 1];

	p.allow_null = true;
	cr_assert_eq(psk_attach_parse(null_requires, strlen(null_requires), &a,
				      why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(verify(null_requires, strlen(null_requires), &p, NULL,
			    &a), -EPERM);
	cr_assert(strstr(why, "REQUIRES"), "%s", why);
	/* and it is not built */
	cr_assert_eq(a.variant, PSK_REQUIRES);
	cr_assert_eq(psk_attach_build(&a, key, sizeof(key), out, sizeof(out),
				      why, sizeof(why)), -EPERM);
}

Test(preshared, a_requires_answers_a_nonce_with_its_own_and_an_spi)
{
	struct psk_attach a, b;
	char out[PSK_ATTACH_MAX + 1];
	int n;

	fixture(&a);
	a.variant = PSK_REQUIRES;
	sec_mech_make(&a.mechs[0], SEC_MECH_IPSEC, SEC_K_PSK);
	a.n_mechs = 1;
	memcpy(a.reply_to, a.nonce, PSK_NONCE_LEN);
	a.has_reply_to = true;
	memset(a.nonce, 0, PSK_NONCE_LEN); /* drawn by build */
	a.spi = 0x5a520002;
	n = build(&a, out, sizeof(out));
	cr_assert_gt(n, 0, "%s", why);
	cr_assert(strstr(out, "X-SIP-SECURE-REQUIRES: ipsec.sec.sip.iana="
			      "(k:psk)\r\n"), "%s", out);
	cr_assert(strstr(out, "Sipsec-Reply-To: oKGio6SlpqeoqaqrrK2urw==\r\n"));
	cr_assert(strstr(out, "Sipsec-Spi: 5a520002\r\n"));
	cr_assert_eq(verify(out, (size_t)n, &pol, NULL, &b), 0, "%s", why);
	cr_assert_eq(b.variant, PSK_REQUIRES);
	cr_assert(b.has_reply_to);
	cr_assert_arr_eq(b.reply_to, a.reply_to, PSK_NONCE_LEN);
	cr_assert_arr_eq(b.nonce, a.nonce, PSK_NONCE_LEN);
	cr_assert_eq(b.spi, 0x5a520002);
	/* a REQUIRES that answers nothing, or names two, is not built */
	a.has_reply_to = false;
	cr_assert_eq(build(&a, out, sizeof(out)), -EINVAL);
	a.has_reply_to = true;
	a.n_mechs = 2;
	cr_assert_eq(build(&a, out, sizeof(out)), -EINVAL);
}

Test(preshared, an_encrypted_body_round_trips_and_a_changed_byte_fails)
{
	static const char secret[] = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
				     "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9";
	struct psk_attach a, b;
	char out[PSK_ATTACH_MAX + 1], copy[PSK_ATTACH_MAX + 1];
	char *body;
	int n;

	fixture(&a);
	a.enc = PSK_ENC_AES256GCM;
	strcpy(a.body, secret);
	n = build(&a, out, sizeof(out));
	cr_assert_gt(n, 0, "%s", why);
	cr_assert_null(strstr(out, "AES_CM"), "plaintext on the wire");
	cr_assert(strstr(out, "Encryption: aes256-gcm; iv="));
	cr_assert_eq(psk_attach_parse(out, (size_t)n, &b, why, sizeof(why)), 0,
		     "%s", why);
	cr_assert_str_eq(b.body, "", "parse cannot open it");
	cr_assert_eq(verify(out, (size_t)n, &pol, NULL, &b), 0, "%s", why);
	cr_assert_eq(b.enc, PSK_ENC_AES256GCM);
	cr_assert_str_eq(b.body, secret);
	body = strstr(out, "\r\n\r\n") + 4;
	for (char *c = body; c < out + n; c += 7) {
		memcpy(copy, out, (size_t)n);
		copy[c - out] = *c == 'A' ? 'B' : 'A';
		cr_assert_eq(verify(copy, (size_t)n, &pol, NULL, &b), -EACCES,
			     "ciphertext byte %td: %s", c - body, why);
	}
	/* a fresh IV each time */
	cr_assert_eq(build(&a, copy, sizeof(copy)), n);
	cr_assert_str_neq(copy, out);
}

static const char options_head[] =
	"OPTIONS sip:pbx2.example.net SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"
	"From: <sip:pbx1.example.net>;tag=1928301774\r\n"
	"To: <sip:pbx2.example.net>\r\n"
	"Call-ID: a84b4c76e66710\r\n"
	"CSeq: 1 OPTIONS\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"sipsec-b1\"\r\n"
	"Content-Length: %zu\r\n"
	"\r\n";

Test(preshared, find_picks_the_preshared_part_of_a_multipart_options)
{
	char body[8192], msg[12000];
	struct sip_msg m;
	struct psk_attach a;
	const char *p;
	size_t n;
	int len;

	len = snprintf(body, sizeof(body),
		       "--sipsec-b1\r\n"
		       "Content-Type: application/sdp\r\n"
		       "\r\n"
		       "v=0\r\n"
		       "--sipsec-b1\r\n"
		       "Content-Type: message/sip-secure\r\n"
		       "X-SIP-SECURE-METHOD: CHAP.sec.sip.iana\r\n"
		       "\r\n"
		       "chap\r\n"
		       "--sipsec-b1\r\n"
		       "%s\r\n"
		       "--sipsec-b1--\r\n", vector);
	snprintf(msg, sizeof(msg), options_head, (size_t)len);
	strcat(msg, body);
	cr_assert_eq(sip_parse(msg, strlen(msg), SIP_DGRAM, &m, why,
			       sizeof(why)), 0, "%s", why);
	cr_assert_eq(psk_attach_find(&m, &p, &n), 0);
	cr_assert_eq(n, strlen(vector));
	cr_assert_eq(memcmp(p, vector, n), 0);
	cr_assert_eq(verify(p, n, &pol, NULL, &a), 0, "%s", why);
}

Test(preshared, find_says_enoent_without_an_attachment)
{
	static const char plain[] = "OPTIONS sip:b SIP/2.0\r\n"
				    "Content-Length: 0\r\n\r\n";
	struct sip_msg m;
	const char *p;
	size_t n;

	cr_assert_eq(sip_parse(plain, strlen(plain), SIP_DGRAM, &m, why,
			       sizeof(why)), 0, "%s", why);
	cr_assert_eq(psk_attach_find(&m, &p, &n), -ENOENT);
}

/* The vector with one header line replaced (or removed: with = ""). */
static int parse_edited(const char *line, const char *with)
{
	char buf[sizeof(vector) + 256];
	const char *at = strstr(vector, line), *end;
	struct psk_attach a;

	cr_assert_not_null(at, "%s", line);
	end = strstr(at, "\r\n") + 2;
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - vector), vector, with,
		 end);
	why[0] = '\0';
	return psk_attach_parse(buf, strlen(buf), &a, why, sizeof(why));
}

#define assert_malformed(line, with, reason)                               \
	do {                                                               \
		int r_ = parse_edited(line, with);                         \
		cr_assert_eq(r_, -EBADMSG, "%s -> %d", with, r_);          \
		cr_assert(strstr(why, reason), "'%s' lacks '%s'", why,     \
			  reason);                                         \
	} while (0)

Test(preshared, malformed_attachments_are_refused_with_a_reason)
{
	assert_malformed("X-SIP-SECURE-TO", "", "no X-SIP-SECURE-TO");
	assert_malformed("X-SIP-SECURE-FROM", "", "no X-SIP-SECURE-FROM");
	assert_malformed("X-SIP-SECURE-METHOD", "", "no X-SIP-SECURE-METHOD");
	assert_malformed("Sipsec-Nonce", "", "no Sipsec-Nonce");
	assert_malformed("Content-Length", "", "no Content-Length");
	assert_malformed("X-SIP-SECURE-SUPPORTS", "", "neither");
	assert_malformed("Sipsec-Nonce", "Sipsec-Nonce: oKGio6SlpqeoqaqrrK2ur*==\r\n",
			 "Sipsec-Nonce is not base64");
	assert_malformed("Sipsec-Nonce", "Sipsec-Nonce: oKGio6SlpqeoqaqrrK2urx==\r\n",
			 "Sipsec-Nonce is not base64"); /* not canonical */
	assert_malformed("Sipsec-Nonce", "Sipsec-Nonce: oKGio6Slpqeoqaqr\r\n",
			 "Sipsec-Nonce is not base64"); /* 12 bytes */
	assert_malformed("Content-Length", "Content-Length: 1\r\n",
			 "Content-Length is not the body's length");
	assert_malformed("Content-Length", "Content-Length: 99999999\r\n",
			 "Content-Length is not the body's length");
	assert_malformed("Sipsec-Spi", "Sipsec-Spi: 1\r\nSipsec-Spi: 2\r\n",
			 "Sipsec-Spi given twice");
	assert_malformed("X-SIP-SECURE-TO", "X-SIP-SECURE-TO: a\r\nx-sip-secure-to: b\r\n",
			 "X-SIP-SECURE-TO given twice");
	assert_malformed("Sipsec-Spi", "Sipsec-Spi: ff\r\n", "not an SPI");
	assert_malformed("X-SIP-SECURE-METHOD",
			 "X-SIP-SECURE-METHOD: preshared.sec.sip.iana=(k:ike)\r\n",
			 "no K:");
	assert_malformed("X-SIP-SECURE-METHOD",
			 "X-SIP-SECURE-METHOD: tls.sec.sip.iana\r\n",
			 "not preshared");
	assert_malformed("X-SIP-SECURE-SUPPORTS",
			 "X-SIP-SECURE-REQUIRES: tls.sec.sip.iana; ipsec.sec.sip.iana\r\n",
			 "X-SIP-SECURE-REQUIRES");
	assert_malformed("Content-Type", "Content-Type: text/plain\r\n",
			 "message/sip-secure");
	assert_malformed("Authorization", "Authorization: hmac-sha256; abc\r\n",
			 "Authorization");
	assert_malformed("Authorization",
			 "Authorization: hmac-md5; time=1:a; abc\r\n",
			 "unknown algorithm");
	assert_malformed("Authorization",
			 "Authorization: hmac-sha256; time=x:a; "
			 "sqPaipzsNDPSzINdn2Me5hlqtHrn5I6m+hptkncD7F4=\r\n",
			 "SECONDS:NONCE");
	assert_malformed("Sipsec-Spi", " folded: x\r\n", "folded line");
	assert_malformed("Sipsec-Spi", "Sipsec-Spi 1\r\n", "not 'Name: value'");
	assert_malformed("Sipsec-Spi", "Sipsec-Spi: 5a52\x01\r\n", "control");
	assert_malformed("Authorization",
			 "Encryption: aes256-gcm; iv=AAAAAAAAAAAAAAAA\r\n"
			 "Authorization: null\r\n",
			 "after Encryption");
}

Test(preshared, limits_are_enforced)
{
	char big[PSK_ATTACH_MAX + 64];
	struct psk_attach a;
	char out[PSK_ATTACH_MAX + 1];

	memset(big, 'x', sizeof(big));
	cr_assert_eq(verify(big, sizeof(big), &pol, NULL, &a), -EBADMSG);
	cr_assert(strstr(why, "PSK_ATTACH_MAX"), "%s", why);
	cr_assert_eq(psk_attach_parse(big, sizeof(big), &a, why, sizeof(why)),
		     -EBADMSG);
	cr_assert_eq(verify(vector, 40, &pol, NULL, &a), -EBADMSG);
	fixture(&a);
	cr_assert_eq(build(&a, out, strlen(vector)), -ENOSPC);
	cr_assert_eq(build(&a, out, strlen(vector) + 1), (int)strlen(vector));
	memset(a.body, 'b', sizeof(a.body));
	cr_assert_eq(build(&a, out, sizeof(out)), -EINVAL); /* unterminated */
	fixture(&a);
	strcpy(a.to, "bad\r\nInjected: 1");
	cr_assert_eq(build(&a, out, sizeof(out)), -EINVAL);
	fixture(&a);
	cr_assert_eq(psk_attach_build(&a, key, 15, out, sizeof(out), why,
				      sizeof(why)), -EINVAL);
}

/* ---- key schedule ----------------------------------------------------- */

Test(preshared, hkdf_gives_rfc5869_test_case_1)
{
	uint8_t ikm[22], salt[13], info[10], okm[42];
	char h[85];

	memset(ikm, 0x0b, sizeof(ikm));
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(0xf0 + i);
	cr_assert_eq(psk_hkdf(ikm, sizeof(ikm), salt, sizeof(salt), info,
			      sizeof(info), okm, sizeof(okm)), 0);
	hex(okm, sizeof(okm), h);
	cr_assert_str_eq(h, "3cb25f25faacd57a90434f64d0362f2a"
			    "2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
			    "34007208d5b887185865");
}

Test(preshared, attachment_keys_have_their_own_labels)
{
	uint8_t k[32];
	char h[65];

	cr_assert_eq(psk_attach_key(key, sizeof(key), PSK_LABEL_MAC, k), 0);
	hex(k, sizeof(k), h);
	cr_assert_str_eq(h, "95b2854d71f1d5282adf857adfa525c1"
			    "c25ff16137890c9c98d5dd588a2e916a");
	cr_assert_eq(psk_attach_key(key, sizeof(key), PSK_LABEL_ENC, k), 0);
	hex(k, sizeof(k), h);
	cr_assert_str_eq(h, "7252af1a81bbcf12936ed53a9ced62d7"
			    "c50e0a7d10fb0469a2eacd552a45c7d9");
}

Test(preshared, esp_keys_from_the_psk_match_the_vector)
{
	uint8_t ni[PSK_NONCE_LEN], nr[PSK_NONCE_LEN], i2r[36], r2i[36];
	char h[73];

	for (size_t i = 0; i < PSK_NONCE_LEN; i++) {
		ni[i] = (uint8_t)(0xa0 + i);
		nr[i] = (uint8_t)(0xb0 + i);
	}
	cr_assert_eq(psk_esp_keys(key, sizeof(key), ni, nr, 0x5a520001,
				  0x5a520002, 32, i2r, r2i), 0);
	hex(i2r, 36, h);
	cr_assert_str_eq(h, "fb8204b7821d11da858df017157a8ebd"
			    "c15943a7473800fb3bad93c02960cc13"
			    "17a74024");
	hex(r2i, 36, h);
	cr_assert_str_eq(h, "63a2053705dafeb29333494725d2e66e"
			    "b2a3346b5a6cb5d361e22a55a9968c50"
			    "d16759d1");
	/* AES-128: the same output stream cut at 2 x 20 */
	cr_assert_eq(psk_esp_keys(key, sizeof(key), ni, nr, 0x5a520001,
				  0x5a520002, 16, i2r, r2i), 0);
	hex(i2r, 20, h);
	cr_assert_str_eq(h, "fb8204b7821d11da858df017157a8ebdc15943a7");
	hex(r2i, 20, h);
	cr_assert_str_eq(h, "473800fb3bad93c02960cc1317a7402463a20537");
}

Test(preshared, esp_keys_refuse_bad_arguments)
{
	uint8_t n[PSK_NONCE_LEN] = { 0 }, a[36], b[36];

	cr_assert_eq(psk_esp_keys(key, 32, n, n, 0x1000, 0x2000, 24, a, b),
		     -EINVAL);
	cr_assert_eq(psk_esp_keys(key, 32, n, n, 0x1000, 0x1000, 32, a, b),
		     -EINVAL);
	cr_assert_eq(psk_esp_keys(key, 32, n, n, 255, 0x1000, 32, a, b),
		     -EINVAL);
	cr_assert_eq(psk_esp_keys(key, 15, n, n, 0x1000, 0x2000, 32, a, b),
		     -EINVAL);
	cr_assert_eq(psk_esp_keys(NULL, 32, n, n, 0x1000, 0x2000, 32, a, b),
		     -EINVAL);
	/* the SPIs are bound: swapping them changes the keys */
	cr_assert_eq(psk_esp_keys(key, 32, n, n, 0x1000, 0x2000, 32, a, b), 0);
	cr_assert_eq(psk_esp_keys(key, 32, n, n, 0x2000, 0x1000, 32, b, b), 0);
	cr_assert_neq(memcmp(a, b, 36), 0);
}

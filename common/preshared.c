// SPDX-License-Identifier: MIT
/*
 * The pre-shared crypto-system's message/sip-secure attachments
 * (draft-thomas 4.2, 6): build, parse, verify, and find one in a SIP body.
 *
 *   Content-Type: message/sip-secure
 *   Content-Length: <body octets>
 *   X-SIP-SECURE-TO: ... / X-SIP-SECURE-FROM: ...
 *   X-SIP-SECURE-METHOD: preshared.sec.sip.iana[=(r:realm)]
 *   X-SIP-SECURE-SUPPORTS: <list> | X-SIP-SECURE-REQUIRES: <one>
 *   Sipsec-Nonce: <base64> [Sipsec-Reply-To: <base64>] [Sipsec-Spi: <hex>]
 *   Authorization: hmac-sha256; time=<T>:<tnonce>; <base64 checksum>
 *   [Encryption: aes256-gcm; iv=<base64>]
 *
 *   <body: text, or base64 of AES-256-GCM ciphertext || tag>
 *
 * The checksum is HMAC-SHA-256, keyed with HKDF(psk, PSK_LABEL_MAC), over
 * the whole attachment (first header byte to last body byte) with the
 * checksum's own characters left out: it cannot cover itself. Encryption is
 * encrypt-then-MAC. The reader is preshared_parse.c. docs/preshared.md is
 * the reference; it and this file change together.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "preshared_int.h"
#include "sip_int.h"
#include "sipsec.h"

/* ---- crypto ----------------------------------------------------------- */

/* HMAC-SHA-256 over p[0, n) without the checksum text [cs, cs + clen). */
static int mac(const uint8_t *key, const char *p, size_t n, size_t cs,
	       size_t clen, uint8_t out[MAC_LEN])
{
	OSSL_PARAM params[2];
	EVP_MAC *m = NULL;
	EVP_MAC_CTX *c = NULL;
	size_t olen = 0;
	int err = -ENOMEM;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!m || !(c = EVP_MAC_CTX_new(m)))
		goto out;
	if (EVP_MAC_init(c, key, MAC_LEN, params) != 1 ||
	    EVP_MAC_update(c, (const uint8_t *)p, cs) != 1 ||
	    EVP_MAC_update(c, (const uint8_t *)p + cs + clen,
			   n - cs - clen) != 1 ||
	    EVP_MAC_final(c, out, &olen, MAC_LEN) != 1 || olen != MAC_LEN)
		goto out;
	err = 0;
out:
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
	return err;
}

/* AES-256-GCM, no AAD: the HMAC over the whole attachment binds the
 * headers. out holds n + TAG_LEN bytes (encrypt) or n - TAG_LEN (decrypt).
 * @return 0, -EACCES (tag), -ENOMEM. */
static int gcm(bool enc, const uint8_t *key, const uint8_t *iv,
	       const uint8_t *in, size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	size_t len = enc ? n : n - TAG_LEN;
	int l1 = 0, l2 = 0, err = -ENOMEM;

	if (!c || EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL,
				    enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
					(void *)(in + len)) != 1)
		goto out;
	if (EVP_CipherUpdate(c, out, &l1, in, (int)len) != 1)
		goto out;
	if (EVP_CipherFinal_ex(c, out + l1, &l2) != 1) {
		err = enc ? -ENOMEM : -EACCES;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
				       out + len) != 1)
		goto out;
	err = 0;
out:
	if (err && !enc)
		OPENSSL_cleanse(out, len);
	EVP_CIPHER_CTX_free(c);
	return err;
}

/* ---- building --------------------------------------------------------- */

struct out {
	char *buf;
	size_t cap, len;
	bool over;
};

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (o->over)
		return;
	va_start(ap, fmt);
	k = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= o->cap - o->len)
		o->over = true;
	else
		o->len += (size_t)k;
}

static bool is_ident(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (!n || n == size || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	return !acc;
}

static int check_input(struct psk_attach *a, const uint8_t *key, size_t klen,
		       char *why, size_t wlen)
{
	size_t tn = strnlen(a->tnonce, sizeof(a->tnonce));

	if (a->variant != PSK_SUPPORTS && a->variant != PSK_REQUIRES)
		return sip_fail(why, wlen, -EINVAL, "variant %u", a->variant);
	if (a->auth > PSK_AUTH_HMAC_SHA256 || a->enc > PSK_ENC_AES256GCM)
		return sip_fail(why, wlen, -EINVAL, "unknown transform");
	if (!a->auth && a->variant == PSK_REQUIRES)
		return sip_fail(why, wlen, -EPERM, "a REQUIRES must not use "
				"the NULL transform (draft 4.2.3)");
	if (a->enc && !a->auth)
		return sip_fail(why, wlen, -EINVAL, "encryption without "
				"authentication (encrypt-then-MAC needs both)");
	if (a->auth && (!key || klen < PSK_KEY_MIN))
		return sip_fail(why, wlen, -EINVAL, "a key of %d bytes or "
				"more is needed", PSK_KEY_MIN);
	if (!is_ident(a->to, sizeof(a->to)) ||
	    !is_ident(a->from, sizeof(a->from)))
		return sip_fail(why, wlen, -EINVAL, "to and from must be "
				"printable, 1 to 63 characters");
	if (a->variant == PSK_REQUIRES ? a->n_mechs != 1 || !a->has_reply_to :
					 !a->n_mechs ||
						 a->n_mechs > SEC_MAX_MECHS)
		return sip_fail(why, wlen, -EINVAL, "a SUPPORTS lists 1 to %d "
				"mechanisms; a REQUIRES one, and a reply-to",
				SEC_MAX_MECHS);
	if (a->spi && a->spi < 256)
		return sip_fail(why, wlen, -EINVAL, "SPI %u is reserved",
				a->spi);
	if (tn == sizeof(a->tnonce))
		return sip_fail(why, wlen, -EINVAL, "tnonce not terminated");
	for (size_t i = 0; i < tn; i++)
		if (!psk_tnonce_char(a->tnonce[i]))
			return sip_fail(why, wlen, -EINVAL, "tnonce character "
					"0x%02x", (unsigned char)a->tnonce[i]);
	if (strnlen(a->body, sizeof(a->body)) == sizeof(a->body))
		return sip_fail(why, wlen, -EINVAL, "body not terminated");
	return 0;
}

/* The header values secx_format writes, read back: what we send must
 * parse, and REQUIRES rules (one method, no M) are the parser's. */
static int put_mechs(struct out *o, const struct psk_attach *a, char *why,
		     size_t wlen)
{
	bool sup = a->variant == PSK_SUPPORTS;
	struct sec_mech m, back[SEC_MAX_MECHS];
	char v[1024], w[96];
	int k;

	sec_mech_make(&m, SEC_MECH_PRESHARED, SEC_K_DEFAULT);
	memcpy(m.realm, a->realm, sizeof(m.realm));
	m.realm[sizeof(m.realm) - 1] = '\0';
	k = secx_format(&m, 1, v, sizeof(v));
	if (k < 0 || secx_parse_header(SECX_METHOD, v, (size_t)k, back, 1, w,
				       sizeof(w)) != 1)
		return sip_fail(why, wlen, -EINVAL, "realm '%s' cannot be "
				"written", m.realm);
	put(o, "X-SIP-SECURE-METHOD: %s\r\n", v);
	k = secx_format(a->mechs, a->n_mechs, v, sizeof(v));
	if (k < 0 ||
	    secx_parse_header(sup ? SECX_SUPPORTS : SECX_REQUIRES, v,
			      (size_t)k, back, SEC_MAX_MECHS, w,
			      sizeof(w)) != (int)a->n_mechs)
		return sip_fail(why, wlen, -EINVAL, "the mechanisms cannot be "
				"written as X-SIP-SECURE-%s",
				sup ? "SUPPORTS" : "REQUIRES");
	put(o, "X-SIP-SECURE-%s: %s\r\n", sup ? "SUPPORTS" : "REQUIRES", v);
	return 0;
}

int psk_attach_build(struct psk_attach *a, const uint8_t *key, size_t klen,
		     char *out, size_t cap, char *why, size_t wlen)
{
	uint8_t mk[32], ek[32], iv[IV_LEN], ct[CT_MAX], sum[MAC_LEN];
	char body[B64_LEN(CT_MAX) + 1], b64[B64_LEN(PSK_NONCE_LEN) + 1];
	char ivb[B64_LEN(IV_LEN) + 1], sumb[MAC_B64 + 1];
	struct out o = { out, cap, 0, false };
	size_t cs = 0, blen;
	int err;

	if (!a || !out || !cap)
		return -EINVAL;
	err = check_input(a, key, klen, why, wlen);
	if (err)
		return err;
	if (!a->tnonce[0] || all_zero(a->nonce, PSK_NONCE_LEN)) {
		uint8_t r[8];

		if (RAND_bytes(r, sizeof(r)) != 1 ||
		    (all_zero(a->nonce, PSK_NONCE_LEN) &&
		     RAND_bytes(a->nonce, PSK_NONCE_LEN) != 1))
			return sip_fail(why, wlen, -EIO, "no random bytes");
		if (!a->tnonce[0])
			for (size_t i = 0; i < sizeof(r); i++)
				snprintf(a->tnonce + 2 * i, 3, "%02x", r[i]);
	}
	if (a->auth && ((err = psk_attach_key(key, klen, PSK_LABEL_MAC, mk)) ||
			(a->enc && (err = psk_attach_key(key, klen,
							 PSK_LABEL_ENC, ek))))) {
		err = sip_fail(why, wlen, err, "key derivation failed");
		goto out;
	}
	blen = strlen(a->body);
	if (a->enc) {
		if (RAND_bytes(iv, sizeof(iv)) != 1) {
			err = sip_fail(why, wlen, -EIO, "no random bytes");
			goto out;
		}
		err = gcm(true, ek, iv, (const uint8_t *)a->body, blen, ct);
		if (err) {
			err = sip_fail(why, wlen, err, "AES-256-GCM failed");
			goto out;
		}
		psk_b64_enc(ct, blen + TAG_LEN, body);
		psk_b64_enc(iv, sizeof(iv), ivb);
	} else {
		memcpy(body, a->body, blen + 1);
	}
	blen = strlen(body);
	put(&o, "Content-Type: message/sip-secure\r\n"
		"Content-Length: %zu\r\n"
		"X-SIP-SECURE-TO: %s\r\n"
		"X-SIP-SECURE-FROM: %s\r\n", blen, a->to, a->from);
	err = put_mechs(&o, a, why, wlen);
	if (err)
		goto out;
	psk_b64_enc(a->nonce, PSK_NONCE_LEN, b64);
	put(&o, "Sipsec-Nonce: %s\r\n", b64);
	if (a->has_reply_to) {
		psk_b64_enc(a->reply_to, PSK_NONCE_LEN, b64);
		put(&o, "Sipsec-Reply-To: %s\r\n", b64);
	}
	if (a->spi)
		put(&o, "Sipsec-Spi: %08x\r\n", a->spi);
	if (a->auth) {
		put(&o, "Authorization: hmac-sha256; time=%" PRIu64 ":%s; ",
		    a->time, a->tnonce);
		cs = o.len;
		put(&o, "\r\n");
	}
	if (a->enc)
		put(&o, "Encryption: aes256-gcm; iv=%s\r\n", ivb);
	put(&o, "\r\n%s", body);
	if (o.over || o.len + (a->auth ? MAC_B64 : 0) >= cap ||
	    o.len + (a->auth ? MAC_B64 : 0) > PSK_ATTACH_MAX) {
		err = sip_fail(why, wlen, -ENOSPC, "the attachment does not "
			       "fit (%zu bytes, PSK_ATTACH_MAX %d)", cap,
			       PSK_ATTACH_MAX);
		goto out;
	}
	if (a->auth) {
		/* the checksum over everything but itself, then put in */
		err = mac(mk, out, o.len, cs, 0, sum);
		if (err) {
			err = sip_fail(why, wlen, err, "HMAC-SHA-256 failed");
			goto out;
		}
		psk_b64_enc(sum, sizeof(sum), sumb);
		memmove(out + cs + MAC_B64, out + cs, o.len - cs + 1);
		memcpy(out + cs, sumb, MAC_B64);
		o.len += MAC_B64;
	}
	err = (int)o.len;
out:
	OPENSSL_cleanse(mk, sizeof(mk));
	OPENSSL_cleanse(ek, sizeof(ek));
	OPENSSL_cleanse(ct, sizeof(ct));
	OPENSSL_cleanse(body, sizeof(body));
	return err;
}

/* ---- verifying -------------------------------------------------------- */

/*
 * The checksum as it stands before anything else is read: the one line
 * that begins with "Authorization:" before the first empty line, and in
 * it what follows the last ';'. Everything else in the attachment is under
 * the MAC, so a changed byte anywhere else is -EACCES, not a parse error
 * that would tell a forger how far it got. @return 1 with *cs and *clen, 0 no
 * Authorization or "null" (the full parse decides), -EBADMSG.
 */
static int locate(const char *p, size_t n, size_t *cs, size_t *clen,
		  char *why, size_t wlen)
{
	const char *line = NULL;
	size_t i = 0;

	while (i < n) {
		const char *lf = memchr(p + i, '\n', n - i);
		size_t end = lf ? (size_t)(lf - p) : n, k = i + 13;

		if (end == i || (end == i + 1 && p[i] == '\r'))
			break;
		if (end - i > 13 && sip_ci_eq(p + i, "Authorization", 13)) {
			while (k < end && (p[k] == ' ' || p[k] == '\t'))
				k++;
			if (k < end && p[k] == ':') {
				if (line)
					return sip_fail(why, wlen, -EBADMSG,
							"Authorization given "
							"twice");
				line = p + k + 1;
				*clen = end - k - 1;
			}
		}
		i = end + 1;
	}
	if (!line)
		return 0;
	{
		struct sip_str v = psk_trim(line, *clen), alg, c;
		const char *semi = memchr(v.p, ';', v.n), *last = semi;

		if (v.n && v.p[v.n - 1] == '\r')
			v = psk_trim(v.p, v.n - 1);
		alg = psk_trim(v.p, semi ? (size_t)(semi - v.p) : v.n);
		if (alg.n == 4 && sip_ci_eq(alg.p, "null", 4))
			return 0;
		if (alg.n != 11 || !sip_ci_eq(alg.p, "hmac-sha256", 11))
			return sip_fail(why, wlen, -EBADMSG, "Authorization: "
					"unknown algorithm");
		while (last && (semi = memchr(last + 1, ';',
					      (size_t)(v.p + v.n - last - 1))))
			last = semi;
		if (!last)
			return sip_fail(why, wlen, -EBADMSG, "Authorization "
					"without a checksum");
		c = psk_trim(last + 1, (size_t)(v.p + v.n - last - 1));
		*cs = (size_t)(c.p - p);
		*clen = c.n;
	}
	return 1;
}

static int check_sum(const char *p, size_t n, const uint8_t *key,
		     size_t klen, size_t cs, size_t clen, char *why,
		     size_t wlen)
{
	uint8_t mk[32], want[MAC_LEN], got[MAC_LEN];
	int err;

	if (!key || klen < PSK_KEY_MIN)
		return sip_fail(why, wlen, -EINVAL, "no key of %d bytes or "
				"more to check an hmac-sha256 attachment",
				PSK_KEY_MIN);
	err = psk_attach_key(key, klen, PSK_LABEL_MAC, mk);
	if (!err)
		err = mac(mk, p, n, cs, clen, want);
	OPENSSL_cleanse(mk, sizeof(mk));
	if (err)
		return sip_fail(why, wlen, err, "HMAC-SHA-256 failed");
	/* A checksum that is not even base64 of 32 bytes cannot be right
	 * either: the same answer as a wrong one. */
	if (clen != MAC_B64 || psk_b64_dec(p + cs, clen, got, MAC_LEN) != MAC_LEN ||
	    CRYPTO_memcmp(want, got, MAC_LEN))
		err = sip_fail(why, wlen, -EACCES, "checksum mismatch: the "
			       "attachment was changed or the key is wrong");
	OPENSSL_cleanse(want, sizeof(want));
	return err;
}

static uint64_t distance(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

int psk_attach_verify(const char *p, size_t n, const uint8_t *key,
		      size_t klen, const struct psk_policy *pol,
		      struct psk_replay *rc, struct psk_attach *a, char *why,
		      size_t wlen)
{
	uint8_t ek[32];
	struct psk_extra x;
	size_t cs = 0, clen = 0;
	int err, has;

	if (!p || !pol || !a)
		return -EINVAL;
	if (n > PSK_ATTACH_MAX)
		return sip_fail(why, wlen, -EBADMSG, "attachment of %zu bytes "
				"(PSK_ATTACH_MAX is %d)", n, PSK_ATTACH_MAX);
	has = locate(p, n, &cs, &clen, why, wlen);
	if (has < 0)
		return has;
	if (has && (err = check_sum(p, n, key, klen, cs, clen, why, wlen)))
		return err;
	err = psk_parse(p, n, a, &x, why, wlen);
	if (err)
		return err;
	if (a->auth && !has) /* the two readers disagree: never trust it */
		return sip_fail(why, wlen, -EBADMSG, "Authorization not where "
				"it was looked for");
	if (!a->auth) {
		if (a->variant == PSK_REQUIRES)
			return sip_fail(why, wlen, -EPERM, "a REQUIRES with "
					"the NULL transform (draft 4.2.3: open "
					"to a man in the middle)");
		if (!pol->allow_null)
			return sip_fail(why, wlen, -EPERM, "the NULL transform "
					"(no Authorization) is not allowed by "
					"policy");
		return 0;
	}
	if (distance(a->time, pol->now) > pol->skew_s)
		return sip_fail(why, wlen, -ETIME, "time %" PRIu64 " is %s "
				"now (%" PRIu64 ") by more than %u s", a->time,
				a->time < pol->now ? "before" : "after",
				pol->now, pol->skew_s);
	if (rc) {
		err = psk_replay_check(rc, a->to, a->from, a->tnonce, pol->now);
		if (err == -EALREADY)
			return sip_fail(why, wlen, err, "replayed: nonce %s "
					"from %s to %s was seen already",
					a->tnonce, a->from, a->to);
		if (err)
			return sip_fail(why, wlen, err, "the replay cache is "
					"full of live entries");
	}
	if (!a->enc)
		return 0;
	err = psk_attach_key(key, klen, PSK_LABEL_ENC, ek);
	if (!err)
		err = gcm(false, ek, x.iv, x.ct, x.ct_len, (uint8_t *)a->body);
	OPENSSL_cleanse(ek, sizeof(ek));
	OPENSSL_cleanse(x.ct, sizeof(x.ct));
	if (err)
		return sip_fail(why, wlen, err == -EACCES ? err : -EACCES,
				"the encrypted body does not decrypt");
	a->body[x.ct_len - TAG_LEN] = '\0';
	if (memchr(a->body, '\0', x.ct_len - TAG_LEN)) {
		OPENSSL_cleanse(a->body, sizeof(a->body));
		return sip_fail(why, wlen, -EBADMSG, "the decrypted body is "
				"not text");
	}
	return 0;
}

/* ---- in a SIP message ------------------------------------------------- */

static bool is_preshared_part(const struct sip_part *pt)
{
	const struct sip_header *ct = sip_part_find(pt, SIP_H_CONTENT_TYPE);
	const struct sip_header *m = sip_part_find(pt, SIP_H_X_SECURE_METHOD);
	struct sec_mech mech;
	char w[64];

	if (!ct || !m)
		return false;
	if (!sip_str_eq(psk_trim(ct->value.p, ct->value.n), "message/sip-secure"))
		return false;
	return secx_parse_header(SECX_METHOD, m->value.p, m->value.n, &mech, 1,
				 w, sizeof(w)) == 1 &&
	       mech.mech == SEC_MECH_PRESHARED;
}

int psk_attach_find(const struct sip_msg *m, const char **p, size_t *n)
{
	struct sip_part parts[SIP_MAX_PARTS];
	const struct sip_part *found = NULL;
	char why[128];
	int k;

	if (!m || !p || !n)
		return -EINVAL;
	k = sip_multipart(m, parts, SIP_MAX_PARTS, why, sizeof(why));
	if (k == -ENOMSG)
		return -ENOENT;
	if (k < 0)
		return -EBADMSG;
	for (int i = 0; i < k; i++) {
		if (!parts[i].n_hdr || !is_preshared_part(&parts[i]))
			continue;
		if (found)
			return -EBADMSG; /* which one would be ours? */
		found = &parts[i];
	}
	if (!found)
		return -ENOENT;
	/* the part begins with its first header line */
	*p = found->hdr[0].name.p;
	*n = (size_t)(found->body.p + found->body.n - *p);
	return 0;
}

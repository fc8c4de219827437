// SPDX-License-Identifier: MIT
/*
 * Reading a pre-shared crypto-system attachment (draft-thomas 6): the
 * header lines, each value, the body; and the base64 both directions use.
 * Stricter than MIME (one header per CRLF line, no folding, no compact
 * forms, each known header at most once): both ends are sipsec, and a
 * strict reader leaves a forger nothing to play with. Reading never
 * checks the checksum; psk_attach_verify (preshared.c) does that first.
 * docs/preshared.md is the reference; it and this file change together.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>

#include "preshared_int.h"
#include "sip_int.h"
#include "sipsec.h"

enum ph {
	PH_CT,
	PH_CL,
	PH_TO,
	PH_FROM,
	PH_METHOD,
	PH_SUPPORTS,
	PH_REQUIRES,
	PH_NONCE,
	PH_REPLY,
	PH_SPI,
	PH_AUTH,
	PH_ENC,
	PH__N
};

static const char *const ph_name[PH__N] = {
	"Content-Type",	       "Content-Length",	"X-SIP-SECURE-TO",
	"X-SIP-SECURE-FROM",   "X-SIP-SECURE-METHOD",	"X-SIP-SECURE-SUPPORTS",
	"X-SIP-SECURE-REQUIRES", "Sipsec-Nonce",	"Sipsec-Reply-To",
	"Sipsec-Spi",	       "Authorization",		"Encryption",
};

/* An attachment split into its header lines and body (no values read). */
struct split {
	struct sip_str val[PH__N]; /* .p NULL: absent */
	const char *body;
	size_t blen;
};

/* ---- base64 (RFC 4648 4, padded, canonical only) ---------------------- */

void psk_b64_enc(const uint8_t *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decoded length, or -1: not a multiple of 4, a stray character or '=',
 * non-zero bits under the padding (two texts would mean one value), or
 * more than cap bytes. */
int psk_b64_dec(const char *s, size_t n, uint8_t *out, size_t cap)
{
	size_t pad = 0, k = 0;

	if (!n || n % 4)
		return -1;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	if (n / 4 * 3 - pad > cap)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		uint32_t w = 0;

		for (int j = 0; j < 4; j++) {
			bool last = i + 4 == n;

			v[j] = last && j >= 4 - (int)pad ? 0 : b64_val(s[i + j]);
			if (v[j] < 0)
				return -1;
			w = w << 6 | (uint32_t)v[j];
		}
		out[k++] = (uint8_t)(w >> 16);
		if (i + 4 < n || pad < 2)
			out[k++] = (uint8_t)(w >> 8);
		else if (w & 0xffff)
			return -1;
		if (i + 4 < n || pad < 1)
			out[k++] = (uint8_t)w;
		else if (w & 0xff)
			return -1;
	}
	return (int)k;
}

/* ---- reading ---------------------------------------------------------- */

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("-.!%*_+`'~", c));
}

bool psk_tnonce_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("+/=._-", c));
}

struct sip_str psk_trim(const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return (struct sip_str){ p, n };
}

static int split(const char *p, size_t n, struct split *s, char *why,
		 size_t wlen)
{
	size_t i = 0, lines = 0;
	char shown[40];
	bool after_enc = false;

	memset(s, 0, sizeof(*s));
	if (n > PSK_ATTACH_MAX)
		return sip_fail(why, wlen, -EBADMSG, "attachment of %zu bytes "
				"(PSK_ATTACH_MAX is %d)", n, PSK_ATTACH_MAX);
	for (;;) {
		const char *lf = memchr(p + i, '\n', n - i), *colon;
		size_t end, k;
		int id;

		if (!lf)
			return sip_fail(why, wlen, -EBADMSG, "line %zu: the "
					"headers do not end (no empty line)",
					lines + 1);
		end = (size_t)(lf - p);
		if (end == i || p[end - 1] != '\r')
			return sip_fail(why, wlen, -EBADMSG, "line %zu does "
					"not end in CRLF", lines + 1);
		end--;
		if (end == i)
			break;
		if (++lines > HDR_MAX)
			return sip_fail(why, wlen, -EBADMSG, "more than %d "
					"header lines", HDR_MAX);
		if (after_enc)
			return sip_fail(why, wlen, -EBADMSG, "a header after "
					"Encryption (the encrypted area starts "
					"after it)");
		for (k = i; k < end; k++)
			if ((unsigned char)p[k] < 0x20 && p[k] != '\t')
				return sip_fail(why, wlen, -EBADMSG, "line %zu: "
						"control character 0x%02x",
						lines, (unsigned char)p[k]);
		if (p[i] == ' ' || p[i] == '\t')
			return sip_fail(why, wlen, -EBADMSG, "line %zu: a "
					"folded line (not allowed here)", lines);
		for (k = i; k < end && is_tchar(p[k]); k++)
			;
		colon = p + k;
		if (k == i || k == end || *colon != ':')
			return sip_fail(why, wlen, -EBADMSG, "line %zu: '%s' "
					"is not 'Name: value'", lines,
					sip_shown(shown, sizeof(shown), p + i,
						  end - i));
		for (id = 0; id < PH__N; id++)
			if (strlen(ph_name[id]) == k - i &&
			    sip_ci_eq(p + i, ph_name[id], k - i))
				break;
		if (id < PH__N) {
			if (s->val[id].p)
				return sip_fail(why, wlen, -EBADMSG, "%s "
						"given twice", ph_name[id]);
			s->val[id] = psk_trim(colon + 1, (size_t)(p + end - colon - 1));
			if (!s->val[id].n)
				return sip_fail(why, wlen, -EBADMSG, "%s is "
						"empty", ph_name[id]);
			after_enc = id == PH_ENC;
		}
		i = end + 2;
	}
	s->body = p + i + 2;
	s->blen = n - i - 2;
	return 0;
}

static int get_text(const struct sip_str v, char *dst, size_t size,
		    const char *name, char *why, size_t wlen)
{
	if (v.n >= size)
		return sip_fail(why, wlen, -EBADMSG, "%s longer than %zu "
				"characters", name, size - 1);
	memcpy(dst, v.p, v.n);
	dst[v.n] = '\0';
	return 0;
}

static int get_b64(const struct sip_str v, uint8_t *dst, size_t len,
		   const char *name, char *why, size_t wlen)
{
	if (v.n != B64_LEN(len) || psk_b64_dec(v.p, v.n, dst, len) != (int)len)
		return sip_fail(why, wlen, -EBADMSG, "%s is not base64 of %zu "
				"bytes", name, len);
	return 0;
}

static int get_uint(struct sip_str v, size_t max_digits, int base,
		    uint64_t *out)
{
	uint64_t x = 0;

	if (!v.n || v.n > max_digits)
		return -1;
	for (size_t i = 0; i < v.n; i++) {
		char c = v.p[i] | 0x20;
		int d = c >= '0' && c <= '9' ? c - '0' :
			base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (d < 0 || x > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return -1;
		x = x * (uint64_t)base + (uint64_t)d;
	}
	*out = x;
	return 0;
}

/* algorithm; time=T:tnonce; checksum  (draft 6), or "null" */
static int get_auth(struct sip_str v, struct psk_attach *a, struct psk_extra *x,
		    char *why, size_t wlen)
{
	const char *e = v.p + v.n, *s1 = memchr(v.p, ';', v.n), *s2, *c;
	struct sip_str alg, t, num, tn;
	char shown[40];

	alg = psk_trim(v.p, s1 ? (size_t)(s1 - v.p) : v.n);
	if (alg.n == 4 && sip_ci_eq(alg.p, "null", 4) && !s1) {
		a->auth = PSK_AUTH_NULL;
		return 0;
	}
	if (alg.n != 11 || !sip_ci_eq(alg.p, "hmac-sha256", 11))
		return sip_fail(why, wlen, -EBADMSG, "Authorization: unknown "
				"algorithm '%s' (hmac-sha256 or null)",
				sip_shown(shown, sizeof(shown), alg.p, alg.n));
	a->auth = PSK_AUTH_HMAC_SHA256;
	s2 = s1 ? memchr(s1 + 1, ';', (size_t)(e - s1 - 1)) : NULL;
	if (!s2 || memchr(s2 + 1, ';', (size_t)(e - s2 - 1)))
		return sip_fail(why, wlen, -EBADMSG, "Authorization: expected "
				"'hmac-sha256; time=T:NONCE; CHECKSUM'");
	t = psk_trim(s1 + 1, (size_t)(s2 - s1 - 1));
	if (t.n < 5 || !sip_ci_eq(t.p, "time=", 5))
		return sip_fail(why, wlen, -EBADMSG, "Authorization: no time= "
				"(replay protection is required)");
	c = memchr(t.p, ':', t.n);
	num = (struct sip_str){ t.p + 5, c ? (size_t)(c - t.p - 5) : 0 };
	if (!c || get_uint(num, 20, 10, &a->time))
		return sip_fail(why, wlen, -EBADMSG, "Authorization: time= is "
				"not SECONDS:NONCE");
	tn = (struct sip_str){ c + 1, (size_t)(t.p + t.n - c - 1) };
	if (!tn.n || tn.n >= sizeof(a->tnonce))
		return sip_fail(why, wlen, -EBADMSG, "Authorization: a nonce "
				"of 1 to %zu characters",
				sizeof(a->tnonce) - 1);
	for (size_t i = 0; i < tn.n; i++)
		if (!psk_tnonce_char(tn.p[i]))
			return sip_fail(why, wlen, -EBADMSG, "Authorization: "
					"nonce character 0x%02x",
					(unsigned char)tn.p[i]);
	memcpy(a->tnonce, tn.p, tn.n);
	a->tnonce[tn.n] = '\0';
	x->cks = psk_trim(s2 + 1, (size_t)(e - s2 - 1));
	return 0;
}

static int get_enc(struct sip_str v, struct psk_attach *a, struct psk_extra *x,
		   char *why, size_t wlen)
{
	const char *semi = memchr(v.p, ';', v.n);
	struct sip_str alg = psk_trim(v.p, semi ? (size_t)(semi - v.p) : v.n), iv;
	char shown[40];

	if (alg.n == 4 && sip_ci_eq(alg.p, "null", 4) && !semi) {
		a->enc = PSK_ENC_NULL;
		return 0;
	}
	if (alg.n != 10 || !sip_ci_eq(alg.p, "aes256-gcm", 10) || !semi)
		return sip_fail(why, wlen, -EBADMSG, "Encryption: '%s' is not "
				"'aes256-gcm; iv=...' or null",
				sip_shown(shown, sizeof(shown), v.p, v.n));
	iv = psk_trim(semi + 1, (size_t)(v.p + v.n - semi - 1));
	if (iv.n < 3 || !sip_ci_eq(iv.p, "iv=", 3))
		return sip_fail(why, wlen, -EBADMSG, "Encryption: no iv=");
	iv.p += 3;
	iv.n -= 3;
	a->enc = PSK_ENC_AES256GCM;
	return get_b64(iv, x->iv, IV_LEN, "Encryption's iv", why, wlen);
}

static int get_mechs(const struct split *s, struct psk_attach *a, char *why,
		     size_t wlen)
{
	struct sec_mech m;
	char w[96];
	int n;

	n = secx_parse_header(SECX_METHOD, s->val[PH_METHOD].p,
			      s->val[PH_METHOD].n, &m, 1, w, sizeof(w));
	if (n < 0)
		return sip_fail(why, wlen, -EBADMSG, "X-SIP-SECURE-METHOD: %s",
				w);
	if (m.mech != SEC_MECH_PRESHARED)
		return sip_fail(why, wlen, -EBADMSG, "X-SIP-SECURE-METHOD is "
				"%s, not preshared.sec.sip.iana", m.name);
	if (m.keying_name[0])
		return sip_fail(why, wlen, -EBADMSG, "X-SIP-SECURE-METHOD: the "
				"preshared method takes no K: (draft 6)");
	memcpy(a->realm, m.realm, sizeof(a->realm));
	if (!s->val[PH_SUPPORTS].p == !s->val[PH_REQUIRES].p)
		return sip_fail(why, wlen, -EBADMSG, "%s", s->val[PH_SUPPORTS].p ?
				"both X-SIP-SECURE-SUPPORTS and -REQUIRES" :
				"neither X-SIP-SECURE-SUPPORTS nor -REQUIRES");
	a->variant = s->val[PH_SUPPORTS].p ? PSK_SUPPORTS : PSK_REQUIRES;
	if (a->variant == PSK_SUPPORTS)
		n = secx_parse_header(SECX_SUPPORTS, s->val[PH_SUPPORTS].p,
				      s->val[PH_SUPPORTS].n, a->mechs,
				      SEC_MAX_MECHS, w, sizeof(w));
	else
		n = secx_parse_header(SECX_REQUIRES, s->val[PH_REQUIRES].p,
				      s->val[PH_REQUIRES].n, a->mechs, 1, w,
				      sizeof(w));
	if (n < 0)
		return sip_fail(why, wlen, -EBADMSG, "%s: %s",
				ph_name[a->variant == PSK_SUPPORTS ?
						PH_SUPPORTS : PH_REQUIRES], w);
	a->n_mechs = (size_t)n;
	return 0;
}

int psk_parse(const char *p, size_t n, struct psk_attach *a,
		 struct psk_extra *x, char *why, size_t wlen)
{
	static const enum ph required[] = { PH_CT, PH_CL, PH_TO, PH_FROM,
					    PH_METHOD, PH_NONCE };
	struct split s;
	uint64_t v;
	int err;

	memset(a, 0, sizeof(*a));
	memset(x, 0, sizeof(*x));
	err = split(p, n, &s, why, wlen);
	if (err)
		return err;
	for (size_t i = 0; i < ARRAY_SIZE(required); i++)
		if (!s.val[required[i]].p)
			return sip_fail(why, wlen, -EBADMSG, "no %s",
					ph_name[required[i]]);
	if (s.val[PH_CT].n != 18 ||
	    !sip_ci_eq(s.val[PH_CT].p, "message/sip-secure", 18))
		return sip_fail(why, wlen, -EBADMSG, "Content-Type is not "
				"message/sip-secure");
	if (get_uint(s.val[PH_CL], 5, 10, &v) || v != s.blen)
		return sip_fail(why, wlen, -EBADMSG, "Content-Length is not "
				"the body's length (%zu bytes)", s.blen);
	if ((err = get_text(s.val[PH_TO], a->to, sizeof(a->to), ph_name[PH_TO],
			    why, wlen)) ||
	    (err = get_text(s.val[PH_FROM], a->from, sizeof(a->from),
			    ph_name[PH_FROM], why, wlen)) ||
	    (err = get_mechs(&s, a, why, wlen)) ||
	    (err = get_b64(s.val[PH_NONCE], a->nonce, PSK_NONCE_LEN,
			   ph_name[PH_NONCE], why, wlen)))
		return err;
	if (s.val[PH_REPLY].p) {
		err = get_b64(s.val[PH_REPLY], a->reply_to, PSK_NONCE_LEN,
			      ph_name[PH_REPLY], why, wlen);
		if (err)
			return err;
		a->has_reply_to = true;
	} else if (a->variant == PSK_REQUIRES) {
		return sip_fail(why, wlen, -EBADMSG, "a REQUIRES without "
				"Sipsec-Reply-To");
	}
	if (s.val[PH_SPI].p) {
		if (get_uint(s.val[PH_SPI], 8, 16, &v) || v < 256)
			return sip_fail(why, wlen, -EBADMSG, "Sipsec-Spi is not "
					"an SPI (hex, 256 or more)");
		a->spi = (uint32_t)v;
	}
	if (s.val[PH_AUTH].p &&
	    (err = get_auth(s.val[PH_AUTH], a, x, why, wlen)))
		return err;
	if (s.val[PH_ENC].p && (err = get_enc(s.val[PH_ENC], a, x, why, wlen)))
		return err;
	if (a->enc && !a->auth)
		return sip_fail(why, wlen, -EBADMSG, "Encryption without "
				"Authorization (encrypt-then-MAC needs both)");
	if (a->auth && (x->cks.n != MAC_B64 ||
			psk_b64_dec(x->cks.p, x->cks.n, x->ct, MAC_LEN) != MAC_LEN))
		return sip_fail(why, wlen, -EBADMSG, "Authorization: the "
				"checksum is not base64 of 32 bytes");
	if (a->enc) {
		int k = psk_b64_dec(s.body, s.blen, x->ct, sizeof(x->ct));

		if (k < TAG_LEN)
			return sip_fail(why, wlen, -EBADMSG, "the encrypted "
					"body is not base64 of ciphertext and "
					"tag (at most %zu bytes)", CT_MAX);
		x->ct_len = (size_t)k;
		return 0;
	}
	if (s.blen >= sizeof(a->body) || memchr(s.body, '\0', s.blen))
		return sip_fail(why, wlen, -EBADMSG, "the body is not text of "
				"at most %zu bytes", sizeof(a->body) - 1);
	memcpy(a->body, s.body, s.blen);
	a->body[s.blen] = '\0';
	return 0;
}

int psk_attach_parse(const char *p, size_t n, struct psk_attach *a,
		     char *why, size_t wlen)
{
	struct psk_extra x;

	if (!p || !a)
		return -EINVAL;
	return psk_parse(p, n, a, &x, why, wlen);
}

/* SPDX-License-Identifier: MIT */
/*
 * The framework draft's pre-shared key crypto-system (draft-thomas 6) as a
 * library without I/O: message/sip-secure attachments protected with a key
 * two peers share (preshared.c, read by preshared_parse.c), the replay
 * cache that goes with their timestamps (preshared_replay.c), and the HKDF
 * key schedule that derives the attachment keys and ESP keys from the
 * pre-shared key (preshared_keys.c). docs/preshared.md describes the wire
 * format byte by byte, the rules chosen where the draft leaves them open,
 * and the test vectors; the code and that file change together.
 */
#ifndef SIPSEC_PRESHARED_H
#define SIPSEC_PRESHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secagree.h"
#include "sip.h"

#define PSK_NONCE_LEN 16 /* key-schedule nonces, raw bytes */
#define PSK_ATTACH_MAX 4096 /* an attachment, headers and body */
#define PSK_KEY_MIN 16 /* shortest pre-shared key accepted, bytes */

enum psk_variant { PSK_SUPPORTS = 1, PSK_REQUIRES = 2 };
enum psk_auth { PSK_AUTH_NULL = 0, PSK_AUTH_HMAC_SHA256 = 1 };
enum psk_enc { PSK_ENC_NULL = 0, PSK_ENC_AES256GCM = 1 };

struct psk_attach { /* what a message/sip-secure attachment says */
	uint8_t variant; /* enum psk_variant */
	uint8_t auth, enc; /* enum psk_auth, enum psk_enc */
	char to[64], from[64]; /* X-SIP-SECURE-TO / -FROM (identities) */
	char realm[64]; /* R: of X-SIP-SECURE-METHOD, "" none */
	struct sec_mech mechs[SEC_MAX_MECHS]; /* SUPPORTS: the list;
					       * REQUIRES: one */
	size_t n_mechs;
	uint8_t nonce[PSK_NONCE_LEN]; /* Sipsec-Nonce: this side's nonce
				       * (key schedule) */
	uint8_t reply_to[PSK_NONCE_LEN]; /* Sipsec-Reply-To: REQUIRES
					  * answers this request nonce */
	bool has_reply_to;
	uint32_t spi; /* Sipsec-Spi: the sender's inbound ESP SPI, 0 none */
	uint64_t time; /* Authorization time=, seconds since 1970 */
	char tnonce[24]; /* Authorization's :nonce (replay cache key part) */
	char body[512]; /* optional protected content (encrypted when enc),
			 * NUL-terminated text */
};

/* preshared.c; psk_attach_parse in preshared_parse.c */
/**
 * @brief Build the attachment (MIME part headers + body, starting with
 * "Content-Type: message/sip-secure") into out, NUL-terminated; time and
 * tnonce filled in by the caller (tnonce random if empty: generated and
 * written back; so is a nonce of all zeros). @return length or -errno with
 * why. key may be NULL only for PSK_AUTH_NULL.
 */
int psk_attach_build(struct psk_attach *a, const uint8_t *key, size_t klen,
		     char *out, size_t cap, char *why, size_t wlen);
/**
 * @brief Parse without verifying (so the receiver can find the key by
 * a->from / realm): -EBADMSG with why on a malformed attachment. An
 * encrypted body is left empty: only verify can open it.
 */
int psk_attach_parse(const char *p, size_t n, struct psk_attach *a,
		     char *why, size_t wlen);

struct psk_policy {
	uint64_t now;
	uint32_t skew_s;
	bool allow_null;
};
struct psk_replay;

/**
 * @brief Verify: integrity (constant-time compare), then time within skew,
 * then replay (rc may be NULL = no replay check), then decrypt.
 * @return 0 with *a, or -EBADMSG (malformed), -EACCES (checksum: changed
 * byte or wrong key), -ETIME (timestamp outside skew), -EALREADY (replayed
 * nonce), -EPERM (NULL transform where policy forbids it, or any NULL
 * transform on a REQUIRES), -ENOSPC (replay cache full of live entries),
 * -EINVAL (no key for a protected attachment), each with why naming the
 * reason.
 */
int psk_attach_verify(const char *p, size_t n, const uint8_t *key,
		      size_t klen, const struct psk_policy *pol,
		      struct psk_replay *rc, struct psk_attach *a, char *why,
		      size_t wlen);
/**
 * @brief The message/sip-secure part of a parsed SIP message's
 * multipart/mixed body (via sip_multipart) whose X-SIP-SECURE-METHOD is
 * preshared, as bytes to pass to parse/verify. @return 0, -ENOENT (none),
 * -EBADMSG (a body that does not split, or two such parts).
 */
int psk_attach_find(const struct sip_msg *m, const char **p, size_t *n);

/* preshared_replay.c: bounded, entries keyed (to, from, tnonce), each kept
 * ttl_s (use 2 * skew + a margin) */
struct psk_replay *psk_replay_new(size_t max_entries, uint32_t ttl_s);
void psk_replay_free(struct psk_replay *rc);
/** @return 0 (new: remembered), -EALREADY (seen within ttl), -ENOSPC (full
 * of live entries: refuse rather than forget) */
int psk_replay_check(struct psk_replay *rc, const char *to, const char *from,
		     const char *tnonce, uint64_t now);
/** @brief Entries held (those expired by the last check are gone). */
size_t psk_replay_count(const struct psk_replay *rc);

/* preshared_keys.c: RFC 5869 HKDF-SHA-256 via OpenSSL's EVP_KDF "HKDF" */
/** @brief HKDF-SHA-256 (extract and expand); salt may be NULL (none).
 * @return 0 or -EINVAL (a length OpenSSL refuses), -ENOMEM. */
int psk_hkdf(const uint8_t *ikm, size_t ilen, const uint8_t *salt,
	     size_t slen, const uint8_t *info, size_t infolen, uint8_t *out,
	     size_t olen);
/** @brief The 32-byte HMAC or AES key of the attachments: HKDF with no
 * salt and the label PSK_LABEL_MAC / PSK_LABEL_ENC. @return 0, -EINVAL. */
int psk_attach_key(const uint8_t *psk, size_t plen, const char *label,
		   uint8_t out[32]);
#define PSK_LABEL_MAC "sipsec preshared mac v1"
#define PSK_LABEL_ENC "sipsec preshared enc v1"
#define PSK_LABEL_ESP "sipsec esp psk v1"

/**
 * @brief ESP keys for ipsec with keying psk. IKM = psk; salt = nonce_i ||
 * nonce_r (initiator's, responder's); info = "sipsec esp psk v1" ||
 * spi_i_in (BE32) || spi_r_in (BE32); L = 2 * (key_len + 4); the first half
 * keys initiator->responder (SPI = spi_r_in), the second half
 * responder->initiator (SPI = spi_i_in); each half = AES key then 4-byte
 * salt (RFC 4106). key_len 16 or 32; SPIs 256 or more and different; psk
 * PSK_KEY_MIN bytes or more. @return 0 or -EINVAL. Caller wipes.
 */
int psk_esp_keys(const uint8_t *psk, size_t plen,
		 const uint8_t nonce_i[PSK_NONCE_LEN],
		 const uint8_t nonce_r[PSK_NONCE_LEN], uint32_t spi_i_in,
		 uint32_t spi_r_in, uint8_t key_len, uint8_t *i2r,
		 uint8_t *r2i);

#endif

// SPDX-License-Identifier: MIT
/*
 * The pre-shared crypto-system's key schedule: everything keyed from one
 * pre-shared key goes through RFC 5869 HKDF-SHA-256 with its own label, so
 * that no two uses (the attachments' HMAC, their AES-GCM, ESP) ever share a
 * key, and a key of any length (PSK_KEY_MIN or more) becomes uniform
 * 32-byte keys. docs/preshared.md gives the labels and the vectors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "preshared.h"

int psk_hkdf(const uint8_t *ikm, size_t ilen, const uint8_t *salt,
	     size_t slen, const uint8_t *info, size_t infolen, uint8_t *out,
	     size_t olen)
{
	OSSL_PARAM params[5], *p = params;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	int err = 0;

	if (!ikm || !ilen || !out || !olen || olen > 255 * 32)
		return -EINVAL;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)ikm, ilen);
	if (salt && slen)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
							 (void *)salt, slen);
	if (info && infolen)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
							 (void *)info, infolen);
	*p = OSSL_PARAM_construct_end();
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!kdf || !(kctx = EVP_KDF_CTX_new(kdf))) {
		err = -ENOMEM;
		goto out;
	}
	if (EVP_KDF_derive(kctx, out, olen, params) != 1) {
		OPENSSL_cleanse(out, olen);
		err = -EINVAL;
	}
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return err;
}

int psk_attach_key(const uint8_t *psk, size_t plen, const char *label,
		   uint8_t out[32])
{
	if (!psk || plen < PSK_KEY_MIN)
		return -EINVAL;
	/* No salt: both ends must derive this key before any nonce is
	 * known (a SUPPORTS is verified with it), and the label already
	 * separates it from every other key. */
	return psk_hkdf(psk, plen, NULL, 0, (const uint8_t *)label,
			strlen(label), out, 32);
}

int psk_esp_keys(const uint8_t *psk, size_t plen,
		 const uint8_t nonce_i[PSK_NONCE_LEN],
		 const uint8_t nonce_r[PSK_NONCE_LEN], uint32_t spi_i_in,
		 uint32_t spi_r_in, uint8_t key_len, uint8_t *i2r,
		 uint8_t *r2i)
{
	uint8_t salt[2 * PSK_NONCE_LEN];
	uint8_t info[sizeof(PSK_LABEL_ESP) - 1 + 8];
	uint8_t okm[2 * (32 + 4)];
	size_t half = (size_t)key_len + 4, ll = sizeof(PSK_LABEL_ESP) - 1;
	uint32_t be;
	int err;

	if (!psk || plen < PSK_KEY_MIN || !nonce_i || !nonce_r || !i2r ||
	    !r2i || (key_len != 16 && key_len != 32) || spi_i_in < 256 ||
	    spi_r_in < 256 || spi_i_in == spi_r_in)
		return -EINVAL;
	memcpy(salt, nonce_i, PSK_NONCE_LEN);
	memcpy(salt + PSK_NONCE_LEN, nonce_r, PSK_NONCE_LEN);
	memcpy(info, PSK_LABEL_ESP, ll);
	be = htonl(spi_i_in);
	memcpy(info + ll, &be, 4);
	be = htonl(spi_r_in);
	memcpy(info + ll + 4, &be, 4);
	err = psk_hkdf(psk, plen, salt, sizeof(salt), info, sizeof(info), okm,
		       2 * half);
	if (!err) {
		memcpy(i2r, okm, half);
		memcpy(r2i, okm + half, half);
	}
	OPENSSL_cleanse(okm, sizeof(okm));
	return err;
}

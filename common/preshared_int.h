/* SPDX-License-Identifier: MIT */
/*
 * What the files of the pre-shared crypto-system share (preshared.c:
 * build, verify, find; preshared_parse.c: the reader and base64). Not
 * exported beyond common/. docs/preshared.md is the wire format.
 */
#ifndef SIPSEC_PRESHARED_INT_H
#define SIPSEC_PRESHARED_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "preshared.h"
#include "sip.h"

#define MAC_LEN 32
#define MAC_B64 44 /* base64 of 32 bytes */
#define IV_LEN 12 /* GCM, RFC 5116 */
#define TAG_LEN 16
#define HDR_MAX SIP_MAX_PART_HEADERS
#define CT_MAX (sizeof(((struct psk_attach *)0)->body) - 1 + TAG_LEN)
#define B64_LEN(n) (((n) + 2) / 3 * 4)

/* What verify needs beyond struct psk_attach. */
struct psk_extra {
	struct sip_str cks; /* the checksum text, inside the input */
	uint8_t iv[IV_LEN];
	uint8_t ct[CT_MAX];
	size_t ct_len;
};

/** @brief base64 (RFC 4648 4, padded) of n bytes; out holds B64_LEN(n)+1. */
void psk_b64_enc(const uint8_t *in, size_t n, char *out);
/** @brief Decoded length, or -1: not canonical base64, or over cap. */
int psk_b64_dec(const char *s, size_t n, uint8_t *out, size_t cap);
/** @brief Without leading and trailing SP / HT. */
struct sip_str psk_trim(const char *p, size_t n);
/** @brief A character of an Authorization time= nonce. */
bool psk_tnonce_char(char c);
/** @brief psk_attach_parse, also filling *x. */
int psk_parse(const char *p, size_t n, struct psk_attach *a,
	      struct psk_extra *x, char *why, size_t wlen);

#endif

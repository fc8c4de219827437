/* SPDX-License-Identifier: MIT */
/*
 * Security agreement headers (common/secagree.c: the table, selection;
 * secagree_x.c, secagree_3329.c: the two grammars): the framework draft's
 * X-SIP-SECURE-SUPPORTS / -REQUIRES / -METHOD (section 4.1)
 *
 *   method[=([R:realm,] [K:keying,] [M])] [; method[=(...)]]*
 *
 * and RFC 3329's Security-Client / -Server / -Verify
 *
 *   sec-mechanism *(COMMA sec-mechanism)
 *   sec-mechanism = mechanism-name *(SEMI mech-parameters)   (q=, d-alg=..)
 *
 * both parsed into one list of struct sec_mech, formatted back, mapped onto
 * each other, and the choice between an offer and local policy.
 *
 * The crypto-systems, with their names in both grammars:
 *
 *   mech       keying     draft                               RFC 3329
 *   tls        -          tls.sec.sip.iana                    tls
 *   ipsec      ike        ipsec.sec.sip.iana=(k:ike)          ipsec-ike
 *   ipsec      manual     ipsec.sec.sip.iana=(k:manual)       ipsec-man
 *   ipsec      exporter   ipsec.sec.sip.iana=(k:exporter)     ipsec-exporter
 *   ipsec      psk        ipsec.sec.sip.iana=(k:psk)          ipsec-psk
 *   preshared  -          preshared.sec.sip.iana              preshared
 *
 * "exporter" is sipsec's keying: ESP keys from the RFC 5705 exporter of the
 * TLS session between two daemons; "psk" is HKDF from a pre-shared key
 * (framework draft section 6). Other methods (smime, chap, digest...) are
 * parsed and kept by name as SEC_MECH_OTHER, never selected; so is a keying
 * the table does not name (k:kink -> SEC_K_OTHER, kept in keying_name).
 * The draft's "ipsec" with no K: is SEC_K_DEFAULT, which RFC 3329 writes
 * ipsec-ike and selection treats as IKE (draft 4: IKE is IPsec's default).
 * An RFC 3329 entry without q= has q 1000 and has_q false.
 */
#ifndef SIPSEC_SECAGREE_H
#define SIPSEC_SECAGREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEC_MAX_MECHS 16 /* mechanisms in one header value */

enum sec_mech_id { /* numbered as enum sipsec_mech (sipsec_ctl.h) */
	SEC_MECH_NONE = 0,
	SEC_MECH_TLS = 1,
	SEC_MECH_IPSEC = 2,
	SEC_MECH_PRESHARED = 3,
	SEC_MECH_OTHER = 15, /* parsed, kept, never selected */
};

enum sec_keying {
	SEC_K_DEFAULT = 0, /* none given: the method's default */
	SEC_K_IKE,
	SEC_K_MANUAL,
	SEC_K_EXPORTER,
	SEC_K_PSK,
	SEC_K_OTHER,
};

struct sec_mech {
	uint8_t mech; /* enum sec_mech_id */
	uint8_t keying; /* enum sec_keying */
	bool mutual; /* the draft's M flag */
	uint16_t q; /* preference, 0..1000 (RFC 3329 q=0.5 -> 500); the
		     * draft has none: 1000 - 10 * position */
	bool has_q;
	char name[32]; /* method as written, lower case, without
			* ".sec.sip.iana" ("tls", "smime", "ipsec-3gpp") */
	char realm[64]; /* R: */
	char keying_name[16]; /* K: as written, lower case */
	char params[128]; /* RFC 3329 parameters other than q, as written
			   * (";d-alg=md5;alg=hmac-sha-1-96"), kept so that a
			   * Security-Verify echo can be compared */
};

/** @brief Parse an X-SIP-SECURE-SUPPORTS/-REQUIRES/-METHOD value.
 * @return the number of mechanisms; -EBADMSG / -EMSGSIZE with why. */
int secx_parse(const char *v, size_t n, struct sec_mech *out, size_t max,
	       char *why, size_t wlen);
/* Which header a draft value comes from: -REQUIRES and -METHOD carry
 * exactly one method (draft 4.1.4, 4.1.5), -REQUIRES no M flag. */
enum secx_header {
	SECX_SUPPORTS,
	SECX_REQUIRES,
	SECX_METHOD,
};

/** @brief secx_parse with the rules of header @h; secx_parse is
 * SECX_SUPPORTS. @return as secx_parse. */
int secx_parse_header(enum secx_header h, const char *v, size_t n,
		      struct sec_mech *out, size_t max, char *why, size_t wlen);
/** @brief Format as the draft writes it; @return length, or -ENOSPC;
 * -EINVAL for an entry with no name in this grammar, or an OTHER whose
 * name means a known crypto-system here ("ipsec" read from RFC 3329): its
 * meaning would change. */
int secx_format(const struct sec_mech *m, size_t n, char *buf, size_t len);

/** @brief Parse a Security-Client/-Server/-Verify value; as secx_parse. */
int sec3329_parse(const char *v, size_t n, struct sec_mech *out, size_t max,
		  char *why, size_t wlen);
/** @brief Format as RFC 3329 writes it (q= only where has_q, then params
 * as written); @return length, or -ENOSPC / -EINVAL as secx_format (ipsec
 * with a keying the table lacks, k:kink, has no RFC 3329 name). */
int sec3329_format(const struct sec_mech *m, size_t n, char *buf,
		   size_t len);

/** @brief Same mechanisms, parameters and preferences, in the same
 * order: the Security-Verify check (RFC 3329 2.3.1 step 4). */
bool sec_list_equal(const struct sec_mech *a, size_t na,
		    const struct sec_mech *b, size_t nb);

/**
 * @brief Choose from the peer's offer what local policy accepts.
 * @allow, @require: bit masks of 1u << enum sec_mech_id (policy's allow and
 * require); @keyings: bit mask of 1u << enum sec_keying accepted for ipsec.
 * The highest preference wins (q=0 is the lowest, not a refusal); among
 * equals, the peer's order. A choice is in @allow, and in @require when
 * @require is not 0. NONE is chosen only when nothing offered fits and
 * @allow (and a non-zero @require) has it; OTHER and unknown keyings never.
 * Realms are the caller's to check. @return 0 with *choice, or -ENOENT
 * with why ("peer offers smime, chap; policy requires tls").
 */
int sec_select(const struct sec_mech *offer, size_t n, uint32_t allow,
	       uint32_t require, uint32_t keyings, struct sec_mech *choice,
	       char *why, size_t wlen);

/** @brief The entry for mech/keying filled in (q 1000, no has_q; name
 * the RFC 3329 name, which is what sec3329_parse gives back, so that a list
 * made with it compares equal to its Security-Verify echo). */
void sec_mech_make(struct sec_mech *m, uint8_t mech, uint8_t keying);
const char *sec_mech_name(uint8_t mech);

#endif

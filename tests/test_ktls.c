// SPDX-License-Identifier: MIT
/*
 * Kernel TLS pieces that need no kernel: the TLS 1.3 record key and IV
 * derivation (RFC 8448 section 3 vectors) and what each non-data record
 * means to a reader of a kTLS socket.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sipsecd.h"

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	unsigned v;

	while (*s) {
		if (*s == ' ') {
			s++;
			continue;
		}
		sscanf(s, "%2x", &v);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static void check_derive(const char *secret, const char *key, const char *iv)
{
	uint8_t sec[32], k[16], i[12], want_k[16], want_i[12];
	size_t slen = unhex(secret, sec);

	unhex(key, want_k);
	unhex(iv, want_i);
	cr_assert_eq(ktls_tls13_derive("SHA256", sec, slen, k, sizeof(k), i,
				       sizeof(i)), 0);
	cr_assert_arr_eq(k, want_k, sizeof(k));
	cr_assert_arr_eq(i, want_i, sizeof(i));
}

Test(ktls, derives_the_rfc8448_server_application_key_and_iv)
{
	check_derive("a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32"
		     "82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43",
		     "9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56",
		     "cf 78 2b 88 dd 83 54 9a ad f1 e9 84");
}

Test(ktls, derives_the_rfc8448_client_application_key_and_iv)
{
	check_derive("9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52"
		     "87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5",
		     "17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51",
		     "5b 78 92 3d ee 08 57 90 33 e5 23 d9");
}

Test(ktls, refuses_an_unknown_digest)
{
	uint8_t sec[32] = { 0 }, k[16], i[12];

	cr_assert_neq(ktls_tls13_derive("NO-SUCH-DIGEST", sec, sizeof(sec), k,
					sizeof(k), i, sizeof(i)), 0);
}

Test(ktls, close_notify_is_end_of_file)
{
	static const uint8_t a[] = { 1, 0 };

	cr_assert_eq(sipsec_ktls_record_action(21, a, 2), SIPSEC_KREC_EOF);
}

Test(ktls, a_fatal_alert_is_a_reset)
{
	static const uint8_t a[] = { 2, 40 }; /* handshake_failure */

	cr_assert_eq(sipsec_ktls_record_action(21, a, 2), SIPSEC_KREC_RESET);
	cr_assert_eq(sipsec_ktls_record_action(21, a, 1), SIPSEC_KREC_RESET);
}

Test(ktls, user_canceled_is_skipped)
{
	static const uint8_t a[] = { 1, 90 };

	cr_assert_eq(sipsec_ktls_record_action(21, a, 2), SIPSEC_KREC_SKIP);
}

Test(ktls, session_tickets_are_consumed_even_two_in_a_record)
{
	static const uint8_t t[] = { 4, 0, 0, 2, 0xaa, 0xbb,
				     4, 0, 0, 1, 0xcc };

	cr_assert_eq(sipsec_ktls_record_action(22, t, sizeof(t)),
		     SIPSEC_KREC_SKIP);
}

Test(ktls, key_update_asks_to_close)
{
	static const uint8_t ku[] = { 24, 0, 0, 1, 1 };
	static const uint8_t both[] = { 4, 0, 0, 1, 0, 24, 0, 0, 1, 0 };

	cr_assert_eq(sipsec_ktls_record_action(22, ku, sizeof(ku)),
		     SIPSEC_KREC_KEYUPDATE);
	cr_assert_eq(sipsec_ktls_record_action(22, both, sizeof(both)),
		     SIPSEC_KREC_KEYUPDATE);
}

Test(ktls, a_truncated_or_unexpected_handshake_message_is_a_reset)
{
	static const uint8_t trunc[] = { 4, 0, 0, 9, 1 };
	static const uint8_t fin[] = { 20, 0, 0, 1, 0 };

	cr_assert_eq(sipsec_ktls_record_action(22, trunc, sizeof(trunc)),
		     SIPSEC_KREC_RESET);
	cr_assert_eq(sipsec_ktls_record_action(22, fin, sizeof(fin)),
		     SIPSEC_KREC_RESET);
	cr_assert_eq(sipsec_ktls_record_action(22, fin, 0), SIPSEC_KREC_RESET);
	cr_assert_eq(sipsec_ktls_record_action(20, fin, 1), SIPSEC_KREC_RESET);
}

Test(ktls, application_data_is_the_programs)
{
	cr_assert_eq(sipsec_ktls_record_action(23, NULL, 0), SIPSEC_KREC_DATA);
}

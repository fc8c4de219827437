// SPDX-License-Identifier: MIT
/*
 * What a non-data TLS record handed up by the kernel's TLS receive path
 * means for the program reading the socket (the kernel returns each
 * non-data record to recvmsg() with its type in a SOL_TLS cmsg).
 */
#include <stddef.h>
#include <stdint.h>

#include "sipsec.h"

int sipsec_ktls_record_action(uint8_t type, const uint8_t *buf, size_t len)
{
	size_t i = 0;

	switch (type) {
	case SIPSEC_TLS_APPLICATION_DATA:
		return SIPSEC_KREC_DATA;
	case SIPSEC_TLS_ALERT:
		if (len < 2)
			return SIPSEC_KREC_RESET;
		/* RFC 8446 6.1: close_notify ends the stream; user_canceled
		 * is followed by a close_notify; every other alert ends the
		 * connection with an error. */
		if (buf[1] == 0)
			return SIPSEC_KREC_EOF;
		if (buf[1] == 90)
			return SIPSEC_KREC_SKIP;
		return SIPSEC_KREC_RESET;
	case SIPSEC_TLS_HANDSHAKE:
		/* A record may carry several handshake messages, each with
		 * a 4-byte header: type, 24-bit length (RFC 8446 4). */
		if (!len)
			return SIPSEC_KREC_RESET;
		while (i < len) {
			size_t mlen;

			if (len - i < 4)
				return SIPSEC_KREC_RESET;
			mlen = (size_t)buf[i + 1] << 16 |
			       (size_t)buf[i + 2] << 8 | buf[i + 3];
			if (len - i - 4 < mlen)
				return SIPSEC_KREC_RESET;
			switch (buf[i]) {
			case 4: /* NewSessionTicket: ours to ignore */
			case 0: /* HelloRequest, TLS 1.2: may be ignored
				   (RFC 5246 7.4.1.1) */
				break;
			case 24: /* KeyUpdate (RFC 8446 4.6.3) */
				return SIPSEC_KREC_KEYUPDATE;
			default:
				return SIPSEC_KREC_RESET;
			}
			i += 4 + mlen;
		}
		return SIPSEC_KREC_SKIP;
	default:
		return SIPSEC_KREC_RESET;
	}
}

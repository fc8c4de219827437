// SPDX-License-Identifier: MIT
/*
 * sipcheck: what reading one SIP message costs the shim, per 1 KB INVITE
 * (a SIPp-like request with a 600-byte SDP body):
 *
 *   parse    sip_parse() of the whole message, as on a stream
 *   idcheck  idcheck_feed() on a sent request under enforce: framing the
 *            head, finding the Request-URI host and matching it against
 *            the peer's names (the draft 4.5 cross-check of every request)
 *
 *   sipcheck N      prints "parse_ns=X idcheck_ns=Y bytes=Z"
 *
 * Each figure is the best of 5 runs of N messages (the least disturbed on
 * a shared machine). Exit 1 if a message is not accepted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idcheck.h"
#include "sip.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct sipsec_ctl_identity id = { .mode = SIPSEC_IDCHECK_ENFORCE,
					  .n = 2 };
	struct idcheck_stream st = { .dir = IDCHECK_SENT,
				     .mode = SIPSEC_IDCHECK_ENFORCE };
	double best_parse = 1e18, best_check = 1e18;
	struct idcheck_out out;
	struct sip_msg m;
	char msg[1100], why[160];
	long n = argc > 1 ? atol(argv[1]) : 0;
	size_t len;

	if (n <= 0) {
		fprintf(stderr, "usage: sipcheck N\n");
		return 2;
	}
	strcpy(id.names[0], "h2.sipsec.test");
	strcpy(id.names[1], "198.18.0.2");
	len = (size_t)snprintf(msg, sizeof(msg),
		"INVITE sip:service@198.18.0.2:5060 SIP/2.0\r\n"
		"Via: SIP/2.0/TCP 198.18.0.1:5060;branch=z9hG4bK-1-0\r\n"
		"From: sipp <sip:sipp@198.18.0.1:5060>;tag=1SIPpTag001\r\n"
		"To: sut <sip:service@198.18.0.2:5060>\r\n"
		"Call-ID: 1-4242@198.18.0.1\r\nCSeq: 1 INVITE\r\n"
		"Contact: sip:sipp@198.18.0.1:5060\r\nMax-Forwards: 70\r\n"
		"Subject: Performance Test\r\n"
		"Content-Type: application/sdp\r\nContent-Length: 600\r\n\r\n");
	memset(msg + len, 'v', 600);
	len += 600;
	for (int run = 0; run < 5; run++) {
		double t0 = now_ns(), t1, t2;

		for (long i = 0; i < n; i++)
			if (sip_parse(msg, len, SIP_STREAM, &m, why,
				      sizeof(why))) {
				fprintf(stderr, "sipcheck: %s\n", why);
				return 1;
			}
		t1 = now_ns();
		for (long i = 0; i < n; i++) {
			idcheck_feed(&st, &id, msg, len, false, &out, NULL, NULL);
			if (out.bad || out.pass != len) {
				fprintf(stderr, "sipcheck: refused: %s\n",
					out.v.why);
				return 1;
			}
		}
		t2 = now_ns();
		if ((t1 - t0) / (double)n < best_parse)
			best_parse = (t1 - t0) / (double)n;
		if ((t2 - t1) / (double)n < best_check)
			best_check = (t2 - t1) / (double)n;
	}
	idcheck_stream_free(&st);
	printf("parse_ns=%.0f idcheck_ns=%.0f bytes=%zu\n", best_parse,
	       best_check, len);
	return 0;
}

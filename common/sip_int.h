/* SPDX-License-Identifier: MIT */
/* What sip.c, sip_value.c and sip_multipart.c share; not an API. */
#ifndef SIPSEC_SIP_INT_H
#define SIPSEC_SIP_INT_H

#include "sip.h"

/* A run of header lines, of a message or of a multipart part. */
struct sip_hscan {
	struct sip_header *hdr;
	size_t max, n;
	const char *limit_name; /* for the -EMSGSIZE reason */
	const char *where; /* reason prefix: "" or "part 2: " */
	unsigned line; /* of the next line, for reasons */
	bool end_is_blank; /* a part: its end ends the headers too */
	const char *end; /* out: just after the empty line */
};

/* sip.c */
int sip_fail(char *why, size_t wlen, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
bool sip_ci_eq(const char *a, const char *b, size_t n);
const char *sip_shown(char *buf, size_t size, const char *p, size_t n);
/* 0 at the empty line, 1 when the lines run out first, <0 a rejection */
int sip_headers(struct sip_hscan *hs, const char *p, const char *end,
		char *why, size_t wlen);
/* 1 with *cl (saturated just past SIP_MAX_BODY), 0 none, -EBADMSG */
int sip_content_length(const struct sip_header *hdr, size_t n,
		       const char *where, size_t *cl, char *why, size_t wlen);

/* sip_value.c: past the closing quote of the quoted-string at p, or NULL */
const char *sip_skip_quoted(const char *p, const char *e);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * SIP messages as sipsecd and the shim read them (common/sip.c).
 *
 * Zero-copy: every string points into the caller's buffer, nothing is
 * allocated, and every size and count has a hard limit, so the parser can
 * run inside the shim on each message a legacy program sends or receives.
 * A rejection always comes with its reason.
 */
#ifndef SIPSEC_SIP_H
#define SIPSEC_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIP_MAX_HEAD 16384 /* start line and headers, with CRLFCRLF */
#define SIP_MAX_HEADERS 96 /* header lines in a message or a part */
#define SIP_MAX_BODY 65536
#define SIP_MAX_PARTS 8 /* multipart/mixed parts */
#define SIP_MAX_PART_HEADERS 16

/* A view into the parsed buffer; not NUL-terminated. */
struct sip_str {
	const char *p;
	size_t n;
};

/* Headers sipsec acts on, long and compact forms folded into one id. */
enum sip_hdr {
	SIP_H_OTHER = 0,
	SIP_H_VIA, /* v */
	SIP_H_FROM, /* f */
	SIP_H_TO, /* t */
	SIP_H_CALL_ID, /* i */
	SIP_H_CSEQ,
	SIP_H_CONTACT, /* m */
	SIP_H_CONTENT_TYPE, /* c */
	SIP_H_CONTENT_LENGTH, /* l */
	SIP_H_MAX_FORWARDS,
	SIP_H_P_ASSERTED_IDENTITY,
	SIP_H_SUPPORTED, /* k */
	SIP_H_REQUIRE,
	SIP_H_PROXY_REQUIRE,
	SIP_H_MIME_VERSION,
	SIP_H_X_SECURE_TO, /* the framework draft, section 4.1 */
	SIP_H_X_SECURE_FROM,
	SIP_H_X_SECURE_SUPPORTS,
	SIP_H_X_SECURE_REQUIRES,
	SIP_H_X_SECURE_METHOD,
	SIP_H_SECURITY_CLIENT, /* RFC 3329 */
	SIP_H_SECURITY_SERVER,
	SIP_H_SECURITY_VERIFY,
	SIP_H_AUTHORIZATION, /* the draft's section 6 uses these two */
	SIP_H_ENCRYPTION,
	SIP_H_SUBJECT, /* s */
	SIP_H_CONTENT_ENCODING, /* e */
	SIP_H__COUNT
};

struct sip_header {
	enum sip_hdr id;
	struct sip_str name; /* as written */
	struct sip_str value; /* leading and trailing whitespace removed; a
			       * folded value keeps its CRLF WSP inside */
};

struct sip_msg {
	bool request;
	struct sip_str method, uri; /* request line */
	int status; /* status line: 100..699 */
	struct sip_str reason;
	struct sip_header hdr[SIP_MAX_HEADERS];
	size_t n_hdr;
	struct sip_str body;
	size_t len; /* bytes this message took in the buffer */
};

/* How the buffer is framed. */
enum sip_framing {
	/* TCP/TLS stream: Content-Length is mandatory, the message may be
	 * followed by the next one; -EAGAIN when more bytes are needed. */
	SIP_STREAM,
	/* One datagram: the body is the rest (Content-Length, when present,
	 * must not exceed it). */
	SIP_DGRAM,
	/* A stream whose body the caller passes on itself (the shim checks
	 * heads only): as SIP_STREAM, but 0 as soon as the head is
	 * complete, with m->len the head's length (leading CRLFs included)
	 * and m->body = { NULL, Content-Length }. */
	SIP_STREAM_HEAD,
};

/**
 * @brief Parse one message from the start of buf.
 * Leading CRLFs (keep-alives) are skipped and counted in m->len; on
 * -EAGAIN m->len is how many of them the caller may drop already.
 * Every failure fills why (on -EAGAIN: what is still missing).
 * @return 0 with *m filled; -EAGAIN (SIP_STREAM: incomplete, nothing
 * wrong so far); -EMSGSIZE (a limit; why names it); -EBADMSG (why says
 * what and where).
 */
int sip_parse(const char *buf, size_t len, enum sip_framing framing,
	      struct sip_msg *m, char *why, size_t wlen);

/** @brief The first header with id after @after (NULL: from the start). */
const struct sip_header *sip_find(const struct sip_msg *m, enum sip_hdr id,
				  const struct sip_header *after);
/** @brief Header id of a name, long or compact, case-insensitive. */
enum sip_hdr sip_header_id(const char *name, size_t n);
/** @brief The long name of an id ("Via"); "" for SIP_H_OTHER. */
const char *sip_header_name(enum sip_hdr id);

/**
 * @brief The next element of a comma-separated header value, commas inside
 * quoted strings and <...> left alone; *rest advances past it.
 * @return 1 with *item (trimmed), 0 at the end, -EBADMSG (unbalanced).
 */
int sip_list_next(struct sip_str *rest, struct sip_str *item);

/**
 * @brief The host of a SIP or SIPS URI, bare or in a name-addr
 * ("Name" <sip:user@host:port;params>), IPv6 references without their
 * brackets. @return 0, -EBADMSG (not a sip:/sips: URI, or no host).
 */
int sip_uri_host(struct sip_str v, struct sip_str *host);

/* A part of a multipart/mixed body (RFC 2046), e.g. the framework draft's
 * message/sip-secure attachments. */
struct sip_part {
	struct sip_header hdr[SIP_MAX_PART_HEADERS];
	size_t n_hdr;
	struct sip_str body;
};

/**
 * @brief Split m's multipart/mixed body by the boundary of its
 * Content-Type. @return the number of parts (up to max), -ENOMSG (not
 * multipart), -EMSGSIZE, -EBADMSG.
 */
int sip_multipart(const struct sip_msg *m, struct sip_part *parts,
		  size_t max, char *why, size_t wlen);
/** @brief A part's header, as sip_find(). */
const struct sip_header *sip_part_find(const struct sip_part *p,
				       enum sip_hdr id);

/** @brief Case-insensitive comparison of a view and a C string. */
bool sip_str_eq(struct sip_str s, const char *c);

#endif

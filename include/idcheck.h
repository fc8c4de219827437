/* SPDX-License-Identifier: MIT */
/*
 * The identity cross-check of the framework draft, section 4.5
 * (common/idcheck.c): the SIP domain in the messages on an association
 * must be one the peer authenticated with. Requests sent: the next hop,
 * that is the host of the first Route URI (loose routing), or else the
 * Request-URI's. Requests received: the host of From and of every
 * P-Asserted-Identity value. Responses are not checked.
 *
 * Pure logic on byte streams, without I/O, so that the shim (which sees
 * the program's plaintext) runs it and the unit tests link it. A stream
 * is framed as SIP over TCP is (Content-Length); only heads are looked
 * at, bodies are counted and passed.
 */
#ifndef SIPSEC_IDCHECK_H
#define SIPSEC_IDCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip.h"
#include "sipsec_ctl.h"

enum idcheck_dir { IDCHECK_SENT, IDCHECK_RECEIVED };

/* What a verdict is about; also the bit of idcheck_stream.logged. */
enum idcheck_what {
	IDCHECK_W_RURI, /* Request-URI */
	IDCHECK_W_ROUTE, /* the first Route header */
	IDCHECK_W_FROM,
	IDCHECK_W_PAI, /* a P-Asserted-Identity value */
	IDCHECK_W_FRAMING, /* the stream cannot be framed: nothing checked */
	IDCHECK_W__COUNT
};

struct idcheck_verdict {
	enum idcheck_what what;
	char host[64]; /* the host found, printable; "" when there is none */
	char why[128]; /* set when the header could not be checked at all */
};

/* One direction of one connection. Zero-initialised, then dir and mode
 * set; idcheck_stream_free() releases what a split head held. */
struct idcheck_stream {
	uint8_t dir; /* enum idcheck_dir */
	uint8_t mode; /* enum sipsec_idcheck */
	uint8_t stopped; /* log mode met an unframeable stream: no checks */
	uint8_t logged; /* log mode: bits (1 << idcheck_what) reported */
	size_t skip; /* bytes of checked messages still to pass */
	char *head; /* a head that spans calls (SIP_MAX_HEAD bytes) */
	size_t len; /* bytes in head */
};

/* What idcheck_feed() decided about the bytes it was given. */
struct idcheck_out {
	size_t pass; /* bytes from the start that may go on */
	size_t tail; /* hold == false: an incomplete head after pass */
	bool bad; /* enforce: the message starting at pass is refused */
	struct idcheck_verdict v; /* when bad */
};

/* Called in log mode for each verdict whose kind was not reported on
 * this stream yet. */
typedef void (*idcheck_report_fn)(void *arg, const struct idcheck_stream *st,
				  const struct idcheck_verdict *v);

/**
 * @brief Whether host (from a URI, IPv6 without brackets) is name: DNS
 * names case-insensitively, "*.d" for exactly one label more than d, IP
 * addresses by value (any textual form).
 */
bool idcheck_name_match(const char *name, struct sip_str host);
/** @brief Whether host matches one of id's names. */
bool idcheck_host_ok(const struct sipsec_ctl_identity *id,
		     struct sip_str host);
/**
 * @brief Check one parsed message. @return 0 (a response, or every host
 * is one of id's names), -EACCES with *v (a host that is not, or a
 * header that cannot be checked: v->why).
 */
int idcheck_msg(const struct sip_msg *m, enum idcheck_dir dir,
		const struct sipsec_ctl_identity *id,
		struct idcheck_verdict *v);
/**
 * @brief Frame and check the next n bytes of a stream.
 * hold: an incomplete head at the end passes now (it was delivered or
 * sent already) and is kept to be checked when it completes; without
 * hold it is left out (out->tail) and the state does not cover it: the
 * caller gives those bytes again, then with more.
 * Under enforce, a refused message stops the scan (out->bad) and the
 * state stays at its start. Under log, verdicts go to report (once per
 * kind), an unframeable stream stops checking; everything passes.
 * @return 0, or -ENOMEM (a split head could not be kept: nothing passed).
 */
int idcheck_feed(struct idcheck_stream *st,
		 const struct sipsec_ctl_identity *id, const char *p,
		 size_t n, bool hold, struct idcheck_out *out,
		 idcheck_report_fn report, void *arg);
void idcheck_stream_free(struct idcheck_stream *st);
/** @brief One log line's worth about a verdict, naming id's names. */
void idcheck_describe(const struct idcheck_verdict *v, enum idcheck_dir dir,
		      const struct sipsec_ctl_identity *id, char *buf,
		      size_t len);
const char *idcheck_what_name(enum idcheck_what w);

#endif

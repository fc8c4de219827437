/* SPDX-License-Identifier: MIT */
/*
 * What the three files of the security-agreement grammars share
 * (secagree.c: the table, the lexer, selection; secagree_x.c: the framework
 * draft; secagree_3329.c: RFC 3329). Not exported beyond common/.
 */
#ifndef SIPSEC_SECAGREE_INT_H
#define SIPSEC_SECAGREE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "secagree.h"

/*
 * One crypto-system: its names in both grammars. Parsing looks a name up
 * here, formatting looks (mech, keying) up here, so that a new
 * crypto-system is one row.
 */
struct seca_row {
	unsigned char mech; /* enum sec_mech_id */
	unsigned char keying; /* enum sec_keying */
	const char *draft; /* method, without ".sec.sip.iana" */
	const char *kname; /* K: value, NULL for none */
	const char *rfc3329; /* mechanism-name */
};

#define SECA_SUFFIX ".sec.sip.iana"
#define SECA_SUFFIX_LEN (sizeof(SECA_SUFFIX) - 1)

const struct seca_row *seca_row_by_draft(const char *method);
const struct seca_row *seca_row_by_kname(unsigned char mech,
					 const char *kname);
const struct seca_row *seca_row_by_3329(const char *name);
const struct seca_row *seca_row_by_mech(unsigned char mech);
const struct seca_row *seca_row_by_mk(unsigned char mech,
				      unsigned char keying);

/* A header value being read: RFC 3261 25.1 lexical rules. */
struct seca_lex {
	const char *v;
	size_t n, i;
	char *why;
	size_t wlen;
};

void seca_lws(struct seca_lex *l);
/** @brief Length of the token at l->i (RFC 3261 "token"), consumed. */
size_t seca_token(struct seca_lex *l);
bool seca_at(const struct seca_lex *l, char c);
/** @brief "';'", "end of value" or "byte 0x01": what stands at @at. */
const char *seca_what(const struct seca_lex *l, size_t at, char *buf,
		      size_t len);
/** @brief Write the reason into l->why; @return err. */
int seca_fail(struct seca_lex *l, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/** @brief Copy v[at, at+len) into a field of @size, lower-cased if asked;
 * -EMSGSIZE naming @field when it does not fit. */
int seca_field(struct seca_lex *l, char *dst, size_t size, size_t at,
	       size_t len, bool lower, const char *field);

/* How a list of mechanisms is separated: the grammars differ only here. */
struct seca_list_rules {
	char sep; /* ';' draft, ',' RFC 3329 */
	bool trailing_sep; /* a last separator with nothing after it */
	const char *one; /* header that takes exactly one, or NULL */
};

typedef int (*seca_elem_fn)(struct seca_lex *l, struct sec_mech *m,
			    size_t pos, const void *ctx);

/** @brief Read a whole value: LWS, elements, separators; @return count. */
int seca_list(struct seca_lex *l, const struct seca_list_rules *r,
	      seca_elem_fn elem, const void *ctx, struct sec_mech *out,
	      size_t max);

/* Text being formatted: never overflows, remembers that it would have. */
struct seca_out {
	char *buf;
	size_t len, pos;
	bool over;
};

void seca_put(struct seca_out *o, const char *s);
int seca_out_end(struct seca_out *o);

#endif

/* SPDX-License-Identifier: MIT */
/* sipsecctl's map: one file per command family. */
#ifndef SIPSECCTL_H
#define SIPSECCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct ctl_opts {
	const char *socket; /* abstract control socket name */
	bool json;
};

/* sipsecctl.c */
int ctl_open(const struct ctl_opts *o);

/* status.c */
int cmd_status(const struct ctl_opts *o, int argc, char **argv);

/* certs.c */
int cmd_certs(const struct ctl_opts *o, int argc, char **argv);

/* drops.c: the eBPF enforcement, read from its pinned objects */
int cmd_drops(const struct ctl_opts *o, int argc, char **argv);
int cmd_events(const struct ctl_opts *o, int argc, char **argv);
int cmd_detach(const struct ctl_opts *o, int argc, char **argv);

/* sas.c: sipsec's ESP SAs, read from the kernel */
int cmd_sas(const struct ctl_opts *o, int argc, char **argv);
struct sas_table;
/** @brief sipsec's SAs (never keys) and policy count: 0, or -errno with
 * why (no XFRM here, no privilege). */
int sas_load(struct sas_table **out, char *why, size_t wlen);
void sas_free(struct sas_table *t);
void sas_print_text(const struct sas_table *t, FILE *f);
/** @brief "sas":[...],"policies":N (members of an enclosing object). */
void sas_print_json(const struct sas_table *t, FILE *f);

/* sip_parse.c: the SIP parser on one message from stdin */
int cmd_sip_parse(const struct ctl_opts *o, int argc, char **argv);

/* json.c: JSON output (strings escaped per RFC 8259) */
void json_str(FILE *f, const char *s);
void json_strn(FILE *f, const char *s, size_t n);
void json_kv_str(FILE *f, const char *key, const char *val, bool comma);
void json_kv_u64(FILE *f, const char *key, unsigned long long v, bool comma);
void json_kv_bool(FILE *f, const char *key, bool v, bool comma);

#endif

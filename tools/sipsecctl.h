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

/* sip_parse.c: the SIP parser on one message from stdin */
int cmd_sip_parse(const struct ctl_opts *o, int argc, char **argv);

/* json.c: JSON output (strings escaped per RFC 8259) */
void json_str(FILE *f, const char *s);
void json_strn(FILE *f, const char *s, size_t n);
void json_kv_str(FILE *f, const char *key, const char *val, bool comma);
void json_kv_u64(FILE *f, const char *key, unsigned long long v, bool comma);
void json_kv_bool(FILE *f, const char *key, bool v, bool comma);

#endif

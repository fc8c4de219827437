// SPDX-License-Identifier: MIT
/*
 * Just enough JSON output for `sipsecctl --json`: objects of strings,
 * numbers and booleans. Written here rather than pulled in from a library
 * because output needs only string escaping (RFC 8259 section 7).
 */
#include <stdio.h>
#include <string.h>

#include "sipsecctl.h"

void json_str(FILE *f, const char *s)
{
	json_strn(f, s, strlen(s));
}

/* A string that need not end in NUL, and may hold one (as \u0000). */
void json_strn(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (const char *e = s + n; s < e; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

void json_kv_str(FILE *f, const char *key, const char *val, bool comma)
{
	json_str(f, key);
	fputc(':', f);
	json_str(f, val);
	if (comma)
		fputc(',', f);
}

void json_kv_u64(FILE *f, const char *key, unsigned long long v, bool comma)
{
	json_str(f, key);
	fprintf(f, ":%llu%s", v, comma ? "," : "");
}

void json_kv_bool(FILE *f, const char *key, bool v, bool comma)
{
	json_str(f, key);
	fprintf(f, ":%s%s", v ? "true" : "false", comma ? "," : "");
}

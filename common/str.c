// SPDX-License-Identifier: MIT
/* Strings into fixed-size fields (wire structs, names): truncate, never
 * overflow, always terminate. */
#include <string.h>

#include "sipsec.h"

size_t sipsec_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = src ? strlen(src) : 0;

	if (size) {
		size_t k = n < size - 1 ? n : size - 1;

		memcpy(dst, src ? src : "", k);
		dst[k] = '\0';
	}
	return n;
}

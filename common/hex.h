/*
 * hex.h - the value of a hexadecimal digit, for the parsers of both
 * programs: percent-escapes in the server's query parameters and the
 * capture's URLs, chunk sizes of the capture's HTTP client.
 */
#ifndef SHMCAM_HEX_H
#define SHMCAM_HEX_H

/* 0 to 15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for anything else. */
static inline int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif /* SHMCAM_HEX_H */

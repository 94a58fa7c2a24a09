/*
 * json.h - JSON strings from text we do not control (camera names,
 * client keys, addresses, the capture's status text from shared
 * memory), for the servers' /state.
 */
#ifndef SHMCAM_JSON_H
#define SHMCAM_JSON_H

#include <stddef.h>

struct evbuffer;

/*
 * Escapes s as the inside of a JSON string into out (size bytes, always
 * NUL-terminated, never cut inside an escape); returns the full length.
 */
size_t	json_escape(const char *s, char *out, size_t size);
/* Appends s as a quoted JSON string. */
void	json_add_string(struct evbuffer *out, const char *s);

#endif /* SHMCAM_JSON_H */

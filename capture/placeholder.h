/*
 * placeholder.h - the "no signal" picture the capture publishes about
 * once a second while its source is gone: at the last resolution (so
 * viewers need not cope with a size change), saying what is missing, why,
 * and when this picture was made.
 */
#ifndef SHMCAM_PLACEHOLDER_H
#define SHMCAM_PLACEHOLDER_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

struct placeholder {
	struct image	 ph_bg;		/* background and the fixed text */
	struct jpeg_encoder ph_enc;
	char		 ph_key[160];	/* what ph_bg was drawn for */
};

int	placeholder_init(struct placeholder *ph);
void	placeholder_free(struct placeholder *ph);
/*
 * Renders the picture with title (e.g. "NO SIGNAL") for source (e.g.
 * "v4l2:/dev/video0") and reason at the time real_ns into a malloc()ed
 * JPEG.  0 or -errno.
 */
int	placeholder_render(struct placeholder *ph, const char *title,
	    uint32_t width, uint32_t height, const char *source,
	    const char *reason, uint64_t real_ns, uint8_t **jpeg, size_t *len);

#endif /* SHMCAM_PLACEHOLDER_H */

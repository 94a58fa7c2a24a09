/*
 * dir.c - a directory of JPEG files as a source, for demos and replays:
 * the files whose names end in .jpg or .jpeg (any case), sorted by name
 * (byte order), one per tick of --fps, round and round.
 *
 * The directory is read again each time round, so files added or removed
 * while running are picked up.  Each file is read whole and handed over
 * as a JPEG frame; the capture checks it like a camera's MJPEG frame
 * (mjpeg.c) and drops the ones that are not complete JPEGs.  A directory
 * that cannot be read (gone, no permission) is a source failure: the
 * capture shows "no signal" and retries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "encode.h"
#include "mjpeg.h"
#include "source.h"

#define DIR_FILES_MAX	100000
#define DIR_FILE_MAX	(64u << 20)	/* a bigger "JPEG" is not one */

struct dirsrc {
	char		 path[PATH_MAX];
	uint32_t	 fps_milli;
	char		**names;	/* this round's files */
	size_t		 nnames;
	size_t		 next;		/* index of the next file */
	uint8_t		*buf;		/* the frame handed over */
	size_t		 bufsize;
	uint32_t	 lost;
};

static int
is_jpeg_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	return name[0] != '.' && dot != NULL && (strcasecmp(dot, ".jpg") == 0 ||
	    strcasecmp(dot, ".jpeg") == 0);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
dir_free_names(struct dirsrc *d)
{
	for (size_t i = 0; i < d->nnames; i++)
		free(d->names[i]);
	free(d->names);
	d->names = NULL;
	d->nnames = 0;
	d->next = 0;
}

/* Reads the list of files; 0, or -errno with why[]. */
static int
dir_scan(struct dirsrc *d, char *why, size_t whylen)
{
	DIR *dir;
	struct dirent *e;
	char **names = NULL, **grown;
	size_t n = 0, cap = 0;
	int rc = 0;

	if ((dir = opendir(d->path)) == NULL) {
		snprintf(why, whylen, "opendir %s: %s", d->path,
		    strerror(errno));
		return -errno;
	}
	while ((e = readdir(dir)) != NULL && n < DIR_FILES_MAX) {
		if (!is_jpeg_name(e->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(names, cap * sizeof(*names));
			if (grown == NULL) {
				rc = -ENOMEM;
				break;
			}
			names = grown;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(dir);
	dir_free_names(d);
	d->names = names;
	d->nnames = n;
	if (rc != 0) {
		snprintf(why, whylen, "%s: out of memory", d->path);
		return rc;
	}
	if (d->nnames > 1)
		qsort(d->names, d->nnames, sizeof(char *), name_cmp);
	return 0;
}

/* Reads one file into d->buf; 0, or -errno (the file is skipped). */
static int
dir_read_file(struct dirsrc *d, const char *name, size_t *len)
{
	struct stat st;
	uint8_t *p;
	size_t got = 0;
	ssize_t n;
	int fd, dfd, rc = 0;

	if ((dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	close(dfd);
	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size <= 0 || (uint64_t)st.st_size > DIR_FILE_MAX) {
		close(fd);
		return -EINVAL;
	}
	if (d->bufsize < (size_t)st.st_size) {
		if ((p = realloc(d->buf, (size_t)st.st_size)) == NULL) {
			close(fd);
			return -ENOMEM;
		}
		d->buf = p;
		d->bufsize = (size_t)st.st_size;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, d->buf + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n == 0 ? -EIO : -errno;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return rc;
}

static int
dir_open(struct source *src, char *why, size_t whylen)
{
	struct dirsrc *d = src->priv;
	struct mjpeg_info info;
	size_t len, maxlen = 0;
	uint32_t maxw = 0, maxh = 0;
	int rc, fd, have = 0;

	if ((rc = dir_scan(d, why, whylen)) != 0)
		return rc;
	if (d->nnames == 0) {
		snprintf(why, whylen, "%s: no .jpg or .jpeg files", d->path);
		return -ENOENT;
	}
	/*
	 * One look at every file: the first good one gives the size the
	 * status reports, the largest ones size the ring.
	 */
	for (size_t i = 0; i < d->nnames; i++) {
		if (dir_read_file(d, d->names[i], &len) != 0 ||
		    mjpeg_check(d->buf, len, &info) != 0)
			continue;
		if (!have) {
			src->width = info.width;
			src->height = info.height;
			have = 1;
		}
		if (mjpeg_repaired_len(&info) > maxlen)
			maxlen = mjpeg_repaired_len(&info);
		if ((uint64_t)info.width * info.height >
		    (uint64_t)maxw * maxh) {
			maxw = info.width;
			maxh = info.height;
		}
	}
	if (!have) {
		snprintf(why, whylen, "%s: none of its %zu JPEG files is a "
		    "complete JPEG", d->path, d->nnames);
		return -ENOENT;
	}
	if (encoder_max_size(maxw, maxh) > maxlen)
		maxlen = encoder_max_size(maxw, maxh);
	src->max_frame = maxlen > UINT32_MAX / 2 ? UINT32_MAX / 2 :
	    (uint32_t)maxlen;

	if ((fd = source_timer_open(d->fps_milli, why, whylen)) < 0)
		return fd;
	src->fd = fd;
	d->next = 0;
	d->lost = 0;
	return 0;
}

static void
dir_close(struct source *src)
{
	struct dirsrc *d = src->priv;

	if (src->fd != -1)
		close(src->fd);
	src->fd = -1;
	dir_free_names(d);
}

static int
dir_next(struct source *src, struct source_frame *f, char *why,
    size_t whylen)
{
	struct dirsrc *d = src->priv;
	uint64_t expirations, mono_ns, real_ns;
	size_t len;
	int rc;

	if ((rc = source_timer_read(src->fd, &expirations, why, whylen)) <= 0)
		return rc;
	source_timer_due(src->fd, d->fps_milli, &mono_ns, &real_ns);
	d->lost += (uint32_t)(expirations - 1);
	if (d->next >= d->nnames) {
		if ((rc = dir_scan(d, why, whylen)) != 0)
			return rc;
		if (d->nnames == 0) {
			snprintf(why, whylen, "%s: no .jpg or .jpeg files left",
			    d->path);
			return -ENOENT;
		}
	}
	rc = dir_read_file(d, d->names[d->next++], &len);
	if (rc != 0) {
		/* Gone or unreadable since the scan: count it, go on. */
		d->lost++;
		return 0;
	}
	memset(f, 0, sizeof(*f));
	f->fourcc = V4L2_PIX_FMT_JPEG;
	f->width = src->width;
	f->height = src->height;
	f->data = d->buf;
	f->length = len;
	f->capture_real_ns = real_ns;
	f->capture_mono_ns = mono_ns;
	f->skipped = d->lost;
	d->lost = 0;
	return 1;
}

static void
dir_release(struct source *src, struct source_frame *f)
{
	(void)src;
	(void)f;
}

static void
dir_destroy(struct source *src)
{
	struct dirsrc *d = src->priv;

	if (d != NULL) {
		dir_close(src);
		free(d->buf);
		free(d);
	}
	src->priv = NULL;
}

static const struct source_ops dir_ops = {
	.open = dir_open,
	.close = dir_close,
	.next = dir_next,
	.release = dir_release,
	.destroy = dir_destroy,
};

int
dir_source_init(struct source *src, const struct source_config *c)
{
	struct dirsrc *d;

	memset(src, 0, sizeof(*src));
	src->fd = -1;
	if (c->fps_milli == 0)
		return -EINVAL;
	if (c->path == NULL || strlen(c->path) >= sizeof(d->path))
		return -ENAMETOOLONG;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -ENOMEM;
	snprintf(d->path, sizeof(d->path), "%s", c->path);
	d->fps_milli = c->fps_milli;
	src->ops = &dir_ops;
	src->priv = d;
	src->width = c->width;
	src->height = c->height;
	src->fourcc = V4L2_PIX_FMT_JPEG;
	src->fps_milli = c->fps_milli;
	src->fps_device_milli = c->fps_milli;	/* paced to the rate asked */
	src->max_frame = (uint32_t)encoder_max_size(c->width, c->height);
	snprintf(src->desc, sizeof(src->desc), "dir:%s", c->path);
	return 0;
}

/*
 * workers.h - a small pool of encoder threads: for JPEG when one core
 * cannot keep up (e.g. 1080p60 YUYV), with frames still published in
 * capture order; and the H.264 encoder's thread, beside the loop.
 *
 * Threading contract
 *   Only the loop thread calls these functions, and only the loop thread
 *   touches the ring and the source: a worker gets a frame (the source's
 *   buffer, read-only, or in copy mode the job's own copy of it), runs
 *   the encode function into the job's own output buffer and hands the
 *   job back.  The loop thread then copies the result into the ring and
 *   releases the frame.
 *
 * Copy mode
 *   workers_submit() copies the frame (source_frame_copy()) into the job
 *   before queueing it, outside the lock, so the caller may release the
 *   source's buffer at once: the H.264 encoder takes its time with a
 *   frame the JPEG path has long given back to the driver.
 *
 * Order and overload
 *   At most one frame waits for a free worker: a newer frame replaces it
 *   (latest wins) and the replaced one comes back from workers_submit()
 *   to be released and counted as dropped (in copy mode there is nothing
 *   to release).  The replaced job's flags carry over to the newer one,
 *   so that a keyframe asked for is not lost with its frame.  Jobs come
 *   back from workers_collect() in the order they finish; one that
 *   finishes after a newer frame was already collected is marked late and
 *   must not be published (never out of order).
 *
 * Wake-ups: workers_fd() becomes readable when a job is done; the loop
 * reads it (workers_collect() does) and collects until none is left.
 */
#ifndef SHMCAM_WORKERS_H
#define SHMCAM_WORKERS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "source.h"

#define WORKERS_MAX	16

struct work {
	TAILQ_ENTRY(work) w_entry;
	uint64_t	 w_order;	/* capture order, from 1 */
	struct source_frame w_frame;
	unsigned	 w_flags;	/* the caller's, from workers_submit() */
	uint8_t		*w_in;		/* copy mode: the frame's bytes */
	size_t		 w_in_cap;
	uint8_t		*w_out;		/* the result, w_len bytes */
	size_t		 w_cap;
	size_t		 w_len;
	uint32_t	 w_out_flags;	/* the encode function's (RING_FRAME_*) */
	int		 w_rc;		/* of the encode function;
					 * -ECANCELED: drained, not run */
	int		 w_late;	/* finished after a newer frame */
	uint64_t	 w_encode_ns;
};

TAILQ_HEAD(work_list, work);

/*
 * The encode function: runs on worker thread `thread` (0..n-1), reads
 * w->w_frame, writes w->w_out (growing it as needed) and w->w_len;
 * returns 0 or -errno.
 */
typedef int (*work_fn)(void *arg, unsigned thread, struct work *w);

struct workers {
	pthread_mutex_t	 wk_lock;
	pthread_cond_t	 wk_todo_cond;	/* a job to do, or stop */
	pthread_cond_t	 wk_idle_cond;	/* a worker finished a job */
	pthread_t	 wk_threads[WORKERS_MAX];
	unsigned	 wk_n;
	int		 wk_copy;
	char		 wk_name[16];	/* the threads' name (/proc/.../comm) */
	int		 wk_efd;
	work_fn		 wk_fn;
	void		*wk_arg;
	struct work_list wk_free;
	struct work_list wk_todo;	/* at most one */
	struct work_list wk_done;
	unsigned	 wk_busy;
	int		 wk_stop;
	/* loop thread only */
	uint64_t	 wk_next_order;
	uint64_t	 wk_last_out;
};

/*
 * Starts n threads (1..WORKERS_MAX) named name (at most 15 characters,
 * for benchmarks that tell threads apart), in copy mode if copy.  0 or
 * -errno.
 */
int	workers_init(struct workers *wk, unsigned n, work_fn fn, void *arg,
	    const char *name, int copy);
/* Stops and joins the threads; every job must have been collected. */
void	workers_free(struct workers *wk);
int	workers_fd(const struct workers *wk);
/*
 * Queues f (a copy of the struct; in copy mode, of its bytes too) with
 * the caller's flags.  Returns 1 if an older frame that was still waiting
 * was dropped for it (and, unless in copy mode, fills *displaced with it:
 * release it), else 0; -ENOMEM or -EINVAL (f was not queued).
 */
int	workers_submit(struct workers *wk, const struct source_frame *f,
	    unsigned flags, struct source_frame *displaced);
/* A finished job, or NULL.  Hand it back with workers_recycle(). */
struct work *workers_collect(struct workers *wk);
void	workers_recycle(struct workers *wk, struct work *w);
/*
 * Cancels the waiting frame and waits until no worker is busy (for at
 * most one encode), so that the source may be closed; then every frame
 * out is in a job workers_collect() returns.
 */
void	workers_drain(struct workers *wk);
/* Jobs queued or being encoded. */
unsigned workers_pending(struct workers *wk);

#endif /* SHMCAM_WORKERS_H */

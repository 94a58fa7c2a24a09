/*
 * workers.c - encoder threads (see workers.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "workers.h"

static void *
workers_main(void *arg)
{
	struct workers *wk = arg;
	static const uint64_t one = 1;
	unsigned self;
	struct work *w;
	uint64_t t0;

	/* PR_SET_NAME: pthread_setname_np() would open a file in /proc for
	 * a thread other than the caller, which the sandbox refuses. */
	(void)prctl(PR_SET_NAME, wk->wk_name, 0, 0, 0);
	pthread_mutex_lock(&wk->wk_lock);
	for (self = 0; self < wk->wk_n; self++)
		if (pthread_equal(wk->wk_threads[self], pthread_self()))
			break;
	for (;;) {
		while (!wk->wk_stop && TAILQ_EMPTY(&wk->wk_todo))
			pthread_cond_wait(&wk->wk_todo_cond, &wk->wk_lock);
		if (wk->wk_stop)
			break;
		w = TAILQ_FIRST(&wk->wk_todo);
		TAILQ_REMOVE(&wk->wk_todo, w, w_entry);
		wk->wk_busy++;
		pthread_mutex_unlock(&wk->wk_lock);

		t0 = clock_ns(CLOCK_MONOTONIC);
		w->w_rc = wk->wk_fn(wk->wk_arg, self, w);
		w->w_encode_ns = clock_ns(CLOCK_MONOTONIC) - t0;

		pthread_mutex_lock(&wk->wk_lock);
		wk->wk_busy--;
		TAILQ_INSERT_TAIL(&wk->wk_done, w, w_entry);
		pthread_cond_broadcast(&wk->wk_idle_cond);
		/* A wake-up only: the list under the lock is the hand-over.
		 * EAGAIN: the counter is full, a wake-up is pending anyway. */
		if (write(wk->wk_efd, &one, sizeof(one)) == -1 &&
		    errno != EAGAIN)
			abort();
	}
	pthread_mutex_unlock(&wk->wk_lock);
	return NULL;
}

int
workers_init(struct workers *wk, unsigned n, work_fn fn, void *arg,
    const char *name, int copy)
{
	unsigned i;
	int rc;

	memset(wk, 0, sizeof(*wk));
	wk->wk_efd = -1;
	if (n < 1 || n > WORKERS_MAX)
		return -EINVAL;
	wk->wk_copy = copy;
	snprintf(wk->wk_name, sizeof(wk->wk_name), "%s", name);
	TAILQ_INIT(&wk->wk_free);
	TAILQ_INIT(&wk->wk_todo);
	TAILQ_INIT(&wk->wk_done);
	wk->wk_fn = fn;
	wk->wk_arg = arg;
	wk->wk_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (wk->wk_efd == -1)
		return -errno;
	pthread_mutex_init(&wk->wk_lock, NULL);
	pthread_cond_init(&wk->wk_todo_cond, NULL);
	pthread_cond_init(&wk->wk_idle_cond, NULL);
	/* Threads look themselves up in wk_threads: fill it under the lock. */
	pthread_mutex_lock(&wk->wk_lock);
	for (i = 0; i < n; i++) {
		rc = pthread_create(&wk->wk_threads[i], NULL, workers_main, wk);
		if (rc != 0) {
			pthread_mutex_unlock(&wk->wk_lock);
			workers_free(wk);
			return -rc;
		}
		wk->wk_n = i + 1;
	}
	pthread_mutex_unlock(&wk->wk_lock);
	return 0;
}

static void
work_list_free(struct work_list *l)
{
	struct work *w;

	while ((w = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, w, w_entry);
		free(w->w_in);
		free(w->w_out);
		free(w);
	}
}

void
workers_free(struct workers *wk)
{
	unsigned i;

	if (wk->wk_efd == -1)
		return;
	pthread_mutex_lock(&wk->wk_lock);
	wk->wk_stop = 1;
	pthread_cond_broadcast(&wk->wk_todo_cond);
	pthread_mutex_unlock(&wk->wk_lock);
	for (i = 0; i < wk->wk_n; i++)
		pthread_join(wk->wk_threads[i], NULL);
	work_list_free(&wk->wk_free);
	work_list_free(&wk->wk_todo);
	work_list_free(&wk->wk_done);
	pthread_cond_destroy(&wk->wk_todo_cond);
	pthread_cond_destroy(&wk->wk_idle_cond);
	pthread_mutex_destroy(&wk->wk_lock);
	close(wk->wk_efd);
	wk->wk_efd = -1;
}

int
workers_fd(const struct workers *wk)
{
	return wk->wk_efd;
}

int
workers_submit(struct workers *wk, const struct source_frame *f,
    unsigned flags, struct source_frame *displaced)
{
	struct work *w, *old;
	int rc;

	if (!wk->wk_copy) {
		pthread_mutex_lock(&wk->wk_lock);
		if ((w = TAILQ_FIRST(&wk->wk_todo)) != NULL) {
			/* Nobody has started on it: the newer frame takes its
			 * place. */
			*displaced = w->w_frame;
			w->w_frame = *f;
			w->w_flags |= flags;
			w->w_order = ++wk->wk_next_order;
			pthread_cond_signal(&wk->wk_todo_cond);
			pthread_mutex_unlock(&wk->wk_lock);
			return 1;
		}
		pthread_mutex_unlock(&wk->wk_lock);
	}
	/* A free job, filled (in copy mode, copied into) outside the lock. */
	pthread_mutex_lock(&wk->wk_lock);
	if ((w = TAILQ_FIRST(&wk->wk_free)) != NULL)
		TAILQ_REMOVE(&wk->wk_free, w, w_entry);
	pthread_mutex_unlock(&wk->wk_lock);
	if (w == NULL && (w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	if (wk->wk_copy)
		rc = source_frame_copy(f, &w->w_in, &w->w_in_cap, &w->w_frame);
	else {
		w->w_frame = *f;
		rc = 0;
	}
	if (rc != 0) {
		workers_recycle(wk, w);
		return rc;
	}
	w->w_flags = flags;
	w->w_len = 0;
	w->w_out_flags = 0;
	w->w_rc = 0;
	w->w_late = 0;

	pthread_mutex_lock(&wk->wk_lock);
	rc = 0;
	if ((old = TAILQ_FIRST(&wk->wk_todo)) != NULL) {
		/* Copy mode: the waiting copy is dropped for this one. */
		TAILQ_REMOVE(&wk->wk_todo, old, w_entry);
		w->w_flags |= old->w_flags;
		TAILQ_INSERT_HEAD(&wk->wk_free, old, w_entry);
		rc = 1;
	}
	w->w_order = ++wk->wk_next_order;
	TAILQ_INSERT_TAIL(&wk->wk_todo, w, w_entry);
	pthread_cond_signal(&wk->wk_todo_cond);
	pthread_mutex_unlock(&wk->wk_lock);
	return rc;
}

static struct work *
workers_take_done(struct workers *wk)
{
	struct work *w;

	pthread_mutex_lock(&wk->wk_lock);
	if ((w = TAILQ_FIRST(&wk->wk_done)) != NULL)
		TAILQ_REMOVE(&wk->wk_done, w, w_entry);
	pthread_mutex_unlock(&wk->wk_lock);
	return w;
}

struct work *
workers_collect(struct workers *wk)
{
	struct work *w;
	uint64_t count;

	/* Only when nothing is left is the wake-up reset, and the list
	 * looked at once more: a job finishing after the read writes the
	 * eventfd again, so none is lost, and a caller that collects until
	 * NULL reads the eventfd once, not once per job. */
	if ((w = workers_take_done(wk)) == NULL) {
		if (read(wk->wk_efd, &count, sizeof(count)) == -1 &&
		    errno != EAGAIN)
			abort();
		if ((w = workers_take_done(wk)) == NULL)
			return NULL;
	}
	if (w->w_rc == -ECANCELED || w->w_order <= wk->wk_last_out)
		w->w_late = 1;
	else
		wk->wk_last_out = w->w_order;
	return w;
}

void
workers_recycle(struct workers *wk, struct work *w)
{
	pthread_mutex_lock(&wk->wk_lock);
	TAILQ_INSERT_HEAD(&wk->wk_free, w, w_entry);
	pthread_mutex_unlock(&wk->wk_lock);
}

void
workers_drain(struct workers *wk)
{
	struct work *w;

	pthread_mutex_lock(&wk->wk_lock);
	while ((w = TAILQ_FIRST(&wk->wk_todo)) != NULL) {
		TAILQ_REMOVE(&wk->wk_todo, w, w_entry);
		w->w_rc = -ECANCELED;
		TAILQ_INSERT_TAIL(&wk->wk_done, w, w_entry);
	}
	while (wk->wk_busy > 0)
		pthread_cond_wait(&wk->wk_idle_cond, &wk->wk_lock);
	pthread_mutex_unlock(&wk->wk_lock);
}

unsigned
workers_pending(struct workers *wk)
{
	struct work *w;
	unsigned n;

	pthread_mutex_lock(&wk->wk_lock);
	n = wk->wk_busy;
	TAILQ_FOREACH(w, &wk->wk_todo, w_entry)
		n++;
	pthread_mutex_unlock(&wk->wk_lock);
	return n;
}

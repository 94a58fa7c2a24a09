/*
 * peers.h - the capture's side of the control socket: accepts servers,
 * hands each its own eventfd and the JPEG ring, and, if it asks, another
 * eventfd and the H.264 ring (CTL_STREAM); wakes those with viewers of a
 * kind after each publish of it;
 * adds up their viewers per kind; passes keyframe requests on.
 *
 * A peer must send a valid CTL_HELLO within PEER_HELLO_TIMEOUT_MS or it is
 * closed; anything it sends that fails validation closes it too.  Peers
 * still in the handshake are limited in number (PEERS_PENDING_MAX) so
 * that a flood of idle connections cannot keep real servers out, and the
 * total is limited by PEERS_MAX.  Nothing here ever blocks: a peer whose
 * socket is full is dropped, not waited for.
 */
#ifndef SHMCAM_PEERS_H
#define SHMCAM_PEERS_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <event2/event.h>

#include "ctl.h"
#include "ring.h"

#define PEERS_MAX		64
#define PEERS_PENDING_MAX	16
#define PEER_HELLO_TIMEOUT_MS	2000

struct peers;

struct peer {
	TAILQ_ENTRY(peer) p_entry;
	struct peers	*p_owner;
	int		 p_sock;
	int		 p_efd;		/* -1 until welcomed */
	struct event	*p_ev;
	struct event	*p_deadline;	/* hello must come before it */
	pid_t		 p_pid;		/* SO_PEERCRED */
	uid_t		 p_uid;
	uint32_t	 p_kinds;	/* CTL_KIND_BIT()s it asked for */
	int		 p_h264_efd;	/* -1 until sent the H.264 ring */
	uint32_t	 p_viewers[CTL_KINDS];
	char		 p_label[4 * CTL_LABEL_MAX];	/* escaped */
};

struct peers {
	struct event_base *ps_base;
	int		 ps_listen;
	struct event	*ps_listen_ev;
	struct event	*ps_resume_ev;	/* re-enables accept after EMFILE */
	struct ring_writer *ps_ring;
	struct ring_writer *ps_h264;	/* NULL: no H.264 */
	TAILQ_HEAD(, peer) ps_list;
	unsigned	 ps_pending;
	unsigned	 ps_attached;
	unsigned	 ps_h264_attached; /* peers that have the H.264 ring */
	uint32_t	 ps_viewers[CTL_KINDS];	/* sums over attached peers */
	uint64_t	 ps_refused;	/* connections closed unwelcomed */
	/* Called when one of ps_viewers changes. */
	void		(*ps_viewers_cb)(struct peers *, void *);
	/* Called for each CTL_KEYFRAME from an attached peer. */
	void		(*ps_keyframe_cb)(struct peers *, void *);
	void		*ps_cb_arg;
};

/* Takes ownership of listen_fd (from ctl_listen()). */
int	peers_init(struct peers *ps, struct event_base *base, int listen_fd,
	    struct ring_writer *ring);
void	peers_free(struct peers *ps);
/*
 * Wakes every attached server that has a JPEG viewer: one non-blocking
 * eventfd write each.  A server with none is not woken (it reads the
 * ring when a viewer comes); one whose count goes from none to some is
 * woken when that count arrives.
 */
void	peers_notify(struct peers *ps);
/* The same for the H.264 ring's eventfds and H.264 viewers. */
void	peers_notify_h264(struct peers *ps);
/*
 * The H.264 ring is h264 from now on (created, or replaced by one with
 * bigger slots): every attached server that asked for H.264 gets it in a
 * CTL_STREAM with a fresh eventfd; later ones get it after their welcome.
 */
void	peers_set_h264(struct peers *ps, struct ring_writer *h264);
/*
 * Closes every peer, e.g. because the ring was replaced: servers see EOF,
 * keep their clients and reconnect, and the welcome brings the new ring.
 */
void	peers_close_all(struct peers *ps, const char *reason);

#endif /* SHMCAM_PEERS_H */

/*
 * peers.h - the capture's side of the control socket: accepts servers,
 * hands each its own eventfd and the ring, wakes them after each publish.
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
	uint32_t	 p_viewers;
	char		 p_label[4 * CTL_LABEL_MAX];	/* escaped */
};

struct peers {
	struct event_base *ps_base;
	int		 ps_listen;
	struct event	*ps_listen_ev;
	struct event	*ps_resume_ev;	/* re-enables accept after EMFILE */
	struct ring_writer *ps_ring;
	TAILQ_HEAD(, peer) ps_list;
	unsigned	 ps_pending;
	unsigned	 ps_attached;
	uint32_t	 ps_viewers;	/* sum over attached peers */
	uint64_t	 ps_refused;	/* connections closed unwelcomed */
	/* Called when ps_viewers changes. */
	void		(*ps_viewers_cb)(struct peers *, void *);
	void		*ps_cb_arg;
};

/* Takes ownership of listen_fd (from ctl_listen()). */
int	peers_init(struct peers *ps, struct event_base *base, int listen_fd,
	    struct ring_writer *ring);
void	peers_free(struct peers *ps);
/* Wakes every attached server: one non-blocking eventfd write each. */
void	peers_notify(struct peers *ps);
/*
 * Closes every peer, e.g. because the ring was replaced: servers see EOF,
 * keep their clients and reconnect, and the welcome brings the new ring.
 */
void	peers_close_all(struct peers *ps, const char *reason);

#endif /* SHMCAM_PEERS_H */

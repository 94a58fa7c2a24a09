/*
 * mkseeds - writes seed inputs for the fuzzers: real rings (made by the
 * real writer, with frames in them) and real control messages.
 *
 *   mkseeds DIR   writes DIR/ring/... and DIR/ctl/...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "ring.h"

static void
put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void
ring_seeds(const char *dir)
{
	static const uint8_t jpeg[] = { 0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J',
	    'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xff, 0xd9 };
	struct ring_writer w;
	struct ring_frame f;
	struct ring_status st;
	char name[64], file[64];
	int frames[] = { 0, 1, 2, 5 };

	for (size_t k = 0; k < sizeof(frames) / sizeof(frames[0]); k++) {
		snprintf(name, sizeof(name), "shmcam-mkseeds-%d", (int)getpid());
		if (ring_writer_create(&w, name, RING_SLOTS_MIN,
		    RING_SLOT_SIZE_MIN, 0600, (gid_t)-1) != 0) {
			fprintf(stderr, "ring_writer_create failed\n");
			exit(1);
		}
		memset(&st, 0, sizeof(st));
		st.width = 64;
		st.height = 48;
		st.state = RING_STATE_ONLINE;
		snprintf(st.source, sizeof(st.source), "pattern");
		ring_writer_set_status(&w, &st);
		for (int i = 0; i < frames[k]; i++) {
			memset(&f, 0, sizeof(f));
			f.length = sizeof(jpeg);
			f.width = 64;
			f.height = 48;
			ring_writer_publish(&w, &f, jpeg);
		}
		snprintf(file, sizeof(file), "ring/frames-%d", frames[k]);
		put(dir, file, w.rw_map, w.rw_map_size);
		/* The same ring, cut short. */
		snprintf(file, sizeof(file), "ring/short-%d", frames[k]);
		put(dir, file, w.rw_map, w.rw_map_size / 2);
		ring_writer_destroy(&w, 1);
	}
}

static void
ctl_seeds(const char *dir)
{
	union ctl_msg m;
	uint8_t buf[1 + sizeof(m)];

	/* Byte 0: descriptors to attach; then the message. */
	ctl_init(&m.hdr, CTL_HELLO, sizeof(m.hello));
	snprintf(m.hello.label, sizeof(m.hello.label), "server/x");
	buf[0] = 0;
	memcpy(buf + 1, &m, sizeof(m.hello));
	put(dir, "ctl/hello", buf, 1 + sizeof(m.hello));

	ctl_init(&m.hdr, CTL_WELCOME, sizeof(m.welcome));
	snprintf(m.welcome.shm_name, sizeof(m.welcome.shm_name), "shmcam-x");
	buf[0] = 2;
	memcpy(buf + 1, &m, sizeof(m.welcome));
	put(dir, "ctl/welcome", buf, 1 + sizeof(m.welcome));
	buf[0] = 20;
	put(dir, "ctl/welcome-20fds", buf, 1 + sizeof(m.welcome));

	ctl_init(&m.hdr, CTL_REFUSED, sizeof(m.refused));
	snprintf(m.refused.reason, sizeof(m.refused.reason), "no");
	buf[0] = 0;
	memcpy(buf + 1, &m, sizeof(m.refused));
	put(dir, "ctl/refused", buf, 1 + sizeof(m.refused));

	ctl_init(&m.hdr, CTL_VIEWERS, sizeof(m.viewers));
	m.viewers.viewers = 3;
	buf[0] = 1;
	memcpy(buf + 1, &m, sizeof(m.viewers));
	put(dir, "ctl/viewers-1fd", buf, 1 + sizeof(m.viewers));
}

int
main(int argc, char **argv)
{
	char sub[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds DIR\n");
		return 2;
	}
	snprintf(sub, sizeof(sub), "%s/ring", argv[1]);
	mkdir(argv[1], 0755);
	mkdir(sub, 0755);
	snprintf(sub, sizeof(sub), "%s/ctl", argv[1]);
	mkdir(sub, 0755);
	ring_seeds(argv[1]);
	ctl_seeds(argv[1]);
	return 0;
}

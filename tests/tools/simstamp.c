/*
 * simstamp - prints the stamp of the simulated camera (tests/v4l2sim) in
 * JPEG files: "FILE SEQ REALTIME_NS SOURCE", SOURCE being "com" or
 * "barcode".  --barcode ignores the COM segment.  Exits 1 if a file has
 * no readable stamp, 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "v4l2sim/simstamp.h"

int
main(int argc, char **argv)
{
	int i = 1, barcode = 0, status = 0, rc;
	uint64_t seq, ns;
	const char *how;
	uint8_t *jpeg;
	size_t len = 0;

	if (argc > 1 && strcmp(argv[1], "--barcode") == 0) {
		barcode = 1;
		i++;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: simstamp [--barcode] FILE...\n");
		return 2;
	}
	for (; i < argc; i++) {
		if ((jpeg = tu_read_file(argv[i], &len)) == NULL) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			status = 1;
			continue;
		}
		how = "com";
		rc = barcode ? -ENOENT : simstamp_from_com(jpeg, len, &seq,
		    &ns);
		if (rc == -ENOENT) {
			how = "barcode";
			rc = simstamp_from_barcode(jpeg, len, &seq, &ns);
		}
		if (rc != 0) {
			fprintf(stderr, "%s: no stamp: %s\n", argv[i],
			    strerror(-rc));
			status = 1;
		} else
			printf("%s %" PRIu64 " %" PRIu64 " %s\n", argv[i], seq,
			    ns, how);
		free(jpeg);
	}
	return status;
}

/*
 * mkhash - a crypt(3) hash of a password, for the tests' auth files (as
 * mkpasswd(1) would make it, without needing the whois package):
 *
 *   mkhash PREFIX COST PASSWORD      e.g. mkhash '$2b$' 10 secret
 *
 * COST is the method's cost parameter (0: libcrypt's default).  Prints
 * the hash; exit 1 if libcrypt cannot make one.
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd = { 0 };
	const char *h;

	if (argc != 4) {
		fprintf(stderr, "usage: mkhash PREFIX COST PASSWORD\n");
		return 2;
	}
	if (crypt_gensalt_rn(argv[1], strtoul(argv[2], NULL, 10), NULL, 0,
	    setting, sizeof(setting)) == NULL ||
	    (h = crypt_rn(argv[3], setting, &cd, sizeof(cd))) == NULL ||
	    h[0] == '*') {
		fprintf(stderr, "mkhash: libcrypt cannot make a %s hash\n",
		    argv[1]);
		return 1;
	}
	printf("%s\n", h);
	return 0;
}

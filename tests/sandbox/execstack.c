/*
 * execstack.c - a shared object linked with -z execstack, as Debian's
 * libx264 is on armhf: loading it makes glibc give every thread an
 * executable stack (tests/check_sandbox.c, test_exec_stack_library).
 */
int	execstack_loaded(void);

__attribute__((visibility("default"))) int
execstack_loaded(void)
{
	return 1;
}

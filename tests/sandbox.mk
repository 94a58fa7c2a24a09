# tests/sandbox.mk - what the sandbox tests need besides the Check suite
# (tests/check_sandbox.c) and the tool that stacks a systemd-like filter
# (tests/tools/sysfilter.c):
#
#   $(BUILD)/tests/libsandboxprobe.so   tests/sandbox/probe.c, preloaded
#       into the real binaries to make them attempt a forbidden call.
#
# Never built with sanitizers (see tests/v4l2sim.mk for why that works).

SANDBOX_PROBE	:= $(BUILD)/tests/libsandboxprobe.so

$(SANDBOX_PROBE): tests/sandbox/probe.c
	@mkdir -p $(@D)
	$(CC) -std=c17 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC -shared \
	    -fvisibility=hidden -Wl,-z,relro,-z,now -o $@ $<

TEST_BINS += $(SANDBOX_PROBE)

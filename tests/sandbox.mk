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

# $(BUILD)/tests/libexecstack.so   tests/sandbox/execstack.c, an object
#     that asks for executable stacks (as libx264 does on armhf), which
#     check_sandbox loads into a sandboxed child.
SANDBOX_EXECSTACK := $(BUILD)/tests/libexecstack.so

$(SANDBOX_EXECSTACK): tests/sandbox/execstack.c
	@mkdir -p $(@D)
	$(CC) -std=c17 -O2 -Wall -Wextra -Werror -fPIC -shared \
	    -Wl,-z,execstack -o $@ $<

TEST_BINS += $(SANDBOX_PROBE) $(SANDBOX_EXECSTACK)

# The suite runs the capture's H.264 encoder under the capture's filter.
SANDBOX_SUITE_OBJS := $(call obj,capture/h264enc.c capture/rawframe.c \
	capture/source.c)
$(BUILD)/tests/check_sandbox.o: CPPFLAGS += -Icapture
$(BUILD)/tests/check_sandbox: $(BUILD)/tests/check_sandbox.o $(TESTUTIL) \
    $(SANDBOX_SUITE_OBJS) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS) $(JPEG_LIBS) \
	    $(X264_LIBS)

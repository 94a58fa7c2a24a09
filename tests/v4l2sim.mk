# tests/v4l2sim.mk - the simulated V4L2 camera, an LD_PRELOAD library:
#
#   LD_PRELOAD=$(BUILD)/tests/libv4l2sim.so V4L2SIM_DEVICE=/tmp/x/video0 prog
#
# The library is never built with sanitizers, whatever SANITIZE says: an
# instrumented .so cannot be preloaded into an uninstrumented program
# (ustreamer, ffmpeg), while an uninstrumented one works in an ASan or
# TSan program (with ASAN_OPTIONS=verify_asan_link_order=0, which the
# Makefile sets).  Its simstamp/simpattern modules are also compiled the
# normal way, for the tests and tools that link them.

V4L2SIM_SRC	:= $(sort $(wildcard tests/v4l2sim/*.c))
V4L2SIM_SO	:= $(BUILD)/tests/libv4l2sim.so
# common/image.c for its colour conversion, shared with the capture.
V4L2SIM_OBJ	:= $(patsubst tests/v4l2sim/%.c,$(BUILD)/tests/v4l2sim-so/%.o,$(V4L2SIM_SRC)) \
		   $(BUILD)/tests/v4l2sim-so/common-image.o
# No _FORTIFY_SOURCE: it makes open() an inline wrapper the library could
# not define.
# x264 for the H264 format (tests/v4l2sim/simh264.c), unless X264=no.
V4L2SIM_CFLAGS	:= -std=c17 -O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes \
		   -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla -Werror \
		   -Wno-format-truncation -fstack-protector-strong -fPIC \
		   -fvisibility=hidden -MMD -MP -D_GNU_SOURCE -Icommon \
		   $(shell $(PKG_CONFIG) --cflags libturbojpeg 2>/dev/null) \
		   $(X264_CFLAGS)
V4L2SIM_LIBS	:= $(shell $(PKG_CONFIG) --libs libturbojpeg 2>/dev/null) -lpthread -ldl \
		   $(filter-out -lyuv,$(X264_LIBS))

$(BUILD)/tests/v4l2sim-so/%.o: tests/v4l2sim/%.c
	@mkdir -p $(@D)
	$(CC) $(V4L2SIM_CFLAGS) -c -o $@ $<

$(BUILD)/tests/v4l2sim-so/common-%.o: common/%.c
	@mkdir -p $(@D)
	$(CC) $(V4L2SIM_CFLAGS) -c -o $@ $<

$(V4L2SIM_SO): $(V4L2SIM_OBJ)
	$(CC) -shared -Wl,-z,relro,-z,now -Wl,--no-undefined -o $@ $^ $(V4L2SIM_LIBS)

# The reader side, for programs that are not the simulator.  Explicit
# rules: the reader needs the common library after it on the link line.
V4L2SIM_READER	:= $(BUILD)/tests/v4l2sim/simstamp.o $(BUILD)/tests/v4l2sim/simpattern.o

$(BUILD)/tests/check_v4l2sim: $(BUILD)/tests/check_v4l2sim.o $(TESTUTIL) $(V4L2SIM_READER) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS)

$(BUILD)/tests/simstamp: $(BUILD)/tests/tools/simstamp.o $(TESTUTIL) $(V4L2SIM_READER) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

TEST_BINS	+= $(V4L2SIM_SO)

# Unit tests of capture modules: each suite links the capture objects it
# tests (modules without main() or the loop), before the common library
# they use.
CAPTURE_SUITE_OBJS_mjpeg   := capture/mjpeg.c
CAPTURE_SUITE_OBJS_workers := capture/workers.c capture/source.c \
	capture/rawframe.c
CAPTURE_SUITE_OBJS_encode  := capture/encode.c capture/rawframe.c
CAPTURE_SUITE_OBJS_keyframe := capture/keyframe.c
CAPTURE_SUITE_OBJS_h264pass := capture/h264pass.c
CAPTURE_SUITE_OBJS_peers   := capture/peers.c
CAPTURE_SUITE_OBJS_multipart := capture/multipart.c
CAPTURE_SUITE_OBJS_httpclient := capture/url.c capture/httpresp.c \
	capture/httpauth.c
CAPTURE_SUITE_OBJS_source  := capture/source.c capture/rawframe.c

# Suites that make H.264 with x264 to test with (tests/v4l2sim/simh264.c)
# link it; built with X264=no, they skip those tests and say so.
CAPTURE_SUITE_OBJS_h264pass += $(BUILD)/tests/v4l2sim/simh264.o

define capture_suite
$$(BUILD)/tests/check_$(1).o: CPPFLAGS += -Icapture
$$(BUILD)/tests/check_$(1): $$(BUILD)/tests/check_$(1).o $$(TESTUTIL) \
    $$(call obj,$$(filter %.c,$$(CAPTURE_SUITE_OBJS_$(1)))) \
    $$(filter %.o,$$(CAPTURE_SUITE_OBJS_$(1))) $$(COMMON_LIB)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(CHECK_LIBS) $$(PKG_LIBS) $$(JPEG_LIBS) \
	    $$(X264_LIBS) $$(NET_LIBS)
endef
$(foreach s,mjpeg workers encode keyframe h264pass peers multipart httpclient source,\
    $(eval $(call capture_suite,$(s))))

# The common H.264 parser's suite makes its streams with x264 too.
$(BUILD)/tests/check_h264: $(BUILD)/tests/check_h264.o $(TESTUTIL) \
    $(BUILD)/tests/v4l2sim/simh264.o $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS) $(X264_LIBS)

# Tools the V4L2 tests use with the simulator (tests/v4l2sim): simcmp
# reads its stamp and picture, simframe makes the bytes it sends, encbench
# is the benchmark's baseline and links the capture's encoder.  Explicit
# rules: the common library must come after what uses it.
SIM_READER_OBJS := $(BUILD)/tests/v4l2sim/simstamp.o \
		   $(BUILD)/tests/v4l2sim/simpattern.o
SIM_FRAMES_OBJS := $(BUILD)/tests/v4l2sim/frames.o \
		   $(BUILD)/tests/v4l2sim/config.o \
		   $(BUILD)/tests/v4l2sim/simh264.o $(SIM_READER_OBJS)

$(BUILD)/tests/simcmp: $(BUILD)/tests/tools/simcmp.o $(TESTUTIL) \
    $(SIM_READER_OBJS) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# x264bench: the H.264 benchmark's baseline, with the capture's settings.
$(BUILD)/tests/tools/x264bench.o: CPPFLAGS += -Icapture
$(BUILD)/tests/x264bench: $(BUILD)/tests/tools/x264bench.o $(TESTUTIL) \
    $(call obj,capture/h264enc.c capture/source.c capture/rawframe.c) \
    $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(X264_LIBS)

# simref: the camera's picture for each frame of a decode (H.264 tests).
$(BUILD)/tests/simref: $(BUILD)/tests/tools/simref.o $(TESTUTIL) \
    $(SIM_READER_OBJS) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/simframe: $(BUILD)/tests/tools/simframe.o $(TESTUTIL) \
    $(SIM_FRAMES_OBJS) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(X264_LIBS)

$(BUILD)/tests/tools/encbench.o: CPPFLAGS += -Icapture
$(BUILD)/tests/encbench: $(BUILD)/tests/tools/encbench.o $(TESTUTIL) \
    $(call obj,capture/encode.c capture/rawframe.c) $(SIM_FRAMES_OBJS) \
    $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(JPEG_LIBS) $(X264_LIBS)

# The hardware JPEG and H.264 encoders on the simulated ones: the
# capture's V4L2 modules, and the simulator's frames to feed them.
M2M_SUITE_OBJS := $(call obj,capture/m2m.c capture/m2m_h264.c \
	capture/v4l2_queue.c capture/v4l2_info.c capture/encode.c \
	capture/rawframe.c capture/mjpeg.c capture/source.c \
	capture/h264pass.c capture/h264enc.c)
$(BUILD)/tests/check_m2m.o: CPPFLAGS += -Icapture
$(BUILD)/tests/check_m2m: $(BUILD)/tests/check_m2m.o $(TESTUTIL) \
    $(M2M_SUITE_OBJS) $(SIM_FRAMES_OBJS) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS) $(JPEG_LIBS) \
	    $(X264_LIBS)

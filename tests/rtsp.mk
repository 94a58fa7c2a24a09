# shmcam-rtsp's tests that build something (the program itself is in the
# Makefile's PROGRAMS).
#
#   check_rtsp    the pure modules (rtsp/proto, rtp, rtcp, sdp, digest),
#                 linked with those objects and the tests' depacketizer
#                 (tests/rtsp/rtpdepay.c), not the whole program
#   fuzz_rtsp     the request parser and what is read out of a request
#   fuzz_rtcp     the RTCP parser, and the packetizer by round trip
RTSP_PURE_OBJ := $(call obj,rtsp/proto.c rtsp/rtp.c rtsp/rtcp.c rtsp/sdp.c \
	rtsp/digest.c)

$(BUILD)/tests/check_rtsp: $(BUILD)/tests/check_rtsp.o \
		$(BUILD)/tests/rtsp/rtpdepay.o $(RTSP_PURE_OBJ) $(TESTUTIL) \
		$(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS)

FUZZ_CFLAGS += -Irtsp -Itests
FUZZ_SRC_rtsp := rtsp/proto.c rtsp/digest.c
FUZZ_SRC_rtcp := rtsp/rtcp.c rtsp/rtp.c tests/rtsp/rtpdepay.c

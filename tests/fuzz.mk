# Fuzzing with clang's libFuzzer (Debian: clang, libclang-rt-14-dev).
#
#   make fuzz         each fuzzer for FUZZ_SECONDS (default 60) on a copy of
#                     its committed seed corpus, then a summary line each
#   make check-fuzz   each fuzzer once over its committed corpus: a quick
#                     regression run, part of make check
#
# tests/fuzz/fuzz_NAME.c is a harness; tests/fuzz/corpus/NAME/ its seeds.
# (shmcam-rtsp's harnesses, rtsp and rtcp, are in tests/rtsp.mk.)
# The ring, ctl, peers, link and mjpeg seeds come from build-fuzz/mkseeds
# (made by the real writer, encoder and message code); the http and route
# seeds are written by hand.  A harness links common/*.c plus
# FUZZ_SRC_NAME.
#
#   ring    the ring reader (common/ring.c): arbitrary shared memory
#   ctl     the control transport (common/ctl.c): messages, descriptors
#   peers   the capture's control peers (capture/peers.c): scripts of
#           messages from two clients
#   link    the server's link to its capture (common/attach.c, as
#           server/link.c uses it): a scripted capture, with descriptors
#           of every kind and frames
#   http    the HTTP layer through the real evhttp (server/*.c): request
#           bytes on a real connection
#   route   the pure request parsers (route, query, auth, JSON, --listen)
#   mjpeg   the camera JPEG checks and repairs (capture/mjpeg.c)
#   h264    a camera's H.264 through capture/h264pass.c, and the parser
#           (common/h264.c); seeds by x264 (tests/v4l2sim/simh264.c) as
#           the simulated camera sends it, unless built with X264=no
#   mp4     the fragmented MP4 writer (server/mp4.c): init segments and
#           fragments of arbitrary access units; seeds cut from x264's
#           output (ffmpeg -c:v libx264, several profiles and sizes)
#   hls     LL-HLS requests (server/hls.c): the query parameters of a
#           playlist request (_HLS_msn, _HLS_part, _HLS_skip) and file
#           names, decided against windows the input also describes, and
#           the playlists written for them; seeds written by hand
#   rawframe raw frames of any format and driver-reported geometry,
#           described, encoded and copied (capture/rawframe.c, encode.c)
#   multipart  the multipart/x-mixed-replace parser of network sources
#           (capture/multipart.c): streams whole and in pieces
#   httpc   the rest a network source reads (capture/httpresp.c, url.c,
#           httpauth.c): response heads, chunked bodies, URLs, challenges

FUZZ_CC	?= clang
FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -g -O1 -std=c17 -D_GNU_SOURCE -Icommon -Icapture -Iserver -Itests \
	-Wall -Wextra -Werror $(FUZZ_SAN) $(PKG_CFLAGS)
# What each harness links besides common/*.c.
FUZZ_SRC_http  := $(filter-out server/main.c,$(SERVER_SRC)) \
	tests/fuzz/fuzzutil.c
FUZZ_SRC_route := server/route.c server/auth.c server/listen.c \
	server/hls.c server/mp4.c
FUZZ_SRC_hls   := server/hls.c server/route.c server/mp4.c
FUZZ_SRC_ctl   := tests/fuzz/fuzzutil.c
FUZZ_SRC_mjpeg := capture/mjpeg.c
FUZZ_SRC_h264  := capture/h264pass.c
FUZZ_SRC_mp4   := server/mp4.c
FUZZ_SRC_rawframe := capture/rawframe.c capture/encode.c
FUZZ_SRC_multipart := capture/multipart.c
FUZZ_SRC_httpc := capture/httpresp.c capture/url.c capture/httpauth.c
FUZZ_SRC_peers := capture/peers.c tests/fuzz/fuzzutil.c
FUZZ_SRC_link  := $(filter-out server/main.c,$(SERVER_SRC)) \
	tests/fuzz/fuzzutil.c

FUZZERS := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BINS := $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZERS))

# Objects (the harnesses' too) with their header dependencies.
$(FUZZ_BUILD)/lib/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $< (fuzz)")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -fsanitize=fuzzer-no-link -c -o $@ $<

FUZZ_COMMON_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/lib/%.o,$(COMMON_SRC))
# The objects of FUZZ_SRC_$(1).  A function, because a % written in the
# prerequisites of the pattern rule below would be taken for its stem.
fuzz_objs = $(patsubst %.c,$(FUZZ_BUILD)/lib/%.o,$(FUZZ_SRC_$(1)))

.SECONDEXPANSION:
$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/lib/tests/fuzz/fuzz_%.o $(FUZZ_COMMON_OBJ) \
    $$(call fuzz_objs,$$*)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) \
	    $(JPEG_LIBS) $(NET_LIBS)

$(FUZZ_BUILD)/lib/tests/fuzz/mkseeds.o $(FUZZ_BUILD)/lib/tests/v4l2sim/simh264.o: \
    FUZZ_CFLAGS += $(X264_CFLAGS)
$(FUZZ_BUILD)/mkseeds: $(FUZZ_BUILD)/lib/tests/fuzz/mkseeds.o $(FUZZ_COMMON_OBJ) \
    $(FUZZ_BUILD)/lib/tests/v4l2sim/simh264.o
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -o $@ $^ $(PKG_LIBS) \
	    $(filter-out -lyuv,$(X264_LIBS))

.PHONY: fuzz check-fuzz fuzz-bins
fuzz-bins: $(FUZZ_BINS) $(FUZZ_BUILD)/mkseeds

# A harness that fails on its corpus fails the target (its output kept in
# $(FUZZ_BUILD)/check-NAME.log, the end of it shown; a crash's input in
# $(FUZZ_BUILD)/crash-NAME-*, not in the working directory).
check-fuzz: fuzz-bins
	@set -e; for f in $(FUZZERS); do \
		echo "== fuzz_$$f: $$(ls tests/fuzz/corpus/$$f | wc -l) corpus inputs"; \
		$(FUZZ_BUILD)/fuzz_$$f -runs=0 -artifact_prefix=$(FUZZ_BUILD)/crash-$$f- \
		    tests/fuzz/corpus/$$f > $(FUZZ_BUILD)/check-$$f.log 2>&1 || { \
			tail -40 $(FUZZ_BUILD)/check-$$f.log; \
			echo "fuzz_$$f failed on its corpus"; exit 1; }; \
		tail -1 $(FUZZ_BUILD)/check-$$f.log; \
	done

# Every harness for FUZZ_SECONDS, FUZZ_JOBS at a time (each is busy on
# one core), from a copy of its corpus; a summary line each, the end of
# the log of one that fails (the input in $(FUZZ_BUILD)/crash-NAME-*).
FUZZ_JOBS ?= 2
fuzz: fuzz-bins
	@$(MAKE) --no-print-directory -O -j$(FUZZ_JOBS) $(addprefix fuzz-run-,$(FUZZERS))

.PHONY: $(addprefix fuzz-run-,$(FUZZERS))
$(addprefix fuzz-run-,$(FUZZERS)): fuzz-run-%:
	@rm -rf $(FUZZ_BUILD)/corpus-run/$*; mkdir -p $(FUZZ_BUILD)/corpus-run/$*
	@cp tests/fuzz/corpus/$*/* $(FUZZ_BUILD)/corpus-run/$*/
	@$(FUZZ_BUILD)/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_BUILD)/crash-$*- \
		$(FUZZ_BUILD)/corpus-run/$* > $(FUZZ_BUILD)/fuzz_$*.log 2>&1 || \
		{ tail -40 $(FUZZ_BUILD)/fuzz_$*.log; echo "fuzz_$* failed"; exit 1; }
	@printf 'fuzz_%s: %s s, %s executions, coverage %s, features %s, corpus %s\n' $* $(FUZZ_SECONDS) \
		"$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/fuzz_$*.log)" \
		"$$(grep -o 'cov: [0-9]*' $(FUZZ_BUILD)/fuzz_$*.log | tail -1 | cut -d' ' -f2)" \
		"$$(grep -o 'ft: [0-9]*' $(FUZZ_BUILD)/fuzz_$*.log | tail -1 | cut -d' ' -f2)" \
		"$$(ls $(FUZZ_BUILD)/corpus-run/$* | wc -l)"

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

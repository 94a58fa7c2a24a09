# shmcam - a Linux camera streamer: one capture process, many servers,
# frames shared through a POSIX shared-memory ring.
#
#   sudo make deps     install the Debian packages to build, run and test
#   make               build build/shmcam-capture, build/shmcam-server and
#                      build/shmcam-rtsp
#   make run           test pattern + server on http://127.0.0.1:8080/
#   make check         every test
#   make install       PREFIX=/usr/local DESTDIR= (programs, manual pages,
#                      systemd units; docs/hacking.md, "Installing")
#   make check-systemd the units under a real systemd, in a container
#   make check-scale   LL-HLS to hundreds of viewers through nginx edges,
#                      in network namespaces (root; a few minutes)
#   make check-deb     the Debian package, installed and used in one
#   make check-arch    arm64 and armhf builds, run under emulation
#   make SANITIZE=address,undefined check   (or SANITIZE=thread)
#   make X264=no       without H.264 encoding (no libx264, no libyuv):
#                      the source stays ISC, and so does that binary; one
#                      linked with x264 (GPL-2.0-or-later) is GPL as a whole

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
DOCDIR	?= $(PREFIX)/share/doc/shmcam
MANDIR	?= $(PREFIX)/share/man
# The example configurations: next to the real ones by default; a package
# puts them with its documentation (debian/rules).
EXAMPLEDIR ?= $(SYSCONFDIR)/shmcam
DESTDIR	?=

comma	:= ,
# Quiet by default; make V=1 shows every command.
ifeq ($(V),1)
Q	:=
else
Q	:= @
endif
SANITIZE ?=
ifeq ($(SANITIZE),)
BUILD	?= build
else
BUILD	?= build-$(subst $(comma),-,$(SANITIZE))
endif

PKG_CONFIG ?= pkg-config
PKGS	:= libturbojpeg libevent libsystemd libcrypt libseccomp nettle

CC	?= cc
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c17 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla -Werror \
	   -fstack-protector-strong -fPIE -MMD -MP
# snprintf() into labels and log lines truncates on purpose; where a length
# matters the code checks snprintf()'s return value.
CFLAGS	+= -Wno-format-truncation
CPPFLAGS += -D_GNU_SOURCE -Icommon
LDFLAGS	+= -pie -Wl,-z,relro,-z,now
ifeq ($(SANITIZE),)
CPPFLAGS += -D_FORTIFY_SOURCE=2
else
CFLAGS	+= -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS	+= -fsanitize=$(SANITIZE)
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# libjpeg-turbo's libjpeg API, for the capture's packed 4:2:2 encoder
# (capture/encode.c) and what links it.
JPEG_CFLAGS := $(shell $(PKG_CONFIG) --cflags libjpeg 2>/dev/null)
JPEG_LIBS  := $(shell $(PKG_CONFIG) --libs libjpeg 2>/dev/null)
# The capture's network sources (capture/net.c): libcrypto for Digest
# authentication's hashes, and for https, OpenSSL through libevent_openssl
# unless TLS=0.  Only the capture links them.
TLS	?= 1
NET_PKGS := libcrypto
ifeq ($(TLS),1)
NET_PKGS += libssl libevent_openssl
CPPFLAGS += -DSHMCAM_TLS
endif
NET_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(NET_PKGS) 2>/dev/null)
NET_LIBS := $(shell $(PKG_CONFIG) --libs $(NET_PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)
CFLAGS	+= $(PKG_CFLAGS) $(JPEG_CFLAGS) $(NET_CFLAGS)
# The ring's 64-bit words need single-copy atomic loads (common/ring.h):
# on 32-bit ARM, ARMv6K's LDREXD.  Raspberry Pi OS's compiler targets
# plain ARMv6 (ARM mode, VFP); the Pi 1 and Zero it is for are ARMv6KZ.
ifneq ($(filter __ARM_ARCH_6__ __ARM_ARCH_6J__ __ARM_ARCH_6Z__,\
	$(shell $(CC) -dM -E -x c /dev/null 2>/dev/null)),)
CFLAGS	+= -march=armv6kz+fp -marm
endif

# H.264 encoding in the capture (capture/h264enc.c): libx264, and libyuv
# for the conversions to 4:2:0 (Debian ships no pkg-config file for it).
X264	?= yes
ifeq ($(X264),yes)
X264_CFLAGS := $(shell $(PKG_CONFIG) --cflags x264 2>/dev/null) -DSHMCAM_X264
X264_LIBS  := $(shell $(PKG_CONFIG) --libs x264 2>/dev/null) -lyuv
else
X264_CFLAGS :=
X264_LIBS  :=
endif
CPPFLAGS += $(X264_CFLAGS)

# One folder per process role; every .c in it is part of the program.
COMMON_SRC  := $(sort $(wildcard common/*.c))
CAPTURE_SRC := $(sort $(wildcard capture/*.c))
SERVER_SRC  := $(sort $(wildcard server/*.c))
RTSP_SRC    := $(sort $(wildcard rtsp/*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

COMMON_LIB := $(BUILD)/libshmcam-common.a
CAPTURE	:= $(BUILD)/shmcam-capture
SERVER	:= $(BUILD)/shmcam-server
RTSP	:= $(BUILD)/shmcam-rtsp
# Every program make builds and installs, each with its page man/NAME.8
# (make check-man checks both ways).
PROGRAMS := $(CAPTURE) $(SERVER) $(RTSP)

# Debian packages: to build (the libraries, also fetched for other
# architectures by check-arch), to run, to test.
DEB_LIBS  := libevent-dev libturbojpeg0-dev libjpeg62-turbo-dev libssl-dev \
	     libx264-dev libyuv-dev libsystemd-dev libcrypt-dev \
	     libseccomp-dev nettle-dev check
DEB_BUILD := build-essential pkg-config $(DEB_LIBS) systemd \
	     debhelper dpkg-dev fakeroot
DEB_TEST  := python3 ffmpeg curl procps util-linux chromium clang \
	     libclang-rt-14-dev valgrind ustreamer iproute2 systemd-container \
	     debootstrap mandoc manpages-dev lintian git \
	     gstreamer1.0-tools gstreamer1.0-plugins-good \
	     gstreamer1.0-plugins-bad gstreamer1.0-libav vlc-bin \
	     vlc-plugin-base nginx openssl
# make check-arch (tests/arch.mk) runs from an x86-64 host: Debian's cross
# compilers and qemu.  The packages of the other architectures it fetches
# through an apt of its own, and installs none of them.
ifeq ($(shell dpkg --print-architecture 2>/dev/null),amd64)
DEB_TEST  += gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf \
	     libc6-dev-arm64-cross libc6-dev-armhf-cross qemu-system-arm cpio
endif
# Node.js and npm run the browser-side test tools; a machine that has
# them already (NodeSource's nodejs brings its own npm, which Debian's npm
# package conflicts with) keeps its own.
DEB_NODE  := $(if $(shell command -v node && command -v npm),,nodejs npm)
DEB_PACKAGES := $(DEB_BUILD) $(DEB_TEST) $(DEB_NODE)

# Tests: every tests/check_*.c is a Check suite run by check-unit, every
# tests/tools/*.c a helper program, every tests/integration/test_*.py an
# integration test.  Areas with more to build (a simulator, fuzzers,
# benchmarks) bring a tests/*.mk fragment that adds to TEST_BINS.
TEST_CFLAGS := $(CHECK_CFLAGS) -Itests
CHECK_SUITES := $(patsubst tests/%.c,$(BUILD)/tests/%,$(sort $(wildcard tests/check_*.c)))
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(sort $(wildcard tests/tools/*.c)))
TEST_BINS := $(CHECK_SUITES) $(TEST_TOOLS)
TESTUTIL := $(BUILD)/tests/testutil.o
PYTHON	?= python3

# Sanitizer runtime settings.  check_ring provokes a SIGSEGV on purpose (a
# write to the read-only ring), which ASan must let through.  Tests preload
# the (uninstrumented) simulated camera tests/libv4l2sim.so into ASan
# programs, which puts it before the ASan runtime in the library list:
# harmless, as the runtime is initialised first anyway, but ASan refuses
# to start unless verify_asan_link_order=0.
SAN_ENV := ASAN_OPTIONS=handle_segv=0:detect_leaks=1:abort_on_error=0:verify_asan_link_order=0 \
	   UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	   TSAN_OPTIONS=handle_segv=0:halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp
TEST_ENV := SHMCAM_BUILD=$(BUILD) $(SAN_ENV)

RUN_LISTEN ?= 127.0.0.1:8080
RUN_NAME   ?= default

.PHONY: all
all: $(PROGRAMS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(TEST_CFLAGS) -c -o $@ $<

$(COMMON_LIB): $(call obj,$(COMMON_SRC))
	$(Q)$(AR) rcs $@ $^

$(CAPTURE): $(call obj,$(CAPTURE_SRC)) $(COMMON_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(JPEG_LIBS) $(X264_LIBS) \
	    $(NET_LIBS)

$(SERVER): $(call obj,$(SERVER_SRC)) $(COMMON_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# shmcam-rtsp checks credentials and decides when a TCP client takes the
# next frame as shmcam-server does (server/auth.c, server/sendpolicy.c).
$(RTSP): $(call obj,$(RTSP_SRC) server/auth.c server/sendpolicy.c) \
		$(COMMON_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/check_%: $(BUILD)/tests/check_%.o $(TESTUTIL) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/tools/%.o $(TESTUTIL) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

-include $(sort $(wildcard tests/*.mk))

# ---------------------------------------------------------------- deps
# Idempotent: installs only what is missing, refreshing the package lists
# first only when they are too old to know a package.
.PHONY: deps
deps:
	@if [ "$$(id -u)" != 0 ]; then \
		echo "make deps installs Debian packages: run it as root (sudo make deps)"; \
		exit 1; fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PACKAGES) || \
	{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PACKAGES); }
	@# Browser-side test tools (playwright-core drives Debian's chromium),
	@# exactly as pinned in tests/browser/package-lock.json.
	cd tests/browser && npm ci --no-audit --no-fund

# ---------------------------------------------------------------- run
# One capture and one server in the foreground; Ctrl-C stops both.  As
# root, the capture becomes the shmcam-capture user of an install, or,
# without one, nobody (it keeps the video device's group).
.PHONY: run
run: all
	@set -u; root=; user=; if [ "$$(id -u)" = 0 ]; then root=--allow-root; \
	getent passwd shmcam-capture >/dev/null || user="--user nobody"; fi; \
	$(CAPTURE) --name $(RUN_NAME) $$user & cap=$$!; \
	$(SERVER) --name $(RUN_NAME) --listen $(RUN_LISTEN) $$root & srv=$$!; \
	trap 'kill $$cap $$srv 2>/dev/null; wait; exit 0' INT TERM; \
	echo; echo "    shmcam is running: open http://$(RUN_LISTEN)/   (Ctrl-C stops it)"; echo; \
	wait $$srv; kill $$cap 2>/dev/null; wait

# ---------------------------------------------------------------- tests
.PHONY: check check-unit check-integration
check: check-unit check-integration check-fuzz
	@echo "all tests passed ($(BUILD))"

check-unit: all $(TEST_BINS)
	@set -e; for t in $(CHECK_SUITES); do \
		echo "== $$t"; $(TEST_ENV) $$t; done

# The integration modules run JOBS at a time (tests/integration/run.py:
# they mostly wait, on links, players and deadlines).  INTEGRATION_SKIP:
# modules (test_NAME) left out of this run; CI leaves the simulated
# wide-area links and the benchmark tools' own tests out of the sanitizer
# build, which the plain run covers.
JOBS ?= 3
INTEGRATION_SKIP ?=
check-integration: all $(TEST_BINS)
	$(TEST_ENV) $(PYTHON) tests/integration/run.py -j $(JOBS) \
		$(if $(strip $(INTEGRATION_SKIP)),--skip $(INTEGRATION_SKIP))

# A build without x264 (make X264=no): it builds, its units pass, it
# streams JPEG, saying why there is no H.264, and a hardware H.264
# encoder that fails ends H.264 only (the x264 build skips the tests that
# check that).
.PHONY: check-nox264
check-nox264:
	$(MAKE) X264=no BUILD=build-nox264 check-unit
	cd tests/integration && SHMCAM_BUILD=build-nox264 $(PYTHON) -m unittest -v \
		test_h264.H264Test.test_without_x264 test_end_to_end \
		test_h264_m2m.H264M2mWithoutX264Test

# Integration tests with both programs under valgrind memcheck: any error,
# or a leak at clean shutdown, makes a program exit 99 and its test fail.
VALGRIND := valgrind --quiet --error-exitcode=99 --leak-check=full \
	--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
	--track-fds=no --trace-children=no
VALGRIND_TESTS ?= test_end_to_end.EndToEndTest.test_snapshot_decodes_at_configured_size \
	test_end_to_end.EndToEndTest.test_stream_parts_are_well_formed \
	test_end_to_end.EndToEndTest.test_capture_restart_keeps_clients \
	test_end_to_end.EndToEndTest.test_index_and_errors \
	test_hostile_ring test_http_contract test_http_restart \
	test_netsrc.RelayTest.test_frames_byte_for_byte_with_the_origins_timestamps \
	test_netsrc.CredentialsTest test_netsrc.HttpsTest.test_trusted_certificate \
	test_netsrc.CameraQuirksTest.test_snapshot_camera test_netsrc.HostileUpstreamTest \
	test_shutdown test_h264.H264Test.test_short_stream \
	test_rtsp_access.RtspAccessTest.test_digest_and_basic \
	test_rtsp_robustness.RtspRobustnessTest.test_limits_and_malformed
.PHONY: check-valgrind
check-valgrind: all $(TEST_BINS)
	cd tests/integration && SHMCAM_BUILD=$(BUILD) SHMCAM_SLOW=4 \
		SHMCAM_WRAPPER="$(VALGRIND)" $(PYTHON) -m unittest -v $(VALGRIND_TESTS)

# ---------------------------------------------------------------- bench
# Benchmarks, not tests: each tests/bench/bench_*.py measures against a
# baseline taken in the same run and writes tests/bench/results/.
.PHONY: bench
bench: all $(TEST_BINS)
	@set -e; for b in $(sort $(wildcard tests/bench/bench_*.py)); do \
		echo "== $$b"; SHMCAM_BUILD=$(BUILD) $(PYTHON) $$b; done

# ---------------------------------------------------------------- install
# Where systemd looks for units, sysusers.d and tmpfiles.d files: what its
# pkg-config file says, else the places it searches under PREFIX.
pc_systemd = $(or $(shell $(PKG_CONFIG) --variable=$(1) systemd 2>/dev/null),$(2))
UNITDIR	?= $(call pc_systemd,systemdsystemunitdir,$(PREFIX)/lib/systemd/system)
SYSUSERSDIR ?= $(call pc_systemd,sysusersdir,$(PREFIX)/lib/sysusers.d)
TMPFILESDIR ?= $(call pc_systemd,tmpfilesdir,$(PREFIX)/lib/tmpfiles.d)

# systemd/*.in with the install paths filled in; regenerated every time,
# since they depend on variables rather than files.
SYSTEMD_IN := $(sort $(wildcard systemd/*.in))
SYSTEMD_OUT := $(patsubst systemd/%.in,$(BUILD)/systemd/%,$(SYSTEMD_IN))
UNITS	:= $(filter %.service %.socket,$(SYSTEMD_OUT))
CONF_EXAMPLES := $(filter %.example,$(SYSTEMD_OUT))

UNITS_OUT ?= $(BUILD)/systemd

.PHONY: units
units:
	@mkdir -p $(UNITS_OUT)
	@for f in $(SYSTEMD_IN); do \
		out=$(UNITS_OUT)/$$(basename $$f .in); \
		sed -e 's|@BINDIR@|$(BINDIR)|g' \
		    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		    -e 's|@DOCDIR@|$(DOCDIR)|g' $$f > $$out.tmp && \
		mv $$out.tmp $$out || exit 1; done

# The manual pages: man/NAME.SECTION, installed into MANDIR/manSECTION.
MAN_PAGES := $(sort $(wildcard man/*.[1-9]))
MAN_SECTIONS := $(sort $(patsubst .%,%,$(suffix $(MAN_PAGES))))

# Installs the programs, their manual pages, the units, the users and the
# runtime directory, and the example configurations.  On a running
# system, then: systemd-sysusers; systemd-tmpfiles --create;
# systemctl daemon-reload (docs/hacking.md, "Installing").
.PHONY: install
install: all units
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/shmcam $(DESTDIR)$(EXAMPLEDIR) \
	    $(DESTDIR)$(DOCDIR) $(patsubst %,$(DESTDIR)$(MANDIR)/man%,$(MAN_SECTIONS))
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/
	for s in $(MAN_SECTIONS); do \
		install -m 0644 man/*.$$s $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; done
	install -m 0644 $(UNITS) $(DESTDIR)$(UNITDIR)/
	install -m 0644 systemd/shmcam.sysusers $(DESTDIR)$(SYSUSERSDIR)/shmcam.conf
	install -m 0644 systemd/shmcam.tmpfiles $(DESTDIR)$(TMPFILESDIR)/shmcam.conf
	install -m 0644 $(CONF_EXAMPLES) $(DESTDIR)$(EXAMPLEDIR)/
	install -d $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR)/examples
	install -m 0644 README.md NEWS $(DESTDIR)$(DOCDIR)/
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/
	install -m 0644 docs/examples/* $(DESTDIR)$(DOCDIR)/examples/

# Keep test objects: they are not intermediate files to throw away.
.SECONDARY:

.PHONY: clean
clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

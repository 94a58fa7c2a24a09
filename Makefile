# shmcam - a Linux camera streamer: one capture process, many servers,
# frames shared through a POSIX shared-memory ring.
#
#   sudo make deps     install the Debian packages to build, run and test
#   make               build build/shmcam-capture and build/shmcam-server
#   make run           test pattern + server on http://127.0.0.1:8080/
#   make check         every test
#   make install       PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address,undefined check   (or SANITIZE=thread)

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
DESTDIR	?=

comma	:= ,
SANITIZE ?=
ifeq ($(SANITIZE),)
BUILD	?= build
else
BUILD	?= build-$(subst $(comma),-,$(SANITIZE))
endif

PKG_CONFIG ?= pkg-config
PKGS	:= libturbojpeg libevent libsystemd

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
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)
CFLAGS	+= $(PKG_CFLAGS)

COMMON_SRC  := common/log.c common/ring.c common/ctl.c common/image.c
CAPTURE_SRC := capture/main.c capture/pattern.c capture/peers.c \
	       capture/encode.c
SERVER_SRC  := server/main.c server/link.c server/frame.c server/http.c \
	       server/stream.c

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

COMMON_LIB := $(BUILD)/libshmcam-common.a
CAPTURE	:= $(BUILD)/shmcam-capture
SERVER	:= $(BUILD)/shmcam-server

.PHONY: all
all: $(CAPTURE) $(SERVER)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(COMMON_LIB): $(call obj,$(COMMON_SRC))
	$(AR) rcs $@ $^

$(CAPTURE): $(call obj,$(CAPTURE_SRC)) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(SERVER): $(call obj,$(SERVER_SRC)) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

.PHONY: clean
clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# The load client for benchmarks and load tests (tests/bench/loadclient.c):
# plain C, epoll; the simulated camera's stamp reader
# (tests/v4l2sim/simstamp.c, TurboJPEG) for --ts simstamp.
LOADCLIENT := $(BUILD)/tests/loadclient
TEST_BINS += $(LOADCLIENT)

$(LOADCLIENT): $(BUILD)/tests/bench/loadclient.o $(BUILD)/tests/v4l2sim/simstamp.o
	$(CC) $(LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs libturbojpeg) -lm

# The LL-HLS load client (tests/bench/hlsclient.c): epoll, one keep-alive
# connection per client following preload hints and blocking reloads.
HLSCLIENT := $(BUILD)/tests/hlsclient
TEST_BINS += $(HLSCLIENT)

$(HLSCLIENT): $(BUILD)/tests/bench/hlsclient.o
	$(CC) $(LDFLAGS) -o $@ $^ -lm

# The load client for benchmarks and load tests (tests/bench/loadclient.c):
# plain C, epoll, no library beyond libc and libm.
LOADCLIENT := $(BUILD)/tests/loadclient
TEST_BINS += $(LOADCLIENT)

$(LOADCLIENT): $(BUILD)/tests/bench/loadclient.o
	$(CC) $(LDFLAGS) -o $@ $^ -lm

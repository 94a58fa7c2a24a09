# Check suites for the server's pure modules (routing, query parameters,
# auth, LL-HLS names, playlists and decisions, the MP4 writer they use):
# linked with those objects, not the whole server.
SERVER_PURE_OBJ := $(call obj,server/route.c server/auth.c server/hls.c \
	server/mp4.c)

$(BUILD)/tests/check_http: $(BUILD)/tests/check_http.o $(SERVER_PURE_OBJ) \
		$(TESTUTIL) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS)

# The fragmented MP4 writer's suite and tool (tests/tools/mp4mux.c): the
# writer alone, without the rest of the server.
MP4_OBJ := $(call obj,server/mp4.c)

$(BUILD)/tests/check_mp4: $(BUILD)/tests/check_mp4.o $(MP4_OBJ) \
		$(TESTUTIL) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS)

$(BUILD)/tests/mp4mux: $(BUILD)/tests/tools/mp4mux.o $(MP4_OBJ) \
		$(TESTUTIL) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/check_hls: $(BUILD)/tests/check_hls.o $(SERVER_PURE_OBJ) \
		$(TESTUTIL) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS)

# The server's frames (server/frame.c), read from a real ring.
$(BUILD)/tests/check_frame.o: CPPFLAGS += -Iserver
$(BUILD)/tests/check_frame: $(BUILD)/tests/check_frame.o \
		$(call obj,server/frame.c) $(TESTUTIL) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS)

# The send policy (server/sendpolicy.c), a pure function: its Check
# suite links it alone.  Its recorded table, tests/sendpolicy_recorded.h,
# is written by tests/integration/record_sendpolicy.py.
$(BUILD)/tests/check_sendpolicy: $(BUILD)/tests/check_sendpolicy.o \
		$(call obj,server/sendpolicy.c) $(TESTUTIL) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS)

# Check suites for the server's pure modules (routing, query parameters,
# auth, JSON escaping): linked with those objects, not the whole server.
SERVER_PURE_OBJ := $(call obj,server/route.c server/auth.c)

$(BUILD)/tests/check_http: $(BUILD)/tests/check_http.o $(SERVER_PURE_OBJ) \
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

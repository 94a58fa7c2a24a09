# Unit tests of capture modules: each suite links the capture objects it
# tests (modules without main() or the loop), before the common library
# they use.
CAPTURE_SUITE_OBJS_mjpeg   := capture/mjpeg.c
CAPTURE_SUITE_OBJS_workers := capture/workers.c
CAPTURE_SUITE_OBJS_encode  := capture/encode.c

define capture_suite
$$(BUILD)/tests/check_$(1).o: CPPFLAGS += -Icapture
$$(BUILD)/tests/check_$(1): $$(BUILD)/tests/check_$(1).o $$(TESTUTIL) \
    $$(call obj,$$(CAPTURE_SUITE_OBJS_$(1))) $$(COMMON_LIB)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(CHECK_LIBS) $$(PKG_LIBS)
endef
$(foreach s,mjpeg workers encode,$(eval $(call capture_suite,$(s))))

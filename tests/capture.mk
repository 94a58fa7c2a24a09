# Unit tests of capture modules: the suites link the capture objects they
# test (pure modules: no main(), no loop).

$(BUILD)/tests/check_mjpeg.o: CPPFLAGS += -Icapture
$(BUILD)/tests/check_mjpeg: $(call obj,capture/mjpeg.c)

$(BUILD)/tests/check_workers.o: CPPFLAGS += -Icapture
$(BUILD)/tests/check_workers: $(call obj,capture/workers.c)

# The systemd units (systemd/).
#
#   check-units    systemd-analyze verify and security --offline on this
#                  machine, with the units pointing at the build; part of
#                  make check
#   check-systemd  the units under a real systemd: a minimal Debian booted
#                  with systemd-nspawn (tests/systemd/check_systemd.py);
#                  needs root, debootstrap and systemd-container
#
# The exposure levels systemd-analyze security may report at most, on its
# 0-100 scale (it prints them divided by 10); docs/security.md, "The
# systemd units".
SECURITY_MAX_CAPTURE := 30
SECURITY_MAX_CAPTURE_NET := 20
SECURITY_MAX_SERVER  := 20
SECURITY_MAX_RTSP    := 20
VERIFY_DIR := $(BUILD)/systemd-verify
# The cached Debian roots (tests/systemd/nspawn.py; check-deb's too) and
# the logs of the last run.  Not under $(BUILD): the Makefile looks for
# dependency files there, and a root has directories like rc2.d.
# "make clean" removes it with the other build-*.
NSPAWN_DIR := build-nspawn

.PHONY: check-units check-systemd
check: check-units

check-units: all
	@rm -rf $(VERIFY_DIR)
	@$(MAKE) --no-print-directory units UNITS_OUT=$(CURDIR)/$(VERIFY_DIR) \
	    BINDIR=$(CURDIR)/$(BUILD)
	@# verify exits 0 on warnings such as an unknown key: any output fails.
	@cd $(VERIFY_DIR) && out=$$(systemd-analyze verify --man=no \
	    shmcam-capture@.service shmcam-capture-net@.service \
	    shmcam-server@.service shmcam-server@.socket \
	    shmcam-rtsp@.service shmcam-rtsp@.socket 2>&1); rc=$$?; \
	[ $$rc = 0 ] && [ -z "$$out" ] || { echo "$$out"; \
	    echo "systemd-analyze verify failed"; exit 1; }; \
	echo "systemd-analyze verify: units OK"
	@cd $(VERIFY_DIR) && for u in capture:$(SECURITY_MAX_CAPTURE) \
	    capture-net:$(SECURITY_MAX_CAPTURE_NET) \
	    server:$(SECURITY_MAX_SERVER) rtsp:$(SECURITY_MAX_RTSP); do \
		out=$$(systemd-analyze security --offline=yes --no-pager \
		    --threshold=$${u#*:} shmcam-$${u%:*}@.service 2>&1); \
		rc=$$?; echo "$$out" | tail -1; \
		[ $$rc = 0 ] || { echo "$$out"; echo "shmcam-$${u%:*}@.service:" \
		    "exposure above $${u#*:}/100"; exit 1; }; done

check-systemd: all $(BUILD)/tests/jpeginfo $(BUILD)/tests/ringinfo \
    $(BUILD)/tests/libv4l2sim.so
	$(PYTHON) tests/systemd/check_systemd.py --build $(BUILD) \
	    --work $(NSPAWN_DIR)

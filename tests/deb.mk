# The Debian package (debian/).
#
#   check-deb   builds the package from a copy of the tree in build-deb/
#               (dpkg-buildpackage -us -uc -b), lints it, then installs it
#               with apt into the booted Debian of check-systemd, streams
#               from it, removes and purges it
#               (tests/systemd/check_deb.py); needs root, like
#               check-systemd, and the archive's mirror
DEB_DIR := build-deb

.PHONY: check-deb
check-deb: $(BUILD)/tests/jpeginfo
	$(PYTHON) tests/systemd/check_deb.py --build $(BUILD) \
	    --work $(NSPAWN_DIR) --pkg $(DEB_DIR) \
	    $(addprefix --program ,$(PROGRAMS)) --deb-build "$(DEB_BUILD)"

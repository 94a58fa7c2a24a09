# make check-arch: both programs, the unit suites that need no camera and
# the tools the checks use, built for arm64 and armhf with Debian's cross
# compilers against those architectures' packages, and run on Debian's
# kernels under qemu's software emulation (tests/arch/check_arch.py).
# From an x86-64 host with what make deps installs there; about two
# minutes with warm caches, five cold (the packages, ~150 MB, are kept in
# $(ARCH_WORK)).  The builds go to build-ARCH/.
ARCH_WORK	:= build-arch
CHECK_ARCHES	?= arm64 armhf

.PHONY: check-arch
check-arch:
	$(PYTHON) tests/arch/check_arch.py --work $(ARCH_WORK) \
	    --dev "$(DEB_LIBS)" $(CHECK_ARCHES)

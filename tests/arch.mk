# make check-arch: the three programs, the unit suites that need no camera and
# the tools the checks use, built for arm64 and armhf with Debian's cross
# compilers against those architectures' packages, and run on Debian's
# kernels under qemu's software emulation (tests/arch/check_arch.py;
# docs/hacking.md, "check-arch").  From an x86-64 host with what make
# deps installs there.  The builds go to build-ARCH/; the packages
# (about 115 MB), roots and consoles to $(ARCH_WORK)/ (230 MB in all).
# CHECK_ARCH_FLAGS=--trace also lists the system calls each program made
# under its filter.
ARCH_WORK	:= build-arch
CHECK_ARCHES	?= arm64 armhf
CHECK_ARCH_FLAGS ?=

.PHONY: check-arch
check-arch:
	$(PYTHON) tests/arch/check_arch.py --work $(ARCH_WORK) \
	    --dev "$(DEB_LIBS)" $(CHECK_ARCH_FLAGS) $(CHECK_ARCHES)

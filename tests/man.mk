# The manual pages (man/).
#
#   check-man   mandoc -T lint reports nothing on any page, every program
#               in PROGRAMS has its page man/NAME.8 and every such page a
#               program, and each program's --help lists exactly the
#               options its page documents (tests/man/check_man.py says
#               how, and which two machine-dependent notes of mandoc's it
#               lets through); part of make check

.PHONY: check-man
check: check-man

check-man: $(PROGRAMS)
	$(Q)$(PYTHON) tests/man/check_man.py $(addprefix --program ,$(PROGRAMS))

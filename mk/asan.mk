# ASan + UBSan build of the daemon: `make asan` -> build-asan/fastwsd.
# tests/suites.d/asan.sh runs the integration suite against it.
#
# The flags go to the sub-make through the ENVIRONMENT, not its command
# line: the top Makefile appends its own (-std=gnu11 -I. -I<llhttp> ...)
# with `CFLAGS +=`, which a command-line CFLAGS would silently override.
# MAKEOVERRIDES is cleared so that a CFLAGS given to this make does not
# reach the sub-make as an override either.

ASAN_BUILD := build-asan
ASAN_CC ?= $(CC)
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
  -fno-sanitize-recover=undefined
ASAN_LDFLAGS := -fsanitize=address,undefined

.PHONY: asan
asan: MAKEOVERRIDES :=
asan:
	CFLAGS='$(ASAN_CFLAGS)' LDFLAGS='$(ASAN_LDFLAGS)' \
	  $(MAKE) BUILD=$(ASAN_BUILD) CC=$(ASAN_CC) $(ASAN_BUILD)/fastwsd

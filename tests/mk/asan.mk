# ASan + UBSan build of the daemon: `make asan` -> build-asan/fastwsd.
# tests/suites.d/asan.sh runs the integration suite against it. The
# project's own flags live apart from CFLAGS, so the sanitizer flags are
# simply the sub-make's CFLAGS and LDFLAGS.

ASAN_BUILD := build-asan
ASAN_CC ?= $(CC)
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
  -fno-sanitize-recover=undefined
ASAN_LDFLAGS := -fsanitize=address,undefined

.PHONY: asan
asan:
	$(MAKE) BUILD=$(ASAN_BUILD) CC=$(ASAN_CC) CFLAGS='$(ASAN_CFLAGS)' \
	  LDFLAGS='$(ASAN_LDFLAGS)' $(ASAN_BUILD)/fastwsd

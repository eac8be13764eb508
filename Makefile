# fastwsd: see README.md. `make run` and `make test` do everything.
#
# `run` and `test` install missing packages in a make run of their own
# (`$(MAKE) deps`), then build in a fresh one: GNU make reads the file
# system once per run, so what deps installs is seen only by the next run.

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
BUILD ?= build
CONF ?= fastws.conf
# A name filter for `make unit` and `make integration` (T=frame, T=test_chat).
T ?=

PKGS := libuv jansson inih zlib openssl hiredis libsystemd
LLHTTP_DIR ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp

# The user's CFLAGS/CPPFLAGS/LDFLAGS are theirs (make CFLAGS=-O0 works);
# the project's own flags live apart and always apply.
CFLAGS ?= -O2 -g
FASTWS_CPPFLAGS := -D_GNU_SOURCE -I. -I$(LLHTTP_INC)
FASTWS_CFLAGS := -std=gnu11 -Wall -Wextra
DEPFLAGS = -MMD -MP
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS += $(PKG_LIBS) -lm
COMPILE = $(CC) $(FASTWS_CPPFLAGS) $(CPPFLAGS) $(FASTWS_CFLAGS) $(PKG_CFLAGS) $(CFLAGS)

PROTOCOL_SRC := $(wildcard protocol/*.c)
CONFIG_SRC := $(wildcard config/*.c)
SERVER_SRC := $(wildcard server/*.c server/*/*.c)
LLHTTP_SRC := llhttp.c api.c http.c

PROTOCOL_OBJ := $(PROTOCOL_SRC:%.c=$(BUILD)/%.o)
CONFIG_OBJ := $(CONFIG_SRC:%.c=$(BUILD)/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/%.o)
LLHTTP_OBJ := $(LLHTTP_SRC:%.c=$(BUILD)/llhttp/%.o)
LIB_OBJ := $(PROTOCOL_OBJ) $(CONFIG_OBJ)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# Debian packages a fresh machine needs to build, run and test fastwsd.
# Node.js and npm (browser tests, the Node peer in benchmarks) are installed
# from Debian only when no npm is on the PATH: a machine's own Node.js build
# (which bundles npm) conflicts with Debian's npm package.
DEPS_PKGS := build-essential pkg-config libuv1-dev node-llhttp libssl-dev openssl \
  libjansson-dev libinih-dev zlib1g-dev libhiredis-dev \
  libsystemd-dev libcmocka-dev python3 python3-websockets redis-server \
  valgrind clang libclang-rt-14-dev chromium systemd python3-fastapi python3-uvicorn \
  groff-base
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps run test test-build unit integration clean install uninstall check-config

.DEFAULT_GOAL := all

# Further parts (fuzzing, benchmarks, browser tests...) add their targets in
# tests/mk/*.mk; they may append to TEST_DEPS (built before `make test` runs).
include $(sort $(wildcard tests/mk/*.mk))

all: $(BUILD)/fastwsd

deps:
	@missing=$$(for p in $(DEPS_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	else echo "deps: all packages present"; fi

$(BUILD)/fastwsd: $(SERVER_OBJ) $(LIB_OBJ) $(LLHTTP_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(COMPILE) $(DEPFLAGS) -c -o $@ $<

# llhttp's own sources, compiled as shipped by Debian (not ours to warn on).
# A static pattern rule: explicit, so it holds even when $(LLHTTP_DIR) did
# not exist when make started.
$(LLHTTP_OBJ): $(BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(FASTWS_CPPFLAGS) $(CPPFLAGS) $(CFLAGS) -w -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(COMPILE) $(DEPFLAGS) -o $@ $< $(LIB_OBJ) $(LDFLAGS) $(LDLIBS) -lcmocka

-include $(PROTOCOL_OBJ:.o=.d) $(CONFIG_OBJ:.o=.d) $(SERVER_OBJ:.o=.d) $(UNIT_BIN:=.d)

run:
	$(MAKE) deps
	$(MAKE) $(BUILD)/fastwsd
	$(BUILD)/fastwsd -c $(CONF)

check-config: $(BUILD)/fastwsd
	$(BUILD)/fastwsd -t -c $(CONF)

# make unit [T=frame]: the unit tests whose file name contains T.
unit: $(UNIT_BIN)
	@rc=0; for b in $(UNIT_BIN); do \
	  case "$$(basename $$b)" in *$(T)*) echo "== $$b"; $$b || rc=1;; esac; done; exit $$rc

# make integration [T=test_chat]: the integration tests whose id contains T.
integration: $(BUILD)/fastwsd
	FASTWSD=$(BUILD)/fastwsd /usr/bin/python3 tests/integration/run.py $(T)

test-build: $(BUILD)/fastwsd $(UNIT_BIN) $(TEST_DEPS)

test:
	$(MAKE) deps
	$(MAKE) test-build
	BUILD=$(BUILD) ./tests/run_all.sh

clean:
	rm -rf $(BUILD) build-asan

SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR ?= $(PREFIX)/share/man

# The units and man pages name /usr/local paths; other prefixes are written
# in on install.
install: $(BUILD)/fastwsd
	install -D -m 0755 $(BUILD)/fastwsd $(DESTDIR)$(PREFIX)/bin/fastwsd
	install -d $(DESTDIR)$(PREFIX)/share/fastws/static
	cp -R static/. $(DESTDIR)$(PREFIX)/share/fastws/static/
	[ -e $(DESTDIR)$(SYSCONFDIR)/fastws/fastws.conf ] || \
	  install -D -m 0644 fastws.conf $(DESTDIR)$(SYSCONFDIR)/fastws/fastws.conf
	install -d $(DESTDIR)$(UNITDIR)
	for u in fastwsd.service fastwsd@.service fastwsd.socket; do \
	  [ -f config/$$u ] || continue; \
	  sed -e 's|/usr/local|$(PREFIX)|g' -e 's|/etc/fastws|$(SYSCONFDIR)/fastws|g' \
	    config/$$u > $(DESTDIR)$(UNITDIR)/$$u; chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; done
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	for m in man8/fastwsd.8 man5/fastws.conf.5; do \
	  sed -e 's|/usr/local|$(PREFIX)|g' -e 's|/etc/fastws|$(SYSCONFDIR)/fastws|g' \
	    config/$${m#*/} > $(DESTDIR)$(MANDIR)/$$m; chmod 0644 $(DESTDIR)$(MANDIR)/$$m; done

# The configuration in $(SYSCONFDIR)/fastws is the operator's: kept.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/fastwsd
	rm -rf $(DESTDIR)$(PREFIX)/share/fastws
	rm -f $(DESTDIR)$(UNITDIR)/fastwsd.service $(DESTDIR)$(UNITDIR)/fastwsd@.service \
	  $(DESTDIR)$(UNITDIR)/fastwsd.socket
	rm -f $(DESTDIR)$(MANDIR)/man8/fastwsd.8 $(DESTDIR)$(MANDIR)/man5/fastws.conf.5

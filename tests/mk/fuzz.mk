# libFuzzer targets (tests/fuzz/README.md). Included by the top Makefile.
#
#   make fuzz-build   build every target into build-fuzz/
#   make fuzz         run each for FUZZ_SECONDS (make -j2 fuzz: two at a time)
#   make fuzz-smoke   replay regressions and corpus, then run each for
#                     FUZZ_SMOKE_SECONDS (what tests/suites.d/fuzz.sh does)
#   make fuzz-frame   (and fuzz-http, fuzz-cluster, ...) one target for FUZZ_SECONDS
#   make fuzz-replay-frame  (...) only replay regressions and corpus
#   make fuzz-clean   remove build-fuzz/ (`make clean` does not)
#
# protocol/*.c are compiled into each fuzzer with its sanitizer flags, never
# taken from build/. New inputs go to build-fuzz/corpus/<target>/ (not the
# tree); crashers to build-fuzz/artifacts/<target>/.

FUZZ_CC ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_TIMEOUT ?= 10
# fuzz_tokens parses 256 KiB inputs in ~0.2 s: 3 s catches anything
# super-linear (libFuzzer checks every timeout/2+1 s, so a 10 s limit can
# miss a 10-12 s unit).
FUZZ_TIMEOUT_tokens ?= 3
FUZZ_FLAGS ?=
FUZZ_TARGETS := frame http tokens message cluster proxy
FUZZ_DIR := tests/fuzz

FUZZ_SAN := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer -std=gnu11 -Wall -Wextra -D_GNU_SOURCE \
  -I. -I$(LLHTTP_INC) $(shell pkg-config --cflags jansson zlib libcrypto 2>/dev/null)
FUZZ_LIBS := $(shell pkg-config --libs jansson zlib libcrypto 2>/dev/null) -lm
FUZZ_HDRS := $(wildcard protocol/*.h) $(FUZZ_DIR)/fuzz_common.h $(FUZZ_DIR)/fuzz_ref.h
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_LLHTTP_OBJ := $(LLHTTP_SRC:%.c=$(FUZZ_BUILD)/llhttp/%.o)

.PHONY: fuzz fuzz-build fuzz-smoke fuzz-clean $(FUZZ_TARGETS:%=fuzz-%) \
  $(FUZZ_TARGETS:%=fuzz-smoke-%) $(FUZZ_TARGETS:%=fuzz-replay-%)

fuzz-build: $(FUZZ_BINS)

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_DIR)/fuzz_%.c $(PROTOCOL_SRC) $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -o $@ $< $(PROTOCOL_SRC) $(FUZZ_LIBS)

# The HTTP target links llhttp, built as shipped (-w: not our warnings),
# and the server's own request collector (server/http/parse.c: no libuv).
$(FUZZ_BUILD)/fuzz_http: $(FUZZ_DIR)/fuzz_http.c $(PROTOCOL_SRC) server/http/parse.c server/http/parse.h $(FUZZ_HDRS) $(FUZZ_LLHTTP_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -o $@ $< $(PROTOCOL_SRC) server/http/parse.c $(FUZZ_LLHTTP_OBJ) $(FUZZ_LIBS)

# The cluster target links the cluster's wire codec (server/cluster/wire.c:
# pure, no hiredis or libuv).
$(FUZZ_BUILD)/fuzz_cluster: $(FUZZ_DIR)/fuzz_cluster.c $(PROTOCOL_SRC) server/cluster/wire.c server/cluster/wire.h $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -o $@ $< $(PROTOCOL_SRC) server/cluster/wire.c $(FUZZ_LIBS)

$(FUZZ_LLHTTP_OBJ): $(FUZZ_BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -O1 -g -w -I$(LLHTTP_INC) -fsanitize=fuzzer-no-link,address,undefined \
	  -c -o $@ $<

fuzz_timeout = $(or $(FUZZ_TIMEOUT_$(1)),$(FUZZ_TIMEOUT))

# One run: the checked-in corpus is read, new inputs go to a scratch corpus
# (kept across `make fuzz` runs; fresh for each smoke run, so that one stays
# short and repeatable). $(1) target, $(2) seconds, $(3) scratch corpus.
fuzz_run = mkdir -p $(3) $(FUZZ_BUILD)/artifacts/$(1) && \
  $(FUZZ_BUILD)/fuzz_$(1) -max_total_time=$(2) -timeout=$(call fuzz_timeout,$(1)) \
    -dict=$(FUZZ_DIR)/$(1).dict -print_final_stats=1 \
    -artifact_prefix=$(FUZZ_BUILD)/artifacts/$(1)/ $(FUZZ_FLAGS) \
    $(3) $(FUZZ_DIR)/corpus/$(1)

# Every regression input and every corpus file, each run once.
fuzz_replay = regs=$$(find $(FUZZ_DIR)/regressions/$(1) -type f ! -name '.*' ! -name '*.md' 2>/dev/null); \
  if [ -n "$$regs" ]; then $(FUZZ_BUILD)/fuzz_$(1) -timeout=$(call fuzz_timeout,$(1)) $$regs || exit 1; fi; \
  $(FUZZ_BUILD)/fuzz_$(1) -runs=0 -timeout=$(call fuzz_timeout,$(1)) $(FUZZ_DIR)/corpus/$(1)

$(FUZZ_TARGETS:%=fuzz-%): fuzz-%: $(FUZZ_BUILD)/fuzz_%
	$(call fuzz_run,$*,$(FUZZ_SECONDS),$(FUZZ_BUILD)/corpus/$*)

$(FUZZ_TARGETS:%=fuzz-replay-%): fuzz-replay-%: $(FUZZ_BUILD)/fuzz_%
	$(call fuzz_replay,$*)

$(FUZZ_TARGETS:%=fuzz-smoke-%): fuzz-smoke-%: fuzz-replay-%
	rm -rf $(FUZZ_BUILD)/smoke-corpus/$*
	$(call fuzz_run,$*,$(FUZZ_SMOKE_SECONDS),$(FUZZ_BUILD)/smoke-corpus/$*)

fuzz: $(FUZZ_TARGETS:%=fuzz-%)

fuzz-smoke: $(FUZZ_TARGETS:%=fuzz-smoke-%)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

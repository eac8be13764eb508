# Benchmarks (tests/bench): the load generator and the peer comparison.
#   make bench                  full run, ~15 min -> tests/bench/RESULTS.md
#   BENCH_QUICK=1 make bench    one short run, < 3 min -> $(BUILD)/bench/RESULTS-quick.md
#   make bench-idle             idle connections with heartbeats -> tests/bench/RESULTS-idle.md
# Benchmarks report; `make test` only checks that the generator builds.

BENCH_LOADGEN := $(BUILD)/bench/loadgen
BENCH_CFLAGS ?= -O2 -g

.PHONY: bench bench-idle

$(BENCH_LOADGEN): tests/bench/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -o $@ $<

TEST_DEPS += $(BENCH_LOADGEN)

bench: $(BUILD)/fastwsd $(BENCH_LOADGEN)
	BUILD=$(BUILD) FASTWSD=$(BUILD)/fastwsd LOADGEN=$(BENCH_LOADGEN) tests/bench/run.sh

bench-idle: $(BUILD)/fastwsd $(BENCH_LOADGEN)
	BUILD=$(BUILD) FASTWSD=$(BUILD)/fastwsd LOADGEN=$(BENCH_LOADGEN) tests/bench/run.sh --idle

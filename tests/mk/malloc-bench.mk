# Allocations per broadcast message in the steady state: make bench-malloc
.PHONY: bench-malloc
bench-malloc: $(BUILD)/fastwsd $(BUILD)/malloc_count.so
	/usr/bin/python3 tests/bench/malloc_per_message.py $(BUILD)/fastwsd $(BUILD)/malloc_count.so

$(BUILD)/malloc_count.so: tests/bench/malloc_count.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -shared -fPIC -Wall -Wextra -o $@ $< -ldl

# permessage-deflate cost on chat envelopes: make bench-deflate
.PHONY: bench-deflate
bench-deflate: $(BUILD)/deflate_bench
	./$(BUILD)/deflate_bench

$(BUILD)/deflate_bench: tests/bench/deflate_bench.c $(LIB_OBJ)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# permessage-deflate cost on chat envelopes: make bench-deflate
.PHONY: bench-deflate
bench-deflate: $(BUILD)/deflate_bench
	./$(BUILD)/deflate_bench

$(BUILD)/deflate_bench: tests/bench/deflate_bench.c $(LIB_OBJ)
	$(COMPILE) -o $@ $< $(LIB_OBJ) $(LDFLAGS) $(LDLIBS)

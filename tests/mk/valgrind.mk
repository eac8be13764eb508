# The integration suites that exercise the daemon's memory the most, with
# fastwsd under valgrind memcheck (about 5 minutes): make valgrind
VALGRIND_SUITES ?= test_chat test_rooms test_frames test_http test_handshake test_deflate test_auth

.PHONY: valgrind
valgrind: $(BUILD)/fastwsd
	FASTWSD_BIN=$(abspath $(BUILD)/fastwsd) VALGRIND_LOG_DIR=$(abspath $(BUILD)/valgrind) \
	  FASTWSD=$(abspath tests/valgrind-fastwsd.sh) /usr/bin/python3 tests/integration/run.py $(VALGRIND_SUITES)

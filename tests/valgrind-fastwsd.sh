#!/bin/sh
# fastwsd under valgrind memcheck, for the integration harness:
#   FASTWSD=tests/valgrind-fastwsd.sh /usr/bin/python3 tests/integration/run.py ...
# Any memory error or leak makes the daemon exit 99, which the harness
# reports as a failed test; details in $VALGRIND_LOG_DIR (build/valgrind).
dir=${VALGRIND_LOG_DIR:-build/valgrind}
mkdir -p "$dir"
exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --error-exitcode=99 --log-file="$dir/vg.%p.log" "${FASTWSD_BIN:-build/fastwsd}" "$@"

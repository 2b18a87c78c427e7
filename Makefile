# SPDX-License-Identifier: MIT
# Thin wrapper over CMake and the test tools.
#
#   make            build (build/)
#   make demo       build and run the hot-swap demo (nmrhost, examples/modules/),
#                   then the same for two Windows drivers (examples/drivers/)
#   make demo-drivers  the drivers' demo alone
#   make demo-asan  the same demo under ASan+UBSan
#   make nmrcheck-demo  nmrcheck finds a planted bug (tests/check/), prints
#                   its report, replays it; then runs the example modules clean
#   make check      the whole suite: plain, ASan+UBSan, TSan (threaded tests;
#                   Debug, then optimised), then the optional layers whose
#                   tools are installed (spin model, libFuzzer for
#                   FUZZ_SECONDS, coverage); each optional layer says
#                   SKIPPED and why when its tool is missing.  Ends with a
#                   summary: every layer, and every test CTest skipped with
#                   the reason it printed (tests/scripts/check_summary.sh)
#
# Every build configured here is built with -Werror (WERROR below); a
# plain `cmake` configure is not (NMR_WERROR defaults to OFF).  The build
# trees can be moved: BUILD (build), ASAN_BUILD, TSAN_BUILD,
# TSAN_OPT_BUILD, COVERAGE_BUILD, FUZZ_BUILD (build-asan, ...).
#   make bench      nmrbench (+ the tracing-site overhead), rundown_bench,
#                   hostbench and nmrcheck's schedules per second, full size,
#                   Release build
#   make stress     the model-based stress test for STRESS_SECONDS
#   make fuzz       the libFuzzer harness for FUZZ_SECONDS
#   make model      the Promela model of the binding state machine, with spin
#   make coverage   line and branch coverage of src/ (gcovr)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
BUILD ?= build
STRESS_SECONDS ?= 60
FUZZ_SECONDS ?= 60
WERROR ?= -DNMR_WERROR=ON
# The build trees of the other layers.
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
TSAN_OPT_BUILD ?= build-tsan-opt
COVERAGE_BUILD ?= build-coverage
FUZZ_BUILD ?= build-fuzz
# Where each layer of make check records its outcome for the summary.
SUMMARY ?= $(BUILD)/check-summary
CHECK_SUMMARY = tests/scripts/check_summary.sh

.PHONY: all demo demo-drivers demo-asan nmrcheck-demo check check-plain check-asan check-tsan check-tsan-opt \
        check-optional bench stress fuzz model coverage install clean

all:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(WERROR) >/dev/null
	$(CMAKE) --build $(BUILD) -j $(JOBS)

# The hot-swap demo: nmrhost runs examples/modules/demo.nmr (docs/host.md);
# the DOT/PNG of the busiest moment goes to $(BUILD)/demo-busiest.*
demo:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(WERROR) >/dev/null
	$(CMAKE) --build $(BUILD) -j $(JOBS) --target host_demo_deps
	NMRHOST_OUT=$(BUILD) $(BUILD)/tools/nmrhost/nmrhost --progress=on -M $(BUILD)/modules \
	  examples/modules/demo.nmr
	@$(MAKE) --no-print-directory demo-drivers

# Two Windows NPI drivers built with the kernel-mode layer (docs/km.md):
# nmrhost loads them, hot-swaps the provider with calls in flight and
# unloads both, with the verifier on (examples/drivers/drivers.nmr).
demo-drivers:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(WERROR) >/dev/null
	$(CMAKE) --build $(BUILD) -j $(JOBS) --target host_drivers_demo_deps
	$(BUILD)/tools/nmrhost/nmrhost --progress=on -M $(BUILD)/modules \
	  examples/drivers/drivers.nmr

# The same demo under ASan+UBSan (leak detection on).
demo-asan:
	$(CMAKE) -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNMR_SANITIZE=address $(WERROR) >/dev/null
	$(CMAKE) --build $(ASAN_BUILD) -j $(JOBS) --target host_demo_deps
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  NMRHOST_OUT=$(ASAN_BUILD) $(ASAN_BUILD)/tools/nmrhost/nmrhost --progress=on -M $(ASAN_BUILD)/modules \
	  examples/modules/demo.nmr

# nmrcheck (docs/nmrcheck.md) on a planted bug: a client that frees its
# binding context in its detach callback while the provider's thread may
# still notify it.  Exit status 1 (a defect) is what this demo expects.
nmrcheck-demo:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(WERROR) >/dev/null
	$(CMAKE) --build $(BUILD) -j $(JOBS) --target nmrcheck check_modules host_demo_deps
	$(BUILD)/tools/nmrcheck/nmrcheck --first --seed 1 -M $(BUILD)/check-modules \
	  chk_provider.so:broadcast bug_free_in_detach.so; test $$? -eq 1
	@echo; echo "== the same pair with the bug fixed, then the example modules:"
	$(BUILD)/tools/nmrcheck/nmrcheck --schedules 2000 --seed 1 -M $(BUILD)/check-modules \
	  chk_provider.so:broadcast bug_free_in_detach.so:fixed
	$(BUILD)/tools/nmrcheck/nmrcheck --schedules 2000 --seed 1 -M $(BUILD)/modules \
	  echo_provider_v1 echo_provider_v2 echo_client:threads=0

# The layers run one after the other; the first that fails stops the run.
# The summary is printed either way, and says which layers did not run.
check:
	@$(CHECK_SUMMARY) reset $(SUMMARY)
	@status=0; \
	for layer in check-plain check-asan check-tsan check-optional; do \
	  $(MAKE) --no-print-directory $$layer || \
	    { $(CHECK_SUMMARY) stopped $(SUMMARY) $$layer; status=1; break; }; \
	done; \
	$(CHECK_SUMMARY) print $(SUMMARY); \
	exit $$status

# Each ctest layer: configure, build, run; check_summary.sh records the
# outcome (a failed build too) and the skipped tests with their reasons.
check-plain: all
	@$(CHECK_SUMMARY) ctest $(SUMMARY) plain $(BUILD) --output-on-failure -j $(JOBS)

check-asan:
	$(CMAKE) -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNMR_SANITIZE=address $(WERROR) >/dev/null
	$(CMAKE) --build $(ASAN_BUILD) -j $(JOBS) || \
	  { $(CHECK_SUMMARY) record $(SUMMARY) asan FAILED "build failed"; exit 1; }
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(CHECK_SUMMARY) ctest $(SUMMARY) asan $(ASAN_BUILD) --output-on-failure -j $(JOBS)

# ThreadSanitizer on the threaded tests, twice: a Debug build, then an
# optimised one (check-tsan-opt), whose inlining and reordering expose
# races and -Wtsan warnings the Debug build does not.
check-tsan:
	$(CMAKE) -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNMR_SANITIZE=thread \
	  -DNMR_BUILD_EXAMPLES=OFF $(WERROR) >/dev/null
	$(CMAKE) --build $(TSAN_BUILD) -j $(JOBS) || \
	  { $(CHECK_SUMMARY) record $(SUMMARY) tsan FAILED "build failed"; exit 1; }
	@TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  $(CHECK_SUMMARY) ctest $(SUMMARY) tsan $(TSAN_BUILD) --output-on-failure -j $(JOBS) -L threaded
	@$(MAKE) --no-print-directory check-tsan-opt

check-tsan-opt:
	$(CMAKE) -S . -B $(TSAN_OPT_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNMR_SANITIZE=thread \
	  -DNMR_BUILD_EXAMPLES=OFF $(WERROR) >/dev/null
	$(CMAKE) --build $(TSAN_OPT_BUILD) -j $(JOBS) || \
	  { $(CHECK_SUMMARY) record $(SUMMARY) tsan-optimised FAILED "build failed"; exit 1; }
	@TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  $(CHECK_SUMMARY) ctest $(SUMMARY) tsan-optimised $(TSAN_OPT_BUILD) --output-on-failure \
	  -j $(JOBS) -L threaded

# Optional layers: run when the tool is there, else say what was skipped.
check-optional:
	@NMR_CHECK_SUMMARY=$(SUMMARY) tools/optional.sh model "command -v spin" "spin" \
	  $(MAKE) --no-print-directory model
	@NMR_CHECK_SUMMARY=$(SUMMARY) tools/optional.sh fuzz "tools/have_libfuzzer.sh" \
	  "clang with libFuzzer" $(MAKE) --no-print-directory fuzz
	@NMR_CHECK_SUMMARY=$(SUMMARY) tools/optional.sh coverage "command -v gcovr" "gcovr" \
	  $(MAKE) --no-print-directory coverage

bench:
	$(CMAKE) -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DNMR_BUILD_EXAMPLES=OFF \
	  -DNMR_BUILD_BENCH=ON $(WERROR) >/dev/null
	$(CMAKE) --build build-release -j $(JOBS) --target nmrbench nmrbench_notrace \
	  rundown_bench hostbench nmrcheck host_demo_deps
	build-release/bench/nmrbench
	build-release/bench/nmrbench --instructions
	bench/trace_overhead.sh build-release
	build-release/bench/rundown_bench
	build-release/bench/hostbench
	bench/nmrcheck_bench.sh build-release

stress:
	$(CMAKE) -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNMR_SANITIZE=thread \
	  -DNMR_BUILD_EXAMPLES=OFF $(WERROR) >/dev/null
	$(CMAKE) --build $(TSAN_BUILD) -j $(JOBS) --target test_mt_stress
	NMR_STRESS_SECONDS=$(STRESS_SECONDS) NMR_TEST_TIMEOUT=0 TSAN_OPTIONS=halt_on_error=1 \
	  $(TSAN_BUILD)/tests/test_mt_stress --all
	$(CMAKE) -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNMR_SANITIZE=address $(WERROR) >/dev/null
	$(CMAKE) --build $(ASAN_BUILD) -j $(JOBS) --target test_mt_stress
	NMR_STRESS_SECONDS=$(STRESS_SECONDS) NMR_TEST_TIMEOUT=0 ASAN_OPTIONS=detect_leaks=1 \
	  $(ASAN_BUILD)/tests/test_mt_stress --all

fuzz:
	FUZZ_BUILD_DIR=$(abspath $(FUZZ_BUILD)) tests/fuzz/run.sh $(FUZZ_SECONDS)

model:
	tests/model/run.sh

coverage:
	$(CMAKE) -S . -B $(COVERAGE_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNMR_COVERAGE=ON \
	  -DNMR_BUILD_EXAMPLES=OFF $(WERROR) >/dev/null
	$(CMAKE) --build $(COVERAGE_BUILD) -j $(JOBS)
	find $(COVERAGE_BUILD) -name '*.gcda' -delete
	cd $(COVERAGE_BUILD) && ctest -j $(JOBS) -E '^(bench_quick|rundown_bench_quick|script_)' >/dev/null
	gcovr -r . --filter 'src/' --exclude-unreachable-branches \
	  --exclude-lines-by-pattern '.*\bassert\(.*' \
	  -s $(COVERAGE_BUILD) | tee $(COVERAGE_BUILD)/summary.txt

install: all
	$(CMAKE) --install $(BUILD)

clean:
	rm -rf build $(ASAN_BUILD) $(TSAN_BUILD) $(TSAN_OPT_BUILD) build-release $(COVERAGE_BUILD) \
	  $(FUZZ_BUILD)

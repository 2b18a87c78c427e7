# Thin wrapper over CMake and the test tools.
#
#   make            build (build/)
#   make demo       build and run the hot-swap demo (nmrhost, examples/modules/)
#   make demo-asan  the same demo under ASan+UBSan
#   make check      the whole suite: plain, ASan+UBSan, TSan (threaded tests),
#                   then the optional layers whose tools are installed
#                   (spin model, libFuzzer for FUZZ_SECONDS, coverage);
#                   each optional layer says SKIPPED and why when its tool
#                   is missing
#   make bench      nmrbench (+ the tracing-site overhead), rundown_bench and
#                   hostbench, full size, Release build
#   make stress     the model-based stress test for STRESS_SECONDS
#   make fuzz       the libFuzzer harness for FUZZ_SECONDS
#   make model      the Promela model of the binding state machine, with spin
#   make coverage   line and branch coverage of src/ (gcovr)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
BUILD ?= build
STRESS_SECONDS ?= 60
FUZZ_SECONDS ?= 60

.PHONY: all demo demo-asan check check-plain check-asan check-tsan check-optional \
        bench stress fuzz model coverage install clean

all:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	$(CMAKE) --build $(BUILD) -j $(JOBS)

# The hot-swap demo: nmrhost runs examples/modules/demo.nmr (docs/host.md);
# the DOT/PNG of the busiest moment goes to $(BUILD)/demo-busiest.*
demo:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	$(CMAKE) --build $(BUILD) -j $(JOBS) --target host_demo_deps
	NMRHOST_OUT=$(BUILD) $(BUILD)/tools/nmrhost/nmrhost --progress=on -M $(BUILD)/modules \
	  examples/modules/demo.nmr

# The same demo under ASan+UBSan (leak detection on).
demo-asan:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNMR_SANITIZE=address >/dev/null
	$(CMAKE) --build build-asan -j $(JOBS) --target host_demo_deps
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  NMRHOST_OUT=build-asan build-asan/tools/nmrhost/nmrhost --progress=on -M build-asan/modules \
	  examples/modules/demo.nmr

check: check-plain check-asan check-tsan check-optional
	@echo "make check: passed (plain, asan+ubsan, tsan; optional layers above)"

check-plain: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

check-asan:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNMR_SANITIZE=address >/dev/null
	$(CMAKE) --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

check-tsan:
	$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DNMR_SANITIZE=thread \
	  -DNMR_BUILD_EXAMPLES=OFF >/dev/null
	$(CMAKE) --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --output-on-failure -j $(JOBS) -L threaded

# Optional layers: run when the tool is there, else say what was skipped.
check-optional:
	@tools/optional.sh model "command -v spin" "spin" \
	  $(MAKE) --no-print-directory model
	@tools/optional.sh fuzz "tools/have_libfuzzer.sh" "clang with libFuzzer" \
	  $(MAKE) --no-print-directory fuzz
	@tools/optional.sh coverage "command -v gcovr" "gcovr" \
	  $(MAKE) --no-print-directory coverage

bench:
	$(CMAKE) -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DNMR_BUILD_EXAMPLES=OFF >/dev/null
	$(CMAKE) --build build-release -j $(JOBS) --target nmrbench nmrbench_notrace \
	  rundown_bench hostbench
	build-release/bench/nmrbench
	bench/trace_overhead.sh build-release
	build-release/bench/rundown_bench
	build-release/bench/hostbench

stress:
	$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DNMR_SANITIZE=thread \
	  -DNMR_BUILD_EXAMPLES=OFF >/dev/null
	$(CMAKE) --build build-tsan -j $(JOBS) --target test_mt_stress
	NMR_STRESS_SECONDS=$(STRESS_SECONDS) TSAN_OPTIONS=halt_on_error=1 \
	  build-tsan/tests/test_mt_stress
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNMR_SANITIZE=address >/dev/null
	$(CMAKE) --build build-asan -j $(JOBS) --target test_mt_stress
	NMR_STRESS_SECONDS=$(STRESS_SECONDS) ASAN_OPTIONS=detect_leaks=1 \
	  build-asan/tests/test_mt_stress

fuzz:
	tests/fuzz/run.sh $(FUZZ_SECONDS)

model:
	tests/model/run.sh

coverage:
	$(CMAKE) -S . -B build-coverage -DCMAKE_BUILD_TYPE=Debug -DNMR_COVERAGE=ON \
	  -DNMR_BUILD_EXAMPLES=OFF >/dev/null
	$(CMAKE) --build build-coverage -j $(JOBS)
	find build-coverage -name '*.gcda' -delete
	cd build-coverage && ctest -j $(JOBS) -E '^(bench_quick|rundown_bench_quick|script_)' >/dev/null
	gcovr -r . --filter 'src/' --exclude-unreachable-branches \
	  --exclude-lines-by-pattern '.*\bassert\(.*' \
	  -s build-coverage | tee build-coverage/summary.txt

install: all
	$(CMAKE) --install $(BUILD)

clean:
	rm -rf build build-asan build-tsan build-release build-coverage build-fuzz

# Thin wrapper over CMake.  `make demo` runs the example, `make check` runs
# the whole suite three times: plain, ASan+UBSan, and (threaded tests) TSan.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
BUILD ?= build

.PHONY: all demo check check-plain check-asan check-tsan bench install clean

all:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	$(CMAKE) --build $(BUILD) -j $(JOBS)

demo: all
	$(BUILD)/examples/echo_demo

check: check-plain check-asan check-tsan
	@echo "make check: all three runs passed (plain, asan+ubsan, tsan)"

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

install: all
	$(CMAKE) --install $(BUILD)

clean:
	rm -rf build build-asan build-tsan

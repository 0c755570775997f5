# Front door to the CMake build. `make demo` and `make test` are the two commands of the quick start;
# both install missing Debian packages first (scripts/setup.sh): `make build` and `make demo` only what
# building needs, `make test` also what the tests need, `make bench` what the benchmarks need.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DSERVPROF_WERROR=ON
endif

.PHONY: all setup setup-test setup-bench build test test-fast test-asan demo demo-generate demo-python bench fuzz clean

all: build

setup:
	@bash scripts/setup.sh build

setup-test:
	@bash scripts/setup.sh test

setup-bench:
	@bash scripts/setup.sh bench

$(BUILD)/CMakeCache.txt: | setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# Every test through CTest, then the same tests built with AddressSanitizer + UBSan.
test: setup-test build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) test-asan

test-fast: setup-test build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: setup-test
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSERVPROF_SANITIZE=ON -DSERVPROF_CUDA=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  SP_SANITIZED=1 ctest --output-on-failure -j $(JOBS) -LE no_sanitize

demo: build
	bash scripts/demo.sh $(BUILD) $(DEMO_ARGS)

# Text generation (docs/demo.md "Generation"): servprof serve --generate in process, servprof load
# --stream, the report with its TTFT and TPOT tables and verdicts.
demo-generate: build
	bash scripts/demo-generate.sh $(BUILD) $(DEMO_ARGS)

# The Python stack (docs/python.md): the servprof package built into $(BUILD)/python-pkg, the FastAPI +
# uvicorn + PyTorch example service (examples/python) on a loopback port, servprof load, the report.
# Its Python packages come with `make test`'s set-up.
demo-python: setup-test build
	bash scripts/demo-python.sh $(BUILD) $(DEMO_ARGS)

bench: setup-bench build
	bash bench/run.sh $(BUILD)

# libFuzzer targets (clang), each run for FUZZ_SECONDS on its corpus.
FUZZ_SECONDS ?= 60
fuzz: setup-test
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSERVPROF_FUZZ=ON -DSERVPROF_CUDA=OFF >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

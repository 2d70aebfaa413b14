# The two set-up commands of the README. Both install what is missing (scripts/setup), then build.
#   make run    the daemon on embedded defaults (extra flags: make run ARGS="--log-level debug")
#   make test   every test: unit, end-to-end, SDK conformance, real clients, the examples; not the large examples
#   make test-examples  the large examples, which make test leaves out: examples/claude-code installs Claude Code
#               (about 400 MB, once, into a cache dir); skipped (77) when npm cannot reach the registry
#   make bench  the proxy and cron benchmarks (figures only; see bench/README.md)
#   make load   load test: 1,000 intercepted keep-alive connections for 60 s, with checks (see bench/README.md)
#   make bench-audit  the egress audit at full rate, then with 10 M rows stored (ARGS="--seconds 60"; see bench/README.md)
#   make test-asan  every test again, built with AddressSanitizer and UndefinedBehaviorSanitizer (build-asan/)
#   make test-tsan  every test again, built with ThreadSanitizer (build-tsan/)
#   make fuzz   the libFuzzer targets of tests/fuzz, FUZZ_SECONDS (60) each, built with clang (build-fuzz/)
#   make lint   clang-tidy over Airlock's own sources, tests aside (.clang-tidy); any finding fails (build-lint/)
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
ARGS ?=
FUZZ_SECONDS ?= 60

.PHONY: all setup configure build run test test-examples bench bench-audit load clean node-deps test-asan test-tsan fuzz lint

all: build

setup:
	@bash scripts/setup

# ccache, where the machine has it: CI's fresh clones rebuild little (.ci/run sets CCACHE_BASEDIR).
LAUNCHER = $(if $(shell command -v ccache),-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

configure: setup
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(LAUNCHER) $(CMAKE_FLAGS) > /dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	./$(BUILD_DIR)/airlock serve $(ARGS)

node-deps:
	@for dir in tests/sdk tests/clients; do \
	  if [ ! -f $$dir/node_modules/.package-lock.json ] || [ $$dir/package-lock.json -nt $$dir/node_modules/.package-lock.json ]; then \
	    (cd $$dir && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	  fi; \
	done

# ctest label large-example: tests too large for every run (tests/CMakeLists.txt); test-examples runs them.
test: build node-deps
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -LE large-example

test-examples: build node-deps
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L large-example

# -O1 -g1: what the sanitizers' authors recommend, and far quicker to build than -O2 -g.
SANITIZE_BUILD = -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g1" -DCMAKE_C_FLAGS_SANITIZE="-O1 -g1"
# A sanitizer finding aborts the process, so it fails the test that met it (with the report in its output).
SANITIZER_ENV = ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:check_initialization_order=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

test-asan: setup node-deps
	@cmake -S . -B build-asan -G Ninja $(SANITIZE_BUILD) -DAIRLOCK_SANITIZE=address,undefined $(LAUNCHER) $(CMAKE_FLAGS) > /dev/null
	@cmake --build build-asan -j $(JOBS)
	$(SANITIZER_ENV) ctest --test-dir build-asan --output-on-failure -j $(JOBS) -LE large-example

test-tsan: setup node-deps
	@cmake -S . -B build-tsan -G Ninja $(SANITIZE_BUILD) -DAIRLOCK_SANITIZE=thread $(LAUNCHER) $(CMAKE_FLAGS) > /dev/null
	@cmake --build build-tsan -j $(JOBS)
	$(SANITIZER_ENV) ctest --test-dir build-tsan --output-on-failure -j $(JOBS) -LE large-example

fuzz: setup
	@JOBS=$(JOBS) bash scripts/fuzz $(FUZZ_SECONDS)

# The compile commands come from a build dir that is only configured: no target generates a header that the
# sources include. The sources are the areas' libraries and the daemon, neither unit tests nor suites
# (tests/fuzz is built by clang in build-fuzz/). The path is a regular expression: escape its . and +.
LINT_ROOT = $(subst +,[+],$(subst .,[.],$(CURDIR)))
LINT_SOURCES = ^$(LINT_ROOT)/(proxy|control|store|certs|policies)/(?!(.*/)?test/)(?!.*_test[.]cpp$$)

lint: setup
	@cmake -S . -B build-lint -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_EXPORT_COMPILE_COMMANDS=ON $(LAUNCHER) $(CMAKE_FLAGS) > /dev/null
	run-clang-tidy-14 -p build-lint -j $(JOBS) -quiet '$(LINT_SOURCES)'

bench: build
	./$(BUILD_DIR)/bench/airlock_proxy_bench $(ARGS)
	./$(BUILD_DIR)/bench/airlock_cron_bench

load: build
	bench/load/run.sh

bench-audit: build
	bench/load/audit.sh $(ARGS)

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan build-fuzz build-lint

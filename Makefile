# The two set-up commands of the README. Both install what is missing (scripts/setup), then build.
#   make run    the daemon on embedded defaults (extra flags: make run ARGS="--log-level debug")
#   make test   every test: unit, end-to-end, SDK conformance, real clients
#   make bench  the proxy and cron benchmarks (figures only; see bench/README.md)
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
ARGS ?=

.PHONY: all setup configure build run test bench clean

all: build

setup:
	@bash scripts/setup

configure: setup
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) > /dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	./$(BUILD_DIR)/airlock serve $(ARGS)

test: build
	@for dir in tests/sdk tests/clients; do [ -d $$dir/node_modules ] || (cd $$dir && npm ci --no-audit --no-fund --loglevel=error) || exit 1; done
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

bench: build
	./$(BUILD_DIR)/bench/airlock_proxy_bench $(ARGS)
	./$(BUILD_DIR)/bench/airlock_cron_bench

clean:
	rm -rf $(BUILD_DIR)

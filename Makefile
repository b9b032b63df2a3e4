# topicswarm — the two commands a fresh machine needs are `make demo` and
# `make test`; each installs missing Debian packages and builds first.
JOBS ?= 2
BUILD_DEV := build/dev
BUILD_ASAN := build/asan
BUILD_REL := build/release
CLI := $(BUILD_DEV)/topicswarm

.PHONY: all deps build build-asan build-release test test-dev test-asan test-faults install-check demo bench fuzz format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev -j $(JOBS)

build-asan: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)

build-release: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

# Everything CI runs: unit, fuzz-corpus replay, integration and e2e tests on the
# dev build; unit, fuzz-replay and transport/node ("net") tests again under
# ASan+UBSan (the preset sets ASAN_OPTIONS=alloc_dealloc_mismatch=0: Asio 1.22
# allocates coroutine frames with operator new and frees them with free());
# then an install into a temporary prefix with the tests/install consumer and
# examples/ built against it through find_package(topicswarm).
test: build build-asan
	ctest --preset dev
	ctest --preset asan
	scripts/install-check.sh $(BUILD_DEV)

test-dev: build
	ctest --preset dev

test-asan: build-asan
	ctest --preset asan

# The fault suite (tests/faults, label "faults"): real processes in network
# namespaces with delay, loss, partitions, SIGKILL and address changes; needs
# root, ip, nft and TUN (tests skip otherwise). `make test` runs its fast part;
# this runs all of it, the slow scenarios too (about 15 minutes).
test-faults: build
	ctest --preset faults

install-check: build
	scripts/install-check.sh $(BUILD_DEV)

# The demo's output and nothing of the build: only the CLI is built, its
# output goes to a log that is shown if the build fails; one line says when a
# build is about to take a while (the first one, or after sources changed).
DEMO_BUILD_LOG := $(BUILD_DEV)/demo-build.log
demo:
	@scripts/install-deps.sh --quiet
	@if [ ! -x $(CLI) ]; then \
	  echo "building topicswarm (first time: a few minutes; log in $(DEMO_BUILD_LOG))..."; \
	elif [ -n "$$(find CMakeLists.txt CMakePresets.json include src sim bench -newer $(CLI) -print -quit)" ]; then \
	  echo "building topicswarm (sources changed since the last build)..."; \
	fi
	@mkdir -p $(BUILD_DEV)
	@if ! { cmake --preset dev && cmake --build --preset dev -j $(JOBS) --target topicswarm_cli; } \
	    >$(DEMO_BUILD_LOG) 2>&1; then \
	  cat $(DEMO_BUILD_LOG); echo "make demo: the build failed (log: $(DEMO_BUILD_LOG))" >&2; exit 1; \
	fi
	@$(CLI) demo

bench: build-release
	$(BUILD_REL)/topicswarm bench dht --nodes 16 --ops 200 --json
	$(BUILD_REL)/topicswarm bench broadcast --nodes 10 --size 1024 --count 100000 --json
	$(BUILD_REL)/topicswarm bench join --peers 10 --dht-nodes 16 --mode sequential --json
	$(BUILD_REL)/topicswarm bench join --peers 10 --dht-nodes 16 --mode simultaneous --json
	$(BUILD_REL)/topicswarm bench join --peers 10 --dht-nodes 16 --mode sequential --hashed-key --json
	$(BUILD_REL)/topicswarm bench join --peers 10 --dht-nodes 16 --mode simultaneous --hashed-key --json
	$(BUILD_REL)/bench/micro_bench --benchmark_format=json --benchmark_min_time=0.2

# libFuzzer targets (clang); run one with e.g. build/fuzz/fuzz/record_fuzzer -max_total_time=60
fuzz: deps
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS)

format:
	find include src tests fuzz bench examples sim -name '*.[ch]pp' | xargs clang-format -i

clean:
	rm -rf build

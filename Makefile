# hnd: the two commands a user needs are `make demo` and `make test`.
# Both install missing Debian packages, configure CMake and build first.
#   make test SANITIZE=1   same suite under AddressSanitizer + UBSan
#   make bench             benchmarks in bench/ (ratios vs python3-torch)
#   make fuzz [FUZZ_SECONDS=60]   libFuzzer run of the .pth parser
#                                 (then FUZZ_WIRE_SECONDS=30 of the split link's wire parser)
#                                 (and as long of the COCO results reader)
SANITIZE ?= 0
JOBS ?= $(shell nproc)
TORCH_DIR ?=
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
CMAKE_FLAGS += -DHND_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
# the ResNet-50 cases of the slowest parity test run in the plain build only
export HND_TEST_SCOPE ?= short
else
BUILD ?= build
endif
ifneq ($(TORCH_DIR),)
CMAKE_FLAGS += -DTorch_DIR=$(TORCH_DIR)
endif
FUZZ_SECONDS ?= 60
FUZZ_WIRE_SECONDS ?= 30

.PHONY: all deps configure build tools test demo bench fuzz clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# the two executables only (what make demo needs): no tests, no benchmarks
tools: configure
	@cmake --build $(BUILD) -j $(JOBS) --target hnd hnd-torch

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: tools
	@bash scripts/demo.sh $(BUILD)

bench: build
	@bash bench/run_all.sh $(BUILD)

fuzz: deps
	@bash scripts/install-deps.sh clang libclang-rt-14-dev
	@bash tests/fuzz/run_fuzz.sh $(FUZZ_SECONDS)
	@bash tests/fuzz/run_fuzz_wire.sh $(FUZZ_WIRE_SECONDS)
	@bash tests/fuzz/run_fuzz_codec.sh $(FUZZ_WIRE_SECONDS)
	@bash tests/fuzz/run_fuzz_eval.sh $(FUZZ_WIRE_SECONDS)

clean:
	rm -rf build build-asan .test-cache

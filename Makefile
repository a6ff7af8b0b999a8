# The two set-up commands (see README): `make demo` and `make test`.
# Everything else is a convenience over CMake.
BUILD     ?= build
ASAN      ?= build-asan
JOBS      ?= $(shell nproc)
CMAKE_OPT ?=

.PHONY: all deps build demo test stress asan format format-check bench \
	bench-billing bench-service bench-multinode bench-multinode-real clean

all: build

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_OPT)
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD)/pagemill

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j 2

# The suite on a machine whose two cores are busy with two CPU hogs, as a
# shared CI machine may be: timing in tests must not matter.
stress: build
	stress-ng --cpu 2 --timeout 7200s >/dev/null 2>&1 & hogs=$$!; \
	ctest --test-dir $(BUILD) --output-on-failure -j 2; rc=$$?; \
	kill $$hogs; wait $$hogs; exit $$rc

asan: deps
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug \
	    -DCMAKE_C_COMPILER=clang -DPM_SANITIZE=address,undefined \
	    $(CMAKE_OPT)
	cmake --build $(ASAN) -j $(JOBS)
	ctest --test-dir $(ASAN) \
	    --output-on-failure -j 2

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cc')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h' '*.cc')

bench: build
	bash scripts/bench-convert.sh --build $(BUILD)

bench-service: build
	bash scripts/bench-service.sh --build $(BUILD)

bench-billing: build
	bash scripts/bench-billing.sh --build $(BUILD)

bench-multinode: build
	bash scripts/bench-multinode.sh --build $(BUILD)

bench-multinode-real: build
	bash scripts/bench-multinode-real.sh --build $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN)

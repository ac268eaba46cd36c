# Wraps CMake: `make demo` builds and runs the examples, `make test` every test.
BUILD    ?= build
SANBUILD ?= build-sanitize
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE    ?= cmake

NOBLAS   ?= build-noblas

.PHONY: all build demo test test-sanitize test-noblas install clean bench

all: build

$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j $(JOBS)

demo: build
	$(CMAKE) --build $(BUILD) --target demo

test: build
	$(BUILD)/nabla_tests

$(SANBUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(SANBUILD) -DCMAKE_BUILD_TYPE=Debug -DNB_SANITIZE=ON -DNB_BUILD_EXAMPLES=OFF

test-sanitize: $(SANBUILD)/CMakeCache.txt
	$(CMAKE) --build $(SANBUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(SANBUILD)/nabla_tests

# the library must build and pass without OpenBLAS too
test-noblas:
	$(CMAKE) -S . -B $(NOBLAS) -DCMAKE_BUILD_TYPE=Release -DNB_USE_BLAS=OFF -DNB_BUILD_EXAMPLES=OFF
	$(CMAKE) --build $(NOBLAS) -j $(JOBS)
	$(NOBLAS)/nabla_tests

# every benchmark workload for nabla, hand-written C, ADOL-C and PyTorch, in one table
# (bench/README.md); installs the peers first when run as root and they are missing
bench:
	BUILD=$(BUILD) MAKE="$(MAKE)" bash bench/run.sh

install: build
	$(CMAKE) --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX),)

clean:
	rm -rf $(BUILD) $(SANBUILD) $(NOBLAS)

# Thin wrapper around the scripts and CMake. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

BUILD_DIR ?= build
ASAN_DIR ?= build-asan
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# Node test files (*.test.js, any depth). Listed explicitly instead of passing
# directories to `node --test`: directory arguments recurse on Node 20 but are
# treated as glob patterns by Node >= 21, and a missing directory is an error.
find_tests = $(shell find $(1) -name node_modules -prune -o -type f -name '*.test.js' -print 2>/dev/null | LC_ALL=C sort)
NODE_TEST := node --test --test-concurrency=1

ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

FORMAT_DIRS := gateway lua-free-plugins tests/unit tests/fuzz

.PHONY: all help deps deps-bench build asan unit unit-asan layers test test-node test-node-asan demo bench format format-check clean distclean

all: build

help:
	@echo "make deps         install missing Debian packages and tests/node_modules"
	@echo "make build        Release build into $(BUILD_DIR)/"
	@echo "make asan         ASan+UBSan (Debug, clang) build into $(ASAN_DIR)/"
	@echo "make unit         C unit tests (ctest) of $(BUILD_DIR)/"
	@echo "make fuzz         libFuzzer targets (tests/fuzz) into $(FUZZ_DIR)/, each run FUZZ_SECONDS (60); fuzz-ci: 20 s each"
	@echo "make layers       check that no file includes a header of a higher layer (scripts/check-layers.sh)"
	@echo "make deploy-check check deploy/ (configs, unit, manifests, Dockerfile) and make install/uninstall"
	@echo "make install      install binary, example config and systemd unit (PREFIX=$(PREFIX), DESTDIR); uninstall removes them"
	@echo "make test         layer check, deps, build, asan, unit tests, Node tests, integration tests under ASan"
	@echo "make demo         run the demo (two simulators + sandgate, TLS) in the foreground"
	@echo "make bench        benchmark sandgate against nginx and haproxy -> bench/RESULTS.md"
	@echo "make format       clang-format -i the C sources (format-check: verify only)"
	@echo "make clean        remove build directories and generated files"

deps:
	scripts/install-deps.sh

deps-bench:
	scripts/install-deps.sh --bench

build:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD_DIR) -j$(JOBS)

# The compiler is looked up when the recipe runs (clang may have just been
# installed by `make deps`). Fall back to the default compiler without clang.
asan:
	cc="$$(command -v clang || true)"; \
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DSG_SANITIZE=ON $${cc:+-DCMAKE_C_COMPILER=$$cc}
	cmake --build $(ASAN_DIR) -j$(JOBS)

unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure

layers:
	scripts/check-layers.sh

unit-asan: asan
	$(ASAN_ENV) ctest --test-dir $(ASAN_DIR) --output-on-failure

# Simulator tests and integration tests against the Release binary.
test-node:
	files="$(call find_tests,tests/sim tests/integration)"; \
	if [ -z "$$files" ]; then echo "no *.test.js under tests/sim or tests/integration" >&2; exit 1; fi; \
	SANDGATE_BIN="$(CURDIR)/$(BUILD_DIR)/sandgate" $(NODE_TEST) $$files

# Integration tests again against the sanitizer binary.
test-node-asan:
	files="$(call find_tests,tests/integration)"; \
	if [ -z "$$files" ]; then echo "no *.test.js under tests/integration" >&2; exit 1; fi; \
	SANDGATE_BIN="$(CURDIR)/$(ASAN_DIR)/sandgate" $(ASAN_ENV) $(NODE_TEST) $$files

# Sequential on purpose (also under make -j): each step needs the previous one.
test:
	$(MAKE) --no-print-directory layers
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory build
	$(MAKE) --no-print-directory deploy-check
	$(MAKE) --no-print-directory asan
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory unit-asan
	$(MAKE) --no-print-directory test-node
	$(MAKE) --no-print-directory test-node-asan
	$(MAKE) --no-print-directory fuzz-ci

# libFuzzer targets (tests/fuzz/README.md): clang with -fsanitize=fuzzer,address,undefined, one at a time
.PHONY: fuzz-build fuzz fuzz-ci
fuzz-build:
	cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Debug -DSG_FUZZ=ON -DCMAKE_C_COMPILER=clang
	cmake --build $(FUZZ_DIR) --target fuzz -j$(JOBS)

fuzz: fuzz-build
	FUZZ_BUILD_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# the short pass of `make test`: 20 s per target
fuzz-ci: fuzz-build
	FUZZ_BUILD_DIR=$(FUZZ_DIR) FUZZ_SECONDS=20 scripts/fuzz.sh

demo:
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory build
	scripts/demo.sh

bench:
	$(MAKE) --no-print-directory deps-bench
	$(MAKE) --no-print-directory build
	bench/run.sh

format:
	files="$$(find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null; ls *.c *.h 2>/dev/null || true)"; \
	if [ -n "$$files" ]; then clang-format -i $$files; fi

format-check:
	files="$$(find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null; ls *.c *.h 2>/dev/null || true)"; \
	if [ -n "$$files" ]; then clang-format --dry-run --Werror $$files; fi

# ---------------------------------------------------------------- install, deploy/
# `make install PREFIX=/usr SYSCONFDIR=/etc DESTDIR=pkgroot/`. The config is installed
# as an example only: an existing sandgate.yaml is never written. The unit's paths are
# those of BINDIR and SYSCONFDIR (deploy/systemd/sandgate.service.in).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= $(PREFIX)/etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
INSTALLED_FILES = $(BINDIR)/sandgate $(SYSCONFDIR)/sandgate/sandgate.yaml.example \
	$(UNITDIR)/sandgate.service $(SYSUSERSDIR)/sandgate.conf

.PHONY: install uninstall deploy-check deploy-check-mutants

install:
	test -x $(BUILD_DIR)/sandgate || { echo "install: $(BUILD_DIR)/sandgate missing: run 'make build'" >&2; exit 1; }
	install -D -m 0755 $(BUILD_DIR)/sandgate "$(DESTDIR)$(BINDIR)/sandgate"
	install -D -m 0644 conf/sandgate.yaml "$(DESTDIR)$(SYSCONFDIR)/sandgate/sandgate.yaml.example"
	install -d -m 0755 "$(DESTDIR)$(UNITDIR)"
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' deploy/systemd/sandgate.service.in \
		>"$(DESTDIR)$(UNITDIR)/sandgate.service"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/sandgate.service"
	install -D -m 0644 deploy/systemd/sandgate.sysusers "$(DESTDIR)$(SYSUSERSDIR)/sandgate.conf"

# Removes what install wrote; $(SYSCONFDIR)/sandgate stays when it holds a config.
uninstall:
	rm -f $(foreach f,$(INSTALLED_FILES),"$(DESTDIR)$(f)")
	rmdir "$(DESTDIR)$(SYSCONFDIR)/sandgate" 2>/dev/null || true

# Checks of deploy/ and of install/uninstall (tests/deploy/check.sh, < 1 min).
deploy-check: build
	SANDGATE_BIN="$(CURDIR)/$(BUILD_DIR)/sandgate" tests/deploy/check.sh

# Breaks each input of deploy-check once (in a copy) and expects its check to fail (~1 min).
deploy-check-mutants: build
	SANDGATE_BIN="$(CURDIR)/$(BUILD_DIR)/sandgate" tests/deploy/mutants.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR) bench/out .demo

distclean: clean
	rm -rf tests/node_modules

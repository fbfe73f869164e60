# libsuprsend: build, install, test, demo, bench.
#   make                  release library into dist/ (lib/, include/, lib/pkgconfig/, lib/cmake/, bin/)
#   make install PREFIX=/some/dir   the same tree under PREFIX (default /usr/local; DESTDIR too)
#   make test             installs what is missing, builds, runs every test suite
#   make demo             the examples against the built-in local hub (or the real hub when
#                         SUPRSEND_WORKSPACE_KEY and SUPRSEND_WORKSPACE_SECRET are set)
#   make bench            benchmarks; prints a table, writes bench/results/latest.json (builds
#                         bench/swift, the Swift product's client, in release for swift_*; make test does not)
#   make fuzz             libFuzzer targets (fuzz/), FUZZ_SECONDS each (default 60)
#   make sanitize         the Swift and C tests under ASan and TSan, the C tests under valgrind
#   make test-go          the Go binding (bindings/go): go vet, go test -race, go test with cgocheck=2
#   make wheel            the Python binding as a platform wheel with libsuprsend.so inside (dist/wheels/)
#   make node             the Node.js binding's addon (bindings/node/build/suprsend.node)
#   make node-pack        the Node.js binding as an npm package with libsuprsend inside (dist/node/)
PREFIX ?= /usr/local
PYTHON ?= python3
ROOT := $(abspath .)
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: all lib install deps deps-build test test-core test-hub test-c test-python test-bench demo bench clean \
	wheel test-wheel test-cpp test-cli test-install python-ext

all: lib

lib: deps-build
	scripts/build-lib.sh "$(ROOT)/dist"

# DESTDIR=/staging/dir for packagers: files go under DESTDIR/PREFIX, paths inside them are PREFIX.
install: lib
	scripts/install.sh "$(PREFIX)" "$(DESTDIR)"

# Build-time packages only (libcurl and OpenSSL headers, pkg-config).
deps-build:
	@scripts/install-deps.sh build

# Everything the tests need: the build packages, Python packages, nginx for the bench smoke.
deps:
	@scripts/install-deps.sh all

test: deps lib test-core test-hub test-c test-cpp test-cli test-install test-fault-matrix test-python test-wheel \
	test-go test-node test-node-pack test-node-asan test-bench fuzz-smoke sanitize-smoke
	@echo "make test: all suites passed"

# The core's tests (Tests/SuprSendCoreTests) and the SuprSend Swift library's against the
# local hub (Tests/SuprSendTests).
test-core:
	swift test

test-hub:
	$(PYTHON) -m pytest -q tools/hub/tests

test-c: lib
	tests/c/run.sh

# The durable outbox under faults (hub errors, drops, stalls, a 30 s outage, kill -9, shared
# outbox, full disk): one table, no acknowledged event lost or processed twice.
.PHONY: test-fault-matrix
test-fault-matrix: lib
	tests/c/fault-matrix.sh

# The binding's optional C accelerator (bindings/python/ext/_speedups.c), built into the package
# directory for the running $(PYTHON) (gitignored).
python-ext:
	PYTHON=$(PYTHON) bindings/python/build-ext.sh

# The binding's suite twice: with the accelerator (which must load) and on the pure-Python path.
test-python: lib python-ext
	PYTHONPATH=$(ROOT)/bindings/python/src SUPRSEND_LIBRARY=$(ROOT)/dist/lib/libsuprsend.so \
		SUPRSEND_NATIVE_EXPECT_SPEEDUPS=1 $(PYTHON) -m pytest -q bindings/python/tests
	PYTHONPATH=$(ROOT)/bindings/python/src SUPRSEND_LIBRARY=$(ROOT)/dist/lib/libsuprsend.so \
		SUPRSEND_NATIVE_PURE=1 $(PYTHON) -m pytest -q bindings/python/tests

# The Go binding (bindings/go) over dist/ with cgo and pkg-config: go vet, the suite under the race
# detector against the local hub, then again with cgocheck=2 (every pointer passed to C checked).
GO ?= go
GO_ENV = PKG_CONFIG_PATH=$(ROOT)/dist/lib/pkgconfig LD_LIBRARY_PATH=$(ROOT)/dist/lib
.PHONY: test-go
test-go: lib
	cd bindings/go && $(GO_ENV) $(GO) vet ./...
	cd bindings/go && $(GO_ENV) $(GO) test -race -count=1 ./...
	cd bindings/go && $(GO_ENV) GODEBUG=cgocheck=2 $(GO) test -count=1 ./...

# The C++ header (include/suprsend.hpp) built with g++ and clang++, -Wall -Wextra -Werror.
test-cpp: lib
	tests/cpp/run.sh

# The suprsend command-line tool (cli/) against the local hub.
test-cli: lib
	tests/cli/run.sh

# make install into fresh prefixes (DESTDIR, default prefix + ldconfig), then a C program without
# rpath, the Python binding, pkg-config and a CMake project against the installed tree.
test-install: deps
	tests/install/run.sh

# The Node.js binding (bindings/node): the Node-API addon built with the C compiler against the
# headers Node installs (no node-gyp), then its node --test suites against the local hub.
.PHONY: node test-node test-node-asan node-pack test-node-pack
node: lib
	bindings/node/build.sh

# The binding as an npm package with libsuprsend inside (dist/node/suprsend-native-VERSION.tgz),
# made with npm pack offline; the test installs it offline outside the checkout and runs the suites.
node-pack: node
	bindings/node/pack.sh "$(ROOT)/dist/node"

test-node-pack: node-pack
	bindings/node/test-pack.sh

test-node: node
	bindings/node/run-tests.sh

# The addon built with ASan (the library as built, node preloading libasan) and the suites run on it.
test-node-asan: lib
	bindings/node/test-asan.sh

wheel: lib python-ext
	bindings/python/build-wheel.sh "$(ROOT)/dist/wheels"

# The wheel installed into a fresh virtualenv, the binding's tests against the bundled library.
test-wheel: wheel
	bindings/python/test-wheel.sh "$(ROOT)/dist/wheels"

test-bench: lib python-ext node
	$(PYTHON) bench/run.py --smoke

demo: deps-build lib
	examples/run-demo.sh

bench: deps lib python-ext node
	$(PYTHON) bench/run.py

# Fuzzing and sanitizers (README, "Fuzzing and sanitizers"): instrumented builds in .build-fuzz,
# .build-asan, .build-tsan (.build-valgrind: a prefix of the release build), never in .build.
# The smoke forms are part of `make test` (about 1 and 1.5 minutes on 2 cores).
.PHONY: fuzz fuzz-smoke sanitize sanitize-smoke
FUZZ_SECONDS ?= 60
fuzz: deps-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

fuzz-smoke: deps-build
	FUZZ_SECONDS=5 fuzz/run.sh

sanitize: deps lib
	sanitize/run.sh

sanitize-smoke: deps
	sanitize/run.sh asan-c asan-swift

clean:
	rm -rf .build dist .build-fuzz .build-asan .build-tsan .build-valgrind .build-examples

# The two README commands: `make run` and `make test`. Both install missing Debian
# packages (scripts/install-deps.sh, idempotent), configure with Ninja and build.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: run test test-tools build deps clean bench release image install krew fuzz test-asan test-tsan

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Main job on the embedded defaults: the quick start through the real reconcilers and a
# SoftHSM2 token under .keygate/ (no cluster needed).
run: build
	$(BUILD_DIR)/src/cmd/keygate local -f examples/quickstart --once --state-dir .keygate

# Test-only tools Debian lacks (helm, for tests/chart); idempotent.
test-tools:
	@bash scripts/install-test-tools.sh >/dev/null

# run-reaped.py fails the run if any process the tests started (a server, an operator) is
# still alive when ctest ends, and names it.
test: build test-tools
	cd $(BUILD_DIR) && python3 $(CURDIR)/scripts/run-reaped.py -- ctest --output-on-failure -j $(JOBS) -L 'unit|integration|e2e|security|bench'

# The Dockerfile's configuration (Release, -O3, -Werror) of the keygate binary; CI builds it.
release: deps
	bash scripts/release-build.sh

# Builds the image with podman from locally made Debian base images (no registry) and
# smoke-tests it: non-root, read-only, ldd, the quick start inside the container (~6 min cold).
image:
	bash scripts/image-test.sh

# keygate and the kubectl-keygate plugin link into $(PREFIX)/bin (default /usr/local).
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# kubectl-keygate for krew: dist/krew/keygate-vX.Y.Z-linux-ARCH.tar.gz and its manifest keygate.yaml.
krew: release
	bash scripts/krew-package.sh build-release/src/cmd/keygate dist/krew

# libFuzzer (clang, ASan + UBSan) on every target in tests/fuzz for FUZZ_SECONDS each (default
# 60) in build-fuzz/; `make test` runs the same targets' seeds and mutations as a smoke test.
fuzz:
	bash scripts/fuzz.sh

# The unit and integration tiers under ASan+UBSan / TSan, each in its own build directory.
test-asan:
	bash scripts/sanitize-test.sh address

test-tsan:
	bash scripts/sanitize-test.sh thread

bench: build
	@for b in $(BUILD_DIR)/bench/*_bench; do [ -x "$$b" ] && "$$b"; done

clean:
	rm -rf $(BUILD_DIR) build-release build-fuzz build-asan build-tsan dist

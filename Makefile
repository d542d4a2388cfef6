# codeexecd -- see README.md.
#
#   make            build build/codeexecd
#   make run        install what is missing, build, build the image, start on 127.0.0.1:8080
#   make check      install what is missing, build, run every test (unit, integration, e2e)
#   make image      build the sandbox image (only when its inputs changed)
#   make service-image  build codeexecd's own image (SERVICE_IMAGE, codeexecd:latest)
#   make check-deploy   the deployment tests (service image, proxy, replicas, TLS)
#   make asan       the whole suite on an ASan + UBSan build
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (60) each
#   make soak       soak and chaos: SOAK_COUNT (1000) executions, an engine of its own
#   make abuse      bench/abuse: denial-of-service attempts against a daemon of its own
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
BUILD   ?= build
IMAGE   ?= $(or $(DOCKER_IMAGE),python-sandbox:latest)
SERVICE_IMAGE ?= codeexecd:latest
VERSION := 0.1.0

CC      ?= cc
PKGS    := libmicrohttpd libcjson libcurl yaml-0.1 libarchive libsystemd libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wwrite-strings
ifdef CI
WARN    += -Werror
endif
CFLAGS  ?= -O2 -g
SAN     ?=
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE -DCXD_VERSION='"$(VERSION)"' $(WARN) $(CFLAGS) $(SAN) \
              -Iinclude $(PKG_CFLAGS) -pthread -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SAN) -pthread

SRCS    := $(wildcard src/*.c)
OBJS    := $(SRCS:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/embedded.o
LIBOBJS := $(filter-out $(BUILD)/obj/main.o,$(OBJS))

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_SRCS := $(wildcard tests/integration/test_*.c)
INTEG_BINS := $(INTEG_SRCS:tests/integration/%.c=$(BUILD)/tests/integ_%)
INTEG_HELP := $(filter-out $(INTEG_SRCS),$(wildcard tests/integration/*.c))

# Files built into the binary (NAME=PATH for tools/embed). web/assets.mk adds
# the Swagger UI and ReDoc assets, fetched from npm at pinned versions.
EMBED   := runner.py=src/runner.py openapi.json=openapi/openapi.json
EMBED   += seccomp.json=src/seccomp.json
include web/assets.mk

.PHONY: all run check check-unit check-integration check-e2e check-deploy image \
        service-image assets asan install uninstall clean deps docker-engine bench \
        fuzz fuzz-build check-sanitize soak abuse

all: $(BUILD)/codeexecd

$(BUILD)/codeexecd: $(OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/embedded.o: $(BUILD)/gen/embedded.c | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -Wno-overlength-strings -c -o $@ $<

$(BUILD)/gen/embedded.c: $(BUILD)/tools/embed $(foreach e,$(EMBED),$(lastword $(subst =, ,$(e)))) | $(BUILD)/gen
	$(BUILD)/tools/embed $@ $(EMBED)

$(BUILD)/tools/embed: tools/embed.c | $(BUILD)/tools
	$(CC) -std=c11 -O2 $(WARN) -o $@ $<

$(BUILD)/obj $(BUILD)/gen $(BUILD)/tools $(BUILD)/tests:
	mkdir -p $@

# --- tests -----------------------------------------------------------------

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIBOBJS) | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -o $@ $< $(LIBOBJS) $(ALL_LDFLAGS) $(PKG_LIBS) $(CHECK_LIBS)

$(BUILD)/tests/integ_test_%: tests/integration/test_%.c $(INTEG_HELP) $(wildcard tests/integration/*.h) $(LIBOBJS) | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Itests/integration -o $@ $< $(INTEG_HELP) $(LIBOBJS) \
	    $(ALL_LDFLAGS) $(PKG_LIBS) $(CHECK_LIBS)

# Installs missing packages, starts a Docker engine if none answers, builds
# the image; quick when nothing is missing.
deps:
	@scripts/setup-deps.sh

docker-engine:
	@scripts/ensure-docker.sh

image: docker-engine
	@scripts/build-image.sh $(IMAGE)

# codeexecd's own image (docker/Dockerfile.service).
service-image: docker-engine
	@BUILD=$(BUILD) scripts/build-service-image.sh $(SERVICE_IMAGE)

# The Swagger UI and ReDoc files (for the service image's build context).
assets: $(WEB_ASSET_FILES)

check: deps
	@$(MAKE) --no-print-directory image
	@$(MAKE) --no-print-directory all check-unit check-integration check-e2e
	@$(MAKE) --no-print-directory check-sanitize

check-unit: $(UNIT_BINS)
	@scripts/run-tests.sh unit $(UNIT_BINS)

check-integration: $(BUILD)/codeexecd $(INTEG_BINS)
	@CODEEXECD_BIN=$(abspath $(BUILD)/codeexecd) CODEEXECD_TEST_IMAGE=$(IMAGE) \
	    scripts/run-tests.sh integration $(INTEG_BINS)

check-e2e: $(BUILD)/codeexecd
	@CODEEXECD_BIN=$(abspath $(BUILD)/codeexecd) CODEEXECD_TEST_IMAGE=$(IMAGE) \
	    tests/e2e/run.sh

# Deployment tests (tests/deploy): the service image, the socket proxy, TLS
# engines, replicas behind nginx. About 20 minutes; not part of `make check`.
# Uses the sandbox image IMAGE as it is (make image builds it) and builds
# the service image SERVICE_IMAGE.
check-deploy:
	@scripts/setup-deps.sh deploy
	@$(MAKE) --no-print-directory service-image
	@$(MAKE) --no-print-directory all $(BUILD)/tests/integ_test_sandbox
	@CODEEXECD_BIN=$(abspath $(BUILD)/codeexecd) CODEEXECD_TEST_IMAGE=$(IMAGE) \
	    SERVICE_IMAGE=$(SERVICE_IMAGE) INTEG_SANDBOX=$(abspath $(BUILD)/tests/integ_test_sandbox) \
	    tests/deploy/run.sh $(DEPLOY_TESTS)

run: deps
	@$(MAKE) --no-print-directory image all
	exec $(BUILD)/codeexecd --host 127.0.0.1 --port 8080 --set docker.image=$(IMAGE)

# The whole suite on a sanitizer build (its own build directory).
asan: deps
	@$(MAKE) --no-print-directory image
	@$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    all check-unit check-integration

bench: all
	@bench/warm

# --- fuzzing and sanitizers --------------------------------------------------
# libFuzzer targets (tests/fuzz/fuzz_*.c, clang) link the library objects
# built with the sanitizers into build/fuzz. Seeds: tests/fuzz/corpus/<name>;
# what a run finds goes to build/fuzz/corpus/<name> (outside git), crashes to
# build/fuzz/artifacts. FUZZ_SECONDS per target for `make fuzz`; `make check`
# runs each for FUZZ_CHECK_SECONDS over its corpus.
FUZZ_SECONDS       ?= 60
FUZZ_CHECK_SECONDS ?= 15
FUZZ_BUILD  := build/fuzz
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

# fuzz_run_state includes src/sandbox_run.c (its run state is private).
FUZZ_OBJS = $(LIBOBJS)
$(BUILD)/fuzz_run_state: FUZZ_OBJS = $(filter-out $(BUILD)/obj/sandbox_run.o,$(LIBOBJS))

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(LIBOBJS)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(ALL_LDFLAGS) -fsanitize=fuzzer \
	    $(PKG_LIBS)

# The sanitizer builds take the web assets of the main build when it has them
# (cp -a keeps the stamp newer than its inputs) instead of another npm ci.
share-assets = [ -e $(1)/assets/.fetched ] || [ ! -e $(BUILD)/assets/.fetched ] || \
	{ mkdir -p $(1) && cp -a $(BUILD)/assets $(1)/; }

fuzz-build: deps
	@$(call share-assets,$(FUZZ_BUILD))
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	    $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)

fuzz: fuzz-build
	@scripts/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_NAMES)

# The unit tests on the ASan + UBSan build, then every fuzz target briefly.
check-sanitize: fuzz-build
	@$(call share-assets,build/asan)
	@$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SAN="$(FUZZ_SAN)" check-unit
	@scripts/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_CHECK_SECONDS) $(FUZZ_NAMES)

# Denial-of-service attempts against a daemon of its own (bench/abuse.c).
$(BUILD)/bench/abuse: bench/abuse.c $(INTEG_HELP) $(wildcard tests/integration/*.h) $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/integration -o $@ $< $(INTEG_HELP) $(LIBOBJS) $(ALL_LDFLAGS) \
	    $(PKG_LIBS)

abuse: $(BUILD)/codeexecd $(BUILD)/bench/abuse
	@CODEEXECD_BIN=$(abspath $(BUILD)/codeexecd) CODEEXECD_TEST_IMAGE=$(IMAGE) $(BUILD)/bench/abuse

# Soak and chaos (tests/integration/test_soak.c) against an engine of its own
# (scripts/soak-engine.sh); the integration suite runs a 60-second version.
SOAK_COUNT   ?= 1000
SOAK_SECONDS ?= 3600
soak: $(BUILD)/codeexecd $(BUILD)/tests/integ_test_soak
	@SOAK_COUNT=$(SOAK_COUNT) SOAK_SECONDS=$(SOAK_SECONDS) IMAGE=$(IMAGE) \
	    CODEEXECD_BIN=$(abspath $(BUILD)/codeexecd) CODEEXECD_TEST_IMAGE=$(IMAGE) \
	    $(BUILD)/tests/integ_test_soak

install: $(BUILD)/codeexecd
	install -D -m 0755 $(BUILD)/codeexecd $(DESTDIR)$(BINDIR)/codeexecd
	install -D -m 0644 config.example.yaml $(DESTDIR)$(SYSCONFDIR)/codeexecd/config.example.yaml
	[ -e $(DESTDIR)$(SYSCONFDIR)/codeexecd/config.yaml ] || \
	    install -m 0644 config.example.yaml $(DESTDIR)$(SYSCONFDIR)/codeexecd/config.yaml
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/codeexecd/README.md
	install -D -m 0644 scripts/codeexecd.service $(DESTDIR)$(UNITDIR)/codeexecd.service
	install -D -m 0644 scripts/codeexecd.socket $(DESTDIR)$(UNITDIR)/codeexecd.socket
	sed -i -e 's|/usr/local/share|$(PREFIX)/share|' $(DESTDIR)$(UNITDIR)/codeexecd.socket
	sed -i -e 's|/usr/local/bin/codeexecd|$(BINDIR)/codeexecd|' \
	    -e 's|/etc/codeexecd|$(SYSCONFDIR)/codeexecd|' \
	    -e 's|/usr/local/share|$(PREFIX)/share|' $(DESTDIR)$(UNITDIR)/codeexecd.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/codeexecd $(DESTDIR)$(UNITDIR)/codeexecd.service \
	    $(DESTDIR)$(UNITDIR)/codeexecd.socket \
	    $(DESTDIR)$(SYSCONFDIR)/codeexecd/config.example.yaml
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/codeexecd

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d)

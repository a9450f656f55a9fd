# kvpbus - build, test and run.
#
#   make run        install missing packages, build, start a local cluster
#                   (SECURE=1: with CURVE, keys under var/keys;
#                   REPLICAS=3: three copies of each partition on three
#                   workers, data under var-r3)
#   make test       install missing packages, build, run every test
#   make sanitize   the whole test suite under AddressSanitizer + UBSan
#   make memcheck   the unit suites under valgrind
#   make fuzz       libFuzzer on the decoders (FUZZ_SECONDS each)
#   make chaos      the long fault-injection run (CHAOS_SECONDS; with
#                   CHAOS_REPLICAS=3 on replicated partitions)
#   make crash      the long power-loss run (CRASH_POINTS crash points)
#   make bench      start a cluster in a temporary folder and measure it
#                   (BENCH_PEERS=1: also the Redis and zero-work references)
#   make install    programs, libkvpbus, headers, kvpbus.pc, man pages, units
#                   and example configs into DESTDIR/PREFIX (/usr/local);
#                   make uninstall removes them
#
# MODE=release (default) builds into bin/ and build/obj/; MODE=asan builds
# into build/asan/ so both can live side by side.

MODE        ?= release
PACKAGES    := build-essential pkg-config libzmq3-dev libczmq-dev \
               libmsgpack-dev liblmdb-dev check libexpat1-dev valgrind \
               clang libclang-rt-14-dev gnuplot-nox procps python3 \
               python3-zmq python3-msgpack libfuse3-dev fuse3 \
               libmicrohttpd-dev
PEER_PACKAGES := redis-server libhiredis-dev
PKGS        := libczmq libzmq msgpack lmdb expat libmicrohttpd
# sd_notify for Type=notify units (kvp_notify)
PACKAGES    += libsystemd-dev
PKGS        += libsystemd
PKG_CFLAGS   = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS     = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

CC          ?= cc
WARN        := -Wall -Wextra -Werror -Wno-unused-parameter
INCLUDES    := -Iproto -Istore -Iclient -Ibroker -Iworker
CFLAGS_BASE := -std=gnu11 -g $(WARN) $(INCLUDES) -D_GNU_SOURCE

ifeq ($(MODE),asan)
OUT         := build/asan
BIN         := $(OUT)/bin
CFLAGS_MODE := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined
LDFLAGS_MODE:= -fsanitize=address,undefined
else
OUT         := build
BIN         := bin
CFLAGS_MODE := -O2
LDFLAGS_MODE:=
endif
OBJ         := $(OUT)/obj
CFLAGS_ALL   = $(CFLAGS_BASE) $(CFLAGS_MODE) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL   = $(PKG_LIBS) -lpthread -lm

# --- sources ------------------------------------------------------------
PROTO_SRC   := $(wildcard proto/*.c)
STORE_SRC   := $(wildcard store/*.c)
CLIENT_SRC  := $(wildcard client/kvp_*.c)
BROKER_SRC  := $(filter-out broker/main.c,$(wildcard broker/*.c))
WORKER_SRC  := $(filter-out worker/main.c,$(wildcard worker/*.c))
KVPCTL_SRC  := $(wildcard client/kvpctl*.c)
BENCH_SRC   := $(wildcard client/kvpbench*.c)
GUEST_SRC   := $(wildcard guest/*.c)
TEST_SRC    := $(wildcard tests/test_*.c)
TESTLIB_SRC := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))

objs         = $(patsubst %.c,$(OBJ)/%.o,$(1))
LIB_PROTO   := $(OBJ)/libkvpproto.a
LIB_STORE   := $(OBJ)/libkvpstore.a
LIB_CLIENT  := $(OBJ)/libkvpclient.a
LIB_BROKER  := $(OBJ)/libkvpbroker.a
LIB_WORKER  := $(OBJ)/libkvpworker.a
LIBS        := $(LIB_BROKER) $(LIB_WORKER) $(LIB_CLIENT) $(LIB_STORE) $(LIB_PROTO)

PROGRAMS    := $(BIN)/kvp-broker $(BIN)/kvp-worker $(BIN)/kvpctl $(BIN)/kvpbench \
               $(BIN)/kvp-guest
TESTS       := $(patsubst tests/%.c,$(BIN)/tests/%,$(TEST_SRC))
# The power-loss test's file system (a helper program, not a test itself)
LOSSYFS_SRC := $(wildcard tests/lossyfs/*.c)
LOSSYFS     := $(BIN)/tests/lossyfs
FUSE_CFLAGS  = $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS    = $(shell pkg-config --libs fuse3 2>/dev/null)

.PHONY: all deps deps-peers install-packages run test check sanitize \
        memcheck fuzz chaos crash bench clean programs tests
.DEFAULT_GOAL := all
# Objects are kept (not intermediate files), so a second build compiles nothing.
.SECONDARY:

all: programs tests
programs: $(PROGRAMS)
tests: $(TESTS)
tests: $(LOSSYFS)

# --- packages -------------------------------------------------------------
# Installs only what is missing; apt-get update runs first when it must.
deps:
	@$(MAKE) --no-print-directory install-packages WANT="$(PACKAGES)"

# The reference peers of `make bench BENCH_PEERS=1` (Redis) need more.
deps-peers:
	@$(MAKE) --no-print-directory install-packages WANT="$(PEER_PACKAGES)"

install-packages:
	@missing=""; for p in $(WANT); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

# --- the two README commands ----------------------------------------------
run: deps
	@$(MAKE) --no-print-directory programs
	@KVP_SECURE=$(SECURE) KVP_REPLICAS=$(REPLICAS) exec deploy/local-cluster.sh

test: deps
	@$(MAKE) --no-print-directory check

# Build and run every test (no package step: use `make test`).
check: programs tests
	@tests/run.sh $(BIN)

# --- objects and archives ------------------------------------------------
$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(LIB_PROTO):  $(call objs,$(PROTO_SRC))
$(LIB_STORE):  $(call objs,$(STORE_SRC))
$(LIB_CLIENT): $(call objs,$(CLIENT_SRC))
$(LIB_BROKER): $(call objs,$(BROKER_SRC))
$(LIB_WORKER): $(call objs,$(WORKER_SRC))
$(OBJ)/lib%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

# --- programs -------------------------------------------------------------
$(BIN)/kvp-broker: $(OBJ)/broker/main.o $(LIB_BROKER) $(LIB_STORE) $(LIB_PROTO)
$(BIN)/kvp-worker: $(OBJ)/worker/main.o $(LIB_WORKER) $(LIB_STORE) $(LIB_PROTO)
$(BIN)/kvpctl:     $(call objs,$(KVPCTL_SRC)) $(LIB_CLIENT) $(LIB_PROTO)
$(BIN)/kvpbench:   $(call objs,$(BENCH_SRC)) $(LIB_CLIENT) $(LIB_PROTO)
$(BIN)/kvp-guest:  $(call objs,$(GUEST_SRC)) $(LIB_CLIENT) $(LIB_PROTO)
$(PROGRAMS):
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_MODE) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# --- tests ----------------------------------------------------------------
$(BIN)/tests/%: $(OBJ)/tests/%.o $(call objs,$(TESTLIB_SRC)) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_MODE) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS_ALL)

$(call objs,$(LOSSYFS_SRC)): CFLAGS_ALL += $(FUSE_CFLAGS)
$(LOSSYFS): $(call objs,$(LOSSYFS_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_MODE) $(LDFLAGS) -o $@ $^ $(FUSE_LIBS)

sanitize: deps
	@$(MAKE) --no-print-directory MODE=asan check

memcheck: deps programs tests
	@tests/memcheck.sh $(BIN)

FUZZ_SECONDS ?= 60
fuzz: deps
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

# CHAOS_REPLICAS=3: the replicated mode (R copies, M=2 in sync, 3 workers)
CHAOS_SECONDS ?= 180
CHAOS_REPLICAS ?= 1
chaos: deps programs tests
	@KVP_CHAOS_SECONDS=$(CHAOS_SECONDS) KVP_CHAOS_REPLICAS=$(CHAOS_REPLICAS) \
	  TESTS=test_chaos tests/run.sh $(BIN)

CRASH_POINTS ?= 200
crash: deps programs tests
	@KVP_CRASH_POINTS=$(CRASH_POINTS) TESTS=test_crash tests/run.sh $(BIN)

BENCH_PEERS ?= 0
bench: deps programs $(if $(filter 1,$(BENCH_PEERS)),deps-peers)
	@BENCH_PEERS=$(BENCH_PEERS) deploy/bench.sh $(BIN)

# --- libkvpbus, man pages, make install ---------------------------------
# The client library as a shared library (soname libkvpbus.so.1, only the
# public API exported) and a static archive, both from objects built with
# -fPIC: the client API and the proto/ code it uses. Its public headers
# are kvpbus.h and what it includes (czmq.h and msgpack.h beside them).
KVPBUS_VERSION := 1.0.0
KVPBUS_SOVER   := 1
KVPBUS_SRC  := client/kvp_client.c client/kvp_client_reply.c client/kvp_sub.c \
               client/kvp_feed.c client/kvp_merge.c client/kvp_obj.c \
               client/kvp_poll.c client/kvp_pager.c proto/kvp_guid.c \
               proto/kvp_mpcheck.c proto/kvp_pack.c proto/kvp_curve.c \
               proto/kvp_dir.c
KVPBUS_HDR  := client/kvpbus.h client/kvp_client.h client/kvp_client_reply.h \
               client/kvp_sub.h client/kvp_feed.h client/kvp_merge.h \
               client/kvp_pager.h proto/kvp_curve.h
KVPBUS_PKGS := libczmq libzmq msgpack
KVPBUS_SO   := $(OUT)/lib/libkvpbus.so.$(KVPBUS_VERSION)
KVPBUS_A    := $(OUT)/lib/libkvpbus.a
KVPBUS_OBJ  := $(patsubst %.c,$(OBJ)/pic/%.o,$(KVPBUS_SRC))
# Man pages, made from each program's --help (its option table)
MAN_PAGES   := $(patsubst $(BIN)/%,$(OUT)/man/%.1,$(PROGRAMS))

.PHONY: lib man install uninstall
lib: $(KVPBUS_SO) $(KVPBUS_A)
man: $(MAN_PAGES)

$(OBJ)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -MMD -MP -c -o $@ $<

$(KVPBUS_SO): $(KVPBUS_OBJ) client/libkvpbus.map
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_MODE) $(LDFLAGS) -shared -o $@ $(KVPBUS_OBJ) \
	  -Wl,-soname,libkvpbus.so.$(KVPBUS_SOVER) -Wl,--no-undefined \
	  -Wl,--version-script,client/libkvpbus.map \
	  $(shell pkg-config --libs $(KVPBUS_PKGS) 2>/dev/null)
	ln -sf $(notdir $@) $(dir $@)libkvpbus.so.$(KVPBUS_SOVER)
	ln -sf libkvpbus.so.$(KVPBUS_SOVER) $(dir $@)libkvpbus.so

$(KVPBUS_A): $(KVPBUS_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(OUT)/man/%.1: $(BIN)/% deploy/mkman.sh
	@mkdir -p $(dir $@)
	deploy/mkman.sh $< $(KVPBUS_VERSION) > $@.tmp && mv $@.tmp $@

# Where `make install` puts things (DESTDIR is prepended to each). The
# units read their options from SYSCONFDIR/kvpbus/*.cfg, which install
# leaves to the administrator: the example files go to DATADIR/kvpbus.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
DOCDIR      ?= $(DATADIR)/doc/kvpbus
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR  ?= /etc
# Run after the library lands in the real system (no DESTDIR, as root)
LDCONFIG    ?= ldconfig
UNITS       := $(wildcard deploy/systemd/*.service)
CONFIGS     := deploy/kvp-broker.cfg deploy/kvp-worker.cfg
# Everything install writes, so that uninstall removes exactly that; and
# the folders that are kvpbus's own, removed too when left empty.
INSTALLED   := $(addprefix $(BINDIR)/,$(notdir $(PROGRAMS))) \
               $(LIBDIR)/$(notdir $(KVPBUS_SO)) \
               $(LIBDIR)/libkvpbus.so.$(KVPBUS_SOVER) $(LIBDIR)/libkvpbus.so \
               $(LIBDIR)/libkvpbus.a $(LIBDIR)/pkgconfig/kvpbus.pc \
               $(addprefix $(INCLUDEDIR)/kvpbus/,$(notdir $(KVPBUS_HDR))) \
               $(addprefix $(MANDIR)/man1/,$(notdir $(MAN_PAGES))) \
               $(addprefix $(UNITDIR)/,$(notdir $(UNITS))) \
               $(addprefix $(DATADIR)/kvpbus/,$(notdir $(CONFIGS))) \
               $(DOCDIR)/README.md $(DOCDIR)/examples/ping.c
OWN_DIRS    := $(DOCDIR)/examples $(DOCDIR) $(DATADIR)/kvpbus \
               $(INCLUDEDIR)/kvpbus
# The installed paths inside the units and the pkg-config file
UNIT_PATHS  := -e 's|/usr/local/bin/|$(BINDIR)/|g' \
               -e 's|/usr/local/share/doc/kvpbus/|$(DOCDIR)/|g' \
               -e 's|/usr/local/share/kvpbus/|$(DATADIR)/kvpbus/|g' \
               -e 's|/usr/local/lib/systemd/system|$(UNITDIR)|g' \
               -e 's|/etc/|$(SYSCONFDIR)/|g'
PC_PATHS    := -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
               -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
               -e 's|@VERSION@|$(KVPBUS_VERSION)|'

install: programs lib man
	install -d $(addprefix $(DESTDIR),$(BINDIR) $(LIBDIR)/pkgconfig \
	  $(INCLUDEDIR)/kvpbus $(MANDIR)/man1 $(UNITDIR) $(DATADIR)/kvpbus \
	  $(DOCDIR)/examples)
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/
	install -m 0755 $(KVPBUS_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(KVPBUS_SO)) $(DESTDIR)$(LIBDIR)/libkvpbus.so.$(KVPBUS_SOVER)
	ln -sf libkvpbus.so.$(KVPBUS_SOVER) $(DESTDIR)$(LIBDIR)/libkvpbus.so
	install -m 0644 $(KVPBUS_A) $(DESTDIR)$(LIBDIR)/
	sed $(PC_PATHS) client/kvpbus.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/kvpbus.pc
	install -m 0644 $(KVPBUS_HDR) $(DESTDIR)$(INCLUDEDIR)/kvpbus/
	install -m 0644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man1/
	for u in $(UNITS); do sed $(UNIT_PATHS) $$u \
	  > $(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; done
	install -m 0644 $(CONFIGS) $(DESTDIR)$(DATADIR)/kvpbus/
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 client/examples/ping.c $(DESTDIR)$(DOCDIR)/examples/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG); fi

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(addprefix $(DESTDIR),$(OWN_DIRS)) 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG); fi

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

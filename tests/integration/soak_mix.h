/* The requests of the soak (test_soak.c) and the abuse bench (bench/abuse):
 * a seeded mix of kinds, each sent to a daemon and its answer checked
 * against what that kind must give. */
#ifndef CODEEXECD_TEST_SOAK_MIX_H
#define CODEEXECD_TEST_SOAK_MIX_H

#include <stddef.h>

/* The daemon's configuration the checks assume (stdout cap 64k, memory
 * 128m), with its own `execution:` keys first. The time limit and the
 * queue's wait are generous: on a loaded machine a container's start alone
 * can take seconds, and the soak checks answers, not capacity. */
#define SOAK_MIX_YAML                                                            \
	"  timeout_seconds: 60\n  max_timeout_seconds: 60\n"                     \
	"  queue_timeout_seconds: 300\n"                                           \
	"limits:\n  memory_bytes: 128m\n"                                         \
	"output:\n  max_stdout_bytes: 64k\n  max_stderr_bytes: 64k\n"

enum soak_kind {
	SOAK_ORDINARY, SOAK_FILES, SOAK_INVALID, SOAK_TIMEOUT, SOAK_FLOOD, SOAK_MEMORY,
	SOAK_FORK, SOAK_LEAVE, SOAK_NKINDS
};

enum soak_outcome {
	SOAK_CORRECT,     /* the answer the kind must give (a client that left: sent) */
	SOAK_429, SOAK_503,
	SOAK_NOANSWER,    /* no HTTP answer: refused, reset, timed out */
	SOAK_FAILED_RUN,  /* 200, success false, exit_code -1, a reason: the run failed */
	SOAK_WRONG,       /* anything else */
	SOAK_NOUTCOMES
};

const char *soak_kind_name(enum soak_kind k);
const char *soak_outcome_name(enum soak_outcome o);

/* A small generator: the same seed gives the same mix. */
unsigned soak_rand(unsigned *state);
/* A kind by the mix's weights. */
enum soak_kind soak_pick(unsigned *state);

/* Sends one request of kind k to 127.0.0.1:port and checks the answer; why
 * says what was wrong (or what the answer was when not correct). */
enum soak_outcome soak_run_one(int port, enum soak_kind k, unsigned *state, char *why,
			       size_t whylen);

#endif

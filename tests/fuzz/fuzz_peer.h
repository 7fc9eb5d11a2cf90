/*
 * fuzz_peer.h -- the peer bus fuzz target (fuzz_peer.c), as a library:
 * libFuzzer calls LLVMFuzzerTestOneInput, and tests/unit/test_fuzz_peer.c
 * runs the same code over the seed corpus and asserts what an input
 * reached, so that the target cannot rot unnoticed.
 */
#ifndef DYN_FUZZ_PEER_H
#define DYN_FUZZ_PEER_H

#include <stddef.h>
#include <stdint.h>

/* What one input reached, in each direction. */
struct fuzz_peer_outcome {
    /* incoming: the input is what a dialer sends to an acceptor */
    int in_authenticated;   /* the harness's own handshake was accepted */
    int in_handled;         /* handler calls */
    int in_values;          /* RESP values the acceptor wrote back */
    int in_closed;          /* the acceptor closed the connection */
    /* outgoing: the input is what an acceptor answers a dialing bus */
    int out_up;             /* the link came up (on_link up) */
    int out_sent;           /* peer_request calls */
    int out_answered;       /* callbacks with a reply (err 0 or DYN_EPROTO) */
    int out_failed;         /* callbacks with DYN_EIO or DYN_EAGAIN */
    int out_closed;         /* the dialer closed the link */
};

/* Runs one input through both directions; aborts on a broken invariant. */
void fuzz_peer_run(const uint8_t *data, size_t size,
                   struct fuzz_peer_outcome *out);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif

/* SPDX-License-Identifier: MIT */
/* Running generated cases through the v3vmm emulator, and comparing states. */
#ifndef EMU_DIFF_EMURUN_H
#define EMU_DIFF_EMURUN_H

#include <stdio.h>
#include <v3/v3.h>
#include <v3/emu.h>
#include "gen.h"

enum { K_RAM = 0, K_FULL = 1, K_WRITE = 2 };

struct acc { uint64_t gpa; uint32_t len; bool write; };

struct evm {
    struct v3_vm *vm;
    struct v3_core *core;
    const struct layout *lay;
    int kind[SCR_PAGES];
    uint8_t *scr;                   /* backing for the scratch pages (and data served by full hooks) */
    uint8_t *code;                  /* code page */
    struct acc log[512];
    int nlog;
    int bad;                        /* a callback was called outside the hooked pages */
    char badmsg[160];
};

/** A result state: native, Unicorn or emulator. */
struct rstate {
    int vector;                     /* -1 none */
    int status;                     /* emulator status (V3_EMU_*), -1 for oracles */
    int err;
    struct v3n_state st;
    uint8_t mem[SCR_SIZE];
};

int evm_global_init(void);
/** VM for @p lay with scratch page kinds @p kinds (index = kind0 + 3*kind1 + 9*kind2), cached. */
struct evm *evm_get(const struct layout *lay, int kinds_index);
void evm_free_all(void);
/** Run case @p c; @p fault_path: enter through v3_handle_mem_fault(). */
void evm_run(struct evm *e, const struct tcase *c, bool fault_path, struct rstate *o);

/** Compare; returns 0 or 1 and prints the differences to @p f if non-NULL. */
int cmp_states(const struct tcase *c, const struct rstate *ref, const struct rstate *got,
               bool cmp_width64, FILE *f);
/** Check the hook log of the last run against the case's expected access width. 0 or 1 (+message). */
int check_hook_log(const struct evm *e, const struct tcase *c, FILE *f);
/** Print a case: bytes, disassembly, inputs. */
void print_case(const struct tcase *c, FILE *f);

#endif

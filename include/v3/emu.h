/* SPDX-License-Identifier: MIT */
/**
 * @file v3/emu.h
 * Completing a guest access that faulted on hooked memory by emulating the
 * instruction behind it.
 *
 * A back end that only learns "the guest touched hooked address X" (a
 * hardware back end's nested-page fault, a shadow-paging fault) calls
 * v3_handle_mem_fault().  The emulator fetches the instruction at CS:RIP
 * through the translation layer, decodes it with Zydis in the vCPU's mode,
 * performs its reads and writes through the memory map (hook callbacks for
 * hooked regions, backing memory for RAM), updates registers and flags and
 * advances RIP.  On an exception nothing is changed (no register, no byte of
 * memory) and the exception is returned for injection.
 */
#ifndef V3_EMU_H
#define V3_EMU_H

#include <stdint.h>
#include <v3/vcpu.h>

enum v3_emu_status {
    V3_EMU_DONE = 0,        /**< instruction completed, RIP advanced */
    V3_EMU_EXCEPTION,       /**< inject res->exc; guest state unchanged (REP: see below) */
    V3_EMU_UNSUPPORTED,     /**< instruction not emulated: bytes and RIP in the result */
    V3_EMU_ERROR,           /**< VMM-side failure (no region, callback error...): res->error */
};

struct v3_emu_result {
    enum v3_emu_status status;
    int error;                    /**< enum v3_error, for V3_EMU_ERROR/UNSUPPORTED */
    struct v3_exception exc;      /**< for V3_EMU_EXCEPTION */
    uint64_t rip;                 /**< RIP of the emulated instruction */
    uint8_t bytes[15];            /**< its bytes (as many as could be fetched) */
    uint8_t len;
};

/**
 * Complete the access at linear address @p gva / guest physical @p gpa
 * (access = V3_ACCESS_* from v3/paging.h) that faulted because it hit a
 * hooked region.  @p gpa must be covered by a region: an address with no
 * region at all gives V3_EMU_ERROR / V3_EUNMAPPED.
 * A REP string instruction interrupted by a fault part-way leaves RCX, RSI
 * and RDI describing the elements still to do and RIP at the instruction,
 * so re-executing it resumes.
 * @return 0 when res->status is V3_EMU_DONE, otherwise a negative
 *         enum v3_error (V3_EFAULT, V3_EUNSUPPORTED, or the error).
 */
int v3_handle_mem_fault(struct v3_core *core, uint64_t gva, uint64_t gpa, unsigned access,
                        struct v3_emu_result *res);

/**
 * Emulate the one instruction at CS:RIP, whatever memory it touches.
 * Same results and guarantees as v3_handle_mem_fault().
 */
int v3_emulate_one(struct v3_core *core, struct v3_emu_result *res);

#endif

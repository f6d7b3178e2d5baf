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
 *
 * Hook semantics (what region callbacks observe):
 *  - One callback call per guest access at its full width: an 8-byte MOV is
 *    one 8-byte call, MOVDQU one 16-byte call, CMPXCHG16B one 16-byte read
 *    and one 16-byte write.  String instructions make one call per element.
 *  - An access that straddles two pages or two regions is split at the
 *    boundary into calls in address order.  Every page of a write is
 *    translated (and every piece checked to be mapped) before the first
 *    byte is written, so a #PF on the second part writes nothing.
 *  - A read-modify-write (ADD/OR/... to memory, INC/DEC/NEG/NOT, XCHG, XADD,
 *    CMPXCHG*, BTS/BTR/BTC, shifts and rotates) is one read then one write.
 *    The read is translated for write first (a read-only page faults before
 *    any callback).  On a full hook the read callback then the write
 *    callback are called; on a write hook the backing memory is read and the
 *    write callback sees the new value (then the backing memory is updated).
 *    CMPXCHG writes the old value back when the comparison fails.  CMP, TEST
 *    and BT only read.  A shift or rotate by a masked count of 0 reads and
 *    does not write.
 *  - LOCKed read-modify-writes (and XCHG) on RAM (base or shadow regions,
 *    naturally aligned, within one page) use host atomic instructions, so
 *    they are atomic with respect to other host threads.  On hooked memory
 *    atomicity is the callbacks' business.
 *  - On an exception nothing is changed: no register, no flag, no byte of
 *    memory; RIP stays at the instruction.  Exception: REP string
 *    instructions keep the iterations done before the fault (see below).
 *    A callback that fails (negative return) gives V3_EMU_ERROR with
 *    V3_ECALLBACK; registers are unchanged, but pieces of a split access
 *    written before the failing callback stay written.
 *  - Exceptions produced: #GP(0) (segment limit/type, non-canonical address,
 *    misaligned MOVDQA/MOVAPS/MOVAPD/MOVNT* and CMPXCHG16B, instruction longer
 *    than 15 bytes), #SS(0) (the same through SS), #PF (error code and CR2 from
 *    the page walk, also for the instruction fetch), #UD (invalid encoding,
 *    LOCK on an instruction or form that does not accept it, SSE with
 *    CR0.EM or without CR4.OSFXSR), #NM (SSE/MMX with CR0.TS), #DE (divide by
 *    zero, quotient overflow), #AC(0) (CPL 3, CR0.AM and RFLAGS.AC, misaligned
 *    2/4/8-byte access).
 */
#ifndef V3_EMU_H
#define V3_EMU_H

#include <stdint.h>
#include <v3/vcpu.h>

/** Most iterations of a REP string instruction done by one emulation call. */
#define V3_EMU_REP_CHUNK 4096u

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
 * hooked region.  A @p gpa that no region covers is emulated as on a PC
 * (reads all ones, writes dropped; see v3_vm_config::strict_mem); with
 * strict_mem it gives V3_EMU_ERROR / V3_EUNMAPPED, as does any access of
 * the instruction to unbacked memory.
 * A REP string instruction interrupted by a fault part-way leaves RCX, RSI
 * and RDI describing the elements still to do and RIP at the instruction,
 * so re-executing it resumes.  One call does at most V3_EMU_REP_CHUNK
 * iterations: with RCX not yet zero the result is V3_EMU_DONE with RIP
 * still at the instruction, and executing it again (re-entering the guest,
 * or calling again) goes on.
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

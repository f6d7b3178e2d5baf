/* SPDX-License-Identifier: MIT */
/**
 * @file v3native.h
 * Native-execution harness for differential tests of 64-bit x86 code.
 *
 * A snippet of machine code is copied into an RWX code area at a fixed
 * address (V3N_CODE_ADDR), between a generated prologue that saves the host
 * callee-saved registers and loads a full guest register state (16 GPRs,
 * RFLAGS, XMM0-15, optionally MM0-7 and FS/GS bases) and an epilogue that
 * stores the state back and returns to the host.  The snippet runs at the
 * RIP the caller chooses, falls through to the epilogue at its end, and may
 * branch anywhere inside itself (a branch to snippet+len ends it).
 *
 * Faults (#DE, #UD, #GP, #SS, #PF, #AC...) are caught with a signal handler
 * on an alternate stack and reported as an exception vector together with
 * the register state at the faulting instruction (RIP = the faulting
 * instruction), so a faulting case is a result, not a crash.
 *
 * Memory for operands: v3n_map_fixed() maps read/write memory at a fixed
 * low address, so guest-physical == host-virtual arithmetic is trivial for
 * tests that mirror the same layout in a VM.
 *
 * Not thread-safe: one snippet at a time per process.
 */
#ifndef V3_NATIVE_H
#define V3_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define V3N_CODE_ADDR   0x20000000ull   /**< code area (prologue + snippets), RWX */
#define V3N_CODE_SIZE   0x10000ull      /**< 64 KiB */
#define V3N_SNIPPET_MIN (V3N_CODE_ADDR + 0x1000)   /**< first usable snippet address */
#define V3N_SNIPPET_MAX (V3N_CODE_ADDR + V3N_CODE_SIZE - 0x200) /**< snippet + epilogue must end before this */

enum { V3N_RAX, V3N_RCX, V3N_RDX, V3N_RBX, V3N_RSP, V3N_RBP, V3N_RSI, V3N_RDI,
       V3N_R8, V3N_R9, V3N_R10, V3N_R11, V3N_R12, V3N_R13, V3N_R14, V3N_R15 };

/** Register state in and out of a snippet. */
struct v3n_state {
    uint64_t gpr[16];          /**< x86 encoding order; RSP must point into caller memory if the code uses the stack */
    uint64_t rip;              /**< in: snippet address; out: address after the snippet, or the faulting RIP */
    uint64_t rflags;           /**< in: only CF PF AF ZF SF OF DF are loaded; out: full RFLAGS */
    uint64_t fs_base, gs_base; /**< loaded when V3N_SET_FS / V3N_SET_GS */
    uint8_t  xmm[16][16];
    uint64_t mm[8];            /**< loaded/stored when V3N_MMX */
    uint32_t mxcsr;            /**< loaded/stored when V3N_MXCSR (also read at a fault); the host's
                                    MXCSR is 1F80H again after the snippet */
};

#define V3N_SET_FS 0x1u        /**< load fs_base for the snippet (arch_prctl), restore the host's after */
#define V3N_SET_GS 0x2u
#define V3N_MMX    0x4u        /**< load/store MM0-7 (EMMS after) */
#define V3N_MXCSR  0x8u        /**< load/store MXCSR */

/** Result of one run. */
struct v3n_result {
    int vector;                /**< -1: completed; else exception vector (0 #DE, 6 #UD, 13 #GP, 14 #PF, ...) */
    int signo;                 /**< signal that reported it */
    uint32_t error_code;       /**< hardware error code (from the kernel's trap frame) */
    uint64_t fault_addr;       /**< si_addr (CR2 for #PF) */
    struct v3n_state st;       /**< state after the snippet, or at the faulting instruction */
};

/** Map the code area and install the fault handlers.  0 or -errno.  Idempotent. */
int v3n_init(void);

/** Map @p size bytes read/write at exactly @p addr (MAP_FIXED_NOREPLACE), zeroed.  0 or -errno. */
int v3n_map_fixed(uint64_t addr, size_t size);

/**
 * Run @p len bytes of code at in->rip with state @p in; fill @p out.
 * @return 0 (also when the snippet faulted: see out->vector), or -1 if the
 *         snippet does not fit in [V3N_SNIPPET_MIN, V3N_SNIPPET_MAX).
 */
int v3n_run(const void *code, size_t len, const struct v3n_state *in, unsigned flags,
            struct v3n_result *out);

/** RFLAGS bits v3n_run() loads from the input state. */
#define V3N_RFLAGS_LOADED 0xcd5ull   /* CF PF AF ZF SF DF OF */

/* ------------------------------------------------------------------ encoder
 * A small x86 instruction encoder for generating test cases: legacy
 * prefixes, REX, opcode, ModRM/SIB/displacement in 16-, 32- and 64-bit
 * addressing, RIP-relative, immediate.  It only lays out bytes as told.
 */
#define V3N_NOREG  (-1)
#define V3N_RIPREL 16           /**< base value meaning RIP-relative (64-bit) */

struct v3n_mem {
    int base;                  /**< 0-15, V3N_NOREG, or V3N_RIPREL */
    int index;                 /**< 0-15 except 4, or V3N_NOREG */
    int scale;                 /**< 1, 2, 4, 8 */
    int64_t disp;              /**< displacement (for RIP-relative: absolute target address) */
    int disp_bytes;            /**< 0, 1, 2 (16-bit addressing), 4; -1: smallest that fits */
    int rm16;                  /**< 16-bit addressing: r/m code 0-7 (bx+si ... bx), or 8 for [disp16]; base/index ignored */
};

struct v3n_insn {
    uint8_t b[15];
    int len;
};

/**
 * Encode.  @p addr_size is the effective address size (16, 32, 64) used for
 * the ModRM form; @p prefixes are emitted in order before REX.  @p rex: bit
 * 3 W (others computed); @p force_rex emits REX even when it is 0x40.
 * @p reg is the ModRM reg field (0-15) or the /digit.  If @p rm_reg >= 0 the
 * r/m operand is that register (mod=3), else @p m describes the memory
 * operand.  @p insn_addr is where the instruction will sit (RIP-relative).
 * @return 0, or -1 if the request cannot be encoded.
 */
int v3n_encode(struct v3n_insn *out, int addr_size, const uint8_t *prefixes, int nprefixes,
               unsigned rex, bool force_rex, const uint8_t *opcode, int oplen,
               int reg, int rm_reg, const struct v3n_mem *m,
               int imm_bytes, uint64_t imm, uint64_t insn_addr);

/** Append raw bytes (for forms without ModRM).  -1 if it would exceed 15 bytes. */
int v3n_emit(struct v3n_insn *out, const void *bytes, int n);

#endif

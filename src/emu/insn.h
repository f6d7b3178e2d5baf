/* SPDX-License-Identifier: MIT */
/*
 * src/emu/insn.h - the emulator's internal instruction form and execution
 * contract, shared by the hooked-access fault path (src/emu/fault.c) and the
 * software CPU (src/cpu/).  One implementation per instruction: both execute
 * the handlers declared through this header.
 *
 * ======================================================================
 * 1. Decoding: struct v3_insn
 * ======================================================================
 * v3_decode() runs Zydis 4 (ZydisDecoderDecodeFull) once and stores what a
 * handler needs in struct v3_insn (88 bytes): the handler pointer, length,
 * effective operand and address size, prefixes, the default segment, the
 * condition code, and up to four explicit operands (Zydis "visible" operands,
 * in Intel order: op[0] is the destination).  Executing never calls Zydis
 * again, so the software CPU can keep decoded instructions in a cache.
 *
 * Operands (struct v3_operand, 16 bytes):
 *   V3_OPK_REG  reg = number inside its class (cls = V3_RC_*).  GPRs use
 *               enum v3_gpr; AH/CH/DH/BH are cls V3_RC_GPR8H with reg = 0..3.
 *               size = register width in bytes.
 *   V3_OPK_IMM  val = the immediate sign- or zero-extended to 64 bits as
 *               encoded; handlers truncate to their size.  cls has
 *               V3_IMMF_REL for a relative branch displacement (target =
 *               rip + len + val).
 *   V3_OPK_MEM  seg (enum v3_sreg, override or default - SS for BP/SP
 *               bases), base/index (enum v3_gpr, V3_REG_RIP, or V3_REG_NONE),
 *               scale (1/2/4/8), val = sign-extended displacement, size =
 *               access width in bytes (0 for LEA-style "agen" operands).
 *               Effective address = (base + index*scale + disp) truncated to
 *               the address size; RIP-relative adds rip + len.
 *   V3_OPK_PTR  far pointer ptr16:16/32: val = offset | selector << 32.
 *
 * Mnemonics: in->mnemonic is the ZydisMnemonic, except for MOV forms whose
 * special operand asks for a different family: V3_MN_MOV_SREG, V3_MN_MOV_CR,
 * V3_MN_MOV_DR (pseudo-mnemonics above ZYDIS_MNEMONIC_MAX_VALUE).
 *
 * ======================================================================
 * 2. Executing: handlers and struct v3_emu_ctx
 * ======================================================================
 *     typedef int (*v3_insn_fn)(struct v3_emu_ctx *ctx, const struct v3_insn *in);
 *
 * A handler runs with ctx->core->rip = the address of the instruction.  It
 * returns one of enum v3_x_status:
 *   V3_X_NEXT        done; the CALLER advances RIP by in->len.
 *   V3_X_JUMP        done; the handler has set core->rip itself (branches,
 *                    and a REP string instruction stopped at ctx->rep_limit
 *                    with RCX != 0: RIP stays at the instruction).
 *   V3_X_EXC         guest exception in ctx->exc.  No register, flag or byte
 *                    of memory was changed, RIP is at the instruction;
 *                    exception: a REP string instruction keeps the
 *                    iterations already done (RCX/RSI/RDI describe what is
 *                    left), exactly as hardware does.
 *   V3_X_UNSUPPORTED the form is not implemented (nothing changed).
 *   V3_X_ERROR       VMM-side failure (ctx->error = enum v3_error: unmapped
 *                    guest physical address, callback veto...).  Nothing
 *                    changed unless a hook callback failed after an earlier
 *                    part of the access had been delivered (reported).
 *   V3_X_EXIT        the handler asks the back end for an exit; details in
 *                    back-end fields (ctx->exit_reason, ctx->exit_info).
 *
 * Memory goes through ctx->mem (struct v3_emu_mem_ops), at LINEAR addresses:
 * handlers never translate themselves.  Segmentation (base, limit, type,
 * canonical checks) is done by the helpers of section 3 (src/emu/seg.c):
 *   read(ctx, la, dst, len, access)    access = V3_ACCESS_READ, or
 *                                      V3_ACCESS_WRITE for the read half of
 *                                      a read-modify-write (fault before any
 *                                      callback if the page is read-only),
 *                                      | V3_ACCESS_STACK for stack accesses.
 *   write(ctx, la, src, len, access)   all pages are translated before any
 *                                      byte is written.
 *   map(ctx, la, len, access)          OPTIONAL (may be NULL, may return
 *                                      NULL at any time): a host pointer to
 *                                      [la, la+len) when it lies in plain RAM
 *                                      in one page and translates for
 *                                      @access; used for LOCKed RMW with
 *                                      __atomic builtins and as a fast path
 *                                      (RMW, REP MOVS/STOS page chunks).  A
 *                                      pointer asked for V3_ACCESS_WRITE will
 *                                      be written through: the implementation
 *                                      treats it as a write (dirty bits,
 *                                      decode-cache invalidation) or returns
 *                                      NULL.
 * read/write return V3_OK, V3_EFAULT with ctx->exc filled, or another
 * negative enum v3_error.  One read/write call is one guest access at its
 * full width (the implementation splits it at page/region boundaries only).
 *
 * The fault path implements these ops with v3_gva_to_gpa() and the memory
 * map (src/emu/fault.c: v3_emu_ctx_init_fault()); the software CPU supplies
 * its own (software TLB).  A back end with extra state embeds struct
 * v3_emu_ctx as the FIRST member of its own context and casts back.
 *
 * Flags: arithmetic handlers record operation, size, sources and result in
 * core->lazy (v3_flags_lazy()); v3_core_get_rflags() materialises them.
 * Handlers that read flags use v3_flags_get()/v3_cond(); handlers that set
 * flags eagerly use v3_flags_set().  Values produced for architecturally
 * undefined flags are listed in src/emu/flags.c.
 *
 * ======================================================================
 * 3. Adding a handler (another family of instructions)
 * ======================================================================
 *  a. Create src/emu/ops_<family>.c (CMake picks up src/ ** .c).  Write
 *     handlers with the signature above, using the helpers below
 *     (v3_op_read/v3_op_write for register/memory/immediate operands of up
 *     to 8 bytes, v3_rmw_begin/v3_rmw_commit for read-modify-write with
 *     LOCK atomicity, v3_push/v3_pop, v3_seg_linear for explicit segmented
 *     addresses, v3_exc_gp0() etc.).  Handlers must accept every operand
 *     kind the mnemonic allows: the software CPU runs register forms
 *     through the same function.
 *  b. Export a table terminated by a zero entry:
 *         const struct v3_op_entry v3_ops_<family>[] = {
 *             { ZYDIS_MNEMONIC_JMP, 0, op_jmp },
 *             { 0, 0, NULL } };
 *  c. Add ONE line to src/emu/ops_table.c (the list of families; every
 *     owner edits it additively): the extern and the array entry.
 *  The index (mnemonic -> entry) is built once, on first v3_decode() or by
 *  v3_emu_init_table().  A mnemonic listed twice keeps the first entry and
 *  logs an error.  A mnemonic without a handler decodes to its
 *  architectural rule (src/emu/ops_arch.c: v3_arch_rules[], the few whose
 *  answer is not #UD) or to #UD (v3_op_ud_unreported): no guest instruction
 *  can reach V3_X_UNSUPPORTED through the decoder.
 *  V3_OPF_LOCK in entry.flags: the handler honours LOCK (with a memory
 *  destination); LOCK on any other instruction or form decodes to #UD.
 */
#ifndef V3_EMU_INSN_H
#define V3_EMU_INSN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <v3/error.h>
#include <v3/paging.h>
#include <v3/vcpu.h>

/* ------------------------------------------------------------ operands */

enum v3_opkind { V3_OPK_NONE = 0, V3_OPK_REG, V3_OPK_IMM, V3_OPK_MEM, V3_OPK_PTR };

/* register classes (v3_operand.cls for V3_OPK_REG) */
enum v3_regclass {
    V3_RC_GPR = 0,   /* enum v3_gpr; size 1 = low byte (AL..DIL, R8B..) */
    V3_RC_GPR8H,     /* AH CH DH BH: reg 0..3 = RAX RCX RDX RBX, bits 15:8 */
    V3_RC_XMM,       /* XMM0-15 (core->fpu.xmm) */
    V3_RC_MMX,       /* MM0-7 (core->fpu.st[i], low 8 bytes) */
    V3_RC_SREG,      /* enum v3_sreg */
    V3_RC_CR,        /* CR0..CR15 */
    V3_RC_DR,        /* DR0..DR7 */
    V3_RC_X87,       /* ST0-7 */
    V3_RC_OTHER,     /* anything else (YMM, masks, ...): handlers reject */
};

#define V3_IMMF_REL  0x01    /* cls flag for IMM: relative branch offset */

#define V3_REG_NONE  0xff    /* no base / index register */
#define V3_REG_RIP   0x10    /* RIP-relative base */

struct v3_operand {
    uint8_t kind;     /* enum v3_opkind */
    uint8_t size;     /* bytes */
    uint8_t reg;      /* REG: register number; MEM: segment (enum v3_sreg) */
    uint8_t cls;      /* REG: enum v3_regclass; IMM: V3_IMMF_* */
    uint8_t base;     /* MEM: enum v3_gpr, V3_REG_RIP or V3_REG_NONE */
    uint8_t index;    /* MEM: enum v3_gpr or V3_REG_NONE */
    uint8_t scale;    /* MEM: 1, 2, 4, 8 */
    uint8_t rsvd;
    uint64_t val;     /* IMM value / MEM displacement / PTR offset|sel<<32 */
};

/* ------------------------------------------------------------ instruction */

/* in->prefix bits */
#define V3_PFX_LOCK   0x01
#define V3_PFX_REP    0x02    /* F3 on a REP-able instruction (REP / REPE) */
#define V3_PFX_REPNE  0x04    /* F2 on CMPS/SCAS */
#define V3_PFX_SEGOVR 0x08    /* a segment override prefix was present */
#define V3_PFX_OPSIZE 0x10    /* 66 present */
#define V3_PFX_ADSIZE 0x20    /* 67 present */
#define V3_PFX_REX_W  0x40

/* pseudo-mnemonics (above every ZydisMnemonic) */
#define V3_MN_BASE      0x0800
#define V3_MN_MOV_SREG  (V3_MN_BASE + 0)
#define V3_MN_MOV_CR    (V3_MN_BASE + 1)
#define V3_MN_MOV_DR    (V3_MN_BASE + 2)
#define V3_MN_COUNT     (V3_MN_BASE + 16)   /* size of the mnemonic index */

struct v3_emu_ctx;
struct v3_insn;
typedef int (*v3_insn_fn)(struct v3_emu_ctx *ctx, const struct v3_insn *in);

struct v3_insn {
    v3_insn_fn handler;     /* semantic routine */
    v3_insn_fn thr;         /* software CPU only: threaded form (src/cpu/fast.c), NULL elsewhere */
    uint16_t mnemonic;      /* ZydisMnemonic or V3_MN_* */
    uint8_t len;            /* bytes, 1..15 */
    uint8_t opsize;         /* effective operand size in bytes: 2, 4, 8 (1 for byte forms via op sizes) */
    uint8_t addrsize;       /* effective address size in bytes: 2, 4, 8 */
    uint8_t prefix;         /* V3_PFX_* */
    uint8_t seg;            /* DS-default segment after overrides (string source) */
    uint8_t cc;             /* condition code 0..15 for Jcc/SETcc/CMOVcc (x86 encoding order) */
    uint8_t nops;           /* explicit operands in op[] */
    uint8_t mode;           /* enum v3_cpu_mode the bytes were decoded for */
    uint8_t opflags;        /* v3_op_entry.flags of the handler */
    uint8_t opcode;         /* last opcode byte (Zydis "opcode") */
    uint8_t opmap;          /* ZydisOpcodeMap */
    uint8_t idx;            /* software CPU only: position in its decoded block */
    uint16_t boff;          /* software CPU only: byte offset in its decoded block */
    struct v3_operand op[4];
};

_Static_assert(sizeof(struct v3_insn) <= 96, "struct v3_insn must stay compact");

/* condition codes (in->cc) */
enum v3_cc { V3_CC_O, V3_CC_NO, V3_CC_B, V3_CC_AE, V3_CC_E, V3_CC_NE, V3_CC_BE, V3_CC_A,
             V3_CC_S, V3_CC_NS, V3_CC_P, V3_CC_NP, V3_CC_L, V3_CC_GE, V3_CC_LE, V3_CC_G };

/* v3_decode() results (negative) */
#define V3_DEC_UD     (-1)    /* invalid encoding: raise #UD */
#define V3_DEC_SHORT  (-2)    /* more bytes needed than given (fetch fault at the next page) */
#define V3_DEC_LONG   (-3)    /* longer than 15 bytes: #GP(0) */

/**
 * Decode the instruction at @p bytes (@p len bytes available, at most 15
 * used) for @p mode.  Never reads beyond @p len.
 * @return the instruction length (>0) with *out filled, or V3_DEC_*.
 *         An encoding without a handler decodes fine with its
 *         architectural rule or v3_op_ud_unreported as out->handler.
 */
int v3_decode(enum v3_cpu_mode mode, const uint8_t *bytes, size_t len, struct v3_insn *out);

/* ------------------------------------------------------------ handler table */

#define V3_OPF_LOCK   0x01    /* LOCK allowed (memory destination forms) */
#define V3_OPF_REP    0x02    /* string instruction honouring REP/REPE/REPNE */

struct v3_op_entry {
    uint16_t mnemonic;        /* ZydisMnemonic or V3_MN_*; 0 terminates a table */
    uint16_t flags;           /* V3_OPF_* */
    v3_insn_fn fn;
};

/** Build the mnemonic index (idempotent, thread-safe; v3_decode calls it). */
void v3_emu_init_table(void);
/** Entry registered for @p mnemonic, or NULL. */
const struct v3_op_entry *v3_emu_lookup(unsigned mnemonic);

/** Returns V3_X_UNSUPPORTED (kept for handlers' own use; the decoder never
 *  selects it). */
int v3_op_unsupported(struct v3_emu_ctx *ctx, const struct v3_insn *in);

/** #UD: the handler of every mnemonic with neither a handler nor a rule. */
int v3_op_ud_unreported(struct v3_emu_ctx *ctx, const struct v3_insn *in);

/** An architectural rule for a mnemonic without a handler whose behaviour on
 *  the modelled CPU is not plain #UD (src/emu/ops_arch.c). */
struct v3_arch_rule {
    uint16_t mnemonic;        /* 0 terminates v3_arch_rules[] */
    v3_insn_fn fn;
    const char *rule;         /* what the architecture says, one line */
};
extern const struct v3_arch_rule v3_arch_rules[];

enum v3_mn_class {
    V3_MNC_HANDLER = 1,       /* a family handler */
    V3_MNC_RULE,              /* v3_arch_rules[] entry */
    V3_MNC_UD,                /* #UD fallback */
};
/** How @p mnemonic executes; *rule (optional) gets the rule's text for V3_MNC_RULE. */
int v3_emu_classify(unsigned mnemonic, const char **rule);

/* ------------------------------------------------------------ execution context */

enum v3_x_status {
    V3_X_NEXT = 0,
    V3_X_JUMP,
    V3_X_EXC,
    V3_X_UNSUPPORTED,
    V3_X_ERROR,
    V3_X_EXIT,
};

struct v3_emu_mem_ops {
    int (*read)(struct v3_emu_ctx *ctx, uint64_t la, void *dst, unsigned len, unsigned access);
    int (*write)(struct v3_emu_ctx *ctx, uint64_t la, const void *src, unsigned len, unsigned access);
    void *(*map)(struct v3_emu_ctx *ctx, uint64_t la, unsigned len, unsigned access);   /* optional */
};

struct v3_emu_ctx {
    struct v3_core *core;
    const struct v3_emu_mem_ops *mem;
    void *mem_priv;               /* for the memory implementation */
    struct v3_exception exc;      /* V3_X_EXC */
    int error;                    /* V3_X_ERROR: enum v3_error */
    uint32_t rep_limit;           /* max REP iterations per execution, 0 = no limit */
    uint32_t exit_reason;         /* V3_X_EXIT: back-end defined */
    uint64_t exit_info[2];
};

/** Run one decoded instruction, advancing RIP on V3_X_NEXT.  Returns enum v3_x_status. */
static inline int v3_exec(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    int st = in->handler(ctx, in);
    if (st == V3_X_NEXT)
        ctx->core->rip += in->len;
    return st;
}

/* ------------------------------------------------------------ exceptions */

static inline int v3_raise(struct v3_emu_ctx *ctx, unsigned vector, int has_ec, uint32_t ec)
{
    ctx->exc.vector = (uint8_t)vector;
    ctx->exc.has_error_code = has_ec != 0;
    ctx->exc.error_code = ec;
    ctx->exc.cr2 = 0;
    return V3_X_EXC;
}
static inline int v3_exc_ud(struct v3_emu_ctx *ctx) { return v3_raise(ctx, V3_EXC_UD, 0, 0); }
static inline int v3_exc_gp0(struct v3_emu_ctx *ctx) { return v3_raise(ctx, V3_EXC_GP, 1, 0); }
static inline int v3_exc_ss0(struct v3_emu_ctx *ctx) { return v3_raise(ctx, V3_EXC_SS, 1, 0); }
static inline int v3_exc_de(struct v3_emu_ctx *ctx) { return v3_raise(ctx, V3_EXC_DE, 0, 0); }
static inline int v3_exc_nm(struct v3_emu_ctx *ctx) { return v3_raise(ctx, V3_EXC_NM, 0, 0); }

/** Convert a memory-op result (V3_OK / V3_EFAULT / other error) to a V3_X_* status. */
static inline int v3_mem_status(struct v3_emu_ctx *ctx, int rc)
{
    if (rc >= 0)
        return V3_X_NEXT;
    if (rc == V3_EFAULT)
        return V3_X_EXC;
    ctx->error = rc;
    return V3_X_ERROR;
}

/* ------------------------------------------------------------ registers */

static inline uint64_t v3_size_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}
static inline uint64_t v3_sext(uint64_t v, unsigned size)
{
    unsigned sh = 64 - size * 8;
    return size >= 8 ? v : (uint64_t)((int64_t)(v << sh) >> sh);
}

/** Read GPR @p r at width @p size (1, 2, 4, 8), zero-extended. */
static inline uint64_t v3_gpr_get(const struct v3_core *c, unsigned r, unsigned size)
{
    return c->gpr[r] & v3_size_mask(size);
}
/** Write GPR @p r at width @p size with x86 rules: 8/16-bit merge, 32-bit zero-extends. */
static inline void v3_gpr_set(struct v3_core *c, unsigned r, unsigned size, uint64_t v)
{
    if (size >= 4)
        c->gpr[r] = size == 4 ? (uint32_t)v : v;
    else {
        uint64_t m = v3_size_mask(size);
        c->gpr[r] = (c->gpr[r] & ~m) | (v & m);
    }
}

/* ------------------------------------------------------------ operand helpers (operand.c) */

/** Offset (before segmentation) of memory operand @p op, truncated to the address size. */
uint64_t v3_op_ea(const struct v3_core *core, const struct v3_insn *in, const struct v3_operand *op);

/**
 * Linear address of [off, off+len) in segment @p sreg for @p access
 * (V3_ACCESS_READ/WRITE/EXEC | V3_ACCESS_STACK), with the limit, type and
 * presence checks of 16/32-bit modes (#GP(0), #SS(0) for SS) and the
 * canonical check of 64-bit mode (only FS/GS bases apply there).
 * @return V3_X_NEXT with *la set, or V3_X_EXC.
 */
int v3_seg_linear(struct v3_emu_ctx *ctx, unsigned sreg, uint64_t off, unsigned len,
                  unsigned access, uint64_t *la);

/** Read @p len bytes of memory operand @p op into @p buf (segmentation, #AC, then ctx->mem->read). */
int v3_mem_read_op(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                   void *buf, unsigned len, unsigned access);
/** Write counterpart. */
int v3_mem_write_op(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                    const void *buf, unsigned len);
/** Read/write @p len bytes at segment:offset (string instructions, stack, descriptor tables). */
int v3_mem_read_seg(struct v3_emu_ctx *ctx, unsigned sreg, uint64_t off, void *buf, unsigned len,
                    unsigned access);
int v3_mem_write_seg(struct v3_emu_ctx *ctx, unsigned sreg, uint64_t off, const void *buf,
                     unsigned len, unsigned access);

/**
 * Value of operand @p op (REG, IMM or MEM, up to 8 bytes) at width @p size,
 * zero-extended.  Returns V3_X_NEXT or V3_X_EXC/V3_X_ERROR.
 */
int v3_op_read(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
               unsigned size, uint64_t *val);
/** Store @p val at width @p size into operand @p op (REG or MEM). */
int v3_op_write(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                unsigned size, uint64_t val);

/**
 * Read-modify-write of operand @p op (REG or MEM, up to 8 bytes):
 *     struct v3_rmw r; uint64_t old, new;
 *     if ((st = v3_rmw_begin(ctx, in, op, size, &r, &old))) return st;
 *     do { new = f(old); } while ((st = v3_rmw_commit(ctx, &r, &old, new)) == V3_X_AGAIN);
 *     if (st) return st;
 * With LOCK (or @p force_atomic, for XCHG) on RAM that ctx->mem->map maps,
 * the commit is an atomic compare-exchange, retried with the fresh value;
 * otherwise the begin reads (a read callback on a full hook, translated for
 * write) and the commit writes (the write callback).
 */
#define V3_X_AGAIN 100
struct v3_rmw {
    const struct v3_operand *op;
    const struct v3_insn *in;
    void *hva;           /* mapped RAM for the atomic path, else NULL */
    uint64_t la;         /* linear address (memory operand) */
    unsigned size;
    /* a LOCKed operand that is not naturally aligned: V3_RMW_WIDE8/16, a
       compare-and-swap on the aligned 8/16 bytes around it (at hva, the
       operand @shift bits up; @wide_old the whole old value), or
       V3_RMW_SPLIT, the split lock held from begin to commit */
    uint8_t how, shift;
    unsigned __int128 wide_old;
};
#define V3_RMW_WIDE8  1
#define V3_RMW_WIDE16 2
#define V3_RMW_SPLIT  3
int v3_rmw_begin(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                 unsigned size, int force_atomic, struct v3_rmw *r, uint64_t *old);
/* The split lock (process-wide): LOCKed accesses that cross a 16-byte
   boundary (a cache line, a page) run under it, one at a time. */
void v3_split_lock(void);
void v3_split_unlock(void);
int v3_rmw_commit(struct v3_emu_ctx *ctx, struct v3_rmw *r, uint64_t *old, uint64_t newv);

/** Stack address size (2, 4, 8) from mode and SS.B. */
unsigned v3_stack_size(const struct v3_core *core);
/** Push @p size bytes of @p val; RSP updated only on success. */
int v3_push(struct v3_emu_ctx *ctx, uint64_t val, unsigned size);
/** Pop @p size bytes; RSP updated only on success. */
int v3_pop(struct v3_emu_ctx *ctx, uint64_t *val, unsigned size);

/* ------------------------------------------------------------ flags (flags.c) */

/* lazy operations (core->lazy.op).  The carry formulas of ADD/SUB hold
 * with a carry-in too, so ADC records V3_LF_ADD, SBB/CMP record V3_LF_SUB and
 * NEG records V3_LF_SUB with src1 = 0. */
enum v3_lazy_op {
    V3_LF_NONE = 0,
    V3_LF_ADD,                   /* res = src1 + src2 (+ CF) */
    V3_LF_SUB,                   /* res = src1 - src2 (- CF) */
    V3_LF_LOGIC,                 /* CF=OF=0, AF=0 (undefined: v3vmm gives 0) */
    V3_LF_INC, V3_LF_DEC,        /* src1 op 1; src2 = the old CF (0/1), kept */
};

/** Record a lazy flag computation (values truncated to @p size bytes). */
static inline void v3_flags_lazy(struct v3_core *c, unsigned op, unsigned size, uint64_t res,
                                 uint64_t s1, uint64_t s2)
{
    c->lazy.op = op;
    c->lazy.size = size;
    c->lazy.res = res;
    c->lazy.src1 = s1;
    c->lazy.src2 = s2;
}

/** Record the flags of AND/OR/XOR/TEST: a LOGIC record needs only the result
 *  (CF = OF = AF = 0), so the sources are not stored. */
static inline void v3_flags_lazy_logic(struct v3_core *c, unsigned size, uint64_t res)
{
    c->lazy.op = V3_LF_LOGIC;
    c->lazy.size = size;
    c->lazy.res = res;
}

/** Replace all six arithmetic flags by those in @p val: a pending lazy
 *  record is dropped without being evaluated. */
static inline void v3_flags_replace_arith(struct v3_core *c, uint64_t val)
{
    c->lazy.op = V3_LF_NONE;
    c->rflags = ((c->rflags | 2) & ~(uint64_t)V3_FLAGS_ARITH) | (val & V3_FLAGS_ARITH);
}

/** The x87 state FNINIT leaves (FNSAVE too, after storing): FCW 037FH, status,
 *  tags, opcode and pointers cleared; the registers and SSE state are kept. */
static inline void v3_fpu_init(struct v3_fpu_state *f)
{
    f->fcw = 0x37f;
    f->fsw = 0;
    f->ftw = 0;
    f->fop = 0;
    f->fip = 0;
    f->fdp = 0;
}

/** Current value of the arithmetic flags (other RFLAGS bits included). */
static inline uint64_t v3_flags_get(struct v3_core *c) { return v3_core_get_rflags(c); }
/** Only CF (0/1), cheap when lazy. */
unsigned v3_flags_cf(struct v3_core *c);
/** Materialise, then replace the bits in @p mask by @p val. */
void v3_flags_set(struct v3_core *c, uint64_t mask, uint64_t val);
/** Evaluate condition code @p cc (enum v3_cc). */
int v3_cond(struct v3_core *c, unsigned cc);
/** Parity flag for the low byte of @p v (1 = even number of set bits). */
static inline unsigned v3_parity(uint64_t v) { return !__builtin_parity((unsigned)(v & 0xff)); }

#endif

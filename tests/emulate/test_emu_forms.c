/* SPDX-License-Identifier: MIT */
/*
 * Table of instruction forms on a fully hooked region: for each, the
 * callback sequence (direction, offset, width), the registers, the bytes
 * left in the hooked memory and the defined flags.  Bytes are hand
 * assembled (nasm syntax in the name); expected values are worked out from
 * the architecture manuals (the arithmetic is spelled out where not obvious).
 */
#include "emu_util.h"

#define XMM_PAT(i) ((uint8_t)(0x30 + 3 * (i)))

struct form {
    const char *name;
    int bits;
    uint8_t code[16];
    int clen;
    uint64_t rax, rcx, rdx, rbx, rsi, rdi, rsp;   /* rbx/rsi/rdi/rsp: offsets into FH when < PG */
    uint64_t flags_in;
    uint64_t dsbase;
    int moff;                 /* where mem_in goes (offset in FH) */
    uint8_t mem_in[16];
    int ncalls;
    struct { int w, off, len; } calls[4];
    uint64_t ex_rax, ex_rcx, ex_rdx;      /* checked in full */
    int out_off, out_len;                 /* expected bytes in hooked memory */
    uint8_t mem_out[16];
    uint64_t fmask, fval;
};

#define ARITH V3_FLAGS_ARITH
#define CF V3_FLAG_CF
#define PF V3_FLAG_PF
#define AF V3_FLAG_AF
#define ZF V3_FLAG_ZF
#define SF V3_FLAG_SF
#define OF V3_FLAG_OF
#define ONES 0xffffffffffffffffull

static const struct form forms[] = {
    { "mov eax, [qword 0x80010]", 64, { 0xa1, 0x10, 0, 0x08, 0, 0, 0, 0, 0 }, 9,
      .rax = ONES, .moff = 0x10, .mem_in = { 0x78, 0x56, 0x34, 0x12 },
      .ncalls = 1, .calls = { { 0, 0x10, 4 } }, .ex_rax = 0x12345678 },
    { "mov [qword 0x80010], al", 64, { 0xa2, 0x10, 0, 0x08, 0, 0, 0, 0, 0 }, 9,
      .rax = 0x5a, .ncalls = 1, .calls = { { 1, 0x10, 1 } }, .ex_rax = 0x5a,
      .out_off = 0x10, .out_len = 1, .mem_out = { 0x5a } },
    { "movzx eax, word [rbx]", 64, { 0x0f, 0xb7, 0x03 }, 3, .rax = ONES, .rbx = 0x100,
      .mem_in = { 0x80, 0xff }, .ncalls = 1, .calls = { { 0, 0x100, 2 } }, .ex_rax = 0xff80 },
    { "movsx rax, byte [rbx]", 64, { 0x48, 0x0f, 0xbe, 0x03 }, 4, .rbx = 0x100,
      .mem_in = { 0x80 }, .ncalls = 1, .calls = { { 0, 0x100, 1 } }, .ex_rax = 0xffffffffffffff80ull },
    { "movsxd rax, dword [rbx]", 64, { 0x48, 0x63, 0x03 }, 3, .rbx = 0x100,
      .mem_in = { 0, 0, 0, 0x80 }, .ncalls = 1, .calls = { { 0, 0x100, 4 } },
      .ex_rax = 0xffffffff80000000ull },
    { "movbe eax, [rbx]", 64, { 0x0f, 0x38, 0xf0, 0x03 }, 4, .rbx = 0x100,
      .mem_in = { 0x11, 0x22, 0x33, 0x44 }, .ncalls = 1, .calls = { { 0, 0x100, 4 } },
      .ex_rax = 0x11223344 },
    { "movbe [rbx], ax", 64, { 0x66, 0x0f, 0x38, 0xf1, 0x03 }, 5, .rax = 0x1234, .rbx = 0x100,
      .ncalls = 1, .calls = { { 1, 0x100, 2 } }, .ex_rax = 0x1234,
      .out_off = 0x100, .out_len = 2, .mem_out = { 0x12, 0x34 } },
    { "setne byte [rbx]", 64, { 0x0f, 0x95, 0x03 }, 3, .rbx = 0x100, .mem_in = { 0x77 },
      .ncalls = 1, .calls = { { 1, 0x100, 1 } }, .out_off = 0x100, .out_len = 1, .mem_out = { 1 } },
    /* 5 + 3 = 8: CF=0 OF=0 SF=0 ZF=0 AF=(5^3^8)&0x10=0 PF(0x08, one bit)=0 */
    { "xadd [rbx], ecx", 64, { 0x0f, 0xc1, 0x0b }, 3, .rcx = 3, .rbx = 0x100, .mem_in = { 5 },
      .ncalls = 2, .calls = { { 0, 0x100, 4 }, { 1, 0x100, 4 } }, .ex_rcx = 5,
      .out_off = 0x100, .out_len = 4, .mem_out = { 8 }, .fmask = ARITH, .fval = 0 },
    /* (0x12345678 << 4) | (0xabcdef01 >> 28) = 0x2345678a; CF = bit 28 of dest = 1;
     * PF(0x8a: 3 bits) = 0 */
    { "shld [rbx], ecx, 4", 64, { 0x0f, 0xa4, 0x0b, 0x04 }, 4, .rcx = 0xabcdef01, .rbx = 0x100,
      .mem_in = { 0x78, 0x56, 0x34, 0x12 }, .ncalls = 2, .calls = { { 0, 0x100, 4 }, { 1, 0x100, 4 } },
      .ex_rcx = 0xabcdef01, .out_off = 0x100, .out_len = 4, .mem_out = { 0x8a, 0x67, 0x45, 0x23 },
      .fmask = CF | ZF | SF | PF, .fval = CF },
    /* (0x1234 >> 4) | (0x0004 << 12) = 0x4123; CF = bit 3 of 0x1234 = 0; PF(0x23) = 0 */
    { "shrd [rbx], cx, cl", 64, { 0x66, 0x0f, 0xad, 0x0b }, 4, .rcx = 4, .rbx = 0x100,
      .mem_in = { 0x34, 0x12 }, .ncalls = 2, .calls = { { 0, 0x100, 2 }, { 1, 0x100, 2 } },
      .ex_rcx = 4, .out_off = 0x100, .out_len = 2, .mem_out = { 0x23, 0x41 },
      .fmask = CF | ZF | SF | PF, .fval = 0 },
    { "bsr ecx, [rbx]", 64, { 0x0f, 0xbd, 0x0b }, 3, .rcx = ONES, .rbx = 0x100,
      .mem_in = { 0, 0, 1, 0 }, .ncalls = 1, .calls = { { 0, 0x100, 4 } }, .ex_rcx = 16,
      .fmask = ZF, .fval = 0 },
    /* 2^32 * 2^32 = 2^64: RDX = 1, RAX = 0, CF = OF = 1 */
    { "mul qword [rbx]", 64, { 0x48, 0xf7, 0x23 }, 3, .rax = 1ull << 32, .rbx = 0x100,
      .mem_in = { 0, 0, 0, 0, 1 }, .ncalls = 1, .calls = { { 0, 0x100, 8 } },
      .ex_rax = 0, .ex_rdx = 1, .fmask = CF | OF, .fval = CF | OF },
    /* -2 * 3 = -6 fits in 64 bits: RDX = sign extension, CF = OF = 0 */
    { "imul qword [rbx]", 64, { 0x48, 0xf7, 0x2b }, 3, .rax = ONES - 1, .rbx = 0x100,
      .mem_in = { 3 }, .ncalls = 1, .calls = { { 0, 0x100, 8 } },
      .ex_rax = ONES - 5, .ex_rdx = ONES, .fmask = CF | OF, .fval = 0 },
    /* 0x10000 * 0x10000 = 2^32: low 32 bits 0, overflow */
    { "imul ecx, [rbx]", 64, { 0x0f, 0xaf, 0x0b }, 3, .rcx = 0x10000, .rbx = 0x100,
      .mem_in = { 0, 0, 1, 0 }, .ncalls = 1, .calls = { { 0, 0x100, 4 } }, .ex_rcx = 0,
      .fmask = CF | OF, .fval = CF | OF },
    /* immediate bit offsets are taken modulo the operand size: bit 1 */
    { "lock bts dword [rbx], 33", 64, { 0xf0, 0x0f, 0xba, 0x2b, 0x21 }, 5, .rbx = 0x100,
      .ncalls = 2, .calls = { { 0, 0x100, 4 }, { 1, 0x100, 4 } },
      .out_off = 0x100, .out_len = 4, .mem_out = { 2 }, .fmask = CF, .fval = 0 },
    /* register offset 67: the qword at +8, bit 3 */
    { "lock btr qword [rbx], rcx", 64, { 0xf0, 0x48, 0x0f, 0xb3, 0x0b }, 5, .rcx = 67, .rbx = 0x100,
      .mem_in = { 0, 0, 0, 0, 0, 0, 0, 0, 0x08 }, .ncalls = 2,
      .calls = { { 0, 0x108, 8 }, { 1, 0x108, 8 } }, .ex_rcx = 67,
      .out_off = 0x108, .out_len = 1, .mem_out = { 0 }, .fmask = CF, .fval = CF },
    /* finds 'c' at the third byte: RCX 10 -> 7, ZF = 1 */
    { "repne scasb", 64, { 0xf2, 0xae }, 2, .rax = 'c', .rcx = 10, .rdi = 0x100,
      .mem_in = { 'a', 'b', 'c', 'd' }, .ncalls = 3,
      .calls = { { 0, 0x100, 1 }, { 0, 0x101, 1 }, { 0, 0x102, 1 } },
      .ex_rax = 'c', .ex_rcx = 7, .fmask = ZF, .fval = ZF },
    { "lodsw", 64, { 0x66, 0xad }, 2, .rax = ONES, .rsi = 0x100, .mem_in = { 0x34, 0x12 },
      .ncalls = 1, .calls = { { 0, 0x100, 2 } }, .ex_rax = 0xffffffffffff1234ull },
    /* EDX:EAX matches: memory <- ECX:EBX (EBX = FH + 0x100 = 0x80100), ZF = 1 */
    { "cmpxchg8b [ebx] (32-bit)", 32, { 0x0f, 0xc7, 0x0b }, 3, .rax = 1, .rdx = 2, .rcx = 0x33,
      .rbx = 0x100, .mem_in = { 1, 0, 0, 0, 2, 0, 0, 0 }, .ncalls = 2,
      .calls = { { 0, 0x100, 8 }, { 1, 0x100, 8 } }, .ex_rax = 1, .ex_rcx = 0x33, .ex_rdx = 2,
      .out_off = 0x100, .out_len = 8, .mem_out = { 0x00, 0x01, 0x08, 0x00, 0x33, 0, 0, 0 },
      .fmask = ZF, .fval = ZF },
    { "push dword [ebx] (32-bit, hooked stack)", 32, { 0xff, 0x33 }, 2, .rbx = 0x100, .rsp = 0x200,
      .mem_in = { 0xde, 0xc0, 0xad, 0x0b }, .ncalls = 2,
      .calls = { { 0, 0x100, 4 }, { 1, 0x1fc, 4 } },
      .out_off = 0x1fc, .out_len = 4, .mem_out = { 0xde, 0xc0, 0xad, 0x0b } },
    { "pop dword [ebx] (32-bit, hooked stack)", 32, { 0x8f, 0x03 }, 2, .rbx = 0x100, .rsp = 0x1fc,
      .moff = 0x1fc, .mem_in = { 0xef, 0xbe, 0xad, 0xde }, .ncalls = 2,
      .calls = { { 0, 0x1fc, 4 }, { 1, 0x100, 4 } },
      .out_off = 0x100, .out_len = 4, .mem_out = { 0xef, 0xbe, 0xad, 0xde } },
    { "mov eax, [0x80010] (32-bit)", 32, { 0xa1, 0x10, 0x00, 0x08, 0x00 }, 5, .moff = 0x10,
      .mem_in = { 4, 3, 2, 1 }, .ncalls = 1, .calls = { { 0, 0x10, 4 } }, .ex_rax = 0x01020304 },
    { "mov al, [0x10] (16-bit, DS base = FH)", 16, { 0xa0, 0x10, 0x00 }, 3, .dsbase = FH,
      .rax = 0xffff, .moff = 0x10, .mem_in = { 0x42 }, .ncalls = 1, .calls = { { 0, 0x10, 1 } },
      .ex_rax = 0xff42 },
    /* 0x8000000000000000 >> 63 arithmetic = all ones; CF = bit 62 = 0; SF = 1, PF = 1 */
    { "sar qword [rbx], 63", 64, { 0x48, 0xc1, 0x3b, 0x3f }, 4, .rbx = 0x100,
      .mem_in = { 0, 0, 0, 0, 0, 0, 0, 0x80 }, .ncalls = 2,
      .calls = { { 0, 0x100, 8 }, { 1, 0x100, 8 } }, .out_off = 0x100, .out_len = 8,
      .mem_out = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
      .fmask = CF | ZF | SF | PF, .fval = SF | PF },
    /* rol 0x8001 by 1 = 0x0003; CF = 1 (bit 0 of the result); OF = MSB ^ CF = 1 */
    { "rol word [rbx], 1", 64, { 0x66, 0xd1, 0x03 }, 3, .rbx = 0x100, .mem_in = { 0x01, 0x80 },
      .ncalls = 2, .calls = { { 0, 0x100, 2 }, { 1, 0x100, 2 } },
      .out_off = 0x100, .out_len = 2, .mem_out = { 0x03, 0x00 }, .fmask = CF | OF, .fval = CF | OF },
    /* all ones + 0 + CF = 0 with carry: CF ZF AF PF */
    { "adc [rbx], rcx", 64, { 0x48, 0x11, 0x0b }, 3, .rbx = 0x100, .flags_in = CF,
      .mem_in = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, .ncalls = 2,
      .calls = { { 0, 0x100, 8 }, { 1, 0x100, 8 } }, .out_off = 0x100, .out_len = 8,
      .mem_out = { 0 }, .fmask = ARITH, .fval = CF | ZF | AF | PF },
    { "not qword [rbx]", 64, { 0x48, 0xf7, 0x13 }, 3, .rbx = 0x100, .flags_in = CF | ZF,
      .ncalls = 2, .calls = { { 0, 0x100, 8 }, { 1, 0x100, 8 } }, .out_off = 0x100, .out_len = 8,
      .mem_out = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, .fmask = ARITH, .fval = CF | ZF },
    { "test [rbx], ecx", 64, { 0x85, 0x0b }, 2, .rcx = 0x0f, .rbx = 0x100, .flags_in = CF | OF,
      .mem_in = { 0xf0 }, .ncalls = 1, .calls = { { 0, 0x100, 4 } }, .ex_rcx = 0x0f,
      .fmask = CF | OF | ZF | SF | PF, .fval = ZF | PF },
    /* 0x0f - 0x10 = 0xff: CF SF PF; AF = (0x0f^0x10^0xff) bit 4 = 0; OF = 0 */
    { "cmp byte [rbx], 0x10", 64, { 0x80, 0x3b, 0x10 }, 3, .rbx = 0x100, .mem_in = { 0x0f },
      .ncalls = 1, .calls = { { 0, 0x100, 1 } }, .fmask = ARITH, .fval = CF | SF | PF },
    { "movups [rbx], xmm5", 64, { 0x0f, 0x11, 0x2b }, 3, .rbx = 0x103, .ncalls = 1,
      .calls = { { 1, 0x103, 16 } }, .out_off = 0x103, .out_len = 16,
      .mem_out = { XMM_PAT(0), XMM_PAT(1), XMM_PAT(2), XMM_PAT(3), XMM_PAT(4), XMM_PAT(5),
                   XMM_PAT(6), XMM_PAT(7), XMM_PAT(8), XMM_PAT(9), XMM_PAT(10), XMM_PAT(11),
                   XMM_PAT(12), XMM_PAT(13), XMM_PAT(14), XMM_PAT(15) } },
    { "movntdq [rbx], xmm5", 64, { 0x66, 0x0f, 0xe7, 0x2b }, 4, .rbx = 0x100, .ncalls = 1,
      .calls = { { 1, 0x100, 16 } }, .out_off = 0x100, .out_len = 2,
      .mem_out = { XMM_PAT(0), XMM_PAT(1) } },
    { "movapd xmm5, [rbx]", 64, { 0x66, 0x0f, 0x28, 0x2b }, 4, .rbx = 0x100, .ncalls = 1,
      .calls = { { 0, 0x100, 16 } } },
    { "movd [rbx], xmm5", 64, { 0x66, 0x0f, 0x7e, 0x2b }, 4, .rbx = 0x100, .ncalls = 1,
      .calls = { { 1, 0x100, 4 } }, .out_off = 0x100, .out_len = 4,
      .mem_out = { XMM_PAT(0), XMM_PAT(1), XMM_PAT(2), XMM_PAT(3) } },
};

static uint64_t fh_ptr(uint64_t v) { return v && v < PG ? FH + v : v; }

static void t_forms(void **s)
{
    (void)s;
    int failed = 0;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        const struct form *f = &forms[i];
        reset(NULL);
        if (f->bits != 64)
            set_mode(f->bits);
        if (f->bits == 16) {
            memcpy(ram + CODE, f->code, f->clen);
            core->seg[V3_DS].base = f->dsbase;
        } else {
            code(f->code, f->clen);
        }
        core->gpr[V3_RAX] = f->rax;
        core->gpr[V3_RCX] = f->rcx;
        core->gpr[V3_RDX] = f->rdx;
        core->gpr[V3_RBX] = fh_ptr(f->rbx);
        core->gpr[V3_RSI] = fh_ptr(f->rsi);
        core->gpr[V3_RDI] = fh_ptr(f->rdi);
        core->gpr[V3_RSP] = f->rsp ? fh_ptr(f->rsp) : DATA + PG;
        v3_core_set_rflags(core, 2 | f->flags_in);
        for (int k = 0; k < 16; k++)
            core->fpu.xmm[5][k] = XMM_PAT(k);
        memcpy(rec.mem + (f->moff ? f->moff : 0x100), f->mem_in, 16);
        uint64_t rip0 = core->rip;

        int rc = run();
        char why[160] = "";
        if (rc != V3_OK || res.status != V3_EMU_DONE)
            snprintf(why, sizeof(why), "status %d rc %d vector %d", res.status, rc, res.exc.vector);
        else if (core->rip != rip0 + (uint64_t)f->clen)
            snprintf(why, sizeof(why), "rip advanced by %lld", (long long)(core->rip - rip0));
        else if (rec.n != f->ncalls)
            snprintf(why, sizeof(why), "%d callbacks, expected %d", rec.n, f->ncalls);
        for (int k = 0; !why[0] && k < f->ncalls; k++) {
            if (rec.c[k].write != f->calls[k].w || rec.c[k].gpa != FH + (uint64_t)f->calls[k].off ||
                (int)rec.c[k].len != f->calls[k].len)
                snprintf(why, sizeof(why), "call %d: %s gpa %llx len %u", k,
                         rec.c[k].write ? "write" : "read", (unsigned long long)rec.c[k].gpa,
                         rec.c[k].len);
        }
        if (!why[0] && (core->gpr[V3_RAX] != f->ex_rax || core->gpr[V3_RCX] != f->ex_rcx ||
                        core->gpr[V3_RDX] != f->ex_rdx))
            snprintf(why, sizeof(why), "rax %llx rcx %llx rdx %llx",
                     (unsigned long long)core->gpr[V3_RAX], (unsigned long long)core->gpr[V3_RCX],
                     (unsigned long long)core->gpr[V3_RDX]);
        if (!why[0] && f->out_len && memcmp(rec.mem + f->out_off, f->mem_out, f->out_len))
            snprintf(why, sizeof(why), "memory at +%x differs", f->out_off);
        if (!why[0] && (v3_core_get_rflags(core) & f->fmask) != f->fval)
            snprintf(why, sizeof(why), "flags %llx (mask %llx, expected %llx)",
                     (unsigned long long)v3_core_get_rflags(core), (unsigned long long)f->fmask,
                     (unsigned long long)f->fval);
        if (why[0]) {
            fprintf(stderr, "FORM %s: %s\n", f->name, why);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

/* #AC: CPL 3, CR0.AM, RFLAGS.AC and a misaligned 4-byte access */
static void t_alignment_check(void **s)
{
    (void)s;
    static const uint8_t mov[] = { 0x8b, 0x03 };          /* mov eax, [rbx] */
    code(mov, 2);
    core->cr0 |= V3_CR0_AM;
    core->cpl = 3;
    v3_core_set_rflags(core, 2 | V3_FLAG_AC);
    core->gpr[V3_RBX] = FH + 2;
    /* user page tables: already U=1 (flags 7) */
    assert_int_equal(run(), V3_EFAULT);
    assert_int_equal(res.exc.vector, V3_EXC_AC);
    assert_int_equal(rec.n, 0);
    core->gpr[V3_RBX] = FH + 4;
    assert_int_equal(run(), V3_OK);
    /* CPL 0: no check */
    core->rip = CODE;
    core->cpl = 0;
    core->gpr[V3_RBX] = FH + 2;
    assert_int_equal(run(), V3_OK);
}

/* expand-down data segment in 32-bit code: valid offsets are (limit, 4G) */
static void t_expand_down(void **s)
{
    (void)s;
    set_mode(32);
    static const uint8_t mov[] = { 0x8b, 0x03 };          /* mov eax, [ebx] */
    code(mov, 2);
    core->seg[V3_DS].attrib = V3_SEG_P | V3_SEG_S | 0x7 | V3_SEG_DB | V3_SEG_G;  /* data, expand-down, rw */
    core->seg[V3_DS].base = 0;
    core->seg[V3_DS].limit = FH - 1;
    core->gpr[V3_RBX] = FH;
    assert_int_equal(run(), V3_OK);
    core->rip = CODE;
    core->gpr[V3_RBX] = FH - 4;        /* at or below the limit: #GP */
    assert_int_equal(run(), V3_EFAULT);
    assert_int_equal(res.exc.vector, V3_EXC_GP);
}

/* LOCK ADD on RAM from several host threads through the fault path */
#include <pthread.h>
static struct v3_core thr_core[2];
static void *adder(void *p)
{
    struct v3_core *c = p;
    struct v3_emu_result r;
    for (int i = 0; i < 20000; i++) {
        c->rip = CODE;
        v3_emulate_one(c, &r);
        if (r.status != V3_EMU_DONE)
            return (void *)1;
    }
    return NULL;
}

static void t_lock_atomic_threads(void **s)
{
    (void)s;
    set_mode(32);                     /* no TLB use: paging off */
    static const uint8_t add[] = { 0xf0, 0x01, 0x03 };    /* lock add [ebx], eax */
    code(add, 3);
    memset(ram + DATA, 0, 8);
    core->gpr[V3_RBX] = DATA;
    core->gpr[V3_RAX] = 1;
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        thr_core[i] = *core;
        thr_core[i].tlb = NULL;
        memset(&thr_core[i].mem_cache, 0, sizeof(thr_core[i].mem_cache));
        pthread_create(&t[i], NULL, adder, &thr_core[i]);
    }
    for (int i = 0; i < 2; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
    uint32_t v;
    memcpy(&v, ram + DATA, 4);
    assert_int_equal(v, 40000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(t_forms, reset),
        cmocka_unit_test_setup(t_alignment_check, reset),
        cmocka_unit_test_setup(t_expand_down, reset),
        cmocka_unit_test_setup(t_lock_atomic_threads, reset),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}

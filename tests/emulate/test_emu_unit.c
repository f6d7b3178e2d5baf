/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the hooked-access emulator (include/v3/emu.h): hook
 * semantics (one call per access at full width, splits at page and region
 * boundaries in address order, nothing written when a later part faults,
 * read-then-write for RMW, write hooks see backing then new value), REP edge
 * cases, exceptions, 16/32/64-bit code.  Instruction bytes are hand
 * assembled (nasm syntax in the comment next to each); expected values are
 * worked out from the architecture manuals.
 */
#include "emu_util.h"

#define B(...) ((const uint8_t[]){ __VA_ARGS__ })
#define CODEB(...) code(B(__VA_ARGS__), sizeof(B(__VA_ARGS__)))

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* ------------------------------------------------------------ hook semantics */

static void t_store8_one_call(void **s)
{
    (void)s;
    CODEB(0x48, 0x89, 0x03);                 /* mov [rbx], rax */
    core->gpr[V3_RBX] = FH + 0x10;
    core->gpr[V3_RAX] = 0x1122334455667788ull;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(res.status, V3_EMU_DONE);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.c[0].write, 1);
    assert_int_equal(rec.c[0].gpa, FH + 0x10);
    assert_int_equal(rec.c[0].len, 8);
    assert_int_equal(rd64(rec.c[0].data), 0x1122334455667788ull);
    assert_int_equal(core->rip, CODE + 3);
}

static void t_load4_one_call(void **s)
{
    (void)s;
    CODEB(0x8b, 0x03);                       /* mov eax, [rbx] */
    core->gpr[V3_RBX] = FH + 0x20;
    core->gpr[V3_RAX] = 0xffffffffffffffffull;
    memcpy(rec.mem + 0x20, "\x78\x56\x34\x12", 4);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.c[0].write, 0);
    assert_int_equal(rec.c[0].len, 4);
    assert_int_equal(core->gpr[V3_RAX], 0x12345678ull);   /* 32-bit load zero-extends */
    assert_int_equal(core->rip, CODE + 2);
}

static void t_movdqu_16(void **s)
{
    (void)s;
    CODEB(0xf3, 0x0f, 0x7f, 0x0b);           /* movdqu [rbx], xmm1 */
    for (int i = 0; i < 16; i++)
        core->fpu.xmm[1][i] = (uint8_t)(0xa0 + i);
    core->gpr[V3_RBX] = FH + 0x31;           /* unaligned is fine */
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.c[0].len, 16);
    assert_memory_equal(rec.c[0].data, core->fpu.xmm[1], 16);

    rec.n = 0;
    core->rip = CODE;
    CODEB(0xf3, 0x0f, 0x6f, 0x13);           /* movdqu xmm2, [rbx] */
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.c[0].len, 16);
    assert_memory_equal(core->fpu.xmm[2], core->fpu.xmm[1], 16);
}

static void t_straddle_pages(void **s)
{
    (void)s;
    CODEB(0x48, 0x89, 0x03);                 /* mov [rbx], rax */
    core->gpr[V3_RBX] = FH + PG - 3;         /* 3 bytes in page 0, 5 in page 1 */
    core->gpr[V3_RAX] = 0x0807060504030201ull;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 2);
    assert_int_equal(rec.c[0].gpa, FH + PG - 3);
    assert_int_equal(rec.c[0].len, 3);
    assert_memory_equal(rec.c[0].data, B(1, 2, 3), 3);
    assert_int_equal(rec.c[1].gpa, FH + PG);
    assert_int_equal(rec.c[1].len, 5);
    assert_memory_equal(rec.c[1].data, B(4, 5, 6, 7, 8), 5);
}

static void t_straddle_region_to_ram(void **s)
{
    (void)s;
    CODEB(0x89, 0x03);                       /* mov [rbx], eax */
    core->gpr[V3_RBX] = FH + 2 * PG - 2;     /* 2 bytes hooked, 2 bytes RAM */
    core->gpr[V3_RAX] = 0xddccbbaa;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.c[0].len, 2);
    assert_memory_equal(rec.c[0].data, B(0xaa, 0xbb), 2);
    assert_memory_equal(ram + FH + 2 * PG, B(0xcc, 0xdd), 2);
}

static void t_no_write_when_second_part_faults(void **s)
{
    (void)s;
    /* the page after the write hook is NP?  use FH's second page made not present */
    uint64_t *pt = (uint64_t *)(ram + 0x4000);
    pt[(FH + PG) / PG] = 0;
    v3_tlb_flush_all(core);
    CODEB(0x48, 0x89, 0x03);                 /* mov [rbx], rax */
    core->gpr[V3_RBX] = FH + PG - 4;
    core->gpr[V3_RAX] = 0x1111111111111111ull;
    uint64_t rbx = core->gpr[V3_RBX];
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_PF);
    assert_int_equal(res.exc.cr2, FH + PG);
    assert_true(res.exc.error_code & V3_PF_W);
    assert_false(res.exc.error_code & V3_PF_P);
    assert_int_equal(rec.n, 0);              /* nothing written to the first part */
    assert_int_equal(core->rip, CODE);
    assert_int_equal(core->gpr[V3_RBX], rbx);
}

static void t_rmw_full_hook_read_then_write(void **s)
{
    (void)s;
    CODEB(0x01, 0x03);                       /* add [rbx], eax */
    core->gpr[V3_RBX] = FH + 8;
    core->gpr[V3_RAX] = 1;
    memcpy(rec.mem + 8, "\xff\xff\xff\x7f", 4);   /* 0x7fffffff */
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 2);
    assert_int_equal(rec.c[0].write, 0);
    assert_int_equal(rec.c[0].len, 4);
    assert_int_equal(rec.c[1].write, 1);
    assert_int_equal(rec.c[1].len, 4);
    assert_int_equal(rd32(rec.c[1].data), 0x80000000u);
    /* 0x7fffffff + 1: OF=1 SF=1 AF=1 ZF=0 CF=0, PF of 0x00 = 1 */
    uint64_t f = v3_core_get_rflags(core) & V3_FLAGS_ARITH;
    assert_int_equal(f, V3_FLAG_OF | V3_FLAG_SF | V3_FLAG_AF | V3_FLAG_PF);
}

static void t_rmw_write_hook(void **s)
{
    (void)s;
    CODEB(0x01, 0x03);                       /* add [rbx], eax */
    core->gpr[V3_RBX] = WH + 0x40;
    core->gpr[V3_RAX] = 5;
    wh_backing[0x40] = 10;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);              /* no read callback: backing memory is read */
    assert_int_equal(rec.c[0].write, 1);
    assert_int_equal(rd32(rec.c[0].data), 15);
    assert_int_equal(rec.c[0].backing_at_call[0], 10);   /* callback before the store */
    assert_int_equal(wh_backing[0x40], 15);
}

static void t_write_hook_veto(void **s)
{
    (void)s;
    CODEB(0x89, 0x03);                       /* mov [rbx], eax */
    core->gpr[V3_RBX] = WH;
    core->gpr[V3_RAX] = 0x55;
    rec.fail_write = 1;
    assert_true(run() < 0);
    assert_int_equal(res.status, V3_EMU_ERROR);
    assert_int_equal(res.error, V3_ECALLBACK);
    assert_int_equal(wh_backing[0], 0);
    assert_int_equal(core->rip, CODE);
}

static void t_xchg_cmpxchg_hook(void **s)
{
    (void)s;
    CODEB(0x48, 0x87, 0x03);                 /* xchg [rbx], rax */
    core->gpr[V3_RBX] = FH;
    core->gpr[V3_RAX] = 0xaaaa;
    memcpy(rec.mem, "\x01\x02\x00\x00\x00\x00\x00\x00", 8);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 2);
    assert_int_equal(rec.c[0].write, 0);
    assert_int_equal(rec.c[0].len, 8);
    assert_int_equal(rec.c[1].write, 1);
    assert_int_equal(rd64(rec.c[1].data), 0xaaaa);
    assert_int_equal(core->gpr[V3_RAX], 0x0201);

    /* lock cmpxchg [rbx], ecx, mismatch: EAX <- mem, ZF=0, memory written back */
    reset(NULL);
    CODEB(0xf0, 0x0f, 0xb1, 0x0b);
    core->gpr[V3_RBX] = FH;
    core->gpr[V3_RAX] = 7;
    core->gpr[V3_RCX] = 9;
    memcpy(rec.mem, "\x05\x00\x00\x00", 4);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 2);
    assert_int_equal(rd32(rec.c[1].data), 5);
    assert_int_equal(core->gpr[V3_RAX], 5);
    assert_false(v3_core_get_rflags(core) & V3_FLAG_ZF);
    /* match: memory <- ECX, ZF=1 */
    core->rip = CODE;
    rec.n = 0;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rd32(rec.c[1].data), 9);
    assert_true(v3_core_get_rflags(core) & V3_FLAG_ZF);
    assert_int_equal(core->gpr[V3_RAX], 5);
}

static void t_cmpxchg16b(void **s)
{
    (void)s;
    CODEB(0x48, 0x0f, 0xc7, 0x0b);           /* cmpxchg16b [rbx] */
    core->gpr[V3_RBX] = FH + 0x10;
    core->gpr[V3_RAX] = 1;
    core->gpr[V3_RDX] = 2;
    core->gpr[V3_RBX] = FH + 0x10;
    core->gpr[V3_RCX] = 4;
    memcpy(rec.mem + 0x10, "\x01\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0", 16);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 2);
    assert_int_equal(rec.c[0].len, 16);
    assert_int_equal(rec.c[1].len, 16);
    assert_int_equal(rd64(rec.c[1].data), FH + 0x10);     /* RBX */
    assert_int_equal(rd64(rec.c[1].data + 8), 4);         /* RCX */
    assert_true(v3_core_get_rflags(core) & V3_FLAG_ZF);
    /* misaligned: #GP(0), no access */
    core->rip = CODE;
    rec.n = 0;
    core->gpr[V3_RBX] = FH + 8;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_GP);
    assert_int_equal(rec.n, 0);
}

static void t_lock_ram_atomic_path(void **s)
{
    (void)s;
    CODEB(0xf0, 0x01, 0x03);                 /* lock add [rbx], eax */
    core->gpr[V3_RBX] = DATA;
    core->gpr[V3_RAX] = 0xffffffff;
    memcpy(ram + DATA, "\x02\x00\x00\x00", 4);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rd32(ram + DATA), 1);
    /* 2 + 0xffffffff = 0x1_00000001: CF=1, AF=1 (2+f carries out of bit 3) */
    uint64_t f = v3_core_get_rflags(core) & V3_FLAGS_ARITH;
    assert_int_equal(f, V3_FLAG_CF | V3_FLAG_AF);
}

static void t_push_pop_hooked_stack(void **s)
{
    (void)s;
    CODEB(0xff, 0x33);                       /* push qword [rbx] */
    core->gpr[V3_RBX] = FH;
    core->gpr[V3_RSP] = FH + PG + 0x100;
    memcpy(rec.mem, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 2);
    assert_int_equal(rec.c[0].write, 0);
    assert_int_equal(rec.c[0].gpa, FH);
    assert_int_equal(rec.c[1].write, 1);
    assert_int_equal(rec.c[1].gpa, FH + PG + 0xf8);
    assert_int_equal(rec.c[1].len, 8);
    assert_int_equal(rd64(rec.c[1].data), 0x8877665544332211ull);
    assert_int_equal(core->gpr[V3_RSP], FH + PG + 0xf8);

    /* pop qword [rbx]: read the stack, write [rbx], RSP += 8 */
    core->rip = CODE;
    rec.n = 0;
    CODEB(0x8f, 0x03);
    core->gpr[V3_RBX] = WH + 8;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 2);
    assert_int_equal(rec.c[0].write, 0);
    assert_int_equal(rec.c[1].write, 1);
    assert_int_equal(rec.c[1].gpa, WH + 8);
    assert_int_equal(rd64(wh_backing + 8), 0x8877665544332211ull);
    assert_int_equal(core->gpr[V3_RSP], FH + PG + 0x100);
}

static void t_bt_register_offset_outside(void **s)
{
    (void)s;
    CODEB(0x0f, 0xa3, 0x03);                 /* bt dword [rbx], eax */
    core->gpr[V3_RBX] = FH + 0x100;
    core->gpr[V3_RAX] = 35;                  /* dword at +4, bit 3 */
    rec.mem[0x104] = 0x08;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.c[0].gpa, FH + 0x104);
    assert_int_equal(rec.c[0].len, 4);
    assert_true(v3_core_get_rflags(core) & V3_FLAG_CF);
    /* -1: dword at -4, bit 31 */
    core->rip = CODE;
    rec.n = 0;
    core->gpr[V3_RAX] = 0xffffffff;
    rec.mem[0xff] = 0x00;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.c[0].gpa, FH + 0xfc);
    assert_false(v3_core_get_rflags(core) & V3_FLAG_CF);
}

static void t_rip_relative_and_addr_size(void **s)
{
    (void)s;
    /* mov [rip+disp32], ecx with disp = FH - (CODE + 6) */
    uint32_t disp = (uint32_t)(FH - (CODE + 6));
    uint8_t b[6] = { 0x89, 0x0d };
    memcpy(b + 2, &disp, 4);
    code(b, 6);
    core->gpr[V3_RCX] = 0x4242;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.c[0].gpa, FH);

    /* a32 mov [ebx], ecx: address truncated to 32 bits */
    reset(NULL);
    CODEB(0x67, 0x89, 0x0b);
    core->gpr[V3_RBX] = 0xffffffff00000000ull | (FH + 4);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.c[0].gpa, FH + 4);
    assert_int_equal(core->rip, CODE + 3);
}

/* ------------------------------------------------------------ REP */

static void t_rep_rcx_zero(void **s)
{
    (void)s;
    CODEB(0xf3, 0xa4);                       /* rep movsb */
    core->gpr[V3_RCX] = 0;
    core->gpr[V3_RSI] = FH;
    core->gpr[V3_RDI] = FH + 0x100;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 0);
    assert_int_equal(core->rip, CODE + 2);
    assert_int_equal(core->gpr[V3_RSI], FH);
}

static void t_rep_stosd_df1(void **s)
{
    (void)s;
    CODEB(0xf3, 0xab);                       /* rep stosd */
    v3_core_set_rflags(core, 2 | V3_FLAG_DF);
    core->gpr[V3_RCX] = 3;
    core->gpr[V3_RDI] = FH + 0x108;
    core->gpr[V3_RAX] = 0xcafebabe;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 3);
    assert_int_equal(rec.c[0].gpa, FH + 0x108);
    assert_int_equal(rec.c[1].gpa, FH + 0x104);
    assert_int_equal(rec.c[2].gpa, FH + 0x100);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rec.c[i].len, 4);
        assert_int_equal(rd32(rec.c[i].data), 0xcafebabe);
    }
    assert_int_equal(core->gpr[V3_RCX], 0);
    assert_int_equal(core->gpr[V3_RDI], FH + 0xfc);
}

static void t_rep_fault_midway_resumable(void **s)
{
    (void)s;
    CODEB(0xf3, 0xaa);                       /* rep stosb */
    core->gpr[V3_RCX] = 10;
    core->gpr[V3_RDI] = NP - 4;              /* 4 bytes fit, the 5th faults */
    core->gpr[V3_RAX] = 0x5a;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_PF);
    assert_int_equal(res.exc.cr2, NP);
    assert_int_equal(core->gpr[V3_RCX], 6);
    assert_int_equal(core->gpr[V3_RDI], NP);
    assert_int_equal(core->rip, CODE);       /* re-execute to resume */
    assert_memory_equal(ram + NP - 4, B(0x5a, 0x5a, 0x5a, 0x5a), 4);
    /* map the page and resume */
    ((uint64_t *)(ram + 0x4000))[NP / PG] = NP | 7;
    v3_tlb_invlpg(core, NP);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RCX], 0);
    assert_int_equal(core->gpr[V3_RDI], NP + 6);
    assert_memory_equal(ram + NP, B(0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a), 6);
}

static void t_rep_movs_hook_both(void **s)
{
    (void)s;
    CODEB(0xf3, 0x48, 0xa5);                 /* rep movsq */
    core->gpr[V3_RCX] = 2;
    core->gpr[V3_RSI] = FH;
    core->gpr[V3_RDI] = FH + PG;
    memcpy(rec.mem, "ABCDEFGHIJKLMNOP", 16);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 4);              /* r w r w */
    assert_int_equal(rec.c[0].write, 0);
    assert_int_equal(rec.c[1].write, 1);
    assert_int_equal(rec.c[1].gpa, FH + PG);
    assert_int_equal(rec.c[3].gpa, FH + PG + 8);
    assert_memory_equal(rec.mem + PG, "ABCDEFGHIJKLMNOP", 16);
    assert_int_equal(core->gpr[V3_RSI], FH + 16);
    assert_int_equal(core->gpr[V3_RDI], FH + PG + 16);
}

static void t_repe_cmpsb_stops(void **s)
{
    (void)s;
    CODEB(0xf3, 0xa6);                       /* repe cmpsb */
    core->gpr[V3_RCX] = 8;
    core->gpr[V3_RSI] = FH;
    core->gpr[V3_RDI] = DATA;
    memcpy(rec.mem, "abcX", 4);
    memcpy(ram + DATA, "abcY", 4);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RCX], 4);  /* stopped after the 4th element */
    assert_int_equal(core->gpr[V3_RSI], FH + 4);
    /* 'X' - 'Y' = 0xff: CF=1 SF=1 ZF=0 AF=1 */
    uint64_t f = v3_core_get_rflags(core);
    assert_true(f & V3_FLAG_CF);
    assert_false(f & V3_FLAG_ZF);
}

static void t_rep_16bit_wrap(void **s)
{
    (void)s;
    set_mode(16);
    CODEB(0xf3, 0xa5);                       /* rep movsw (16-bit code: SI/DI/CX) */
    core->seg[V3_DS].base = FH;
    core->seg[V3_ES].base = FH + PG;
    core->gpr[V3_RCX] = 0xffff0002;          /* only CX counts */
    core->gpr[V3_RSI] = 0x10;
    core->gpr[V3_RDI] = 0x20;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 4);
    assert_int_equal(rec.c[1].gpa, FH + PG + 0x20);
    assert_int_equal(rec.c[1].len, 2);
    assert_int_equal(core->gpr[V3_RCX], 0xffff0000);
    assert_int_equal(core->gpr[V3_RDI], 0x24);
    assert_int_equal(core->rip, 2);
}

/* REP MOVS/STOS on RAM (the page-chunk fast path) against a naive element loop */
static void t_rep_ram_model(void **s)
{
    (void)s;
    unsigned seed = 777;
    static uint8_t model[3 * PG];
    for (int iter = 0; iter < 400; iter++) {
        reset(NULL);
        seed = seed * 1103515245u + 12345u;
        unsigned esz = 1u << (seed >> 8) % 4, stos = (seed >> 12) & 1;
        seed = seed * 1103515245u + 12345u;
        uint64_t cnt = (seed >> 4) % 2000;
        seed = seed * 1103515245u + 12345u;
        uint64_t so = (seed >> 4) % (PG + 100), d = (seed >> 16) % 64;
        uint64_t dof = (seed & 1) ? so + d : (so > d ? so - d : so + d);   /* overlaps both ways */
        for (uint64_t i = 0; i < 3 * PG; i++)
            ram[DATA + i] = (uint8_t)(i * 7 + iter);
        memcpy(model, ram + DATA, 3 * PG);
        uint64_t rax = 0x1122334455667788ull;
        /* model: element by element, forward */
        for (uint64_t e = 0; e < cnt; e++) {
            uint8_t el[8];          /* an element is read whole, then written */
            for (unsigned b = 0; b < esz; b++)
                el[b] = stos ? (uint8_t)(rax >> (8 * b))
                             : (so + e * esz + b < 3 * PG ? model[so + e * esz + b] : 0);
            for (unsigned b = 0; b < esz && dof + e * esz + b < 3 * PG; b++)
                model[dof + e * esz + b] = el[b];
        }
        if (dof + cnt * esz > 3 * PG || so + cnt * esz > 3 * PG)
            continue;
        uint8_t bytes[3] = { 0xf3, 0, 0 };
        int n = 1;
        if (esz == 2)
            bytes[n++] = 0x66;
        else if (esz == 8)
            bytes[n++] = 0x48;
        bytes[n++] = stos ? (esz == 1 ? 0xaa : 0xab) : (esz == 1 ? 0xa4 : 0xa5);
        code(bytes, n);
        core->gpr[V3_RCX] = cnt;
        core->gpr[V3_RSI] = DATA + so;
        core->gpr[V3_RDI] = DATA + dof;
        core->gpr[V3_RAX] = rax;
        assert_int_equal(run(), V3_OK);
        assert_int_equal(core->gpr[V3_RCX], 0);
        assert_int_equal(core->gpr[V3_RDI], DATA + dof + cnt * esz);
        if (!stos)
            assert_int_equal(core->gpr[V3_RSI], DATA + so + cnt * esz);
        if (memcmp(ram + DATA, model, 3 * PG))
            fprintf(stderr, "iter %d esz %u stos %u cnt %llu so %llu dof %llu\n", iter, esz, stos,
                    (unsigned long long)cnt, (unsigned long long)so, (unsigned long long)dof);
        assert_memory_equal(ram + DATA, model, 3 * PG);
    }
}

/* ------------------------------------------------------------ exceptions */

static void t_lock_ud(void **s)
{
    (void)s;
    CODEB(0xf0, 0x89, 0x03);                 /* lock mov [rbx], eax */
    core->gpr[V3_RBX] = FH;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_UD);
    assert_int_equal(rec.n, 0);
    reset(NULL);
    CODEB(0xf0, 0x01, 0xc8);                 /* lock add eax, ecx */
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_UD);
}

/* CLAC/STAC: clear/set RFLAGS.AC at CPL 0; #UD at CPL 3 (SDM, SMAP). */
static void t_clac_stac(void **s)
{
    (void)s;
    CODEB(0x0f, 0x01, 0xcb);                 /* stac */
    assert_int_equal(run(), V3_OK);
    assert_true(core->rflags & V3_FLAG_AC);
    reset(NULL);
    core->rflags |= V3_FLAG_AC;
    CODEB(0x0f, 0x01, 0xca);                 /* clac */
    assert_int_equal(run(), V3_OK);
    assert_false(core->rflags & V3_FLAG_AC);
    reset(NULL);
    core->cpl = 3;
    CODEB(0x0f, 0x01, 0xcb);
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_UD);
}

static void t_div_de(void **s)
{
    (void)s;
    CODEB(0xf7, 0x33);                       /* div dword [rbx] */
    core->gpr[V3_RBX] = FH;
    core->gpr[V3_RAX] = 100;
    core->gpr[V3_RDX] = 0;
    assert_int_equal(run(), V3_EFAULT);      /* divisor 0 */
    ASSERT_EXC(V3_EXC_DE);
    assert_int_equal(core->gpr[V3_RAX], 100);
    assert_int_equal(core->rip, CODE);
    /* quotient too large: EDX:EAX = 2^32, divisor 1 */
    rec.mem[0] = 1;
    core->gpr[V3_RDX] = 1;
    core->gpr[V3_RAX] = 0;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_DE);
    /* 7 / 2 = 3 r 1 */
    rec.mem[0] = 2;
    core->gpr[V3_RDX] = 0;
    core->gpr[V3_RAX] = 7;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RAX], 3);
    assert_int_equal(core->gpr[V3_RDX], 1);

    /* idiv dword [rbx]: -2^31 / -1 overflows */
    reset(NULL);
    CODEB(0xf7, 0x3b);
    core->gpr[V3_RBX] = FH;
    memcpy(rec.mem, "\xff\xff\xff\xff", 4);
    core->gpr[V3_RDX] = 0xffffffff;
    core->gpr[V3_RAX] = 0x80000000;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_DE);
    /* -7 / 2 = -3 r -1 */
    memcpy(rec.mem, "\x02\x00\x00\x00", 4);
    core->gpr[V3_RAX] = 0xfffffff9;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RAX], 0xfffffffd);
    assert_int_equal(core->gpr[V3_RDX], 0xffffffff);
}

static void t_idiv16_and_shift0(void **s)
{
    (void)s;
    set_mode(16);
    CODEB(0xf7, 0x3f);                       /* idiv word [bx] */
    core->seg[V3_DS].base = FH;
    core->gpr[V3_RBX] = 0;
    memcpy(rec.mem, "\x02\x00", 2);
    core->gpr[V3_RDX] = 0xffff;              /* DX:AX = -7 */
    core->gpr[V3_RAX] = 0xfff9;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RAX], 0xfffd);   /* -3 */
    assert_int_equal(core->gpr[V3_RDX], 0xffff);   /* remainder -1 */

    /* shl esi, cl with CL = 32 (masked to 0) in 64-bit mode: value and flags
     * unchanged, but a 32-bit register write zero-extends */
    reset(NULL);
    CODEB(0xd3, 0xe6);                       /* shl esi, cl */
    core->gpr[V3_RSI] = 0xdeadbeef12345678ull;
    core->gpr[V3_RCX] = 32;
    v3_core_set_rflags(core, 2 | V3_FLAG_CF | V3_FLAG_ZF);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RSI], 0x12345678ull);
    assert_int_equal(v3_core_get_rflags(core), 2 | V3_FLAG_CF | V3_FLAG_ZF);
}

static void t_movdqa_align_gp(void **s)
{
    (void)s;
    CODEB(0x66, 0x0f, 0x6f, 0x03);           /* movdqa xmm0, [rbx] */
    core->gpr[V3_RBX] = FH + 8;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_GP);
    assert_int_equal(res.exc.error_code, 0);
    assert_int_equal(rec.n, 0);
    core->gpr[V3_RBX] = FH + 16;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.c[0].len, 16);
}

static void t_noncanonical(void **s)
{
    (void)s;
    CODEB(0x8b, 0x03);                       /* mov eax, [rbx] */
    core->gpr[V3_RBX] = 0x0000800000000000ull;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_GP);
    reset(NULL);
    CODEB(0x48, 0x8b, 0x04, 0x24);           /* mov rax, [rsp] */
    core->gpr[V3_RSP] = 0x0000800000000000ull;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_SS);
}

static void t_fs_base_64(void **s)
{
    (void)s;
    CODEB(0x64, 0x8b, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00);   /* mov eax, fs:[0x10] */
    core->seg[V3_FS].base = FH;
    memcpy(rec.mem + 0x10, "\x01\x02\x03\x04", 4);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.c[0].gpa, FH + 0x10);
    assert_int_equal(core->gpr[V3_RAX], 0x04030201);
    assert_int_equal(core->rip, CODE + 8);
}

static void t_seg_32(void **s)
{
    (void)s;
    set_mode(32);
    CODEB(0x64, 0xa1, 0x10, 0x00, 0x00, 0x00);   /* mov eax, fs:[0x10] */
    core->seg[V3_FS].base = FH;
    core->seg[V3_FS].limit = 0x13;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.c[0].gpa, FH + 0x10);
    core->rip = CODE;
    core->seg[V3_FS].limit = 0x12;           /* last byte 0x13 is beyond the limit */
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_GP);
    /* SS-based access beyond the SS limit: #SS */
    core->rip = CODE;
    CODEB(0x8b, 0x45, 0x00);                 /* mov eax, [ebp] */
    core->seg[V3_SS].limit = 0xfff;
    core->gpr[V3_RBP] = 0x1000;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_SS);
    /* write to a read-only data segment: #GP */
    core->rip = CODE;
    CODEB(0x89, 0x03);                       /* mov [ebx], eax */
    core->seg[V3_DS].attrib = V3_SEG_P | V3_SEG_S | 0x1 | V3_SEG_DB | V3_SEG_G;
    core->gpr[V3_RBX] = FH;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_GP);
    assert_int_equal(rec.n, 1);              /* only the first, successful load */
}

static void t_real_mode(void **s)
{
    (void)s;
    set_mode(16);
    CODEB(0x89, 0x40, 0x04);                 /* mov [bx+si+4], ax */
    core->seg[V3_DS].base = FH;
    core->gpr[V3_RBX] = 0x100;
    core->gpr[V3_RSI] = 0x20;
    core->gpr[V3_RAX] = 0xdeadbeef;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.c[0].gpa, FH + 0x124);
    assert_int_equal(rec.c[0].len, 2);
    assert_memory_equal(rec.c[0].data, B(0xef, 0xbe), 2);
    assert_int_equal(core->rip, 3);
    /* word at offset 0xffff crosses the 64 KiB limit: #GP(0) */
    core->rip = 0;
    CODEB(0xa1, 0xff, 0xff);                 /* mov ax, [0xffff] */
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_GP);
    /* [bp+0x10] defaults to SS; 16-bit address arithmetic wraps 0xfff0 + 0x10 to 0 */
    core->rip = 0;
    CODEB(0x8b, 0x46, 0x10);                 /* mov ax, [bp+0x10] */
    core->gpr[V3_RBP] = 0xfff0;
    assert_int_equal(run(), V3_OK);
    /* beyond the SS limit: #SS(0) */
    core->rip = 0;
    core->seg[V3_SS].limit = 0xff;
    core->gpr[V3_RBP] = 0x100;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_SS);
}

static void t_unmapped_and_unsupported(void **s)
{
    (void)s;
    /* strict_mem: no region at the faulting gpa is an error (the test
       flips the VM's copy of its configuration; nothing runs meanwhile) */
    struct v3_vm_config *cfg = (struct v3_vm_config *)v3_vm_config(vm);
    cfg->strict_mem = true;
    assert_true(v3_handle_mem_fault(core, NOREG, NOREG, V3_ACCESS_READ, &res) < 0);
    assert_int_equal(res.status, V3_EMU_ERROR);
    assert_int_equal(res.error, V3_EUNMAPPED);
    /* an access to an address without region (paging off, 32-bit) */
    set_mode(32);
    CODEB(0x8b, 0x03);                       /* mov eax, [ebx] */
    core->gpr[V3_RBX] = NOREG;
    assert_true(run() < 0);
    assert_int_equal(res.status, V3_EMU_ERROR);
    assert_int_equal(res.error, V3_EUNMAPPED);
    assert_int_equal(core->rip, CODE);
    /* default: as on a PC, the read gives all ones and a write is dropped */
    cfg->strict_mem = false;
    core->gpr[V3_RAX] = 0;
    assert_int_equal(v3_handle_mem_fault(core, NOREG, NOREG, V3_ACCESS_READ, &res), V3_OK);
    assert_int_equal(core->gpr[V3_RAX], 0xffffffffull);
    assert_int_equal(core->rip, CODE + 2);
    core->rip = CODE;
    CODEB(0x89, 0x0b);                       /* mov [ebx], ecx */
    core->gpr[V3_RBX] = NOREG;
    core->gpr[V3_RCX] = 0x12345678;
    assert_int_equal(run(), V3_OK);
    CODEB(0x8b, 0x13);                       /* mov edx, [ebx] */
    core->rip = CODE;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RDX], 0xffffffffull);
    /* a REP LODSB over holes is bounded per call: RIP stays, RCX counts down */
    CODEB(0xf3, 0xac);                       /* rep lodsb */
    core->rip = CODE;
    core->gpr[V3_RSI] = NOREG;
    core->gpr[V3_RCX] = V3_EMU_REP_CHUNK + 5;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->rip, CODE);
    assert_int_equal(core->gpr[V3_RCX], 5);
    assert_int_equal(core->gpr[V3_RAX] & 0xff, 0xff);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->rip, CODE + 2);
    assert_int_equal(core->gpr[V3_RCX], 0);
    /* AVX: not emulated */
    set_mode(64);
    CODEB(0xc5, 0xfc, 0x58, 0xc1);           /* vaddps ymm0, ymm0, ymm1 */
    assert_int_equal(run(), V3_EUNSUPPORTED);
    assert_int_equal(res.status, V3_EMU_UNSUPPORTED);
    assert_int_equal(res.len, 4);
    assert_memory_equal(res.bytes, B(0xc5, 0xfc, 0x58, 0xc1), 4);
    assert_int_equal(res.rip, CODE);
}

static void t_fetch_across_page(void **s)
{
    (void)s;
    /* mov [rbx], rax (48 89 03) with 48 89 at the end of the page before NP */
    core->rip = NP - 2;
    ram[NP - 2] = 0x48;
    ram[NP - 1] = 0x89;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_PF);
    assert_int_equal(res.exc.cr2, NP);
    /* a 2-byte instruction that ends at the page boundary runs */
    core->rip = NP - 2;
    ram[NP - 2] = 0x8b;
    ram[NP - 1] = 0x03;                      /* mov eax, [rbx] */
    core->gpr[V3_RBX] = FH;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->rip, NP);
    /* an instruction that ends right before a fully hooked page does not
     * make the fetch read that page */
    rec.n = 0;
    core->rip = FH - 2;
    ram[FH - 2] = 0x8b;
    ram[FH - 1] = 0x03;                      /* mov eax, [rbx] */
    core->gpr[V3_RBX] = DATA;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 0);
    assert_int_equal(core->rip, FH);
}

/* ------------------------------------------------------------ arithmetic on hooked memory */

static void t_shifts_mul(void **s)
{
    (void)s;
    CODEB(0xd3, 0x23);                       /* shl dword [rbx], cl */
    core->gpr[V3_RBX] = FH;
    core->gpr[V3_RCX] = 33;                  /* masked to 1 */
    memcpy(rec.mem, "\x01\x00\x00\xc0", 4);  /* 0xc0000001 */
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rd32(rec.c[1].data), 0x80000002);
    /* CF = old bit 31 = 1; OF = MSB(result) ^ CF = 0; SF=1 ZF=0 PF(0x02)=0 */
    uint64_t f = v3_core_get_rflags(core) & (V3_FLAG_CF | V3_FLAG_OF | V3_FLAG_SF | V3_FLAG_ZF | V3_FLAG_PF);
    assert_int_equal(f, V3_FLAG_CF | V3_FLAG_SF);

    /* count 0: no write, flags unchanged */
    core->rip = CODE;
    rec.n = 0;
    core->gpr[V3_RCX] = 32;
    v3_core_set_rflags(core, 2 | V3_FLAG_ZF);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);              /* the read only */
    assert_int_equal(v3_core_get_rflags(core), 2 | V3_FLAG_ZF);

    /* rcr byte [rbx], 3 with CF=1: 9-bit rotate of CF:0x01 -> 0x60 | carry bits */
    reset(NULL);
    CODEB(0xc0, 0x1b, 0x03);
    core->gpr[V3_RBX] = FH;
    rec.mem[0] = 0x01;
    v3_core_set_rflags(core, 2 | V3_FLAG_CF);
    assert_int_equal(run(), V3_OK);
    /* RCR: each step CF <- bit 0, dest <- dest >> 1 | old CF << 7.
     * 0x01,CF=1 -> 0x80,CF=1 -> 0xc0,CF=0 -> 0x60,CF=0 */
    assert_int_equal(rec.c[1].data[0], 0x60);
    assert_false(v3_core_get_rflags(core) & V3_FLAG_CF);

    /* imul ecx, [rbx], 7 : 0x20000000 * 7 = 0xE0000000 overflows signed 32 -> CF=OF=1 */
    reset(NULL);
    CODEB(0x6b, 0x0b, 0x07);
    core->gpr[V3_RBX] = FH;
    memcpy(rec.mem, "\x00\x00\x00\x20", 4);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RCX], 0xe0000000ull);
    f = v3_core_get_rflags(core);
    assert_true(f & V3_FLAG_CF);
    assert_true(f & V3_FLAG_OF);
}

static void t_flags_exact(void **s)
{
    (void)s;
    /* add al, 1 with al=0xff: result 0, CF=1 ZF=1 AF=1 PF=1 SF=0 OF=0 */
    CODEB(0x04, 0x01);
    core->gpr[V3_RAX] = 0xff;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RAX], 0);
    assert_int_equal(v3_core_get_rflags(core) & V3_FLAGS_ARITH,
                     V3_FLAG_CF | V3_FLAG_ZF | V3_FLAG_AF | V3_FLAG_PF);
    /* sbb al, 1 (1c 01) with al=0, CF=1: 0 - 1 - 1 = 0xfe: CF=1 SF=1 AF=1 PF(0xfe: 7 bits)=0 */
    core->rip = CODE;
    CODEB(0x1c, 0x01);
    core->gpr[V3_RAX] = 0;
    v3_core_set_rflags(core, 2 | V3_FLAG_CF);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RAX], 0xfe);
    assert_int_equal(v3_core_get_rflags(core) & V3_FLAGS_ARITH,
                     V3_FLAG_CF | V3_FLAG_SF | V3_FLAG_AF);
    /* inc byte [rbx] (fe 03) at 0x7f with CF=1: 0x80, OF=1 SF=1 AF=1, CF kept */
    core->rip = CODE;
    CODEB(0xfe, 0x03);
    core->gpr[V3_RBX] = FH;
    rec.mem[0] = 0x7f;
    v3_core_set_rflags(core, 2 | V3_FLAG_CF);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(v3_core_get_rflags(core) & V3_FLAGS_ARITH,
                     V3_FLAG_CF | V3_FLAG_OF | V3_FLAG_SF | V3_FLAG_AF);
    /* neg dword [rbx] (f7 1b) of 0: CF=0 ZF=1 PF=1 */
    core->rip = CODE;
    CODEB(0xf7, 0x1b);
    memset(rec.mem, 0, 4);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(v3_core_get_rflags(core) & V3_FLAGS_ARITH, V3_FLAG_ZF | V3_FLAG_PF);
    /* cmovz eax, [rbx] (0f 44 03) false in 64-bit mode: RAX upper half cleared */
    core->rip = CODE;
    CODEB(0x0f, 0x44, 0x03);
    v3_core_set_rflags(core, 2);
    core->gpr[V3_RAX] = 0xffffffff00000005ull;
    rec.n = 0;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);              /* the source is read anyway */
    assert_int_equal(core->gpr[V3_RAX], 5);
}

static void t_sse_mmx_moves(void **s)
{
    (void)s;
    CODEB(0x66, 0x0f, 0xd6, 0x1b);           /* movq [rbx], xmm3 */
    core->gpr[V3_RBX] = FH;
    for (int i = 0; i < 16; i++)
        core->fpu.xmm[3][i] = (uint8_t)i;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.c[0].len, 8);
    assert_memory_equal(rec.c[0].data, core->fpu.xmm[3], 8);
    /* movq xmm4, [rbx] (f3 0f 7e 23): zero-extends to 128 bits */
    core->rip = CODE;
    CODEB(0xf3, 0x0f, 0x7e, 0x23);
    memset(core->fpu.xmm[4], 0xee, 16);
    memcpy(rec.mem, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    assert_int_equal(run(), V3_OK);
    assert_memory_equal(core->fpu.xmm[4], "\x01\x02\x03\x04\x05\x06\x07\x08\0\0\0\0\0\0\0\0", 16);
    /* movd mm1, [rbx] (0f 6e 0b) */
    core->rip = CODE;
    CODEB(0x0f, 0x6e, 0x0b);
    assert_int_equal(run(), V3_OK);
    assert_memory_equal(core->fpu.st[1], "\x01\x02\x03\x04\0\0\0\0", 8);
    /* movnti [rbx], rcx */
    core->rip = CODE;
    rec.n = 0;
    CODEB(0x48, 0x0f, 0xc3, 0x0b);
    core->gpr[V3_RCX] = 0x0102030405060708ull;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.c[0].len, 8);
    /* SSE with CR0.TS: #NM; with CR4.OSFXSR clear: #UD */
    core->rip = CODE;
    CODEB(0xf3, 0x0f, 0x6f, 0x13);           /* movdqu xmm2, [rbx] */
    core->cr0 |= V3_CR0_TS;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_NM);
    core->cr0 &= ~V3_CR0_TS;
    core->cr4 &= ~V3_CR4_OSFXSR;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_UD);
}

/* ------------------------------------------------------------ robustness */

static void t_random_bytes_never_crash(void **s)
{
    (void)s;
    unsigned seed = 12345;
    int modes[3] = { 16, 32, 64 };
    for (int i = 0; i < 30000; i++) {
        build_page_tables();
        set_mode(modes[i % 3]);
        for (int j = 0; j < 16; j++) {
            seed = seed * 1103515245u + 12345u;
            ram[CODE + j] = (uint8_t)(seed >> 16);
        }
        for (int r = 0; r < 16; r++) {
            seed = seed * 1103515245u + 12345u;
            uint64_t v = seed;
            switch (seed % 4) {
            case 0: v = FH + (seed >> 8) % (2 * PG); break;
            case 1: v = WH + (seed >> 8) % PG; break;
            case 2: v = DATA + (seed >> 8) % PG; break;
            default: v = ((uint64_t)seed << 32) | (seed >> 3); break;
            }
            core->gpr[r] = v;
        }
        core->gpr[V3_RCX] &= 0xff;           /* bounded REP counts */
        if (modes[i % 3] == 16)
            core->rip = 0;
        int rc = run();
        assert_true(rc <= 0);
        assert_true(res.status <= V3_EMU_ERROR);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(t_store8_one_call, reset),
        cmocka_unit_test_setup(t_load4_one_call, reset),
        cmocka_unit_test_setup(t_movdqu_16, reset),
        cmocka_unit_test_setup(t_straddle_pages, reset),
        cmocka_unit_test_setup(t_straddle_region_to_ram, reset),
        cmocka_unit_test_setup(t_no_write_when_second_part_faults, reset),
        cmocka_unit_test_setup(t_rmw_full_hook_read_then_write, reset),
        cmocka_unit_test_setup(t_rmw_write_hook, reset),
        cmocka_unit_test_setup(t_write_hook_veto, reset),
        cmocka_unit_test_setup(t_xchg_cmpxchg_hook, reset),
        cmocka_unit_test_setup(t_cmpxchg16b, reset),
        cmocka_unit_test_setup(t_lock_ram_atomic_path, reset),
        cmocka_unit_test_setup(t_push_pop_hooked_stack, reset),
        cmocka_unit_test_setup(t_bt_register_offset_outside, reset),
        cmocka_unit_test_setup(t_rip_relative_and_addr_size, reset),
        cmocka_unit_test_setup(t_rep_rcx_zero, reset),
        cmocka_unit_test_setup(t_rep_stosd_df1, reset),
        cmocka_unit_test_setup(t_rep_fault_midway_resumable, reset),
        cmocka_unit_test_setup(t_rep_movs_hook_both, reset),
        cmocka_unit_test_setup(t_repe_cmpsb_stops, reset),
        cmocka_unit_test_setup(t_rep_16bit_wrap, reset),
        cmocka_unit_test_setup(t_rep_ram_model, reset),
        cmocka_unit_test_setup(t_lock_ud, reset),
        cmocka_unit_test_setup(t_clac_stac, reset),
        cmocka_unit_test_setup(t_div_de, reset),
        cmocka_unit_test_setup(t_idiv16_and_shift0, reset),
        cmocka_unit_test_setup(t_movdqa_align_gp, reset),
        cmocka_unit_test_setup(t_noncanonical, reset),
        cmocka_unit_test_setup(t_fs_base_64, reset),
        cmocka_unit_test_setup(t_seg_32, reset),
        cmocka_unit_test_setup(t_real_mode, reset),
        cmocka_unit_test_setup(t_unmapped_and_unsupported, reset),
        cmocka_unit_test_setup(t_fetch_across_page, reset),
        cmocka_unit_test_setup(t_shifts_mul, reset),
        cmocka_unit_test_setup(t_flags_exact, reset),
        cmocka_unit_test_setup(t_sse_mmx_moves, reset),
        cmocka_unit_test_setup(t_random_bytes_never_crash, reset),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}

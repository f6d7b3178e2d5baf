/* SPDX-License-Identifier: MIT */
/* Native-execution harness: run a code snippet on the host CPU with a given
 * register state and capture the state after it (see v3native.h). */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <errno.h>
#include <stdarg.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include "v3native.h"

/* Layout of the data page that follows the code area (RIP-relative from both). */
#define DATA_ADDR   (V3N_CODE_ADDR + V3N_CODE_SIZE)
#define D_IN_GPR    0x000
#define D_IN_FLAGS  0x080
#define D_HOST_RSP  0x088
#define D_FS_IN     0x090
#define D_GS_IN     0x098
#define D_FS_HOST   0x0a0
#define D_GS_HOST   0x0a8
#define D_IN_MXCSR  0x0b0
#define D_OUT_MXCSR 0x0b4
#define D_HOST_MXCSR 0x0b8
#define D_IN_XMM    0x100
#define D_IN_MM     0x200
#define D_OUT_GPR   0x300
#define D_OUT_FLAGS 0x380
#define D_OUT_XMM   0x400
#define D_OUT_MM    0x500

static int inited;
static uint8_t *altstack;
static uint64_t host_fs, host_gs;

/* State shared with the signal handler (no TLS: FS may be the guest's). */
static volatile int active;
static volatile unsigned active_flags;
static sigjmp_buf jb;
static struct v3n_result *volatile cur_out;

static const int fault_sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP };
#define NSIGS ((int)(sizeof(fault_sigs) / sizeof(fault_sigs[0])))

/*
 * The fault handler starts with the guest's FS base, so it must not touch
 * TLS before it restores the host's: no sanitizer or coverage
 * instrumentation (both keep per-thread state) in it or in what it calls
 * first.
 */
#if defined(__clang__)
#define NO_INSTR __attribute__((no_sanitize("address", "undefined", "coverage")))
#else
#define NO_INSTR __attribute__((no_sanitize_address, no_sanitize_undefined))
#endif

static inline __attribute__((always_inline)) long raw_arch_prctl(long code, unsigned long addr)
{
    long ret;

    __asm__ volatile("syscall" : "=a"(ret) : "0"(SYS_arch_prctl), "D"(code), "S"(addr)
                     : "rcx", "r11", "memory");
    return ret;
}

/* ---- tiny emitter for prologue/epilogue ---- */
struct em { uint8_t *p; };

static void eb(struct em *e, int n, ...)
{
    va_list ap;

    va_start(ap, n);
    for (int i = 0; i < n; i++)
        *e->p++ = (uint8_t)va_arg(ap, int);
    va_end(ap);
}
static void ed32(struct em *e, uint32_t v)
{
    memcpy(e->p, &v, 4);
    e->p += 4;
}
/* Emit [rip+disp32] addressing to data offset @p off; @p tail bytes follow the disp. */
static void eriprel(struct em *e, int reg, unsigned off, int tail)
{
    *e->p++ = (uint8_t)(0x05 | ((reg & 7) << 3));
    int64_t next = (int64_t)(uintptr_t)e->p + 4 + tail;
    ed32(e, (uint32_t)(int32_t)((int64_t)(DATA_ADDR + off) - next));
}
static void rex_rr(struct em *e, int w, int reg)
{
    uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0));
    if (rex != 0x40)
        *e->p++ = rex;
}
static void mov_load64(struct em *e, int reg, unsigned off)
{
    rex_rr(e, 1, reg);
    eb(e, 1, 0x8b);
    eriprel(e, reg, off, 0);
}
static void mov_store64(struct em *e, int reg, unsigned off)
{
    rex_rr(e, 1, reg);
    eb(e, 1, 0x89);
    eriprel(e, reg, off, 0);
}
static void arch_prctl_call(struct em *e, int code, unsigned off)
{
    eb(e, 1, 0xb8); ed32(e, SYS_arch_prctl);       /* mov eax, nr */
    eb(e, 1, 0xbf); ed32(e, (uint32_t)code);       /* mov edi, code */
    mov_load64(e, V3N_RSI, off);                   /* mov rsi, [rip+off] */
    eb(e, 2, 0x0f, 0x05);                          /* syscall */
}

NO_INSTR static void handler(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;

    if (!active) {
        /* A real crash of the test program: die with the default action. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    /* Restore host FS first: TLS (and longjmp's pointer guard) live there. */
    if (active_flags & V3N_SET_FS)
        raw_arch_prctl(ARCH_SET_FS, host_fs);
    if (active_flags & V3N_SET_GS)
        raw_arch_prctl(ARCH_SET_GS, host_gs);

    struct v3n_result *o = cur_out;
    greg_t *g = uc->uc_mcontext.gregs;
    o->signo = sig;
    o->vector = (int)g[REG_TRAPNO];
    o->error_code = (uint32_t)g[REG_ERR];
    o->fault_addr = (uint64_t)(uintptr_t)si->si_addr;
    static const int map[16] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                                 REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15 };
    for (int i = 0; i < 16; i++)
        o->st.gpr[i] = (uint64_t)g[map[i]];
    o->st.rip = (uint64_t)g[REG_RIP];
    o->st.rflags = (uint64_t)g[REG_EFL];
    if (uc->uc_mcontext.fpregs) {
        memcpy(o->st.xmm, uc->uc_mcontext.fpregs->_xmm, sizeof(o->st.xmm));
        for (int i = 0; i < 8; i++)
            memcpy(&o->st.mm[i], &uc->uc_mcontext.fpregs->_st[i], 8);
        o->st.mxcsr = uc->uc_mcontext.fpregs->mxcsr;
    }
    active = 0;
    siglongjmp(jb, 1);
}

int v3n_map_fixed(uint64_t addr, size_t size)
{
    void *p = mmap((void *)(uintptr_t)addr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    if ((uint64_t)(uintptr_t)p != addr) {
        munmap(p, size);
        return -EEXIST;
    }
    return 0;
}

int v3n_init(void)
{
    if (inited)
        return 0;
    void *p = mmap((void *)(uintptr_t)V3N_CODE_ADDR, V3N_CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    int rc = v3n_map_fixed(DATA_ADDR, 0x1000);
    if (rc)
        return rc;
    if (raw_arch_prctl(ARCH_GET_FS, (unsigned long)&host_fs) ||
        raw_arch_prctl(ARCH_GET_GS, (unsigned long)&host_gs))
        return -EINVAL;

    size_t ss = 1 << 16;
    altstack = mmap(NULL, ss, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (altstack == MAP_FAILED)
        return -errno;
    stack_t st = { .ss_sp = altstack, .ss_size = ss, .ss_flags = 0 };
    if (sigaltstack(&st, NULL))
        return -errno;
    inited = 1;
    return 0;
}

int v3n_run(const void *code, size_t len, const struct v3n_state *in, unsigned flags,
            struct v3n_result *out)
{
    uint8_t *data = (uint8_t *)(uintptr_t)DATA_ADDR;
    uint64_t rip = in->rip;

    if (!inited && v3n_init())
        return -1;
    if (rip < V3N_SNIPPET_MIN || rip + len > V3N_SNIPPET_MAX || len > V3N_SNIPPET_MAX)
        return -1;

    /* prologue at the start of the code area */
    struct em e = { (uint8_t *)(uintptr_t)V3N_CODE_ADDR };
    eb(&e, 1, 0x53); eb(&e, 1, 0x55);                         /* push rbx, rbp */
    eb(&e, 2, 0x41, 0x54); eb(&e, 2, 0x41, 0x55);             /* push r12, r13 */
    eb(&e, 2, 0x41, 0x56); eb(&e, 2, 0x41, 0x57);             /* push r14, r15 */
    mov_store64(&e, V3N_RSP, D_HOST_RSP);
    if (flags & V3N_SET_FS)
        arch_prctl_call(&e, ARCH_SET_FS, D_FS_IN);
    if (flags & V3N_SET_GS)
        arch_prctl_call(&e, ARCH_SET_GS, D_GS_IN);
    if (flags & V3N_MMX)
        for (int i = 0; i < 8; i++) {                         /* movq mmI, [rip] */
            eb(&e, 2, 0x0f, 0x6f);
            eriprel(&e, i, D_IN_MM + 8 * i, 0);
        }
    for (int i = 0; i < 16; i++) {                            /* movdqu xmmI, [rip] */
        eb(&e, 1, 0xf3);
        if (i >= 8)
            eb(&e, 1, 0x44);
        eb(&e, 2, 0x0f, 0x6f);
        eriprel(&e, i, D_IN_XMM + 16 * i, 0);
    }
    if (flags & V3N_MXCSR) {                                  /* ldmxcsr [rip] */
        eb(&e, 2, 0x0f, 0xae);
        eriprel(&e, 2, D_IN_MXCSR, 0);
    }
    eb(&e, 1, 0xff); eriprel(&e, 6, D_IN_FLAGS, 0);          /* push qword [rip] */
    eb(&e, 1, 0x9d);                                          /* popfq */
    for (int i = 0; i < 16; i++)
        mov_load64(&e, i, D_IN_GPR + 8 * i);
    eb(&e, 1, 0xe9);                                          /* jmp snippet */
    ed32(&e, (uint32_t)(int32_t)((int64_t)rip - (int64_t)(uintptr_t)(e.p + 4)));

    /* snippet, then the epilogue right after it */
    memcpy((void *)(uintptr_t)rip, code, len);
    e.p = (uint8_t *)(uintptr_t)(rip + len);
    for (int i = 0; i < 16; i++)
        mov_store64(&e, i, D_OUT_GPR + 8 * i);
    mov_load64(&e, V3N_RSP, D_HOST_RSP);
    eb(&e, 1, 0x9c); eb(&e, 1, 0x58);                         /* pushfq; pop rax */
    mov_store64(&e, V3N_RAX, D_OUT_FLAGS);
    eb(&e, 1, 0xfc);                                          /* cld */
    if (flags & V3N_MXCSR) {                                  /* stmxcsr [rip]; ldmxcsr [rip] (1F80H) */
        eb(&e, 2, 0x0f, 0xae);
        eriprel(&e, 3, D_OUT_MXCSR, 0);
        eb(&e, 2, 0x0f, 0xae);
        eriprel(&e, 2, D_HOST_MXCSR, 0);
    }
    for (int i = 0; i < 16; i++) {                            /* movdqu [rip], xmmI */
        eb(&e, 1, 0xf3);
        if (i >= 8)
            eb(&e, 1, 0x44);
        eb(&e, 2, 0x0f, 0x7f);
        eriprel(&e, i, D_OUT_XMM + 16 * i, 0);
    }
    if (flags & V3N_MMX) {
        for (int i = 0; i < 8; i++) {
            eb(&e, 2, 0x0f, 0x7f);
            eriprel(&e, i, D_OUT_MM + 8 * i, 0);
        }
        eb(&e, 2, 0x0f, 0x77);                                /* emms */
    }
    if (flags & V3N_SET_FS)
        arch_prctl_call(&e, ARCH_SET_FS, D_FS_HOST);
    if (flags & V3N_SET_GS)
        arch_prctl_call(&e, ARCH_SET_GS, D_GS_HOST);
    eb(&e, 2, 0x41, 0x5f); eb(&e, 2, 0x41, 0x5e);             /* pop r15, r14 */
    eb(&e, 2, 0x41, 0x5d); eb(&e, 2, 0x41, 0x5c);             /* pop r13, r12 */
    eb(&e, 1, 0x5d); eb(&e, 1, 0x5b);                         /* pop rbp, rbx */
    eb(&e, 1, 0xc3);                                          /* ret */

    /* inputs */
    memcpy(data + D_IN_GPR, in->gpr, sizeof(in->gpr));
    uint64_t fl = (in->rflags & V3N_RFLAGS_LOADED) | 0x2;
    memcpy(data + D_IN_FLAGS, &fl, 8);
    memcpy(data + D_FS_IN, &in->fs_base, 8);
    memcpy(data + D_GS_IN, &in->gs_base, 8);
    memcpy(data + D_FS_HOST, &host_fs, 8);
    memcpy(data + D_GS_HOST, &host_gs, 8);
    memcpy(data + D_IN_XMM, in->xmm, sizeof(in->xmm));
    memcpy(data + D_IN_MM, in->mm, sizeof(in->mm));
    memcpy(data + D_IN_MXCSR, &in->mxcsr, 4);
    uint32_t host_mxcsr = 0x1f80;
    memcpy(data + D_HOST_MXCSR, &host_mxcsr, 4);

    /* Our handlers only while the snippet runs (test frameworks install their own). */
    struct sigaction sa, old[NSIGS];
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < NSIGS; i++)
        sigaction(fault_sigs[i], &sa, &old[i]);

    memset(out, 0, sizeof(*out));
    out->vector = -1;
    out->st.fs_base = in->fs_base;
    out->st.gs_base = in->gs_base;
    if (!(flags & V3N_MMX))
        memcpy(out->st.mm, in->mm, sizeof(in->mm));
    cur_out = out;
    active_flags = flags;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (sigsetjmp(jb, 1) == 0) {
        active = 1;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        ((void (*)(void))(uintptr_t)V3N_CODE_ADDR)();
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        active = 0;
        memcpy(out->st.gpr, data + D_OUT_GPR, sizeof(out->st.gpr));
        memcpy(&out->st.rflags, data + D_OUT_FLAGS, 8);
        memcpy(out->st.xmm, data + D_OUT_XMM, sizeof(out->st.xmm));
        if (flags & V3N_MMX)
            memcpy(out->st.mm, data + D_OUT_MM, sizeof(out->st.mm));
        if (flags & V3N_MXCSR)
            memcpy(&out->st.mxcsr, data + D_OUT_MXCSR, 4);
        out->st.rip = rip + len;
    } else {
        /* faulted: the handler filled *out; leave MMX mode, default MXCSR */
        uint32_t m = 0x1f80;
        __asm__ volatile("emms");
        __asm__ volatile("ldmxcsr %0" : : "m"(m));
        if (!(flags & V3N_MMX))
            memcpy(out->st.mm, in->mm, sizeof(in->mm));
    }
    for (int i = 0; i < NSIGS; i++)
        sigaction(fault_sigs[i], &old[i], NULL);
    return 0;
}

/* SPDX-License-Identifier: MIT */
/* Running generated cases through the v3vmm emulator, and comparing states. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <Zydis/Zydis.h>
#include <v3/backend.h>
#include "emurun.h"

#define NKINDS 27
static struct evm *cache[3][NKINDS];    /* by mode (16, 32, 64) */

static void quiet_log(enum v3_log_level level, const char *fmt, va_list ap)
{
    (void)level; (void)fmt; (void)ap;
}

int evm_global_init(void)
{
    static int done;
    if (done)
        return 0;
    /* Emulator log lines are noise here (mismatches are reported by the
       test); V3_EMU_DIFF_LOG=1 shows them. */
    static struct v3_os_hooks h;
    h = *v3_posix_os_hooks();
    if (!getenv("V3_EMU_DIFF_LOG"))
        h.log = quiet_log;
    int rc = v3_init(&h);
    if (rc < 0)
        return rc;
    done = 1;
    return 0;
}

static int page_of(const struct evm *e, uint64_t gpa)
{
    if (gpa < e->lay->scr || gpa >= e->lay->scr + SCR_SIZE)
        return -1;
    return (int)((gpa - e->lay->scr) >> 12);
}

static void note(struct evm *e, struct v3_core *core, uint64_t gpa, uint32_t len, bool w, int want_kind)
{
    int p = page_of(e, gpa);
    if (e->nlog < (int)(sizeof(e->log) / sizeof(e->log[0])))
        e->log[e->nlog++] = (struct acc){ gpa, len, w };
    if (p < 0 || e->kind[p] == K_RAM || (want_kind == K_FULL && e->kind[p] != K_FULL) ||
        page_of(e, gpa + len - 1) != p || len == 0 || len > 16 || core != e->core) {
        if (!e->bad)
            snprintf(e->badmsg, sizeof(e->badmsg), "hook %s call gpa=%#llx len=%u outside the hooked pages/kind or core mismatch",
                     w ? "write" : "read", (unsigned long long)gpa, len);
        e->bad = 1;
    }
}

static int cb_read(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    struct evm *e = priv;
    note(e, core, gpa, len, false, K_FULL);
    if (page_of(e, gpa) < 0 || page_of(e, gpa + len - 1) < 0)
        return -1;
    memcpy(dst, e->scr + (gpa - e->lay->scr), len);
    return 0;
}

static int cb_write_full(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    struct evm *e = priv;
    note(e, core, gpa, len, true, K_FULL);
    if (page_of(e, gpa) < 0 || page_of(e, gpa + len - 1) < 0)
        return -1;
    memcpy(e->scr + (gpa - e->lay->scr), src, len);
    return 0;
}

static int cb_write_hook(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    struct evm *e = priv;
    note(e, core, gpa, len, true, K_WRITE);
    return 0;     /* the memory map then updates the backing memory */
}

/* These VMs only serve the emulator; a back end that never runs. */
static int nb_init(struct v3_core *core) { (void)core; return 0; }
static void nb_free(struct v3_core *core) { (void)core; }
static int nb_run(struct v3_core *core, struct v3_exit *exit) { (void)core; (void)exit; return V3_EUNSUPPORTED; }
static int nb_inject(struct v3_core *core, const struct v3_event *ev) { (void)core; (void)ev; return V3_EUNSUPPORTED; }
static const struct v3_backend_ops null_backend = {
    .name = "emu-diff-null", .init_core = nb_init, .free_core = nb_free, .run = nb_run, .inject = nb_inject,
};

static struct evm *evm_create(const struct layout *lay, int kidx)
{
    struct evm *e = calloc(1, sizeof(*e));
    struct v3_vm_config cfg = { .mem_size = 1 << 20, .num_cores = 1, .backend_ops = &null_backend };
    int err;

    e->lay = lay;
    e->kind[0] = kidx % 3;
    e->kind[1] = (kidx / 3) % 3;
    e->kind[2] = (kidx / 9) % 3;
    e->scr = aligned_alloc(4096, SCR_SIZE);
    e->code = aligned_alloc(4096, 4096);
    memset(e->code, 0x90, 4096);
    e->vm = v3_create_vm(&cfg, &err);
    if (!e->vm) {
        fprintf(stderr, "v3_create_vm: %s\n", v3_strerror(err));
        exit(2);
    }
    e->core = v3_get_core(e->vm, 0);
    if (v3_add_shadow_mem(e->vm, lay->code, lay->code + 4096, e->code) < 0) {
        fprintf(stderr, "cannot map code page\n");
        exit(2);
    }
    for (int i = 0; i < SCR_PAGES; i++) {
        uint64_t a = lay->scr + 4096ull * (uint64_t)i;
        int rc;
        if (e->kind[i] == K_RAM)
            rc = v3_add_shadow_mem(e->vm, a, a + 4096, e->scr + 4096 * i);
        else if (e->kind[i] == K_FULL)
            rc = v3_hook_full_mem(e->vm, a, a + 4096, cb_read, cb_write_full, e);
        else
            rc = v3_hook_write_mem(e->vm, a, a + 4096, e->scr + 4096 * i, cb_write_hook, e);
        if (rc < 0) {
            fprintf(stderr, "cannot map scratch page %d: %s\n", i, v3_strerror(rc));
            exit(2);
        }
    }
    struct v3_core *core = e->core;
    if (lay->mode == 64) {
        /* identity map of the first 512 GiB with 1 GiB pages, user accessible */
        uint64_t pml4e = 0x2000 | 0x7, pdpt[512];
        for (int i = 0; i < 512; i++)
            pdpt[i] = ((uint64_t)i << 30) | 0x87;
        v3_write_gpa_memory(e->vm, NULL, 0x1000, 8, &pml4e);
        v3_write_gpa_memory(e->vm, NULL, 0x2000, sizeof(pdpt), pdpt);
        core->cr3 = 0x1000;
        core->cr4 = V3_CR4_PAE | V3_CR4_OSFXSR | V3_CR4_OSXMMEXCPT;
        core->efer = V3_EFER_LME | V3_EFER_LMA | V3_EFER_NXE | V3_EFER_SCE;
        core->cr0 = V3_CR0_PE | V3_CR0_MP | V3_CR0_ET | V3_CR0_NE | V3_CR0_WP | V3_CR0_PG;
        for (int s = 0; s < 6; s++) {
            core->seg[s].base = 0;
            core->seg[s].limit = 0xffffffff;
            core->seg[s].selector = 0x2b;
            core->seg[s].attrib = V3_SEG_P | V3_SEG_S | 0x3 | (3 << 5) | V3_SEG_DB | V3_SEG_G;
        }
        core->seg[V3_CS].selector = 0x33;
        core->seg[V3_CS].attrib = V3_SEG_P | V3_SEG_S | 0xb | (3 << 5) | V3_SEG_L | V3_SEG_G;
    } else {
        core->cr3 = 0;
        core->cr4 = V3_CR4_OSFXSR | V3_CR4_OSXMMEXCPT;
        core->efer = 0;
        core->cr0 = V3_CR0_ET | V3_CR0_NE | V3_CR0_MP | (lay->mode == 32 ? V3_CR0_PE : 0);
        for (int s = 0; s < 6; s++) {
            core->seg[s].base = 0;
            core->seg[s].selector = lay->mode == 32 ? 0x10 : 0;
            core->seg[s].limit = lay->mode == 32 ? 0xffffffff : 0xffff;
            core->seg[s].attrib = V3_SEG_P | V3_SEG_S | 0x3 |
                                  (lay->mode == 32 ? V3_SEG_DB | V3_SEG_G : 0);
        }
        core->seg[V3_CS].selector = lay->mode == 32 ? 0x08 : 0;
        core->seg[V3_CS].attrib = V3_SEG_P | V3_SEG_S | 0xb | (lay->mode == 32 ? V3_SEG_DB | V3_SEG_G : 0);
    }
    v3_core_update_mode(core);
    return e;
}

struct evm *evm_get(const struct layout *lay, int kidx)
{
    int mi = lay->mode == 16 ? 0 : lay->mode == 32 ? 1 : 2;
    if (!cache[mi][kidx])
        cache[mi][kidx] = evm_create(lay, kidx);
    return cache[mi][kidx];
}

void evm_free_all(void)
{
    for (int m = 0; m < 3; m++)
        for (int i = 0; i < NKINDS; i++) {
            struct evm *e = cache[m][i];
            if (!e)
                continue;
            v3_free_vm(e->vm);
            free(e->scr);
            free(e->code);
            free(e);
            cache[m][i] = NULL;
        }
}

void evm_run(struct evm *e, const struct tcase *c, bool fault_path, struct rstate *o)
{
    struct v3_core *core = e->core;
    struct v3_emu_result res;

    memcpy(e->scr, c->mem, SCR_SIZE);
    memset(e->code, 0x90, 4096);
    memcpy(e->code + (c->rip & 0xfff), c->insn.b, (size_t)c->insn.len);
    e->nlog = 0;
    e->bad = 0;
    for (int i = 0; i < 16; i++)
        core->gpr[i] = c->gpr[i];
    core->rip = c->rip;
    v3_core_set_rflags(core, c->rflags | 2);
    core->seg[V3_FS].base = c->mode == 64 ? c->fs_base : 0;
    core->seg[V3_GS].base = c->mode == 64 ? c->gs_base : 0;
    memcpy(core->fpu.xmm, c->xmm, sizeof(c->xmm));
    for (int i = 0; i < 8; i++) {
        memset(core->fpu.st[i], 0, 16);
        memcpy(core->fpu.st[i], &c->mm[i], 8);
    }
    core->fpu.mxcsr = c->mxcsr ? c->mxcsr : 0x1f80;

    int iter = 0;
    do {
        if (fault_path && iter == 0 && !c->no_access && !c->noncanon)
            v3_handle_mem_fault(core, c->prim, c->prim, c->prim_access, &res);
        else
            v3_emulate_one(core, &res);
        iter++;
    } while (res.status == V3_EMU_DONE && c->string && core->rip == c->rip && iter < 100000);

    o->status = res.status;
    o->err = res.error;
    o->vector = res.status == V3_EMU_EXCEPTION ? res.exc.vector : -1;
    for (int i = 0; i < 16; i++)
        o->st.gpr[i] = core->gpr[i];
    o->st.rip = core->rip;
    o->st.rflags = v3_core_get_rflags(core);
    o->st.fs_base = core->seg[V3_FS].base;
    o->st.gs_base = core->seg[V3_GS].base;
    memcpy(o->st.xmm, core->fpu.xmm, sizeof(o->st.xmm));
    for (int i = 0; i < 8; i++)
        memcpy(&o->st.mm[i], core->fpu.st[i], 8);
    o->st.mxcsr = core->fpu.mxcsr;
    memcpy(o->mem, e->scr, SCR_SIZE);
}

static const char *const rn[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };

int cmp_states(const struct tcase *c, const struct rstate *ref, const struct rstate *got,
               bool wide, FILE *f)
{
    int bad = 0;
    uint64_t gm = wide ? ~0ull : 0xffffffffull;
    int nr = c->mode == 64 ? 16 : 8;
#define DIFF(...) do { bad = 1; if (f) fprintf(f, __VA_ARGS__); } while (0)
    if (got->status > 0 && got->status != 1 /* V3_EMU_EXCEPTION */)
        DIFF("  emulator status %d (%s), error %d (%s)\n", got->status,
             got->status == V3_EMU_UNSUPPORTED ? "unsupported" : "error", got->err, v3_strerror(got->err));
    if (ref->vector != got->vector)
        DIFF("  exception: expected %d, got %d\n", ref->vector, got->vector);
    for (int i = 0; i < nr; i++)
        if ((ref->st.gpr[i] & gm) != (got->st.gpr[i] & gm))
            DIFF("  %-4s expected %016llx got %016llx\n", rn[i], (unsigned long long)ref->st.gpr[i],
                 (unsigned long long)got->st.gpr[i]);
    if ((ref->st.rip & gm) != (got->st.rip & gm))
        DIFF("  rip  expected %016llx got %016llx\n", (unsigned long long)ref->st.rip,
             (unsigned long long)got->st.rip);
    uint64_t fm = (0x8d5ull & ~c->undef) | 0x400;
    if ((ref->st.rflags & fm) != (got->st.rflags & fm))
        DIFF("  rflags expected %06llx got %06llx (compared bits %03llx)\n", (unsigned long long)ref->st.rflags,
             (unsigned long long)got->st.rflags, (unsigned long long)fm);
    for (int i = 0; i < nr; i++)
        if (memcmp(ref->st.xmm[i], got->st.xmm[i], 16)) {
            bad = 1;
            if (f) {
                fprintf(f, "  xmm%d expected ", i);
                for (int j = 15; j >= 0; j--) fprintf(f, "%02x", ref->st.xmm[i][j]);
                fprintf(f, " got ");
                for (int j = 15; j >= 0; j--) fprintf(f, "%02x", got->st.xmm[i][j]);
                fprintf(f, "\n");
            }
        }
    if ((c->nflags & V3N_MXCSR) && ref->st.mxcsr != got->st.mxcsr)
        DIFF("  mxcsr expected %04x got %04x\n", ref->st.mxcsr, got->st.mxcsr);
    if (c->nflags & V3N_MMX)
        for (int i = 0; i < 8; i++)
            if (ref->st.mm[i] != got->st.mm[i])
                DIFF("  mm%d expected %016llx got %016llx\n", i, (unsigned long long)ref->st.mm[i],
                     (unsigned long long)got->st.mm[i]);
    int shown = 0;
    for (int i = 0; i < SCR_SIZE; i++)
        if (ref->mem[i] != got->mem[i]) {
            bad = 1;
            if (f && shown++ < 16)
                fprintf(f, "  mem[%#llx] expected %02x got %02x (was %02x)\n",
                        (unsigned long long)(c->scr + (uint64_t)i),
                        ref->mem[i], got->mem[i], c->mem[i]);
        }
#undef DIFF
    return bad;
}

int check_hook_log(const struct evm *e, const struct tcase *c, FILE *f)
{
    if (e->bad) {
        if (f) fprintf(f, "  %s\n", e->badmsg);
        return 1;
    }
    if (!c->width)
        return 0;
    for (int i = 0; i < e->nlog; i++) {
        const struct acc *a = &e->log[i];
        if ((int)a->len == c->width)
            continue;
        /* a narrower call is fine only where an access was split at a page boundary */
        if ((int)a->len < c->width && (((a->gpa + a->len) & 0xfff) == 0 || (a->gpa & 0xfff) == 0))
            continue;
        if (f)
            fprintf(f, "  hook %s call at %#llx with %u bytes, expected one call of %d bytes per access\n",
                    a->write ? "write" : "read", (unsigned long long)a->gpa, a->len, c->width);
        return 1;
    }
    return 0;
}

void print_case(const struct tcase *c, FILE *f)
{
    ZydisDisassembledInstruction di;
    ZydisMachineMode mm = c->mode == 64 ? ZYDIS_MACHINE_MODE_LONG_64 :
                          c->mode == 32 ? ZYDIS_MACHINE_MODE_LEGACY_32 : ZYDIS_MACHINE_MODE_REAL_16;
    fprintf(f, "case %s/%s mode %d rip %#llx bytes:", fam_names[c->fam], c->form, c->mode,
            (unsigned long long)c->rip);
    for (int i = 0; i < c->insn.len; i++)
        fprintf(f, " %02x", c->insn.b[i]);
    if (ZYAN_SUCCESS(ZydisDisassembleIntel(mm, c->rip, c->insn.b, (ZyanUSize)c->insn.len, &di)))
        fprintf(f, "   [%s]\n", di.text);
    else
        fprintf(f, "   [undecodable]\n");
    int nr = c->mode == 64 ? 16 : 8;
    for (int i = 0; i < nr; i++)
        fprintf(f, "  in %-4s %016llx%s", rn[i], (unsigned long long)c->gpr[i], (i % 4 == 3) ? "\n" : "");
    fprintf(f, "  in rflags %06llx fs_base %llx gs_base %llx  access %#llx (%s, width %d)\n",
            (unsigned long long)c->rflags, (unsigned long long)c->fs_base, (unsigned long long)c->gs_base,
            (unsigned long long)c->prim, c->prim_access == 2 ? "write" : "read", c->width);
    if (c->prim >= c->scr && c->prim < c->scr + SCR_SIZE) {
        uint64_t o = c->prim - c->scr;
        fprintf(f, "  in mem[%#llx..]:", (unsigned long long)c->prim);
        for (uint64_t i = o; i < o + 16 && i < SCR_SIZE; i++)
            fprintf(f, " %02x", c->mem[i]);
        fprintf(f, "\n");
    }
    if (c->nflags & V3N_MXCSR) {
        fprintf(f, "  in mxcsr %04x\n", c->mxcsr);
        for (int i = 0; i < 16; i++) {
            fprintf(f, "  in xmm%-2d ", i);
            for (int j = 15; j >= 0; j--)
                fprintf(f, "%02x", c->xmm[i][j]);
            fprintf(f, "%s", (i % 2) ? "\n" : "");
        }
    }
}

/* SPDX-License-Identifier: MIT */
/* Linux loaders (bzImage, PVH), image detection, the PC layout's e820 map
 * and the firmware tables.  Images are built here with chosen header
 * fields; expected values come from the x86 boot protocol (boot.rst,
 * zero-page.rst), the PVH start-info ABI, the PC memory map and the ACPI /
 * MP specifications, and guest memory is read back.
 *
 * With "--dump DIR" the program writes the ACPI tables of a 2-CPU, 5 GiB
 * layout to DIR (one file per table) for the iasl test and exits. */
#include <stdio.h>
#include <stdlib.h>
#include "fakecpu.h"
#include "internal/vm.h"
#include <v3/loader.h>
#include <v3/paging.h>
#include <v3/platform.h>

#define MB (1ull << 20)
#define GB (1ull << 30)

static uint8_t *img;
static size_t img_cap = 8 * MB;

static void w8(uint8_t *p, uint8_t v) { *p = v; }
static void w16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void w32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void w64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t r16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t r32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t r64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* ---- synthetic bzImage ---- */
struct bz {
    uint16_t version;
    uint8_t setup_sects, loadflags, relocatable;
    uint32_t kalign, init_size, initrd_max, cmdline_size;
    uint64_t pref;
    uint16_t xlf;
    size_t pm_len;
};

static struct bz bz_default(void)
{
    return (struct bz){ .version = 0x20f, .setup_sects = 2, .loadflags = 0x01, .relocatable = 1,
                        .kalign = 0x200000, .init_size = 4 * MB, .initrd_max = 0x7fffffff,
                        .cmdline_size = 2047, .pref = 0x1000000, .xlf = 0x1, .pm_len = 0x3000 };
}

#define HDR_END 0x268     /* jump at 0x200 is EB 66: header ends at 0x202 + 0x66 */

static size_t build_bz(const struct bz *b)
{
    size_t pm = ((size_t)(b->setup_sects ? b->setup_sects : 4) + 1) * 512;

    memset(img, 0, pm + b->pm_len);
    for (size_t i = 0; i < pm; i++)
        img[i] = (uint8_t)(0x40 + i * 3);           /* real-mode setup: noise */
    memset(img + 0x1F1, 0, HDR_END - 0x1F1);
    w8(img + 0x1F1, b->setup_sects);
    w16(img + 0x1FA, 0xffff);                       /* vid_mode: normal */
    w16(img + 0x1FE, 0xAA55);
    w8(img + 0x200, 0xEB);
    w8(img + 0x201, HDR_END - 0x202);
    memcpy(img + 0x202, "HdrS", 4);
    w16(img + 0x206, b->version);
    w16(img + 0x20E, 0x1234);                       /* kernel_version pointer */
    w8(img + 0x211, b->loadflags);
    w32(img + 0x214, 0x100000);                     /* code32_start default */
    w32(img + 0x22C, b->initrd_max);
    w32(img + 0x230, b->kalign);
    w8(img + 0x234, b->relocatable);
    w8(img + 0x235, 21);
    w16(img + 0x236, b->xlf);
    w32(img + 0x238, b->cmdline_size);
    w64(img + 0x258, b->pref);
    w32(img + 0x260, b->init_size);
    for (size_t i = 0; i < b->pm_len; i++)
        img[pm + i] = (uint8_t)(i * 7 + 1);
    return pm + b->pm_len;
}

/* ---- synthetic PVH ELF64 ---- */
struct pseg { uint64_t paddr, filesz, memsz; };

static size_t build_pvh(const struct pseg *s, int n, uint64_t entry, int with_note, const char *note_name,
                        int mb_header)
{
    size_t off = 0x1000, note_off = 0x800, nl = 0;
    int ph = n + (with_note ? 1 : 0);

    memset(img, 0, 0x100000);
    memcpy(img, "\x7f" "ELF", 4);
    img[4] = 2; img[5] = 1; img[6] = 1;
    w16(img + 16, 2);                               /* ET_EXEC */
    w16(img + 18, 62);                              /* EM_X86_64 */
    w32(img + 20, 1);
    w64(img + 24, 0xffffffff81000000ull);
    w64(img + 32, 64);                              /* e_phoff */
    w16(img + 52, 64);
    w16(img + 54, 56);
    w16(img + 56, (uint16_t)ph);
    for (int i = 0; i < n; i++) {
        uint8_t *p = img + 64 + 56 * i;
        w32(p, 1);
        w32(p + 4, 7);
        w64(p + 8, off);
        w64(p + 16, 0xffffffff80000000ull + s[i].paddr);
        w64(p + 24, s[i].paddr);
        w64(p + 32, s[i].filesz);
        w64(p + 40, s[i].memsz);
        for (uint64_t k = 0; k < s[i].filesz; k++)
            img[off + k] = (uint8_t)(0x11 * (i + 1) + k);
        off += (s[i].filesz + 0xfff) & ~0xfffull;
    }
    if (with_note) {
        uint8_t *nb = img + note_off;
        /* first an unrelated Xen note (XEN_ELFNOTE_GUEST_OS), then the PVH entry */
        w32(nb, 4); w32(nb + 4, 6); w32(nb + 8, 6);
        memcpy(nb + 12, "Xen", 4);
        memcpy(nb + 16, "linux", 6);
        nl = 12 + 4 + 8;
        w32(nb + nl, (uint32_t)strlen(note_name) + 1); w32(nb + nl + 4, 8); w32(nb + nl + 8, 18);
        memcpy(nb + nl + 12, note_name, strlen(note_name) + 1);
        w64(nb + nl + 12 + ((strlen(note_name) + 1 + 3) & ~3u), entry);
        nl += 12 + ((strlen(note_name) + 1 + 3) & ~3u) + 8;
        uint8_t *p = img + 64 + 56 * n;
        w32(p, 4);
        w64(p + 8, note_off);
        w64(p + 32, nl);
        w64(p + 40, nl);
    }
    if (mb_header) {
        uint32_t flags = 0x10003, at = 0x400;
        w32(img + at, V3_MULTIBOOT_MAGIC);
        w32(img + at + 4, flags);
        w32(img + at + 8, (uint32_t)-(V3_MULTIBOOT_MAGIC + flags));
    }
    return off;
}

static struct v3_vm *vm;
static struct v3_core *C;

static int mkvm(uint64_t ram)
{
    fake_load(NULL, 0);
    vm = fake_vm(ram, 0, NULL);
    C = v3_get_core(vm, 0);
    return 0;
}
static int setup64(void **state) { (void)state; return mkvm(64 * MB); }
static int setup32(void **state) { (void)state; return mkvm(32 * MB); }
static int teardown(void **state)
{
    (void)state;
    v3_free_vm(vm);
    vm = NULL;
    return 0;
}

static uint8_t *gp(uint64_t gpa)
{
    void *p;
    assert_int_equal(v3_gpa_to_hva(vm, gpa, &p), V3_OK);
    return p;
}

static void check_untouched(void)
{
    static const uint8_t zero[65536];
    const uint8_t *p = gp(0);
    for (uint64_t i = 0; i < v3_mem_size(vm); i += sizeof(zero))
        if (memcmp(p + i, zero, sizeof(zero)))
            fail_msg("guest RAM near 0x%llx written by a failed load", (unsigned long long)i);
    assert_int_equal(C->rip, 0xfff0);
    assert_int_equal(C->mode, V3_MODE_REAL);
}

/* ---- e820 from the layout, against the PC memory map ---- */

struct ex { uint64_t a, s; uint32_t t; };

static void check_e820(uint64_t mem, const struct ex *want, unsigned nwant)
{
    struct v3_pc_layout l;
    struct v3_e820_entry e[V3_PC_MAX_E820];
    uint64_t ram = 0;

    assert_int_equal(v3_pc_layout_init(&l, mem, 1), 0);
    unsigned n = v3_pc_e820(&l, e, V3_PC_MAX_E820);
    assert_int_equal(n, nwant);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(e[i].addr, want[i].a);
        assert_int_equal(e[i].size, want[i].s);
        assert_int_equal(e[i].type, want[i].t);
        if (i)
            assert_true(e[i].addr >= e[i - 1].addr + e[i - 1].size);   /* ascending, disjoint */
        if (e[i].type == V3_E820_RAM)
            ram += e[i].size;
        /* nothing usable in the device window */
        if (e[i].type == V3_E820_RAM)
            assert_true(e[i].addr + e[i].size <= 0xC0000000ull || e[i].addr >= 4 * GB);
    }
    /* all RAM except the 0x9FC00-0x100000 hole is usable */
    assert_int_equal(ram, mem - (0x100000 - 0x9FC00));
    /* a short buffer gets the first entries, the count stays the full one */
    memset(e, 0, sizeof(e));
    assert_int_equal(v3_pc_e820(&l, e, 2), nwant);
    assert_int_equal(e[1].addr, want[1].a);
    assert_int_equal(e[2].addr, 0);
}

static void test_e820(void **state)
{
    (void)state;
    const struct ex m128[] = {
        { 0, 0x9FC00, 1 }, { 0x9FC00, 0x400, 2 }, { 0xC0000, 0x40000, 2 }, { 0x100000, 127 * MB, 1 },
        { 0xFEC00000, 0x1000, 2 }, { 0xFEE00000, 0x1000, 2 } };
    const struct ex m3g[] = {
        { 0, 0x9FC00, 1 }, { 0x9FC00, 0x400, 2 }, { 0xC0000, 0x40000, 2 }, { 0x100000, 3 * GB - MB, 1 },
        { 0xFEC00000, 0x1000, 2 }, { 0xFEE00000, 0x1000, 2 } };
    const struct ex m5g[] = {
        { 0, 0x9FC00, 1 }, { 0x9FC00, 0x400, 2 }, { 0xC0000, 0x40000, 2 }, { 0x100000, 3 * GB - MB, 1 },
        { 0xFEC00000, 0x1000, 2 }, { 0xFEE00000, 0x1000, 2 }, { 4 * GB, 2 * GB, 1 } };
    struct v3_pc_layout l;

    check_e820(128 * MB, m128, 6);
    check_e820(3 * GB, m3g, 6);
    check_e820(5 * GB, m5g, 7);
    assert_int_equal(v3_pc_layout_init(&l, 5 * GB, 4), 0);
    assert_int_equal(l.low_ram_top, 0xC0000000ull);
    assert_int_equal(l.ioapic_id, 4);
    assert_int_equal(l.overrides[0].isa_irq, 0);
    assert_int_equal(l.overrides[0].gsi, 2);
    assert_int_equal(v3_pc_layout_init(&l, MB, 1), V3_EINVAL);
    assert_int_equal(v3_pc_layout_init(&l, 64 * MB + 5, 1), V3_EINVAL);
    assert_int_equal(v3_pc_layout_init(&l, 64 * MB, 0), V3_EINVAL);
    assert_int_equal(v3_pc_layout_init(&l, 64 * MB, V3_PC_MAX_CPUS + 1), V3_EINVAL);
    assert_int_equal(v3_pc_layout_init(NULL, 64 * MB, 1), V3_EINVAL);
}

/* ---- bzImage ---- */

static void check_zero_page_e820(const uint8_t *zp, uint64_t mem)
{
    struct v3_pc_layout l;
    struct v3_e820_entry e[V3_PC_MAX_E820];
    unsigned n;

    assert_int_equal(v3_pc_layout_init(&l, mem, 1), 0);
    n = v3_pc_e820(&l, e, V3_PC_MAX_E820);
    assert_int_equal(zp[0x1E8], n);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(r64(zp + 0x2D0 + 20 * i), e[i].addr);
        assert_int_equal(r64(zp + 0x2D0 + 20 * i + 8), e[i].size);
        assert_int_equal(r32(zp + 0x2D0 + 20 * i + 16), e[i].type);
    }
    /* first entry: conventional memory below the EBDA */
    assert_int_equal(r64(zp + 0x2D0), 0);
    assert_int_equal(r64(zp + 0x2D0 + 8), 0x9FC00);
}

static void check_rsdp_at(uint64_t a)
{
    const uint8_t *r = gp(a);
    uint8_t s = 0;
    assert_memory_equal(r, "RSD PTR ", 8);
    for (int i = 0; i < 20; i++)
        s = (uint8_t)(s + r[i]);
    assert_int_equal(s, 0);
}

static void check_flat_segs(int long_mode)
{
    for (int s = V3_ES; s <= V3_GS; s++) {
        assert_int_equal(C->seg[s].selector, s == V3_CS ? 0x10 : 0x18);
        assert_int_equal(C->seg[s].base, 0);
        assert_int_equal(C->seg[s].limit, 0xffffffffu);
        assert_true(C->seg[s].attrib & V3_SEG_P);
        assert_int_equal(V3_SEG_TYPE(C->seg[s].attrib) & 0xa, s == V3_CS ? 0xa : 0x2);
    }
    assert_int_equal(!!(C->seg[V3_CS].attrib & V3_SEG_L), long_mode);
    assert_int_equal(!!(C->seg[V3_CS].attrib & V3_SEG_DB), !long_mode);
    /* the GDT in guest memory says the same (selector 0x10 code, 0x18 data) */
    uint64_t code = r64(gp(C->gdtr.base + 0x10)), data = r64(gp(C->gdtr.base + 0x18));
    assert_true(C->gdtr.limit >= 0x1f);
    assert_int_equal((code >> 40) & 0x9a, 0x9a);              /* present, code, readable */
    assert_int_equal((code >> 53) & 1, long_mode);            /* L */
    assert_int_equal((code >> 54) & 1, !long_mode);           /* D */
    assert_int_equal((data >> 40) & 0x92, 0x92);              /* present, data, writable */
    assert_int_equal(((data >> 16) & 0xffffff) | ((data >> 32) & 0xff000000), 0);   /* base 0 */
    assert_int_equal((data & 0xffff) | ((data >> 32) & 0xf0000), 0xfffff);          /* limit, G */
    assert_false(v3_core_get_rflags(C) & (V3_FLAG_IF | V3_FLAG_VM | V3_FLAG_TF));
    assert_int_equal(C->cpl, 0);
}

static void test_bz_64(void **state)
{
    (void)state;
    struct bz b = bz_default();
    size_t len = build_bz(&b);
    static uint8_t rd[10000];
    const char *cmd = "console=ttyS0 earlyprintk=serial rdinit=/init";
    struct v3_linux_boot lb = { .cmdline = cmd, .initrd = rd, .initrd_len = sizeof(rd) };
    struct v3_linux_info li;

    for (size_t i = 0; i < sizeof(rd); i++)
        rd[i] = (uint8_t)(i * 13);
    assert_int_equal(v3_detect_image(img, len), V3_IMAGE_BZIMAGE);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    /* protected-mode code after (2+1)*512 bytes, at pref_address */
    assert_int_equal(li.load_addr, 0x1000000);
    assert_memory_equal(gp(0x1000000), img + 0x600, b.pm_len);
    assert_int_equal(li.entry64, 1);
    assert_int_equal(li.protocol, 0x20f);

    const uint8_t *zp = gp(V3_LINUX_ZERO_PAGE);
    /* header copied at 0x1F1 for its length; fields the loader owns are written */
    for (size_t o = 0x1F1; o < HDR_END; o++) {
        if ((o >= 0x210 && o < 0x212) || (o >= 0x214 && o < 0x220) || (o >= 0x224 && o < 0x22C))
            continue;
        if (zp[o] != img[o])
            fail_msg("zero page byte 0x%zx: 0x%02x, image 0x%02x", o, zp[o], img[o]);
    }
    for (size_t o = HDR_END; o < 0x2D0; o++)          /* nothing past the header but ... */
        if (zp[o] && o != 0x2D0)
            fail_msg("zero page byte 0x%zx set (0x%02x)", o, zp[o]);
    assert_int_equal(zp[0x210], 0xFF);                 /* type_of_loader */
    assert_int_equal(zp[0x211], 0x81);                 /* LOADED_HIGH | CAN_USE_HEAP */
    assert_true(r16(zp + 0x224) != 0);                 /* heap_end_ptr */
    assert_int_equal(r32(zp + 0x214), 0x1000000);      /* code32_start = load address */
    assert_int_equal(r32(zp + 0x228), V3_LINUX_CMDLINE);
    assert_int_equal(r32(zp + 0x0C8), 0);
    assert_string_equal((const char *)gp(r32(zp + 0x228)), cmd);
    /* initrd: as high as RAM allows, page aligned */
    uint32_t ri = r32(zp + 0x218);
    assert_int_equal(ri, (64 * MB - sizeof(rd)) & ~0xfffull);
    assert_int_equal(r32(zp + 0x21C), sizeof(rd));
    assert_int_equal(r32(zp + 0x0C0), 0);
    assert_int_equal(r32(zp + 0x0C4), 0);
    assert_memory_equal(gp(ri), rd, sizeof(rd));
    assert_int_equal(li.initrd_addr, ri);
    check_zero_page_e820(zp, 64 * MB);
    /* acpi_rsdp_addr (protocol 2.14+) */
    check_rsdp_at(r64(zp + 0x070));
    assert_int_equal(r64(zp + 0x070), li.rsdp);
    /* BIOS data area */
    assert_int_equal(r16(gp(0x40E)), 0x9FC0);
    assert_int_equal(r16(gp(0x413)), 639);

    /* entry state: 64-bit mode at load + 0x200 */
    assert_int_equal(C->rip, 0x1000200);
    assert_int_equal(C->mode, V3_MODE_LONG64);
    assert_int_equal(C->gpr[V3_RSI], V3_LINUX_ZERO_PAGE);
    assert_true((C->cr0 & (V3_CR0_PE | V3_CR0_PG)) == (V3_CR0_PE | V3_CR0_PG));
    assert_true(C->cr4 & V3_CR4_PAE);
    assert_true((C->efer & (V3_EFER_LME | V3_EFER_LMA)) == (V3_EFER_LME | V3_EFER_LMA));
    check_flat_segs(1);
    /* page tables in reserved memory, identity over the first 4 GiB (walked by the paging code) */
    assert_true(C->cr3 >= 0xC0000 && C->cr3 < 0x100000);
    static const uint64_t probe[] = { 0, 0x7000, 0x1000200, 0x3ffffff, 0x40000000, 0xbfffffff,
                                      0xfee00000, 0xffffffff };
    for (unsigned i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
        uint64_t gpa = 0;
        struct v3_exception exc;
        static const unsigned acc[] = { V3_ACCESS_READ, V3_ACCESS_WRITE, V3_ACCESS_EXEC };
        for (unsigned k = 0; k < 3; k++) {
            gpa = 0;
            assert_int_equal(v3_gva_check(C, probe[i], acc[k], &gpa, &exc), V3_OK);
            assert_int_equal(gpa, probe[i]);
        }
    }
    uint64_t gpa;
    struct v3_exception exc;
    assert_int_equal(v3_gva_check(C, 0x100000000ull, V3_ACCESS_READ, &gpa, &exc), V3_EFAULT);
}

static void test_bz_32(void **state)
{
    (void)state;
    struct bz b = bz_default();
    struct v3_linux_boot lb = { .cmdline = "x" };
    struct v3_linux_info li;

    /* protocol 2.11: no xloadflags, the 32-bit entry */
    b.version = 0x20b;
    b.xlf = 0x1;
    size_t len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(li.entry64, 0);
    assert_int_equal(C->rip, 0x1000000);
    assert_int_equal(C->mode, V3_MODE_PROT32);
    assert_false(C->cr0 & V3_CR0_PG);
    assert_true(C->cr0 & V3_CR0_PE);
    assert_false(C->efer & V3_EFER_LME);
    assert_int_equal(C->gpr[V3_RSI], V3_LINUX_ZERO_PAGE);
    assert_int_equal(C->gpr[V3_RBX], 0);
    assert_int_equal(C->gpr[V3_RBP], 0);
    assert_int_equal(C->gpr[V3_RDI], 0);
    check_flat_segs(0);
    /* protocol 2.11 has no acpi_rsdp_addr */
    assert_int_equal(r64(gp(V3_LINUX_ZERO_PAGE) + 0x070), 0);

    /* a 64-bit capable kernel, 32-bit entry forced */
    b = bz_default();
    len = build_bz(&b);
    lb.force_32bit = 1;
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(C->rip, 0x1000000);
    assert_int_equal(C->mode, V3_MODE_PROT32);
    check_flat_segs(0);

    /* no XLF_KERNEL_64 at protocol 2.15 */
    b.xlf = 0;
    len = build_bz(&b);
    lb.force_32bit = 0;
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(C->mode, V3_MODE_PROT32);
}

static void test_bz_bad(void **state)
{
    (void)state;
    struct bz b;
    size_t len;
    static uint8_t rd[4096];
    struct v3_linux_boot lb = { 0 };

    b = bz_default();
    len = build_bz(&b);
    w16(img + 0x1FE, 0xAA56);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, NULL), V3_EIMAGE);
    assert_int_equal(v3_detect_image(img, len), V3_IMAGE_UNKNOWN);
    len = build_bz(&b);
    img[0x205] = 'T';
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, NULL), V3_EIMAGE);
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, 0x300, &lb, NULL), V3_EIMAGE);     /* truncated */
    b.setup_sects = 40;                                                           /* setup past the end */
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, 0x2000, &lb, NULL), V3_EIMAGE);
    b = bz_default();
    b.version = 0x205;
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, NULL), V3_EUNSUPPORTED);
    b = bz_default();
    b.loadflags = 0;                                                              /* zImage */
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, NULL), V3_EUNSUPPORTED);
    b = bz_default();
    b.kalign = 0x300000;                                                          /* not a power of 2 */
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, NULL), V3_EIMAGE);
    /* init_size: 16 MiB + 16 MiB is exactly the 32 MiB of RAM: fits; one page more does not */
    b = bz_default();
    b.init_size = 16 * MB + 4096;
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, NULL), V3_ESIZE);
    /* pref_address beyond RAM; one that would wrap around when aligned */
    b = bz_default();
    b.pref = 0x4000000;
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, NULL), V3_ESIZE);
    b.pref = ~0xfffull;
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, NULL), V3_ESIZE);
    /* an initrd that cannot fit above the kernel's init_size */
    b = bz_default();
    b.init_size = 16 * MB - 4096;
    len = build_bz(&b);
    lb.initrd = rd;
    lb.initrd_len = 8192;
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, NULL), V3_ESIZE);
    /* initrd_addr_max below the kernel */
    b = bz_default();
    b.initrd_max = 0xffffff;
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, NULL), V3_ESIZE);
    /* NULL arguments */
    assert_int_equal(v3_load_bzimage(NULL, img, len, &lb, NULL), V3_EINVAL);
    assert_int_equal(v3_load_bzimage(vm, NULL, len, &lb, NULL), V3_EINVAL);
    assert_int_equal(v3_load_bzimage(vm, img, len, NULL, NULL), V3_EINVAL);
    lb.initrd = NULL;
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, NULL), V3_EINVAL);
    check_untouched();

    /* the boundary case of init_size fits */
    b = bz_default();
    b.init_size = 16 * MB;
    len = build_bz(&b);
    lb.initrd_len = 0;
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, NULL), V3_OK);
}

static void test_bz_placement(void **state)
{
    (void)state;
    struct bz b = bz_default();
    static uint8_t rd[3 * 4096 + 5];
    struct v3_linux_boot lb = { .initrd = rd, .initrd_len = sizeof(rd) };
    struct v3_linux_info li;
    size_t len;

    /* initrd_addr_max limits: the initrd ends at or below initrd_addr_max + 1 */
    b.initrd_max = 0x2ffffff;                         /* 48 MiB - 1 */
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(li.initrd_addr, (48 * MB - sizeof(rd)) & ~0xfffull);
    assert_int_equal(r32(gp(V3_LINUX_ZERO_PAGE) + 0x218), li.initrd_addr);
    /* a non-page-aligned initrd_addr_max */
    b.initrd_max = 0x2fff7ff;
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(li.initrd_addr, (0x2fff800 - sizeof(rd)) & ~0xfffull);
    assert_true(li.initrd_addr + sizeof(rd) <= 0x2fff800);
    /* RAM limits (64 MiB) */
    b.initrd_max = 0x7fffffff;
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(li.initrd_addr, (64 * MB - sizeof(rd)) & ~0xfffull);
    assert_true(li.initrd_addr >= li.load_end);

    /* relocatable: pref_address rounded up to kernel_alignment */
    b.pref = 0x1100000;
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(li.load_addr, 0x1200000);
    assert_int_equal(C->rip, 0x1200200);
    assert_memory_equal(gp(0x1200000), img + 0x600, b.pm_len);
    /* not relocatable: at pref_address as is */
    b.relocatable = 0;
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(li.load_addr, 0x1100000);
    /* protocol 2.09: no pref_address, so 1 MiB, rounded up to kernel_alignment if relocatable;
     * setup_sects 0 means 4 */
    b = bz_default();
    b.version = 0x209;
    b.setup_sects = 0;
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(li.load_addr, 0x200000);
    b.relocatable = 0;
    len = build_bz(&b);
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(li.load_addr, 0x100000);
    assert_memory_equal(gp(0x100000), img + 5 * 512, b.pm_len);
    assert_int_equal(C->mode, V3_MODE_PROT32);
}

static void test_bz_cmdline(void **state)
{
    (void)state;
    struct bz b = bz_default();
    struct v3_linux_boot lb = { 0 };
    struct v3_linux_info li;
    const char *longc = "0123456789abcdefXYZ-this-part-is-cut";
    size_t len;

    b.cmdline_size = 16;
    len = build_bz(&b);
    lb.cmdline = longc;
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(li.cmdline_truncated, 1);
    assert_string_equal((const char *)gp(V3_LINUX_CMDLINE), "0123456789abcdef");
    lb.cmdline = "0123456789abcdef";                   /* exactly cmdline_size: kept */
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(li.cmdline_truncated, 0);
    assert_string_equal((const char *)gp(V3_LINUX_CMDLINE), "0123456789abcdef");
    lb.cmdline = NULL;                                  /* none: empty string */
    assert_int_equal(v3_load_bzimage(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(*gp(V3_LINUX_CMDLINE), 0);
    assert_int_equal(r32(gp(V3_LINUX_ZERO_PAGE) + 0x228), V3_LINUX_CMDLINE);
}

/* ---- PVH ---- */

static void test_pvh(void **state)
{
    (void)state;
    const struct pseg s[2] = { { 0x1000000, 0x2345, 0x2345 }, { 0x1400000, 0x100, 0x5000 } };
    static uint8_t rd[7000];
    const char *cmd = "console=hvc0 root=/dev/ram0";
    struct v3_linux_boot lb = { .cmdline = cmd, .initrd = rd, .initrd_len = sizeof(rd) };
    struct v3_linux_info li;
    size_t len = build_pvh(s, 2, 0x1000850, 1, "Xen", 0);

    for (size_t i = 0; i < sizeof(rd); i++)
        rd[i] = (uint8_t)(i ^ 0x5a);
    memset(gp(0x1400000), 0xcc, 0x5000);              /* bss must be cleared */
    assert_int_equal(v3_detect_image(img, len), V3_IMAGE_PVH);
    assert_int_equal(v3_load_pvh(vm, img, len, &lb, &li), V3_OK);
    for (uint64_t k = 0; k < 0x2345; k++)
        assert_int_equal(gp(0x1000000)[k], (uint8_t)(0x11 + k));
    for (uint64_t k = 0; k < 0x100; k++)
        assert_int_equal(gp(0x1400000)[k], (uint8_t)(0x22 + k));
    for (uint64_t k = 0x100; k < 0x5000; k++)
        assert_int_equal(gp(0x1400000)[k], 0);
    assert_int_equal(li.load_end, 0x1405000);

    /* hvm_start_info, version 1 */
    const uint8_t *si = gp(V3_LINUX_ZERO_PAGE);
    assert_int_equal(r32(si), 0x336EC578);
    assert_int_equal(r32(si + 4), 1);
    assert_int_equal(r32(si + 12), 1);                 /* nr_modules */
    const uint8_t *mod = gp(r64(si + 16));
    assert_int_equal(r64(mod), (64 * MB - sizeof(rd)) & ~0xfffull);
    assert_int_equal(r64(mod + 8), sizeof(rd));
    assert_memory_equal(gp(r64(mod)), rd, sizeof(rd));
    assert_string_equal((const char *)gp(r64(si + 24)), cmd);
    check_rsdp_at(r64(si + 32));
    struct v3_pc_layout l;
    struct v3_e820_entry e[V3_PC_MAX_E820];
    assert_int_equal(v3_pc_layout_init(&l, 64 * MB, 1), 0);
    unsigned n = v3_pc_e820(&l, e, V3_PC_MAX_E820);
    assert_int_equal(r32(si + 48), n);
    const uint8_t *mm = gp(r64(si + 40));
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(r64(mm + 24 * i), e[i].addr);
        assert_int_equal(r64(mm + 24 * i + 8), e[i].size);
        assert_int_equal(r32(mm + 24 * i + 16), e[i].type);
    }
    /* the lists do not overlap the start info */
    assert_true(r64(si + 16) >= V3_LINUX_ZERO_PAGE + 56);
    assert_true(r64(si + 40) >= r64(si + 16) + 32);

    /* entry state: 32-bit flat protected mode, paging off, EBX = start info */
    assert_int_equal(C->rip, 0x1000850);
    assert_int_equal(C->mode, V3_MODE_PROT32);
    assert_int_equal(C->gpr[V3_RBX], V3_LINUX_ZERO_PAGE);
    assert_int_equal(C->cr0 & (V3_CR0_PE | V3_CR0_PG), V3_CR0_PE);
    assert_int_equal(C->cr4, 0);
    assert_int_equal(C->seg[V3_TR].base, 0);
    assert_int_equal(C->seg[V3_TR].limit, 0x67);
    check_flat_segs(0);

    /* no initrd: nr_modules 0 */
    lb.initrd = NULL;
    lb.initrd_len = 0;
    assert_int_equal(v3_load_pvh(vm, img, len, &lb, &li), V3_OK);
    assert_int_equal(r32(gp(V3_LINUX_ZERO_PAGE) + 12), 0);
}

static void test_pvh_bad(void **state)
{
    (void)state;
    const struct pseg s[2] = { { 0x1000000, 0x2345, 0x2345 }, { 0x1400000, 0x100, 0x5000 } };
    struct v3_linux_boot lb = { 0 };
    size_t len;

    len = build_pvh(s, 2, 0x1000850, 0, "Xen", 0);        /* no note */
    assert_int_equal(v3_load_pvh(vm, img, len, &lb, NULL), V3_EIMAGE);
    assert_int_equal(v3_detect_image(img, len), V3_IMAGE_UNKNOWN);
    len = build_pvh(s, 2, 0x1000850, 0, "Xen", 1);        /* no note, multiboot header: multiboot */
    assert_int_equal(v3_detect_image(img, len), V3_IMAGE_MULTIBOOT);
    len = build_pvh(s, 2, 0x1000850, 1, "Xen", 1);        /* both: PVH */
    assert_int_equal(v3_detect_image(img, len), V3_IMAGE_PVH);
    len = build_pvh(s, 2, 0x1000850, 1, "Xem", 0);        /* wrong owner */
    assert_int_equal(v3_load_pvh(vm, img, len, &lb, NULL), V3_EIMAGE);
    len = build_pvh(s, 2, 0x3000000, 1, "Xen", 0);        /* entry outside the kernel */
    assert_int_equal(v3_load_pvh(vm, img, len, &lb, NULL), V3_EIMAGE);
    const struct pseg big[1] = { { 0x1f00000, 0x100, 0x200000 } };   /* past 32 MiB */
    len = build_pvh(big, 1, 0x1f00000, 1, "Xen", 0);
    assert_int_equal(v3_load_pvh(vm, img, len, &lb, NULL), V3_ESIZE);
    const struct pseg ov[2] = { { 0x1000000, 0x100, 0x2000 }, { 0x1001000, 0x100, 0x100 } };
    len = build_pvh(ov, 2, 0x1000000, 1, "Xen", 0);
    assert_int_equal(v3_load_pvh(vm, img, len, &lb, NULL), V3_EOVERLAP);
    len = build_pvh(s, 2, 0x1000850, 1, "Xen", 0);
    assert_int_equal(v3_load_pvh(vm, img, 100, &lb, NULL), V3_EIMAGE);       /* truncated */
    img[0] = 0;
    assert_int_equal(v3_load_pvh(vm, img, len, &lb, NULL), V3_EIMAGE);       /* not ELF */
    check_untouched();
}

/* ---- firmware tables ---- */

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

static const uint8_t *table(const uint8_t *fw, uint64_t base, uint64_t addr, const char *sig)
{
    const uint8_t *t;
    assert_true(addr >= base && addr < base + 0x20000);
    t = fw + (addr - base);
    assert_memory_equal(t, sig, 4);
    assert_int_equal(sum(t, r32(t + 4)), 0);
    return t;
}

static void check_tables(unsigned cpus, uint64_t mem)
{
    struct v3_pc_layout l;
    struct v3_pc_tables w;
    uint8_t *fw = calloc(1, 0x20000);
    const uint8_t *r, *x, *f, *m, *d;

    assert_non_null(fw);
    assert_int_equal(v3_pc_layout_init(&l, mem, cpus), 0);
    assert_int_equal(v3_pc_build_tables(&l, fw, 0x20000, &w), 0);
    assert_int_equal(l.fw_area, 0xE0000);
    /* RSDP v2: both checksums, 16-byte aligned in the BIOS scan range */
    r = fw + (w.rsdp - 0xE0000);
    assert_int_equal(w.rsdp & 15, 0);
    assert_memory_equal(r, "RSD PTR ", 8);
    assert_int_equal(sum(r, 20), 0);
    assert_int_equal(r[15], 2);
    assert_int_equal(r32(r + 20), 36);
    assert_int_equal(sum(r, 36), 0);
    /* XSDT -> FACP, APIC; RSDT the same */
    x = table(fw, 0xE0000, r64(r + 24), "XSDT");
    assert_int_equal(r32(x + 4), 36 + 16);
    const uint8_t *rs = table(fw, 0xE0000, r32(r + 16), "RSDT");
    assert_int_equal(r32(rs + 36), r64(x + 36));
    assert_int_equal(r32(rs + 40), r64(x + 44));
    f = table(fw, 0xE0000, r64(x + 36), "FACP");
    m = table(fw, 0xE0000, r64(x + 44), "APIC");
    /* FADT */
    assert_int_equal(r32(f + 4), 276);
    assert_true(f[8] >= 5);
    assert_int_equal(r32(f + 40), r64(f + 140));        /* DSDT == X_DSDT */
    d = table(fw, 0xE0000, r64(f + 140), "DSDT");
    assert_int_equal(r16(f + 46), 9);                    /* SCI */
    assert_int_equal(r32(f + 56), 0x600);
    assert_int_equal(r32(f + 64), 0x604);
    assert_int_equal(r32(f + 76), 0x608);
    assert_int_equal(f[88], 4);
    assert_int_equal(f[89], 2);
    assert_int_equal(f[91], 4);
    uint32_t flags = r32(f + 112);
    assert_true(flags & (1u << 8));                      /* TMR_VAL_EXT */
    assert_false(flags & (1u << 20));                    /* not HW_REDUCED */
    assert_true(flags & (1u << 10));                     /* RESET_REG_SUP */
    assert_int_equal(f[116], 1);                         /* reset register: system I/O */
    assert_int_equal(r64(f + 120), 0xCF9);
    assert_int_equal(f[128], 6);
    assert_int_equal(f[148], 1);                         /* X_PM1a_EVT_BLK */
    assert_int_equal(r64(f + 152), 0x600);
    assert_int_equal(r64(f + 176), 0x604);
    assert_int_equal(r64(f + 212), 0x608);
    assert_int_equal(f[209], 32);
    const uint8_t *facs = fw + (r64(f + 132) - 0xE0000);
    assert_int_equal(r64(f + 132) & 63, 0);
    assert_memory_equal(facs, "FACS", 4);
    assert_int_equal(r32(f + 36), 0);                   /* only X_FIRMWARE_CTRL */
    /* MADT: LAPIC per CPU, one IOAPIC, overrides IRQ0->2 and IRQ9 level/high, LINT1 NMI */
    assert_int_equal(r32(m + 36), 0xFEE00000);
    unsigned nl = 0, nio = 0, nov = 0, nnmi = 0;
    for (uint32_t o = 44; o < r32(m + 4); o += m[o + 1]) {
        assert_true(m[o + 1] >= 2);
        switch (m[o]) {
        case 0: assert_int_equal(m[o + 3], nl); assert_int_equal(r32(m + o + 4) & 1, 1); nl++; break;
        case 1: assert_int_equal(r32(m + o + 4), 0xFEC00000); assert_int_equal(r32(m + o + 8), 0);
                assert_int_equal(m[o + 2], cpus); nio++; break;
        case 2:
            if (m[o + 3] == 0) { assert_int_equal(r32(m + o + 4), 2); nov |= 1; }
            if (m[o + 3] == 9) { assert_int_equal(r32(m + o + 4), 9); assert_int_equal(r16(m + o + 8), 0xd); nov |= 2; }
            break;
        case 4: assert_int_equal(m[o + 5], 1); nnmi++; break;
        default: fail_msg("unexpected MADT entry type %u", m[o]);
        }
    }
    assert_int_equal(nl, cpus);
    assert_int_equal(nio, 1);
    assert_int_equal(nov, 3);
    assert_int_equal(nnmi, 1);
    /* DSDT AML mentions _S5_ and the COM1 EISA id PNP0501 (0x0105D041) */
    int s5 = 0, com = 0;
    for (uint32_t o = 36; o + 4 <= r32(d + 4); o++) {
        s5 |= !memcmp(d + o, "_S5_", 4);
        com |= r32(d + o) == 0x0105D041;
    }
    assert_true(s5 && com);
    /* MP floating pointer in 0xF0000-0xFFFFF, config table checksums */
    const uint8_t *mp = fw + (w.mp_float - 0xE0000);
    assert_true(w.mp_float >= 0xF0000 && (w.mp_float & 15) == 0);
    assert_memory_equal(mp, "_MP_", 4);
    assert_int_equal(sum(mp, 16), 0);
    const uint8_t *pc = fw + (r32(mp + 4) - 0xE0000);
    assert_memory_equal(pc, "PCMP", 4);
    assert_int_equal(sum(pc, r16(pc + 4)), 0);
    unsigned count = r16(pc + 34), procs = 0, ioints = 0;
    uint32_t o = 44;
    for (unsigned i = 0; i < count; i++) {
        uint8_t t = pc[o];
        if (t == 0) { procs++; assert_int_equal(!!(pc[o + 3] & 2), pc[o + 1] == 0); }
        if (t == 3) {
            ioints++;
            if (pc[o + 5] == 0 && pc[o + 1] == 0)
                assert_int_equal(pc[o + 7], 2);          /* IRQ0 -> INTIN2 */
        }
        o += t == 0 ? 20 : 8;
    }
    assert_int_equal(o, r16(pc + 4));
    assert_int_equal(procs, cpus);
    assert_int_equal(ioints, 16);                        /* ExtINT + 15 ISA IRQs */
    free(fw);
}

static void test_tables(void **state)
{
    (void)state;
    check_tables(1, 128 * MB);
    check_tables(4, 5 * GB);
    check_tables(V3_PC_MAX_CPUS, 3 * GB);
    struct v3_pc_layout l;
    uint8_t small[0x100];
    assert_int_equal(v3_pc_layout_init(&l, 128 * MB, 1), 0);
    assert_int_equal(v3_pc_build_tables(&l, small, sizeof(small), NULL), V3_EINVAL);
}

static int dump_tables(const char *dir)
{
    struct v3_pc_layout l;
    struct v3_pc_tables w;
    static uint8_t fw[0x20000];
    const struct { const char *name; uint64_t *addr; } t[] = {
        { "facp", &w.fadt }, { "apic", &w.madt }, { "dsdt", &w.dsdt }, { "xsdt", &w.xsdt } };

    if (v3_pc_layout_init(&l, 5 * GB, 2) || v3_pc_build_tables(&l, fw, sizeof(fw), &w))
        return 1;
    for (unsigned i = 0; i < 4; i++) {
        char path[4096];
        const uint8_t *p = fw + (*t[i].addr - l.fw_area);
        snprintf(path, sizeof(path), "%s/%s.dat", dir, t[i].name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(p, 1, r32(p + 4), f) != r32(p + 4) || fclose(f))
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--dump"))
        return v3t_setup(NULL) || dump_tables(argv[2]);
    img = calloc(1, img_cap);
    if (!img)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_e820),
        cmocka_unit_test(test_tables),
        cmocka_unit_test_setup_teardown(test_bz_64, setup64, teardown),
        cmocka_unit_test_setup_teardown(test_bz_32, setup64, teardown),
        cmocka_unit_test_setup_teardown(test_bz_bad, setup32, teardown),
        cmocka_unit_test_setup_teardown(test_bz_placement, setup64, teardown),
        cmocka_unit_test_setup_teardown(test_bz_cmdline, setup64, teardown),
        cmocka_unit_test_setup_teardown(test_pvh, setup64, teardown),
        cmocka_unit_test_setup_teardown(test_pvh_bad, setup32, teardown),
    };
    int rc = cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
    free(img);
    return rc;
}

/* SPDX-License-Identifier: MIT */
/* Loaders: multiboot v1 (ELF32, a.out kludge) and flat binaries, good and bad images.
 * Images are built here byte by byte; the expected guest memory and
 * multiboot information are computed from the multiboot specification. */
#include <stdlib.h>
#include "fakecpu.h"
#include "internal/vm.h"
#include <v3/loader.h>

#define MB (1ull << 20)
#define RAM (16 * MB)

static uint8_t img[64 * 1024];

static void w16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void w32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t r32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

struct eseg {
    uint32_t type, paddr, vaddr, filesz, memsz;
    uint8_t fill;                     /* file bytes are fill, fill+1, ... */
};

/* ELF32 executable: header, program headers, multiboot header, then segment data at 0x1000 steps. */
static size_t build_elf(uint32_t entry, const struct eseg *s, int n, uint32_t mbflags)
{
    size_t off = 0x1000;

    memset(img, 0, sizeof(img));
    memcpy(img, "\x7f" "ELF", 4);
    img[4] = 1;                       /* 32-bit */
    img[5] = 1;                       /* little endian */
    img[6] = 1;
    w16(img + 16, 2);                 /* ET_EXEC */
    w16(img + 18, 3);                 /* EM_386 */
    w32(img + 20, 1);
    w32(img + 24, entry);
    w32(img + 28, 52);                /* e_phoff */
    w16(img + 40, 52);
    w16(img + 42, 32);
    w16(img + 44, (uint16_t)n);
    for (int i = 0; i < n; i++) {
        uint8_t *ph = img + 52 + 32 * i;
        w32(ph, s[i].type ? s[i].type : 1);
        w32(ph + 4, (uint32_t)off);
        w32(ph + 8, s[i].vaddr ? s[i].vaddr : s[i].paddr);
        w32(ph + 12, s[i].paddr);
        w32(ph + 16, s[i].filesz);
        w32(ph + 20, s[i].memsz);
        for (uint32_t k = 0; k < s[i].filesz && off + k < sizeof(img); k++)
            img[off + k] = (uint8_t)(s[i].fill + k);
        off += (s[i].filesz + 0xfff) & ~0xfffu;
        if (!s[i].filesz)
            off += 0x1000;
    }
    size_t mb = (52 + 32 * (size_t)n + 3) & ~(size_t)3;
    w32(img + mb, V3_MULTIBOOT_MAGIC);
    w32(img + mb + 4, mbflags);
    w32(img + mb + 8, (uint32_t)-(V3_MULTIBOOT_MAGIC + mbflags));
    return off;
}

/* a.out-kludge image: multiboot header at @hdr_off, code bytes 0x90.. after it. */
static size_t build_aout(size_t hdr_off, size_t len, uint32_t load_addr, uint32_t load_end, uint32_t bss_end,
                         uint32_t entry)
{
    uint32_t flags = 0x10000;

    memset(img, 0, sizeof(img));
    for (size_t i = 0; i < len; i++)
        img[i] = (uint8_t)(0x90 + i);
    w32(img + hdr_off, V3_MULTIBOOT_MAGIC);
    w32(img + hdr_off + 4, flags);
    w32(img + hdr_off + 8, (uint32_t)-(V3_MULTIBOOT_MAGIC + flags));
    w32(img + hdr_off + 12, load_addr + (uint32_t)hdr_off);    /* header_addr */
    w32(img + hdr_off + 16, load_addr);
    w32(img + hdr_off + 20, load_end);
    w32(img + hdr_off + 24, bss_end);
    w32(img + hdr_off + 28, entry);
    return len;
}

static struct v3_vm *vm;
static struct v3_core *C;

static int setup(void **state)
{
    fake_load(NULL, 0);
    vm = fake_vm(RAM, 0, NULL);
    C = v3_get_core(vm, 0);
    return 0;
}

static int setup_small(void **state)
{
    fake_load(NULL, 0);
    vm = fake_vm(2 * MB, 0, NULL);
    C = v3_get_core(vm, 0);
    return 0;
}

static int teardown(void **state)
{
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

static void check_entry_state(uint64_t entry, uint64_t info)
{
    assert_int_equal(C->rip, entry);
    assert_int_equal(C->gpr[V3_RAX], V3_MULTIBOOT_BOOT_MAGIC);
    assert_int_equal(C->gpr[V3_RBX], info);
    assert_int_equal(C->mode, V3_MODE_PROT32);
    assert_true(C->cr0 & V3_CR0_PE);
    assert_false(C->cr0 & V3_CR0_PG);
    assert_false(v3_core_get_rflags(C) & (V3_FLAG_IF | V3_FLAG_VM));
    for (int s = V3_ES; s <= V3_GS; s++) {
        assert_int_equal(C->seg[s].base, 0);
        assert_int_equal(C->seg[s].limit, 0xffffffffu);
        assert_true(C->seg[s].attrib & V3_SEG_DB);
        assert_true(C->seg[s].attrib & V3_SEG_P);
        /* code: execute/read; data: read/write */
        assert_int_equal(V3_SEG_TYPE(C->seg[s].attrib) & 0xa, s == V3_CS ? 0xa : 0x2);
    }
    assert_int_equal(C->cpl, 0);
}

/* RAM all zero: a failed load wrote nothing. */
static void check_untouched(void)
{
    static const uint8_t zero[65536];
    const uint8_t *p = gp(0);
    uint64_t ram = v3_mem_size(vm);
    for (uint64_t i = 0; i < ram; i += sizeof(zero))
        if (memcmp(p + i, zero, sizeof(zero)))
            fail_msg("guest RAM near 0x%llx written by a failed load", (unsigned long long)i);
    assert_int_equal(C->rip, 0xfff0);
    assert_int_equal(C->mode, V3_MODE_REAL);
}

static void test_elf_good(void **state)
{
    struct eseg s[2] = {
        { .paddr = 0x100000, .filesz = 0x300, .memsz = 0x300, .fill = 0x10 },
        { .paddr = 0x102000, .filesz = 0x10, .memsz = 0x3000, .fill = 0x80 },
    };
    uint8_t mod[5000];
    struct v3_boot_module m = { mod, sizeof(mod), "initrd.img root=/dev/ram" };
    struct v3_boot_info bi;
    const char *cmd = "console=ttyS0 quiet";
    size_t len = build_elf(0x100010, s, 2, 0x3);

    for (size_t i = 0; i < sizeof(mod); i++)
        mod[i] = (uint8_t)(i * 7);
    memset(gp(0x102000), 0xaa, 0x3000);               /* the bss must be cleared */
    assert_int_equal(v3_load_multiboot(vm, img, len, cmd, &m, 1, &bi), V3_OK);
    assert_int_equal(bi.entry, 0x100010);
    assert_int_equal(bi.kernel_start, 0x100000);
    assert_int_equal(bi.kernel_end, 0x105000);
    assert_false(bi.aout_kludge);
    for (uint32_t k = 0; k < 0x300; k++)
        assert_int_equal(gp(0x100000)[k], (uint8_t)(0x10 + k));
    for (uint32_t k = 0; k < 0x10; k++)
        assert_int_equal(gp(0x102000)[k], (uint8_t)(0x80 + k));
    for (uint32_t k = 0x10; k < 0x3000; k++)
        assert_int_equal(gp(0x102000)[k], 0);
    check_entry_state(0x100010, bi.info_addr);

    /* the information structure, as the multiboot specification lays it out */
    const uint8_t *mbi = gp(bi.info_addr);
    uint32_t flags = r32(mbi);
    assert_int_equal(flags & 0x24d, 0x24d);          /* MEM, CMDLINE, MODS, MMAP, LOADER_NAME */
    assert_int_equal(r32(mbi + 4), 639);
    assert_int_equal(r32(mbi + 8), (RAM - MB) / 1024);
    assert_string_equal((const char *)gp(r32(mbi + 16)), cmd);
    assert_int_equal(r32(mbi + 20), 1);
    const uint8_t *ml = gp(r32(mbi + 24));
    uint32_t ms = r32(ml), me = r32(ml + 4);
    assert_int_equal(ms & 0xfff, 0);
    assert_true(ms >= 0x105000);
    assert_int_equal(me - ms, sizeof(mod));
    assert_memory_equal(gp(ms), mod, sizeof(mod));
    assert_string_equal((const char *)gp(r32(ml + 8)), "initrd.img root=/dev/ram");
    assert_string_equal((const char *)gp(r32(mbi + 64)), "v3vmm");
    /* the info must not overlap the kernel or the module */
    assert_true(bi.info_addr + 88 <= 0x100000 || bi.info_addr >= me);

    /* memory map: entries of size 20 (+4), available RAM = [0, 639K) and [1M, RAM) */
    uint32_t mlen = r32(mbi + 44), maddr = r32(mbi + 48);
    uint64_t avail = 0;
    int saw_high = 0;
    for (uint32_t o = 0; o < mlen;) {
        const uint8_t *e = gp(maddr + o);
        uint64_t base, elen;
        uint32_t type = r32(e + 20);
        memcpy(&base, e + 4, 8);
        memcpy(&elen, e + 12, 8);
        if (type == 1) {
            avail += elen;
            if (base == MB && elen == RAM - MB)
                saw_high = 1;
            assert_true(base + elen <= 0xa0000 || base >= MB);
        }
        o += r32(e) + 4;
    }
    assert_true(saw_high);
    assert_int_equal(avail, 639 * 1024 + RAM - MB);
}

static void test_elf_higher_half_and_low_kernel(void **state)
{
    /* vaddr != paddr: the entry point is translated to its physical address */
    struct eseg s[1] = { { .paddr = 0x200000, .vaddr = 0xc0200000, .filesz = 0x40, .memsz = 0x40, .fill = 1 } };
    struct v3_boot_info bi;
    size_t len = build_elf(0xc0200008, s, 1, 0);

    assert_int_equal(v3_load_multiboot(vm, img, len, NULL, NULL, 0, &bi), V3_OK);
    assert_int_equal(bi.entry, 0x200008);
    assert_int_equal(C->rip, 0x200008);
    assert_int_equal(gp(0x200000)[0], 1);
    assert_int_equal(r32(gp(bi.info_addr)) & 0x4, 0);   /* no command line */
    assert_int_equal(r32(gp(bi.info_addr) + 20), 0);     /* no modules */

    /* a kernel covering the low info area: the information goes after it */
    struct eseg low[1] = { { .paddr = 0x8000, .filesz = 0x100, .memsz = 0x20000, .fill = 2 } };
    len = build_elf(0x8000, low, 1, 0);
    assert_int_equal(v3_load_multiboot(vm, img, len, "x", NULL, 0, &bi), V3_OK);
    assert_true(bi.info_addr >= 0x28000);
    assert_string_equal((const char *)gp(r32(gp(bi.info_addr) + 16)), "x");
}

static void test_aout_good(void **state)
{
    struct v3_boot_info bi;
    size_t len = build_aout(16, 0x200, 0x100000, 0x100200, 0x101000, 0x100040);

    memset(gp(0x100200), 0xcc, 0xe00);
    assert_int_equal(v3_load_multiboot(vm, img, len, NULL, NULL, 0, &bi), V3_OK);
    assert_true(bi.aout_kludge);
    assert_int_equal(bi.kernel_start, 0x100000);
    assert_int_equal(bi.kernel_end, 0x101000);
    for (int i = 0; i < 0x200; i++)
        if (i < 16 || i >= 48)                       /* the header bytes are part of the image too */
            assert_int_equal(gp(0x100000)[i], (uint8_t)(0x90 + i));
    for (int i = 0x200; i < 0x1000; i++)
        assert_int_equal(gp(0x100000)[i], 0);
    check_entry_state(0x100040, bi.info_addr);

    /* load_end_addr 0: to the end of the file; bss_end 0: none */
    len = build_aout(0, 0x300, 0x180000, 0, 0, 0x180000);
    assert_int_equal(v3_load_multiboot(vm, img, len, NULL, NULL, 0, &bi), V3_OK);
    assert_int_equal(bi.kernel_end, 0x180300);
    assert_int_equal(gp(0x180000)[0x2ff], (uint8_t)(0x90 + 0x2ff));
}

/* A bad image: the error, a log line mentioning @what, and nothing written. */
static void bad(size_t len, int want, const char *what)
{
    int rc = v3_load_multiboot(vm, img, len, "cmd", NULL, 0, NULL);
    if (rc != want)
        fail_msg("%s: got %d (%s), want %d", what, rc, v3_strerror(rc), want);
    if (!strstr(v3t_last_log(), what))
        fail_msg("log line '%s' does not mention '%s'", v3t_last_log(), what);
    check_untouched();
}

static void test_bad_images(void **state)
{
    struct eseg one[1] = { { .paddr = 0x100000, .filesz = 0x100, .memsz = 0x100 } };
    size_t len;

    memset(img, 0, sizeof(img));
    bad(4096, V3_EIMAGE, "no multiboot header");
    bad(0, V3_EIMAGE, "no multiboot header");

    len = build_elf(0x100000, one, 1, 0);
    img[52 + 32 + 8] ^= 1;                            /* checksum */
    bad(len, V3_EIMAGE, "no multiboot header");

    /* header beyond the first 8 KiB */
    memset(img, 0, sizeof(img));
    w32(img + 8192, V3_MULTIBOOT_MAGIC);
    w32(img + 8196, 0);
    w32(img + 8200, (uint32_t)-V3_MULTIBOOT_MAGIC);
    bad(9000, V3_EIMAGE, "no multiboot header");

    len = build_elf(0x100000, one, 1, 0x4);           /* video mode required */
    bad(len, V3_EUNSUPPORTED, "requires features");
    len = build_elf(0x100000, one, 1, 0x8);           /* unknown required bit */
    bad(len, V3_EUNSUPPORTED, "requires features");

    len = build_elf(0x100000, one, 1, 0);
    bad(0x1080, V3_EIMAGE, "truncated image");        /* segment data cut */

    len = build_elf(0x100000, one, 1, 0);
    w32(img + 28, 0x100000);                          /* program headers beyond the file */
    bad(len, V3_EIMAGE, "program headers");

    len = build_elf(0x100000, one, 1, 0);
    img[4] = 2;                                       /* ELF64 */
    bad(len, V3_EIMAGE, "ELF64");

    len = build_elf(0x100000, one, 1, 0);
    w16(img + 18, 62);                                /* x86-64 machine */
    bad(len, V3_EIMAGE, "32-bit x86");

    len = build_elf(0x100000, one, 1, 0);
    w16(img + 16, 3);                                 /* ET_DYN */
    bad(len, V3_EIMAGE, "not an executable");

    struct eseg note[1] = { { .type = 4, .paddr = 0x100000, .filesz = 0x10, .memsz = 0x10 } };
    len = build_elf(0x100000, note, 1, 0);
    bad(len, V3_EIMAGE, "no loadable segment");

    struct eseg ovl[2] = { { .paddr = 0x100000, .filesz = 0x100, .memsz = 0x2000 },
                           { .paddr = 0x101000, .filesz = 0x100, .memsz = 0x100 } };
    len = build_elf(0x100000, ovl, 2, 0);
    bad(len, V3_EOVERLAP, "overlap");

    struct eseg out[1] = { { .paddr = RAM - 0x80, .filesz = 0x100, .memsz = 0x100 } };
    len = build_elf(RAM - 0x80, out, 1, 0);
    bad(len, V3_ENOFIT, "outside guest RAM");
    struct eseg wrap[1] = { { .paddr = 0xfffff000, .filesz = 0x100, .memsz = 0x2000 } };
    len = build_elf(0x100000, wrap, 1, 0);
    bad(len, V3_ENOFIT, "outside guest RAM");

    struct eseg fm[1] = { { .paddr = 0x100000, .filesz = 0x200, .memsz = 0x100 } };
    len = build_elf(0x100000, fm, 1, 0);
    bad(len, V3_EIMAGE, "exceeds memory size");

    len = build_elf(RAM + 0x1000, one, 1, 0);
    bad(len, V3_ENOFIT, "entry point");

    /* neither ELF nor a.out kludge */
    len = build_elf(0x100000, one, 1, 0);
    img[1] = 'X';
    bad(len, V3_EIMAGE, "neither ELF");

    /* a.out kludge errors */
    len = build_aout(0, 0x100, 0x100000, 0x100100, 0, 0x100000);
    w32(img + 16, 0x100010);                          /* load_addr above header_addr */
    bad(len, V3_EIMAGE, "load_addr");
    len = build_aout(0, 0x100, 0x100000, 0x100100, 0x100080, 0x100000);
    bad(len, V3_EIMAGE, "bss_end_addr");
    len = build_aout(0, 0x100, 0x100000, 0x100400, 0, 0x100000);
    bad(len, V3_EIMAGE, "truncated image");
    len = build_aout(0, 0x100, 0x100000, 0x0ff000, 0, 0x100000);
    bad(len, V3_EIMAGE, "below load_addr");
    len = build_aout(0, 0x100, RAM - 0x80, 0, 0, RAM - 0x80);
    bad(len, V3_ENOFIT, "outside guest RAM");
    len = build_aout(0, 0x100, 0x100000, 0, 0, 0x100000);
    bad(20, V3_EIMAGE, "a.out-kludge header");        /* header fields cut */

    /* a module that does not fit */
    static uint8_t big[64];
    struct v3_boot_module m = { big, RAM, "big" };
    len = build_elf(0x100000, one, 1, 0);
    assert_int_equal(v3_load_multiboot(vm, img, len, NULL, &m, 1, NULL), V3_ENOFIT);
    check_untouched();
    assert_int_equal(v3_load_multiboot(NULL, img, len, NULL, NULL, 0, NULL), V3_EINVAL);
    assert_int_equal(v3_load_multiboot(vm, img, len, NULL, NULL, 1, NULL), V3_EINVAL);
}

static void test_flat(void **state)
{
    static const uint8_t code[] = { 0xf4, 0x90, 0x90 };

    assert_int_equal(v3_load_flat(vm, code, sizeof(code), 0x7c00, 0x7c00, V3_FLAT_REAL), V3_OK);
    assert_int_equal(C->mode, V3_MODE_REAL);
    assert_int_equal(C->seg[V3_CS].selector, 0x7c0);
    assert_int_equal(C->seg[V3_CS].base, 0x7c00);
    assert_int_equal(C->rip, 0);
    assert_memory_equal(gp(0x7c00), code, sizeof(code));

    assert_int_equal(v3_load_flat(vm, code, sizeof(code), 0x200000, 0x200001, V3_FLAT_PROT32), V3_OK);
    assert_int_equal(C->mode, V3_MODE_PROT32);
    assert_int_equal(C->rip, 0x200001);
    assert_memory_equal(gp(0x200000), code, sizeof(code));

    assert_int_equal(v3_load_flat(vm, code, sizeof(code), RAM - 1, RAM - 1, V3_FLAT_PROT32), V3_ENOFIT);
    assert_int_equal(v3_load_flat(vm, code, 0, 0x1000, 0x1000, V3_FLAT_PROT32), V3_EIMAGE);
    assert_int_equal(v3_load_flat(vm, code, sizeof(code), 0x200000, 0x200000, V3_FLAT_REAL), V3_EINVAL);
    assert_int_equal(v3_load_flat(vm, code, sizeof(code), 0x1000, 0x1000, (enum v3_flat_mode)7), V3_EINVAL);
}

static int mmio_read(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    memset(dst, 0, len);
    return 0;
}

static int mmio_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (*(int *)priv)++;
    return 0;
}

/* A device page inside RAM's range (as the test device's MMIO page at
 * 0xFEB00000 with more than 4 GiB of RAM): nothing is loaded there. */
static void test_hooked_region_rejected(void **state)
{
    static const uint8_t code[] = { 0xf4, 0x90, 0x90 };
    int writes = 0;
    const uint64_t dev = 0x300000;

    assert_int_equal(v3_hook_full_mem(vm, dev, dev + 0x1000, mmio_read, mmio_write, &writes), V3_OK);
    assert_int_equal(v3_load_flat(vm, code, sizeof(code), dev + 0x10, dev + 0x10, V3_FLAT_PROT32), V3_EHOOKED);
    assert_non_null(strstr(v3t_last_log(), "device memory"));
    /* a segment covering the page */
    struct eseg seg[1] = { { .paddr = dev - 0x800, .filesz = 0x100, .memsz = 0x1000 } };
    size_t len = build_elf(dev - 0x800, seg, 1, 0);
    assert_int_equal(v3_load_multiboot(vm, img, len, NULL, NULL, 0, NULL), V3_EHOOKED);
    assert_non_null(strstr(v3t_last_log(), "segment 0"));
    /* a module placed after a kernel that ends just below the page */
    static uint8_t mod[64];
    struct v3_boot_module m = { mod, sizeof(mod), "m" };
    struct eseg k[1] = { { .paddr = dev - 0x1000, .filesz = 0x100, .memsz = 0x1000 } };
    len = build_elf(dev - 0x1000, k, 1, 0);
    assert_int_equal(v3_load_multiboot(vm, img, len, NULL, &m, 1, NULL), V3_EHOOKED);
    assert_non_null(strstr(v3t_last_log(), "module 0"));
    assert_int_equal(writes, 0);
    /* beside it, plain RAM loads */
    assert_int_equal(v3_load_flat(vm, code, sizeof(code), dev + 0x1000, dev + 0x1000, V3_FLAT_PROT32), V3_OK);
    assert_int_equal(v3_unhook_mem(vm, dev), V3_OK);
}

/* Random mutations of good images: the loader returns OK or an error, never
 * crashes, and after an error guest RAM and the vCPU are untouched. */
static long mutate_cases = 1000;

static void test_mutations(void **state)
{
    struct eseg s[2] = {
        { .paddr = 0x100000, .filesz = 0x300, .memsz = 0x300, .fill = 0x10 },
        { .paddr = 0x102000, .filesz = 0x10, .memsz = 0x3000, .fill = 0x80 },
    };
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    static uint8_t good_elf[sizeof(img)], good_aout[sizeof(img)];
    size_t elf_len = build_elf(0x100010, s, 2, 0x3);
    memcpy(good_elf, img, sizeof(img));
    size_t aout_len = build_aout(16, 0x400, 0x100000, 0x100400, 0x102000, 0x100040);
    memcpy(good_aout, img, sizeof(img));
    long ok = 0, errs = 0;

    for (long c = 0; c < mutate_cases; c++) {
        int aout = c & 1;
        size_t len = aout ? aout_len : elf_len;
        memcpy(img, aout ? good_aout : good_elf, sizeof(img));
        int nmut = 1 + (int)((seed >> 60) & 3);
        for (int m = 0; m < nmut; m++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(seed >> 33) % (aout ? 48 : 0x80);   /* headers */
            switch ((seed >> 20) & 3) {
            case 0: img[pos] ^= (uint8_t)(1u << ((seed >> 8) & 7)); break;
            case 1: img[pos] = (uint8_t)(seed >> 12); break;
            case 2: w32(img + (pos & ~3u), (uint32_t)(seed >> 24)); break;
            default: len = (size_t)(seed >> 40) % (len + 1); break;
            }
        }
        /* keep the checksum valid half of the time so the header is found */
        if (c & 2) {
            size_t h = aout ? 16 : 116;
            w32(img + h + 8, (uint32_t)-(r32(img + h) + r32(img + h + 4)));
        }
        int rc = v3_load_multiboot(vm, img, len, "m", NULL, 0, NULL);
        if (rc == V3_OK) {
            ok++;
            assert_int_equal(C->gpr[V3_RAX], V3_MULTIBOOT_BOOT_MAGIC);
            memset(gp(0), 0, v3_mem_size(vm));          /* back to a fresh machine */
            v3_core_reset(C);
        } else {
            errs++;
            assert_true(rc == V3_EIMAGE || rc == V3_ENOFIT || rc == V3_EOVERLAP || rc == V3_EUNSUPPORTED);
            check_untouched();
        }
    }
    print_message("mutations: %ld loaded, %ld rejected\n", ok, errs);
    assert_true(ok > 0 && errs > 0);
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--cases"))
            mutate_cases = atol(argv[i + 1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_elf_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_higher_half_and_low_kernel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aout_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_images, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hooked_region_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutations, setup_small, teardown),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}

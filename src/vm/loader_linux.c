/* SPDX-License-Identifier: MIT */
/* Linux loaders: bzImage through the x86 boot protocol (64-bit entry, or the
 * 32-bit one), uncompressed vmlinux through the PVH entry; image detection.
 * Field offsets follow Documentation/arch/x86/boot.rst and zero-page.rst,
 * and Xen's public arch-x86/hvm/start_info.h for PVH. */
#include "internal/host.h"
#include "internal/vm.h"
#include <v3/cpu.h>
#include <v3/loader.h>
#include <v3/platform.h>

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void wr8(uint8_t *p, uint8_t v) { *p = v; }
static void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint64_t page_up(uint64_t a) { return (a + 0xfff) & ~0xfffull; }

static size_t str_len(const char *s)
{
    size_t n = 0;

    while (s && s[n])
        n++;
    return n;
}

static int put(struct v3_vm *vm, uint64_t gpa, const void *src, uint64_t len)
{
    int64_t r = v3_write_gpa_memory(vm, NULL, gpa, len, src);

    return r < 0 ? (int)r : 0;
}

static int put_zero(struct v3_vm *vm, uint64_t gpa, uint64_t len)
{
    static const uint8_t zero[512];

    while (len) {
        uint64_t n = len > sizeof(zero) ? sizeof(zero) : len;
        int rc = put(vm, gpa, zero, n);
        if (rc < 0)
            return rc;
        gpa += n;
        len -= n;
    }
    return 0;
}

static void code_changed(struct v3_vm *vm)
{
    if (vm->backend == &v3_emu_backend)
        for (unsigned i = 0; i < vm->num_cores; i++)
            v3_cpu_invalidate_code(&vm->cores[i], 0, ~0ull);
}

/* ---- setup header (boot.rst) ---- */
#define HDR_SETUP_SECTS     0x1F1
#define HDR_BOOT_FLAG       0x1FE
#define HDR_JUMP            0x200
#define HDR_MAGIC           0x202
#define HDR_VERSION         0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS       0x211
#define HDR_CODE32_START    0x214
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21C
#define HDR_HEAP_END_PTR    0x224
#define HDR_CMD_LINE_PTR    0x228
#define HDR_INITRD_MAX      0x22C
#define HDR_KERNEL_ALIGN    0x230
#define HDR_RELOCATABLE     0x234
#define HDR_XLOADFLAGS      0x236
#define HDR_CMDLINE_SIZE    0x238
#define HDR_PREF_ADDRESS    0x258
#define HDR_INIT_SIZE       0x260
/* ---- zero page ---- */
#define ZP_ACPI_RSDP        0x070
#define ZP_EXT_RAMDISK_IMG  0x0C0
#define ZP_EXT_RAMDISK_SIZE 0x0C4
#define ZP_EXT_CMD_LINE_PTR 0x0C8
#define ZP_E820_ENTRIES     0x1E8
#define ZP_E820_TABLE       0x2D0
#define ZP_E820_MAX         128

#define LF_LOADED_HIGH      0x01
#define LF_CAN_USE_HEAP     0x80
#define XLF_KERNEL_64       0x01

/* Boot area: GDT, then PML4, PDPT and four page directories of 2 MiB pages (4 GiB). */
#define BA_GDT      0x0000
#define BA_PML4     0x1000
#define BA_PDPT     0x2000
#define BA_PD       0x3000
#define BA_SIZE     0x7000

static const struct v3_pc_layout *get_layout(struct v3_vm *vm, const struct v3_linux_boot *b,
                                             struct v3_pc_layout *tmp)
{
    if (b->layout)
        return b->layout;
    if (v3_pc_layout_init(tmp, v3_mem_size(vm), vm->num_cores ? vm->num_cores : 1) < 0) {
        V3_ERROR("loader: guest RAM of 0x%llx bytes is too small for a PC layout (2 MiB at least)",
                 (unsigned long long)v3_mem_size(vm));
        return NULL;
    }
    return tmp;
}

/* Highest RAM address the loaders place things below: the RAM from 1 MiB, as far as the VM has it. */
static uint64_t ram_top(struct v3_vm *vm, const struct v3_pc_layout *l)
{
    uint64_t m = v3_mem_size(vm);

    return l->low_ram_top < m ? l->low_ram_top : m;
}

/* Page-aligned initrd below min(max_end, top), at or above @low. */
static int place_initrd(uint64_t len, uint64_t low, uint64_t max_end, uint64_t top, uint64_t *addr)
{
    uint64_t end = max_end < top ? max_end : top;

    if (!len) {
        *addr = 0;
        return 0;
    }
    if (len > end || ((end - len) & ~0xfffull) < page_up(low)) {
        V3_ERROR("loader: initrd of %llu bytes does not fit between the kernel end 0x%llx and 0x%llx",
                 (unsigned long long)len, (unsigned long long)low, (unsigned long long)end);
        return V3_ESIZE;
    }
    *addr = (end - len) & ~0xfffull;
    return 0;
}

/* GDT (null, null, code 0x10, data 0x18) and, for 64-bit entry, identity page tables over 4 GiB. */
static int write_boot_area(struct v3_vm *vm, const struct v3_pc_layout *l, int long_mode)
{
    uint8_t *ba = v3_zalloc(BA_SIZE);
    int rc;

    if (!ba)
        return V3_ENOMEM;
    wr64(ba + BA_GDT + 0x10, long_mode ? 0x00AF9B000000FFFFull : 0x00CF9B000000FFFFull);
    wr64(ba + BA_GDT + 0x18, 0x00CF93000000FFFFull);
    if (long_mode) {
        wr64(ba + BA_PML4, (l->boot_area + BA_PDPT) | 0x3);
        for (unsigned i = 0; i < 4; i++)
            wr64(ba + BA_PDPT + 8 * i, (l->boot_area + BA_PD + 0x1000ull * i) | 0x3);
        for (unsigned i = 0; i < 4 * 512; i++)
            wr64(ba + BA_PD + 8 * i, ((uint64_t)i << 21) | 0x83);    /* P, RW, PS */
    }
    rc = put(vm, l->boot_area, ba, BA_SIZE);
    v3_free(ba);
    return rc;
}

static void set_segs(struct v3_core *core, uint64_t gdt, int long_mode)
{
    for (int s = V3_ES; s <= V3_GS; s++) {
        core->seg[s].selector = s == V3_CS ? 0x10 : 0x18;
        core->seg[s].base = 0;
        core->seg[s].limit = 0xffffffffu;
        core->seg[s].attrib = V3_SEG_P | V3_SEG_S | V3_SEG_G | (s == V3_CS ? 0xb : 0x3) |
                              (s == V3_CS && long_mode ? V3_SEG_L : V3_SEG_DB);
    }
    core->gdtr.base = gdt;
    core->gdtr.limit = 0x1f;
    core->seg[V3_TR].base = 0;
    core->seg[V3_TR].limit = 0x67;
    core->a20_clear = 0;
}

static int write_cmdline(struct v3_vm *vm, const char *cmdline, size_t max, int *truncated)
{
    size_t n = str_len(cmdline);
    char nul = 0;
    int rc;

    *truncated = 0;
    if (n > max) {
        V3_WARN("loader: command line of %zu bytes cut to the kernel's cmdline_size %zu", n, max);
        n = max;
        *truncated = 1;
    }
    rc = n ? put(vm, V3_LINUX_CMDLINE, cmdline, n) : 0;
    return rc < 0 ? rc : put(vm, V3_LINUX_CMDLINE + n, &nul, 1);
}

int v3_load_bzimage(struct v3_vm *vm, const void *image, size_t len, const struct v3_linux_boot *boot,
                    struct v3_linux_info *info)
{
    const uint8_t *img = image;
    struct v3_pc_layout tmp;
    const struct v3_pc_layout *l;
    struct v3_e820_entry e820[ZP_E820_MAX];
    struct v3_pc_tables tables = { 0 };
    struct v3_linux_info out;
    uint16_t version, xlf = 0;
    uint8_t loadflags, *zp;
    unsigned setup_sects, ne;
    size_t pm_off, hdr_end, cmax;
    uint64_t align = 0x200000, pref, init_size, load, top, initrd_max;
    int relocatable, long_mode, rc;
    struct v3_core *core;

    if (!vm || !image || !boot || (boot->initrd_len && !boot->initrd)) {
        V3_ERROR("loader: invalid arguments");
        return V3_EINVAL;
    }
    if (len < 0x264 || rd16(img + HDR_BOOT_FLAG) != 0xAA55 || memcmp(img + HDR_MAGIC, "HdrS", 4)) {
        V3_ERROR("loader: not a bzImage (no 0xAA55 at 0x1FE and \"HdrS\" at 0x202)");
        return V3_EIMAGE;
    }
    version = rd16(img + HDR_VERSION);
    loadflags = img[HDR_LOADFLAGS];
    if (version < 0x206) {
        V3_ERROR("loader: boot protocol %u.%02u is too old (2.06 at least)", version >> 8, version & 0xff);
        return V3_EUNSUPPORTED;
    }
    if (!(loadflags & LF_LOADED_HIGH)) {
        V3_ERROR("loader: zImage (not loaded high) is not supported");
        return V3_EUNSUPPORTED;
    }
    l = get_layout(vm, boot, &tmp);
    if (!l)
        return V3_ESIZE;
    setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
    pm_off = ((size_t)setup_sects + 1) * 512;
    hdr_end = 0x202 + (size_t)img[HDR_JUMP + 1];
    if (pm_off >= len || hdr_end > len || hdr_end > pm_off) {
        V3_ERROR("loader: truncated bzImage: setup of %u sectors (header to 0x%zx) in a %zu-byte file",
                 setup_sects, hdr_end, len);
        return V3_EIMAGE;
    }
    relocatable = img[HDR_RELOCATABLE] != 0;
    if (relocatable) {
        align = rd32(img + HDR_KERNEL_ALIGN);
        if (!align || (align & (align - 1)) || (align & 0xfff)) {
            V3_ERROR("loader: kernel_alignment 0x%llx is not a power of two multiple of 4 KiB",
                     (unsigned long long)align);
            return V3_EIMAGE;
        }
    }
    pref = version >= 0x20A ? rd64(img + HDR_PREF_ADDRESS) : 0x100000;
    init_size = version >= 0x20A ? rd32(img + HDR_INIT_SIZE) : 0;
    if (init_size < len - pm_off)
        init_size = len - pm_off;
    load = pref < V3_PC_HIGH_RAM ? V3_PC_HIGH_RAM : pref;
    top = ram_top(vm, l);
    if (relocatable && load < top)
        load = (load + align - 1) & ~(align - 1);
    if (load >= top || init_size > top - load) {
        V3_ERROR("loader: kernel needs 0x%llx bytes (init_size) at 0x%llx: beyond RAM below 0x%llx",
                 (unsigned long long)init_size, (unsigned long long)load, (unsigned long long)top);
        return V3_ESIZE;
    }
    if (version >= 0x20C)
        xlf = rd16(img + HDR_XLOADFLAGS);
    long_mode = (xlf & XLF_KERNEL_64) && !boot->force_32bit;
    initrd_max = rd32(img + HDR_INITRD_MAX);
    memset(&out, 0, sizeof(out));
    rc = place_initrd(boot->initrd_len, load + init_size, initrd_max + 1ull, top, &out.initrd_addr);
    if (rc < 0)
        return rc;
    cmax = rd32(img + HDR_CMDLINE_SIZE);
    if (cmax > 0xffff)
        cmax = 0xffff;

    zp = v3_zalloc(0x1000);
    if (!zp)
        return V3_ENOMEM;
    memcpy(zp + HDR_SETUP_SECTS, img + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
    wr8(zp + HDR_TYPE_OF_LOADER, 0xFF);
    wr8(zp + HDR_LOADFLAGS, (uint8_t)(loadflags | LF_CAN_USE_HEAP));
    wr16(zp + HDR_HEAP_END_PTR, 0xFE00);
    wr32(zp + HDR_CODE32_START, (uint32_t)load);
    wr32(zp + HDR_RAMDISK_IMAGE, (uint32_t)out.initrd_addr);
    wr32(zp + HDR_RAMDISK_SIZE, (uint32_t)boot->initrd_len);
    wr32(zp + ZP_EXT_RAMDISK_IMG, (uint32_t)(out.initrd_addr >> 32));
    wr32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)boot->initrd_len >> 32));
    wr32(zp + HDR_CMD_LINE_PTR, V3_LINUX_CMDLINE);
    wr32(zp + ZP_EXT_CMD_LINE_PTR, 0);
    ne = v3_pc_e820(l, e820, ZP_E820_MAX);
    if (ne > ZP_E820_MAX)
        ne = ZP_E820_MAX;
    wr8(zp + ZP_E820_ENTRIES, (uint8_t)ne);
    for (unsigned i = 0; i < ne; i++) {
        wr64(zp + ZP_E820_TABLE + 20 * i, e820[i].addr);
        wr64(zp + ZP_E820_TABLE + 20 * i + 8, e820[i].size);
        wr32(zp + ZP_E820_TABLE + 20 * i + 16, e820[i].type);
    }

    /* Everything is checked: write guest memory. */
    rc = v3_pc_write_tables(vm, l, &tables);
    if (rc >= 0 && version >= 0x20E)
        wr64(zp + ZP_ACPI_RSDP, tables.rsdp);
    if (rc >= 0)
        rc = put(vm, load, img + pm_off, len - pm_off);
    if (rc >= 0 && boot->initrd_len)
        rc = put(vm, out.initrd_addr, boot->initrd, boot->initrd_len);
    if (rc >= 0)
        rc = write_cmdline(vm, boot->cmdline, cmax, &out.cmdline_truncated);
    if (rc >= 0)
        rc = put(vm, V3_LINUX_ZERO_PAGE, zp, 0x1000);
    if (rc >= 0)
        rc = write_boot_area(vm, l, long_mode);
    v3_free(zp);
    if (rc < 0) {
        V3_ERROR("loader: writing the kernel into guest memory failed: %s", v3_strerror(rc));
        return rc;
    }
    code_changed(vm);

    core = &vm->cores[0];
    v3_core_reset(core);
    set_segs(core, l->boot_area + BA_GDT, long_mode);
    core->cr0 = V3_CR0_PE | V3_CR0_ET;
    if (long_mode) {
        core->cr0 |= V3_CR0_PG;
        core->cr3 = l->boot_area + BA_PML4;
        core->cr4 = V3_CR4_PAE;
        core->efer = V3_EFER_LME | V3_EFER_LMA;
        core->rip = load + 0x200;
    } else {
        core->rip = load;
    }
    v3_core_set_rflags(core, 0x2);
    core->gpr[V3_RSI] = V3_LINUX_ZERO_PAGE;
    core->gpr[V3_RSP] = V3_LINUX_STACK_TOP;
    core->gpr[V3_RDX] = 0;
    v3_core_update_mode(core);

    out.entry = core->rip;
    out.load_addr = load;
    out.load_end = load + init_size;
    out.boot_params = V3_LINUX_ZERO_PAGE;
    out.cmdline_addr = V3_LINUX_CMDLINE;
    out.initrd_len = boot->initrd_len;
    out.rsdp = tables.rsdp;
    out.page_tables = long_mode ? l->boot_area + BA_PML4 : 0;
    out.protocol = version;
    out.entry64 = long_mode;
    if (info)
        *info = out;
    V3_INFO("loader: bzImage protocol %u.%02u at 0x%llx, %s entry 0x%llx, initrd %llu bytes at 0x%llx",
            version >> 8, version & 0xff, (unsigned long long)load, long_mode ? "64-bit" : "32-bit",
            (unsigned long long)out.entry, (unsigned long long)out.initrd_len,
            (unsigned long long)out.initrd_addr);
    return V3_OK;
}

/* ---- ELF / PVH ---- */

#define PVH_MAX_SEGS    32
#define XEN_ELFNOTE_PHYS32_ENTRY 18

struct pseg { uint64_t paddr, offset, filesz, memsz; };

struct elf_img {
    struct pseg seg[PVH_MAX_SEGS];
    unsigned nseg;
    int has_entry;
    uint64_t pvh_entry;
};

/* Parse an ELF32/ELF64 little-endian x86 executable: PT_LOADs and the PVH note. 0 or V3_EIMAGE (with log if @log). */
static int parse_elf(const uint8_t *img, size_t len, struct elf_img *e, int log)
{
    int is64;
    uint64_t phoff;
    unsigned phentsize, phnum;

    memset(e, 0, sizeof(*e));
    if (len < 52 || memcmp(img, "\x7f" "ELF", 4) || img[5] != 1 || (img[4] != 1 && img[4] != 2)) {
        if (log)
            V3_ERROR("loader: not a little-endian ELF image");
        return V3_EIMAGE;
    }
    is64 = img[4] == 2;
    if (is64 && len < 64) {
        if (log)
            V3_ERROR("loader: truncated ELF64 header");
        return V3_EIMAGE;
    }
    phoff = is64 ? rd64(img + 32) : rd32(img + 28);
    phentsize = rd16(img + (is64 ? 54 : 42));
    phnum = rd16(img + (is64 ? 56 : 44));
    if (phentsize < (is64 ? 56u : 32u) || phoff > len || (uint64_t)phnum * phentsize > len - phoff) {
        if (log)
            V3_ERROR("loader: truncated ELF program headers");
        return V3_EIMAGE;
    }
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = img + phoff + (size_t)i * phentsize;
        uint32_t type = rd32(ph);
        uint64_t off = is64 ? rd64(ph + 8) : rd32(ph + 4);
        uint64_t paddr = is64 ? rd64(ph + 24) : rd32(ph + 12);
        uint64_t filesz = is64 ? rd64(ph + 32) : rd32(ph + 16);
        uint64_t memsz = is64 ? rd64(ph + 40) : rd32(ph + 20);

        if (off > len || filesz > len - off) {
            if (log)
                V3_ERROR("loader: truncated image: segment %u needs bytes beyond the %zu-byte file", i, len);
            return V3_EIMAGE;
        }
        if (type == 1 && memsz) {
            if (e->nseg == PVH_MAX_SEGS) {
                if (log)
                    V3_ERROR("loader: more than %u loadable segments", PVH_MAX_SEGS);
                return V3_EIMAGE;
            }
            if (filesz > memsz) {
                if (log)
                    V3_ERROR("loader: segment %u: file size exceeds memory size", i);
                return V3_EIMAGE;
            }
            e->seg[e->nseg++] = (struct pseg){ paddr, off, filesz, memsz };
        } else if (type == 4) {
            uint64_t p = 0;
            while (p + 12 <= filesz) {
                const uint8_t *n = img + off + p;
                uint32_t namesz = rd32(n), descsz = rd32(n + 4), ntype = rd32(n + 8);
                uint64_t name_al = ((uint64_t)namesz + 3) & ~3ull, desc_al = ((uint64_t)descsz + 3) & ~3ull;
                if (12 + name_al + desc_al > filesz - p)
                    break;
                if (namesz == 4 && !memcmp(n + 12, "Xen", 4) && ntype == XEN_ELFNOTE_PHYS32_ENTRY &&
                    (descsz == 4 || descsz == 8)) {
                    e->pvh_entry = descsz == 4 ? rd32(n + 12 + name_al) : rd64(n + 12 + name_al);
                    e->has_entry = 1;
                }
                p += 12 + name_al + desc_al;
            }
        }
    }
    return 0;
}

enum v3_image_type v3_detect_image(const void *image, size_t len)
{
    const uint8_t *img = image;
    struct elf_img *e;

    if (!img)
        return V3_IMAGE_UNKNOWN;
    if (len >= 0x206 && rd16(img + HDR_BOOT_FLAG) == 0xAA55 && !memcmp(img + HDR_MAGIC, "HdrS", 4))
        return V3_IMAGE_BZIMAGE;
    e = v3_zalloc(sizeof(*e));
    if (e) {
        int pvh = parse_elf(img, len, e, 0) == 0 && e->has_entry;
        v3_free(e);
        if (pvh)
            return V3_IMAGE_PVH;
    }
    for (size_t off = 0; off + 12 <= len && off < 8192; off += 4)
        if (rd32(img + off) == V3_MULTIBOOT_MAGIC &&
            (uint32_t)(rd32(img + off) + rd32(img + off + 4) + rd32(img + off + 8)) == 0)
            return V3_IMAGE_MULTIBOOT;
    return V3_IMAGE_UNKNOWN;
}

/* hvm_start_info (version 1) and its lists, all in the boot-info page. */
#define SI_SIZE      56
#define SI_MODLIST   64
#define SI_MEMMAP    128

int v3_load_pvh(struct v3_vm *vm, const void *image, size_t len, const struct v3_linux_boot *boot,
                struct v3_linux_info *info)
{
    struct v3_pc_layout tmp;
    const struct v3_pc_layout *l;
    struct v3_e820_entry e820[V3_PC_MAX_E820];
    struct v3_pc_tables tables = { 0 };
    struct v3_linux_info out;
    struct elf_img *e;
    uint64_t top, kstart = ~0ull, kend = 0;
    uint8_t *si;
    unsigned ne;
    int rc, trunc = 0;
    struct v3_core *core;

    if (!vm || !image || !boot || (boot->initrd_len && !boot->initrd)) {
        V3_ERROR("loader: invalid arguments");
        return V3_EINVAL;
    }
    e = v3_zalloc(sizeof(*e));
    if (!e)
        return V3_ENOMEM;
    rc = parse_elf(image, len, e, 1);
    if (rc == 0 && !e->has_entry) {
        V3_ERROR("loader: ELF image has no PVH entry note (Xen note type 18)");
        rc = V3_EIMAGE;
    }
    if (rc == 0 && !e->nseg) {
        V3_ERROR("loader: ELF image has no loadable segment");
        rc = V3_EIMAGE;
    }
    l = rc == 0 ? get_layout(vm, boot, &tmp) : NULL;
    if (rc == 0 && !l)
        rc = V3_ESIZE;
    memset(&out, 0, sizeof(out));
    if (rc == 0) {
        top = ram_top(vm, l);
        for (unsigned i = 0; i < e->nseg && rc == 0; i++) {
            const struct pseg *s = &e->seg[i];
            if (s->paddr < V3_PC_HIGH_RAM || s->paddr >= top || s->memsz > top - s->paddr) {
                V3_ERROR("loader: segment %u at 0x%llx-0x%llx lies outside RAM from 1 MiB to 0x%llx", i,
                         (unsigned long long)s->paddr, (unsigned long long)(s->paddr + s->memsz),
                         (unsigned long long)top);
                rc = V3_ESIZE;
            }
            for (unsigned j = 0; j < i && rc == 0; j++)
                if (s->paddr < e->seg[j].paddr + e->seg[j].memsz && e->seg[j].paddr < s->paddr + s->memsz) {
                    V3_ERROR("loader: segments %u and %u overlap", j, i);
                    rc = V3_EOVERLAP;
                }
            if (s->paddr < kstart)
                kstart = s->paddr;
            if (s->paddr + s->memsz > kend)
                kend = s->paddr + s->memsz;
        }
        if (rc == 0 && (e->pvh_entry < kstart || e->pvh_entry >= kend)) {
            V3_ERROR("loader: PVH entry 0x%llx outside the loaded kernel", (unsigned long long)e->pvh_entry);
            rc = V3_EIMAGE;
        }
        if (rc == 0)
            rc = place_initrd(boot->initrd_len, kend, top, top, &out.initrd_addr);
    }
    if (rc < 0) {
        v3_free(e);
        return rc;
    }

    si = v3_zalloc(0x1000);
    if (!si) {
        v3_free(e);
        return V3_ENOMEM;
    }
    rc = v3_pc_write_tables(vm, l, &tables);
    for (unsigned i = 0; i < e->nseg && rc >= 0; i++) {
        rc = put(vm, e->seg[i].paddr, (const uint8_t *)image + e->seg[i].offset, e->seg[i].filesz);
        if (rc >= 0 && e->seg[i].memsz > e->seg[i].filesz)
            rc = put_zero(vm, e->seg[i].paddr + e->seg[i].filesz, e->seg[i].memsz - e->seg[i].filesz);
    }
    if (rc >= 0 && boot->initrd_len)
        rc = put(vm, out.initrd_addr, boot->initrd, boot->initrd_len);
    if (rc >= 0)
        rc = write_cmdline(vm, boot->cmdline, 0xffff, &trunc);
    wr32(si + 0, V3_HVM_START_MAGIC);
    wr32(si + 4, 1);
    wr32(si + 8, 0);
    wr32(si + 12, boot->initrd_len ? 1 : 0);
    wr64(si + 16, boot->initrd_len ? V3_LINUX_ZERO_PAGE + SI_MODLIST : 0);
    wr64(si + 24, V3_LINUX_CMDLINE);
    wr64(si + 32, tables.rsdp);
    ne = v3_pc_e820(l, e820, V3_PC_MAX_E820);
    if (ne > V3_PC_MAX_E820)
        ne = V3_PC_MAX_E820;
    wr64(si + 40, V3_LINUX_ZERO_PAGE + SI_MEMMAP);
    wr32(si + 48, ne);
    if (boot->initrd_len) {
        wr64(si + SI_MODLIST, out.initrd_addr);
        wr64(si + SI_MODLIST + 8, boot->initrd_len);
    }
    for (unsigned i = 0; i < ne; i++) {
        wr64(si + SI_MEMMAP + 24 * i, e820[i].addr);
        wr64(si + SI_MEMMAP + 24 * i + 8, e820[i].size);
        wr32(si + SI_MEMMAP + 24 * i + 16, e820[i].type);
    }
    if (rc >= 0)
        rc = put(vm, V3_LINUX_ZERO_PAGE, si, 0x1000);
    if (rc >= 0)
        rc = write_boot_area(vm, l, 0);
    v3_free(si);
    if (rc < 0) {
        v3_free(e);
        V3_ERROR("loader: writing the kernel into guest memory failed: %s", v3_strerror(rc));
        return rc;
    }
    code_changed(vm);

    core = &vm->cores[0];
    v3_core_reset(core);
    set_segs(core, l->boot_area + BA_GDT, 0);
    core->cr0 = V3_CR0_PE | V3_CR0_ET;
    v3_core_set_rflags(core, 0x2);
    core->rip = e->pvh_entry;
    core->gpr[V3_RBX] = V3_LINUX_ZERO_PAGE;
    core->gpr[V3_RDX] = 0;
    v3_core_update_mode(core);

    out.entry = e->pvh_entry;
    out.load_addr = kstart;
    out.load_end = kend;
    out.boot_params = V3_LINUX_ZERO_PAGE;
    out.cmdline_addr = V3_LINUX_CMDLINE;
    out.initrd_len = boot->initrd_len;
    out.rsdp = tables.rsdp;
    out.cmdline_truncated = trunc;
    v3_free(e);
    if (info)
        *info = out;
    V3_INFO("loader: PVH kernel 0x%llx-0x%llx, entry 0x%llx, initrd %llu bytes at 0x%llx",
            (unsigned long long)kstart, (unsigned long long)kend, (unsigned long long)out.entry,
            (unsigned long long)out.initrd_len, (unsigned long long)out.initrd_addr);
    return V3_OK;
}

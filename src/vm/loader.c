/* SPDX-License-Identifier: MIT */
/* Guest image loaders: multiboot v1 (ELF32 and a.out kludge) and flat binaries. */
#include "internal/host.h"
#include "internal/vm.h"
#include <v3/cpu.h>
#include <v3/loader.h>

/* The software CPU caches decoded code: tell it about memory the loader rewrote. */

static void code_changed(struct v3_vm *vm, uint64_t start, uint64_t end)
{
    if (vm->backend == &v3_emu_backend)
        for (unsigned i = 0; i < vm->num_cores; i++)
            v3_cpu_invalidate_code(&vm->cores[i], start, end);
}

#define MB_SEARCH        8192u
#define MB_F_PAGE_ALIGN  (1u << 0)
#define MB_F_MEMINFO     (1u << 1)
#define MB_F_VIDEO       (1u << 2)
#define MB_F_AOUT        (1u << 16)

#define MBI_MEM          (1u << 0)
#define MBI_CMDLINE      (1u << 2)
#define MBI_MODS         (1u << 3)
#define MBI_MMAP         (1u << 6)
#define MBI_LOADER_NAME  (1u << 9)
#define MBI_SIZE         120u        /* multiboot_info up to the VBE fields, rounded */

#define MAX_SEGS         32

struct seg {
    uint64_t paddr, filesz, memsz, offset;
};

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static size_t str_len(const char *s)
{
    size_t n = 0;

    while (s && s[n])
        n++;
    return n;
}

static uint64_t page_up(uint64_t a) { return (a + V3_PAGE_SIZE - 1) & ~(V3_PAGE_SIZE - 1); }

/* Write @len bytes (or zeros if @src is NULL) into guest physical memory. */
static int put(struct v3_vm *vm, uint64_t gpa, const void *src, uint64_t len)
{
    static const uint8_t zero[256];

    if (src) {
        int64_t r = v3_write_gpa_memory(vm, NULL, gpa, len, src);
        return r < 0 ? (int)r : 0;
    }
    while (len) {
        uint64_t n = len > sizeof(zero) ? sizeof(zero) : len;
        int64_t r = v3_write_gpa_memory(vm, NULL, gpa, n, zero);
        if (r < 0)
            return (int)r;
        gpa += n;
        len -= n;
    }
    return 0;
}

/*
 * Is [start, start + len) plain memory (guest RAM or caller-owned shadow
 * memory)?  A hooked region (a device's MMIO page, e.g. the test device at
 * 0xFEB00000 inside a RAM of more than 4 GiB) would take the bytes through
 * its callbacks and lose them: V3_EHOOKED, logged with @p what.
 */
static int check_ram(struct v3_vm *vm, uint64_t start, uint64_t len, const char *what, unsigned idx)
{
    for (struct v3_mem_region *r = v3_mem_first(vm); r; r = v3_mem_next(vm, r)) {
        if (r->type != V3_REGION_FULL_HOOK && r->type != V3_REGION_WRITE_HOOK)
            continue;
        if (r->guest_start < start + len && start < r->guest_end) {
            V3_ERROR("loader: %s %u at 0x%llx-0x%llx lands on a %s region at 0x%llx-0x%llx (device memory, "
                     "not RAM)", what, idx, (unsigned long long)start, (unsigned long long)(start + len),
                     v3_shdw_region_type_to_str(r->type), (unsigned long long)r->guest_start,
                     (unsigned long long)r->guest_end);
            return V3_EHOOKED;
        }
    }
    return V3_OK;
}

static int check_segs(struct v3_vm *vm, const struct seg *s, unsigned n, size_t len)
{
    uint64_t ram = v3_mem_size(vm);

    for (unsigned i = 0; i < n; i++) {
        if (s[i].filesz > s[i].memsz) {
            V3_ERROR("loader: segment %u: file size 0x%llx exceeds memory size 0x%llx", i,
                     (unsigned long long)s[i].filesz, (unsigned long long)s[i].memsz);
            return V3_EIMAGE;
        }
        if (s[i].offset > len || s[i].filesz > len - s[i].offset) {
            V3_ERROR("loader: truncated image: segment %u needs bytes 0x%llx-0x%llx of a %llu-byte file", i,
                     (unsigned long long)s[i].offset, (unsigned long long)(s[i].offset + s[i].filesz),
                     (unsigned long long)len);
            return V3_EIMAGE;
        }
        if (s[i].paddr >= ram || s[i].memsz > ram - s[i].paddr) {
            V3_ERROR("loader: segment %u at 0x%llx-0x%llx lies outside guest RAM (0-0x%llx)", i,
                     (unsigned long long)s[i].paddr, (unsigned long long)(s[i].paddr + s[i].memsz),
                     (unsigned long long)ram);
            return V3_ENOFIT;
        }
        if (check_ram(vm, s[i].paddr, s[i].memsz, "segment", i) < 0)
            return V3_EHOOKED;
        for (unsigned j = 0; j < i; j++) {
            if (s[i].paddr < s[j].paddr + s[j].memsz && s[j].paddr < s[i].paddr + s[i].memsz) {
                V3_ERROR("loader: segments %u (0x%llx-0x%llx) and %u (0x%llx-0x%llx) overlap", j,
                         (unsigned long long)s[j].paddr, (unsigned long long)(s[j].paddr + s[j].memsz), i,
                         (unsigned long long)s[i].paddr, (unsigned long long)(s[i].paddr + s[i].memsz));
                return V3_EOVERLAP;
            }
        }
    }
    return V3_OK;
}

static int parse_elf32(const uint8_t *img, size_t len, struct seg *segs, unsigned *nsegs, uint64_t *entry)
{
    uint32_t phoff, e_entry;
    uint16_t phentsize, phnum;
    unsigned n = 0;

    if (len < 52) {
        V3_ERROR("loader: truncated ELF header (%zu bytes)", len);
        return V3_EIMAGE;
    }
    if (img[4] == 2) {
        V3_ERROR("loader: ELF64 multiboot kernel without the a.out-kludge header (multiboot v1 loads ELF32)");
        return V3_EIMAGE;
    }
    if (img[4] != 1 || img[5] != 1 || rd16(img + 18) != 3) {
        V3_ERROR("loader: not a little-endian 32-bit x86 ELF image");
        return V3_EIMAGE;
    }
    if (rd16(img + 16) != 2) {
        V3_ERROR("loader: ELF image is not an executable (type %u)", rd16(img + 16));
        return V3_EIMAGE;
    }
    e_entry = rd32(img + 24);
    phoff = rd32(img + 28);
    phentsize = rd16(img + 42);
    phnum = rd16(img + 44);
    if (phentsize < 32 || phoff > len || (uint64_t)phnum * phentsize > len - phoff) {
        V3_ERROR("loader: truncated image: ELF program headers (%u x %u bytes at 0x%x) beyond the %zu-byte file",
                 phnum, phentsize, phoff, len);
        return V3_EIMAGE;
    }
    *entry = e_entry;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = img + phoff + (size_t)i * phentsize;
        uint32_t vaddr;

        if (rd32(ph) != 1 || rd32(ph + 20) == 0)    /* PT_LOAD with memory */
            continue;
        if (n == MAX_SEGS) {
            V3_ERROR("loader: more than %u loadable segments", MAX_SEGS);
            return V3_EIMAGE;
        }
        segs[n].offset = rd32(ph + 4);
        vaddr = rd32(ph + 8);
        segs[n].paddr = rd32(ph + 12);
        segs[n].filesz = rd32(ph + 16);
        segs[n].memsz = rd32(ph + 20);
        if (vaddr != segs[n].paddr && e_entry >= vaddr && e_entry - vaddr < segs[n].memsz)
            *entry = e_entry - vaddr + segs[n].paddr;
        n++;
    }
    if (!n) {
        V3_ERROR("loader: ELF image has no loadable segment");
        return V3_EIMAGE;
    }
    *nsegs = n;
    return V3_OK;
}

static void set_flat32(struct v3_core *core, uint64_t entry)
{
    v3_core_reset(core);
    core->cr0 = V3_CR0_PE | V3_CR0_ET;
    for (int s = V3_ES; s <= V3_GS; s++) {
        core->seg[s].selector = s == V3_CS ? 0x08 : 0x10;
        core->seg[s].base = 0;
        core->seg[s].limit = 0xffffffffu;
        core->seg[s].attrib = V3_SEG_P | V3_SEG_S | V3_SEG_DB | V3_SEG_G | (s == V3_CS ? 0xb : 0x3);
    }
    v3_core_set_rflags(core, 0x2);
    core->rip = entry;
    core->a20_clear = 0;             /* A20 enabled, as multiboot requires */
    v3_core_update_mode(core);
}

int v3_load_multiboot(struct v3_vm *vm, const void *image, size_t len, const char *cmdline,
                      const struct v3_boot_module *mods, unsigned nmods, struct v3_boot_info *info)
{
    const uint8_t *img = image;
    struct seg segs[MAX_SEGS];
    unsigned nsegs = 0;
    uint32_t flags = 0;
    size_t hdr = (size_t)-1;
    uint64_t entry = 0, kstart = ~0ull, kend = 0, ram, mod_addr[16], info_addr, info_size, pos;
    size_t cmd_len = str_len(cmdline);
    uint8_t *buf;
    int rc;

    if (!vm || (!image && len) || (nmods && !mods)) {
        V3_ERROR("loader: invalid arguments");
        return V3_EINVAL;
    }
    if (nmods > 16) {
        V3_ERROR("loader: %u modules (at most 16)", nmods);
        return V3_EINVAL;
    }
    ram = v3_mem_size(vm);
    for (size_t off = 0; off + 12 <= len && off < MB_SEARCH; off += 4) {
        if (rd32(img + off) == V3_MULTIBOOT_MAGIC &&
            (uint32_t)(rd32(img + off) + rd32(img + off + 4) + rd32(img + off + 8)) == 0) {
            hdr = off;
            flags = rd32(img + off + 4);
            break;
        }
    }
    if (hdr == (size_t)-1) {
        V3_ERROR("loader: no multiboot header (magic 0x1BADB002 with a valid checksum) in the first %u bytes",
                 MB_SEARCH);
        return V3_EIMAGE;
    }
    if (flags & 0xffffu & ~(MB_F_PAGE_ALIGN | MB_F_MEMINFO)) {
        V3_ERROR("loader: multiboot header requires features 0x%x that v3 does not provide (video mode or unknown)",
                 flags & 0xffffu & ~(MB_F_PAGE_ALIGN | MB_F_MEMINFO));
        return V3_EUNSUPPORTED;
    }

    if (flags & MB_F_AOUT) {
        uint32_t header_addr, load_addr, load_end, bss_end;
        if (hdr + 32 > len) {
            V3_ERROR("loader: truncated image: a.out-kludge header fields beyond the end of the file");
            return V3_EIMAGE;
        }
        header_addr = rd32(img + hdr + 12);
        load_addr = rd32(img + hdr + 16);
        load_end = rd32(img + hdr + 20);
        bss_end = rd32(img + hdr + 24);
        entry = rd32(img + hdr + 28);
        if (load_addr > header_addr || header_addr - load_addr > hdr) {
            V3_ERROR("loader: a.out kludge: load_addr 0x%x / header_addr 0x%x put the image start before the file",
                     load_addr, header_addr);
            return V3_EIMAGE;
        }
        segs[0].offset = hdr - (header_addr - load_addr);
        segs[0].paddr = load_addr;
        if (load_end == 0) {
            segs[0].filesz = len - segs[0].offset;
        } else if (load_end < load_addr) {
            V3_ERROR("loader: a.out kludge: load_end_addr 0x%x below load_addr 0x%x", load_end, load_addr);
            return V3_EIMAGE;
        } else {
            segs[0].filesz = load_end - load_addr;
        }
        segs[0].memsz = segs[0].filesz;
        if (bss_end) {
            if (bss_end < load_addr + segs[0].filesz) {
                V3_ERROR("loader: a.out kludge: bss_end_addr 0x%x below the end of the loaded image", bss_end);
                return V3_EIMAGE;
            }
            segs[0].memsz = bss_end - load_addr;
        }
        nsegs = 1;
    } else {
        if (len < 4 || img[0] != 0x7f || img[1] != 'E' || img[2] != 'L' || img[3] != 'F') {
            V3_ERROR("loader: multiboot image is neither ELF nor uses the a.out-kludge header");
            return V3_EIMAGE;
        }
        rc = parse_elf32(img, len, segs, &nsegs, &entry);
        if (rc < 0)
            return rc;
    }
    rc = check_segs(vm, segs, nsegs, len);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < nsegs; i++) {
        if (segs[i].paddr < kstart)
            kstart = segs[i].paddr;
        if (segs[i].paddr + segs[i].memsz > kend)
            kend = segs[i].paddr + segs[i].memsz;
    }
    if (entry >= ram) {
        V3_ERROR("loader: entry point 0x%llx outside guest RAM", (unsigned long long)entry);
        return V3_ENOFIT;
    }

    /* Modules after the kernel, page aligned. */
    pos = page_up(kend);
    for (unsigned i = 0; i < nmods; i++) {
        mod_addr[i] = pos;
        if (pos > ram || mods[i].len > ram - pos) {
            V3_ERROR("loader: module %u (%zu bytes) does not fit in guest RAM", i, mods[i].len);
            return V3_ENOFIT;
        }
        if (check_ram(vm, pos, mods[i].len, "module", i) < 0)
            return V3_EHOOKED;
        pos = page_up(pos + mods[i].len);
    }
    /* Information area: header, memory map (4 entries), module list, strings. */
    info_size = MBI_SIZE + 4 * 24 + 16ull * nmods + cmd_len + 1 + 6;
    for (unsigned i = 0; i < nmods; i++)
        info_size += str_len(mods[i].string) + 1;
    info_addr = 0x10000;
    if (!(info_addr + info_size <= 0x9f000 && info_addr + info_size <= kstart && info_addr + info_size <= ram))
        info_addr = pos;
    if (info_addr > ram || info_size > ram - info_addr) {
        V3_ERROR("loader: no room in guest RAM for the multiboot information");
        return V3_ENOFIT;
    }
    if (check_ram(vm, info_addr, info_size, "multiboot information", 0) < 0)
        return V3_EHOOKED;
    buf = v3_zalloc(info_size);
    if (!buf) {
        V3_ERROR("loader: out of memory");
        return V3_ENOMEM;
    }

    /* Everything is checked: write guest memory. */
    for (unsigned i = 0; i < nsegs && rc >= 0; i++) {
        rc = put(vm, segs[i].paddr, img + segs[i].offset, segs[i].filesz);
        if (rc >= 0 && segs[i].memsz > segs[i].filesz)
            rc = put(vm, segs[i].paddr + segs[i].filesz, NULL, segs[i].memsz - segs[i].filesz);
    }
    for (unsigned i = 0; i < nmods && rc >= 0; i++)
        rc = put(vm, mod_addr[i], mods[i].data, mods[i].len);
    if (rc >= 0) {
        uint64_t lower = ram < 0x9fc00 ? ram : 0x9fc00;
        uint64_t upper = ram > 0x100000 ? (ram < (1ull << 32) ? ram : (1ull << 32)) - 0x100000 : 0;
        uint64_t mmap = MBI_SIZE, modl = mmap + 4 * 24, str = modl + 16ull * nmods;
        uint64_t mmap_len = 0;
        uint32_t iflags = MBI_MEM | MBI_MMAP | MBI_LOADER_NAME | MBI_MODS;
        struct { uint64_t base, len; uint32_t type; } ents[4] = {
            { 0, lower, 1 }, { lower, 0xa0000 - lower, 2 }, { 0xf0000, 0x10000, 2 },
            { 0x100000, upper, 1 } };

        for (unsigned i = 0; i < 4; i++) {
            if (!ents[i].len || ents[i].base >= ram)
                continue;
            wr32(buf + mmap + mmap_len, 20);
            wr64(buf + mmap + mmap_len + 4, ents[i].base);
            wr64(buf + mmap + mmap_len + 12, ents[i].len);
            wr32(buf + mmap + mmap_len + 20, ents[i].type);
            mmap_len += 24;
        }
        wr32(buf + 4, (uint32_t)(lower / 1024));
        wr32(buf + 8, (uint32_t)(upper / 1024));
        if (cmdline) {
            iflags |= MBI_CMDLINE;
            memcpy(buf + str, cmdline, cmd_len + 1);
            wr32(buf + 16, (uint32_t)(info_addr + str));
            str += cmd_len + 1;
        }
        wr32(buf + 20, nmods);
        wr32(buf + 24, (uint32_t)(info_addr + modl));
        for (unsigned i = 0; i < nmods; i++) {
            size_t sl = str_len(mods[i].string);
            wr32(buf + modl + 16 * i, (uint32_t)mod_addr[i]);
            wr32(buf + modl + 16 * i + 4, (uint32_t)(mod_addr[i] + mods[i].len));
            memcpy(buf + str, mods[i].string ? mods[i].string : "", sl + 1);
            wr32(buf + modl + 16 * i + 8, (uint32_t)(info_addr + str));
            str += sl + 1;
        }
        wr32(buf + 44, (uint32_t)mmap_len);
        wr32(buf + 48, (uint32_t)(info_addr + mmap));
        memcpy(buf + str, "v3vmm", 6);
        wr32(buf + 64, (uint32_t)(info_addr + str));
        wr32(buf + 0, iflags);
        rc = put(vm, info_addr, buf, info_size);
    }
    v3_free(buf);
    if (rc < 0) {
        V3_ERROR("loader: writing the image into guest memory failed: %s", v3_strerror(rc));
        return rc;
    }

    code_changed(vm, 0, ram);
    set_flat32(&vm->cores[0], entry);
    vm->cores[0].gpr[V3_RAX] = V3_MULTIBOOT_BOOT_MAGIC;
    vm->cores[0].gpr[V3_RBX] = info_addr;
    if (info) {
        info->entry = entry;
        info->kernel_start = kstart;
        info->kernel_end = kend;
        info->info_addr = info_addr;
        info->aout_kludge = !!(flags & MB_F_AOUT);
    }
    return V3_OK;
}

int v3_load_flat(struct v3_vm *vm, const void *image, size_t len, uint64_t addr, uint64_t entry,
                 enum v3_flat_mode mode)
{
    struct v3_core *core;
    uint64_t ram;
    int rc;

    if (!vm || (mode != V3_FLAT_PROT32 && mode != V3_FLAT_REAL)) {
        V3_ERROR("loader: invalid arguments");
        return V3_EINVAL;
    }
    if (!image || !len) {
        V3_ERROR("loader: empty flat image");
        return V3_EIMAGE;
    }
    ram = v3_mem_size(vm);
    if (addr >= ram || len > ram - addr) {
        V3_ERROR("loader: flat image of %zu bytes at 0x%llx does not fit in guest RAM (0x%llx bytes)", len,
                 (unsigned long long)addr, (unsigned long long)ram);
        return V3_ENOFIT;
    }
    if (check_ram(vm, addr, len, "flat image", 0) < 0)
        return V3_EHOOKED;
    if (entry >= ram || (mode == V3_FLAT_REAL && entry >= 0x100000) ||
        (mode == V3_FLAT_PROT32 && entry > 0xffffffffull)) {
        V3_ERROR("loader: entry point 0x%llx not reachable in %s mode", (unsigned long long)entry,
                 mode == V3_FLAT_REAL ? "real" : "protected");
        return V3_EINVAL;
    }
    rc = put(vm, addr, image, len);
    if (rc < 0) {
        V3_ERROR("loader: writing the image into guest memory failed: %s", v3_strerror(rc));
        return rc;
    }
    code_changed(vm, addr, addr + len);
    core = &vm->cores[0];
    if (mode == V3_FLAT_PROT32) {
        set_flat32(core, entry);
        return V3_OK;
    }
    v3_core_reset(core);
    core->seg[V3_CS].selector = (uint16_t)(entry >> 4);
    core->seg[V3_CS].base = entry & ~0xfull;
    core->rip = entry & 0xf;
    core->gpr[V3_RDX] = 0;
    v3_core_update_mode(core);
    return V3_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * v3-memmap-demo: builds a PC-like guest physical memory map on a VM,
 * performs guest accesses through every kind of region, shows each hook
 * firing, checks every value read back, and prints the map as a table.
 *
 *   v3-memmap-demo [-m SIZE[K|M|G]] [-q]
 *
 * Layout (RAM size 16 MiB by default):
 *   0x00000000-0x0009ffff  conventional RAM (base region)
 *   0x000a0000-0x000bffff  VGA window, write-hooked (backed by host memory)
 *   0x000e0000-0x000fffff  BIOS ROM area, remapped to host memory
 *   0x00100000-RAM size    RAM (base region)
 *   0xfee00000-0xfee00fff  local-APIC-like MMIO device, fully hooked
 *   0x800000000-...        a device above 4 GiB (doorbell + status), fully hooked
 *
 * Exit status 0 only if every check passed.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <v3/v3.h>
#include <v3/backend.h>

#define KiB ((uint64_t)1024)
#define MiB (1024 * KiB)

#define VGA_START   0xA0000ull
#define VGA_END     0xC0000ull
#define BIOS_START  0xE0000ull
#define BIOS_END    0x100000ull
#define APIC_START  0xFEE00000ull
#define APIC_END    0xFEE01000ull
#define HIGH_START  0x800000000ull      /* 32 GiB */
#define HIGH_END    0x800002000ull

static int quiet;
static int checks, failures;

static void check(int ok, const char *what)
{
    checks++;
    if (!ok)
        failures++;
    printf("  [%s] %s\n", ok ? " ok " : "FAIL", what);
}

static void show_data(const void *p, uint32_t len)
{
    const unsigned char *b = p;
    uint32_t i, n = len < 16 ? len : 16;

    for (i = 0; i < n; i++)
        printf(" %02x", b[i]);
    if (len > n)
        printf(" ...");
}

/* ------------------------------------------------------------ VGA (write hook) */
static long vga_writes;
static int vga_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)core;
    (void)priv;
    vga_writes++;
    printf("    hook: VGA write   gpa=%#" PRIx64 " len=%u data=", gpa, len);
    show_data(src, len);
    if (gpa >= 0xB8000 && len >= 1) {
        /* text mode: show the characters written */
        const unsigned char *b = src;
        printf("  text \"");
        for (uint32_t i = (gpa & 1) ? 1 : 0; i < len && i < 32; i += 2)
            putchar(b[i] >= 32 && b[i] < 127 ? b[i] : '.');
        printf("\"");
    }
    printf("\n");
    return 0;
}

/* ------------------------------------------------------------ APIC-like MMIO (full hook) */
struct apic {
    uint32_t id, version, tpr, eoi_count;
    long reads, writes;
};

static uint32_t apic_reg(struct apic *a, uint64_t off)
{
    switch (off & ~0xfull) {
    case 0x20: return a->id << 24;
    case 0x30: return a->version;
    case 0x80: return a->tpr;
    default:   return 0;
    }
}

static int apic_read(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    struct apic *a = priv;
    unsigned char *out = dst;

    (void)core;
    a->reads++;
    for (uint32_t i = 0; i < len; i++) {
        uint64_t off = gpa - APIC_START + i;
        out[i] = (unsigned char)(apic_reg(a, off) >> (8 * (off & 3)));
    }
    printf("    hook: APIC read   gpa=%#" PRIx64 " len=%u data=", gpa, len);
    show_data(dst, len);
    printf("\n");
    return 0;
}

static int apic_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    struct apic *a = priv;
    uint64_t off = gpa - APIC_START;
    uint32_t v = 0;

    (void)core;
    a->writes++;
    printf("    hook: APIC write  gpa=%#" PRIx64 " len=%u data=", gpa, len);
    show_data(src, len);
    printf("\n");
    if (len != 4 || (off & 3))
        return -1;                      /* registers take aligned 32-bit writes only */
    memcpy(&v, src, 4);
    if (off == 0x80)
        a->tpr = v & 0xff;
    else if (off == 0xB0)
        a->eoi_count++;
    return 0;
}

/* ------------------------------------------------------------ device above 4 GiB (full hook) */
struct highdev {
    uint64_t doorbell;
    uint64_t rings;
};

static int high_read(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    struct highdev *d = priv;
    uint64_t regs[2] = { d->doorbell, d->rings };
    uint64_t off = gpa - HIGH_START;

    (void)core;
    for (uint32_t i = 0; i < len; i++)
        ((unsigned char *)dst)[i] = off + i < sizeof(regs) ? ((unsigned char *)regs)[off + i] : 0xff;
    printf("    hook: HIGH read   gpa=%#" PRIx64 " len=%u data=", gpa, len);
    show_data(dst, len);
    printf("\n");
    return 0;
}

static int high_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    struct highdev *d = priv;

    (void)core;
    printf("    hook: HIGH write  gpa=%#" PRIx64 " len=%u data=", gpa, len);
    show_data(src, len);
    printf("\n");
    if (gpa == HIGH_START && len == 8) {
        memcpy(&d->doorbell, src, 8);
        d->rings++;
    }
    return 0;
}

/* ------------------------------------------------------------ listener */
static void on_change(struct v3_vm *vm, uint64_t start, uint64_t end, void *priv)
{
    (void)vm;
    (void)priv;
    if (!quiet)
        printf("    listener: map changed [%#" PRIx64 ", %#" PRIx64 ")\n", start, end);
}

static void print_map(struct v3_vm *vm)
{
    struct v3_mem_region *b = v3_mem_base(vm);

    printf("\nGuest physical memory map (%zu overlay regions over %" PRIu64 " MiB of RAM)\n\n",
           v3_mem_region_count(vm), v3_mem_size(vm) / MiB);
    printf("  %-20s %-20s %10s  %-10s %-16s %s\n", "start", "end (excl.)", "size", "kind", "host", "hook calls");
    printf("  %-20s %-20s %10s  %-10s %-16s %s\n", "--------------------", "--------------------",
           "----------", "----------", "----------------", "----------");
    printf("  %#-20" PRIx64 " %#-20" PRIx64 " %9" PRIu64 "K  %-10s %-16s %llu\n", b->guest_start,
           b->guest_end, (b->guest_end - b->guest_start) / KiB, v3_shdw_region_type_to_str(b->type),
           "(guest RAM)", (unsigned long long)b->hook_calls);
    for (struct v3_mem_region *r = v3_mem_first(vm); r; r = v3_mem_next(vm, r)) {
        char host[32];
        if (r->host_addr)
            snprintf(host, sizeof(host), "%p", r->host_addr);
        else
            snprintf(host, sizeof(host), "-");
        printf("  %#-20" PRIx64 " %#-20" PRIx64 " %9" PRIu64 "K  %-10s %-16s %llu\n",
               r->guest_start, r->guest_end, (r->guest_end - r->guest_start) / KiB,
               v3_shdw_region_type_to_str(r->type), host, (unsigned long long)r->hook_calls);
    }
}

static uint64_t parse_size(const char *s)
{
    char *end;
    uint64_t v = strtoull(s, &end, 0);

    switch (*end) {
    case 'k': case 'K': v *= KiB; break;
    case 'm': case 'M': v *= MiB; break;
    case 'g': case 'G': v *= 1024 * MiB; break;
    default: break;
    }
    return v;
}

static const struct v3_backend_ops demo_backend = { .name = "none (memory map only)" };

int main(int argc, char **argv)
{
    uint64_t mem_size = 16 * MiB;
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    struct v3_core *core;
    unsigned char *vga_mem, *bios;
    struct apic apic = { .id = 0, .version = 0x00050014 };
    struct highdev high = { 0 };
    unsigned char buf[64];
    int err, rc;
    int64_t n;
    void *hva;

    setvbuf(stdout, NULL, _IOLBF, 0);       /* keep order with the core's log lines on stderr */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) {
            mem_size = parse_size(argv[++i]);
        } else if (!strcmp(argv[i], "-q")) {
            quiet = 1;
        } else {
            fprintf(stderr, "usage: %s [-m SIZE[K|M|G]] [-q]\n", argv[0]);
            return 2;
        }
    }
    if (mem_size < 2 * MiB || mem_size > 3 * 1024 * MiB) {
        fprintf(stderr, "%s: RAM size must be between 2 MiB and 3 GiB\n", argv[0]);
        return 2;
    }
    if (v3_init(v3_posix_os_hooks()) != V3_OK)
        return 1;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = mem_size;
    cfg.num_cores = 1;
    cfg.backend_ops = &demo_backend;
    vm = v3_create_vm(&cfg, &err);
    if (!vm) {
        fprintf(stderr, "v3_create_vm: %s\n", v3_strerror(err));
        return 1;
    }
    core = v3_get_core(vm, 0);

    /* host memory for the VGA window and the BIOS image */
    if (posix_memalign((void **)&vga_mem, 4096, VGA_END - VGA_START) ||
        posix_memalign((void **)&bios, 4096, BIOS_END - BIOS_START))
        return 1;
    memset(vga_mem, 0, VGA_END - VGA_START);
    for (uint64_t i = 0; i < BIOS_END - BIOS_START; i++)
        bios[i] = "v3vmm BIOS "[i % 11];
    memcpy(bios + (0xF0000 - BIOS_START), "v3vmm BIOS", 10);
    /* reset vector at 0xFFFF0: jmp far f000:e05b */
    memcpy(bios + (0xFFFF0 - BIOS_START), "\xEA\x5B\xE0\x00\xF0", 5);

    printf("Building a PC-like memory map on a VM with %" PRIu64 " MiB of RAM\n", mem_size / MiB);
    v3_mem_add_listener(vm, on_change, NULL);
    check(v3_hook_write_mem(vm, VGA_START, VGA_END, vga_mem, vga_write, NULL) == V3_OK,
          "VGA window 0xa0000-0xc0000 write-hooked");
    check(v3_add_shadow_mem(vm, BIOS_START, BIOS_END, bios) == V3_OK,
          "BIOS ROM area 0xe0000-0x100000 remapped to host memory");
    check(v3_hook_full_mem(vm, APIC_START, APIC_END, apic_read, apic_write, &apic) == V3_OK,
          "APIC-like MMIO at 0xfee00000 fully hooked");
    check(v3_hook_full_mem(vm, HIGH_START, HIGH_END, high_read, high_write, &high) == V3_OK,
          "device above 4 GiB at 0x800000000 fully hooked");
    rc = v3_hook_full_mem(vm, APIC_START - 0x1000, APIC_START + 0x1000, apic_read, apic_write, &apic);
    check(rc == V3_EOVERLAP, "an overlapping hook is refused with V3_EOVERLAP");

    printf("\nConventional RAM (base region)\n");
    n = v3_write_gpa_memory(vm, core, 0x7C00, 12, "hello, guest");
    check(n == 12, "write 12 bytes at 0x7c00");
    memset(buf, 0, sizeof(buf));
    n = v3_read_gpa_memory(vm, core, 0x7C00, 12, buf);
    check(n == 12 && !memcmp(buf, "hello, guest", 12), "read them back");
    check(v3_gpa_to_hva(vm, 0x7C00, &hva) == V3_OK && !memcmp(hva, "hello, guest", 12),
          "v3_gpa_to_hva(0x7c00) points at the same bytes");

    printf("\nRAM above 1 MiB (base region)\n");
    {
        uint64_t a = mem_size - 8, v = 0x1122334455667788ull, r = 0;
        n = v3_write_gpa_memory(vm, core, a, 8, &v);
        check(n == 8, "write the last 8 bytes of RAM");
        n = v3_read_gpa_memory(vm, core, a, 8, &r);
        check(n == 8 && r == v, "read them back");
        n = v3_read_gpa_memory(vm, core, mem_size, 1, buf);
        check(n == V3_EUNMAPPED, "one byte past the end of RAM is unmapped (V3_EUNMAPPED)");
    }

    printf("\nVGA window (write hook): writes reach the callback, then the backing memory\n");
    n = v3_write_gpa_memory(vm, core, 0xB8000, 10, "H\x07i\x07!\x07 \x07:\x07");
    check(n == 10 && vga_writes == 1, "write \"Hi! :\" with attributes at 0xb8000: one hook call");
    check(!memcmp(vga_mem + (0xB8000 - VGA_START), "H\x07i\x07!\x07", 6), "backing memory holds the text");
    memset(buf, 0, sizeof(buf));
    n = v3_read_gpa_memory(vm, core, 0xB8000, 6, buf);
    check(n == 6 && !memcmp(buf, "H\x07i\x07!\x07", 6) && vga_writes == 1,
          "reads come from backing memory without a hook call");
    {
        unsigned char line[40];
        memset(line, 'x', sizeof(line));
        n = v3_write_gpa_memory(vm, core, 0xA0FEC, sizeof(line), line);
        check(n == (int64_t)sizeof(line) && vga_writes == 3,
              "a 40-byte write across a page boundary fires the hook twice (one call per page)");
    }
    {
        /* one access spanning conventional RAM and the VGA window */
        unsigned char span[16], back[16];
        memset(span, 0x5A, sizeof(span));
        n = v3_write_gpa_memory(vm, core, VGA_START - 8, sizeof(span), span);
        check(n == 16 && vga_writes == 4, "a write spanning RAM and the VGA window: RAM copy plus one hook call");
        n = v3_read_gpa_memory(vm, core, VGA_START - 8, sizeof(back), back);
        check(n == 16 && !memcmp(back, span, 16), "reading the span back");
    }

    printf("\nBIOS ROM area (host memory remapped into the guest)\n");
    memset(buf, 0, sizeof(buf));
    n = v3_read_gpa_memory(vm, core, 0xF0000, 10, buf);
    check(n == 10 && !memcmp(buf, "v3vmm BIOS", 10), "read the BIOS signature \"v3vmm BIOS\" at 0xf0000");
    n = v3_read_gpa_memory(vm, core, 0xFFFF0, 5, buf);
    check(n == 5 && !memcmp(buf, "\xEA\x5B\xE0\x00\xF0", 5), "reset vector at 0xffff0 is jmp far f000:e05b");
    check(v3_gpa_to_hva(vm, 0xFFFF0, &hva) == V3_OK && hva == bios + 0x1FFF0,
          "v3_gpa_to_hva(0xffff0) is inside the host BIOS image");

    printf("\nAPIC-like MMIO (full hook): every access goes to the device model\n");
    {
        uint32_t v = 0, tpr = 0x20;
        n = v3_read_gpa_memory(vm, core, APIC_START + 0x30, 4, &v);
        check(n == 4 && v == 0x00050014, "read the version register");
        n = v3_write_gpa_memory(vm, core, APIC_START + 0x80, 4, &tpr);
        check(n == 4 && apic.tpr == 0x20, "write 0x20 to the task-priority register");
        v = 0;
        n = v3_read_gpa_memory(vm, core, APIC_START + 0x80, 4, &v);
        check(n == 4 && v == 0x20, "read the task-priority register back");
        n = v3_write_gpa_memory(vm, core, APIC_START + 0x81, 2, &tpr);
        check(n == V3_ECALLBACK, "a misaligned register write is refused by the device (V3_ECALLBACK)");
        check(v3_gpa_to_hva(vm, APIC_START, &hva) == V3_EHOOKED, "v3_gpa_to_hva on MMIO is V3_EHOOKED");
    }

    printf("\nDevice above 4 GiB (full hook)\n");
    {
        uint64_t bell = 0xC0FFEE, r[2] = { 0, 0 };
        n = v3_write_gpa_memory(vm, core, HIGH_START, 8, &bell);
        check(n == 8 && high.rings == 1, "ring the doorbell at 0x800000000");
        n = v3_read_gpa_memory(vm, core, HIGH_START, 16, r);
        check(n == 16 && r[0] == 0xC0FFEE && r[1] == 1, "read doorbell and ring count back");
    }

    printf("\nHoles\n");
    n = v3_read_gpa_memory(vm, core, 0xC0000000ull, 4, buf);
    check(n == V3_EUNMAPPED, "0xc0000000 (between RAM and MMIO) is unmapped");
    n = v3_write_gpa_memory(vm, core, APIC_END - 2, 4, buf);
    check(n == V3_EUNMAPPED && apic.writes == 2, "a write running off the end of the APIC page writes nothing");

    print_map(vm);

    printf("\nUnhooking the VGA window: the guest now sees plain RAM there\n");
    check(v3_unhook_mem(vm, VGA_START) == V3_OK, "v3_unhook_mem(0xa0000)");
    n = v3_write_gpa_memory(vm, core, 0xB8000, 2, "Z\x07");
    check(n == 2 && vga_writes == 4, "writes no longer reach the hook");
    check(v3_gpa_to_hva(vm, 0xB8000, &hva) == V3_OK &&
          hva == (char *)v3_mem_base(vm)->host_addr + 0xB8000 && !memcmp(hva, "Z\x07", 2),
          "0xb8000 is guest RAM again");
    check(v3_unhook_mem(vm, BIOS_START) == V3_ENOTHOOK, "unhooking the BIOS shadow is refused (V3_ENOTHOOK)");
    check(v3_unhook_mem(vm, 0x12345000) == V3_ENOENT, "unhooking where nothing starts is V3_ENOENT");

    v3_free_vm(vm);
    free(vga_mem);
    free(bios);
    v3_deinit();
    printf("\n%d checks, %d failed: %s\n", checks, failures, failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}

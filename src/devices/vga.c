/* SPDX-License-Identifier: MIT */
/* VGA text memory ("vga": 0xB8000-0xBFFFF) as a write-hooked region rendering an 80x25 screen. */
#include "internal/host.h"
#include "internal/vm.h"

#define VGA_PAGES ((V3_VGA_TEXT_END - V3_VGA_TEXT_BASE) / V3_PAGE_SIZE)
#define VGA_CELLS (V3_VGA_COLS * V3_VGA_ROWS)

struct v3_vga {
    uint8_t *mem;                    /* backing memory of the region (ours) */
    uint8_t screen[VGA_CELLS];       /* characters as rendered */
    uint64_t changed;
    int hooked;
    uint8_t crtc_index;
    uint8_t crtc[32];                /* CRT controller registers (cursor, start address) */
};

/* CRT controller at 0x3D4 (index) / 0x3D5 (data): storage only, so text-mode
 * drivers that move the cursor find their registers. */
static uint64_t crtc_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    struct v3_vga *v = v3_dev_state(dev);

    (void)core;
    (void)size;
    return off == 0 ? v->crtc_index : (v->crtc_index < 32 ? v->crtc[v->crtc_index] : 0xff);
}

static void crtc_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    struct v3_vga *v = v3_dev_state(dev);
    uint8_t lo = (uint8_t)val, hi = (uint8_t)(val >> 8);

    (void)core;
    if (off == 0) {
        v->crtc_index = lo;
        if (size >= 2 && lo < 32)       /* OUT DX, AX: index in AL, data in AH */
            v->crtc[lo] = hi;
    } else if (v->crtc_index < 32) {
        v->crtc[v->crtc_index] = lo;
    }
}

static int vga_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    struct v3_device *dev = priv;
    struct v3_vga *v = v3_dev_state(dev);
    const uint8_t *s = src;

    (void)core;
    v3_dev_lock(dev);
    for (uint32_t i = 0; i < len; i++) {
        uint64_t off = gpa + i - V3_VGA_TEXT_BASE;
        if (off >= 2 * VGA_CELLS)
            break;
        if (off & 1)
            continue;                /* attribute byte */
        if (v->screen[off / 2] != s[i]) {
            v->screen[off / 2] = s[i];
            v->changed++;
        }
    }
    v3_dev_unlock(dev);
    return 0;
}

static int vga_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct v3_vga *v = v3_dev_state(dev);
    int rc;

    (void)args;
    v->mem = v3_alloc_pages(VGA_PAGES);
    if (!v->mem) {
        V3_ERROR("vga: out of memory for text memory");
        return V3_ENOMEM;
    }
    for (unsigned i = 0; i < VGA_CELLS; i++) {
        v->mem[2 * i] = ' ';
        v->mem[2 * i + 1] = 0x07;
        v->screen[i] = ' ';
    }
    v->crtc[0x0a] = 0x0d;            /* cursor scan lines 13-14, as after a text-mode set */
    v->crtc[0x0b] = 0x0e;
    rc = v3_dev_claim_io(dev, 0x3d4, 2, crtc_read, crtc_write);
    if (rc < 0)
        return rc;
    rc = v3_hook_write_mem(v3_dev_vm(dev), V3_VGA_TEXT_BASE, V3_VGA_TEXT_END, v->mem, vga_write, dev);
    if (rc < 0) {
        V3_ERROR("vga: text memory 0x%llx-0x%llx: %s", (unsigned long long)V3_VGA_TEXT_BASE,
                 (unsigned long long)V3_VGA_TEXT_END - 1, v3_strerror(rc));
        return rc;
    }
    v->hooked = 1;
    return V3_OK;
}

/* The region goes before the memory map; the memory is ours. */
static void vga_destroy(struct v3_device *dev)
{
    struct v3_vga *v = v3_dev_state(dev);

    if (v->hooked)
        v3_unhook_mem(v3_dev_vm(dev), V3_VGA_TEXT_BASE);
    v3_free_pages(v->mem, VGA_PAGES);
}

/* Text memory, the rendered screen and the CRTC registers. */
static int vga_save(struct v3_device *dev, struct v3_snap *s)
{
    struct v3_vga *v = v3_dev_state(dev);
    int rc = v3_snap_put(s, v->mem, VGA_PAGES * V3_PAGE_SIZE);

    if (!rc)
        rc = v3_snap_put(s, v->screen, sizeof(v->screen));
    if (!rc)
        rc = v3_snap_put(s, &v->changed, sizeof(v->changed));
    if (!rc)
        rc = v3_snap_put(s, &v->crtc_index, 1);
    return rc ? rc : v3_snap_put(s, v->crtc, sizeof(v->crtc));
}

static int vga_load(struct v3_device *dev, struct v3_snap *s)
{
    struct v3_vga *v = v3_dev_state(dev);
    uint8_t screen[VGA_CELLS], crtc[32], idx;
    uint64_t changed;
    int rc;

    /* all of it read before any of it is used: a short record changes nothing */
    if (s->len - s->pos != VGA_PAGES * V3_PAGE_SIZE + sizeof(screen) + sizeof(changed) + 1 + sizeof(crtc))
        return V3_EIMAGE;
    rc = v3_snap_get(s, v->mem, VGA_PAGES * V3_PAGE_SIZE);
    if (!rc)
        rc = v3_snap_get(s, screen, sizeof(screen));
    if (!rc)
        rc = v3_snap_get(s, &changed, sizeof(changed));
    if (!rc)
        rc = v3_snap_get(s, &idx, 1);
    if (!rc)
        rc = v3_snap_get(s, crtc, sizeof(crtc));
    if (rc)
        return rc;
    memcpy(v->screen, screen, sizeof(screen));
    v->changed = changed;
    v->crtc_index = idx;
    memcpy(v->crtc, crtc, sizeof(crtc));
    return 0;
}

const struct v3_device_ops v3_dev_vga = {
    .name = "vga",
    .help = "VGA text memory at 0xB8000 (write hook) and CRTC index/data at 0x3D4",
    .state_size = sizeof(struct v3_vga),
    .create = vga_create,
    .destroy = vga_destroy,
    .save = vga_save,
    .load = vga_load,
};

static struct v3_vga *vga_of(struct v3_vm *vm)
{
    struct v3_device *d = v3_vm_find_device(vm, "vga");
    return d ? v3_dev_state(d) : NULL;
}

int v3_vga_render(struct v3_vm *vm, char *buf, size_t size)
{
    struct v3_vga *v;
    size_t j = 0;

    if (!vm || !buf || size < (size_t)V3_VGA_ROWS * (V3_VGA_COLS + 1) + 1)
        return V3_EINVAL;
    v = vga_of(vm);
    if (!v)
        return V3_ENOENT;
    for (int r = 0; r < V3_VGA_ROWS; r++) {
        for (int c = 0; c < V3_VGA_COLS; c++) {
            uint8_t ch = v->screen[r * V3_VGA_COLS + c];
            buf[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : (ch == 0 ? ' ' : '.');
        }
        buf[j++] = '\n';
    }
    buf[j] = 0;
    return (int)j;
}

int v3_vga_cursor(struct v3_vm *vm, unsigned *row, unsigned *col)
{
    struct v3_vga *v;
    unsigned pos;

    if (!vm || !row || !col)
        return V3_EINVAL;
    if (!(v = vga_of(vm)))
        return V3_ENOENT;
    pos = ((unsigned)v->crtc[0x0e] << 8) | v->crtc[0x0f];
    *row = pos / V3_VGA_COLS;
    *col = pos % V3_VGA_COLS;
    return V3_OK;
}

uint64_t v3_vga_cells_changed(struct v3_vm *vm)
{
    struct v3_vga *v = vm ? vga_of(vm) : NULL;
    return v ? v->changed : 0;
}

/* SPDX-License-Identifier: MIT */
/* VGA text memory (0xB8000-0xBFFFF) as a write-hooked region rendering an 80x25 screen. */
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
static int crtc_in(struct v3_core *core, uint16_t port, void *dst, unsigned size, void *priv)
{
    struct v3_vga *v = priv;
    uint8_t *d = dst;

    memset(dst, 0, size);
    d[0] = port == 0x3d4 ? v->crtc_index : (v->crtc_index < 32 ? v->crtc[v->crtc_index] : 0xff);
    return 0;
}

static int crtc_out(struct v3_core *core, uint16_t port, const void *src, unsigned size, void *priv)
{
    struct v3_vga *v = priv;
    const uint8_t *s = src;

    if (port == 0x3d4) {
        v->crtc_index = s[0];
        if (size >= 2 && s[0] < 32)       /* OUT DX, AX: index in AL, data in AH */
            v->crtc[s[0]] = s[1];
    } else if (v->crtc_index < 32) {
        v->crtc[v->crtc_index] = s[0];
    }
    return 0;
}

static int vga_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    struct v3_vga *v = priv;
    const uint8_t *s = src;

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
    return 0;
}

int v3_vga_attach(struct v3_vm *vm)
{
    struct v3_vga *v = v3_zalloc(sizeof(*v));
    int rc;

    if (!v) {
        V3_ERROR("vga: out of memory");
        return V3_ENOMEM;
    }
    vm->vga = v;
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
    rc = v3_hook_write_mem(vm, V3_VGA_TEXT_BASE, V3_VGA_TEXT_END, v->mem, vga_write, v);
    if (rc < 0)
        return rc;
    v->hooked = 1;
    v->crtc[0x0a] = 0x0d;            /* cursor scan lines 13-14, as after a text-mode set */
    v->crtc[0x0b] = 0x0e;
    for (uint16_t p = 0x3d4; p <= 0x3d5; p++) {
        rc = v3_hook_io_port(vm, p, crtc_in, crtc_out, v);
        if (rc < 0)
            return rc;
    }
    return V3_OK;
}

/* Called before the memory map is torn down: the region goes with the map, the memory is ours. */
void v3_vga_detach(struct v3_vm *vm)
{
    struct v3_vga *v = vm->vga;

    if (!v)
        return;
    if (v->hooked)
        v3_unhook_mem(vm, V3_VGA_TEXT_BASE);
    v3_free_pages(v->mem, VGA_PAGES);
    v3_free(v);
    vm->vga = NULL;
}

int v3_vga_render(struct v3_vm *vm, char *buf, size_t size)
{
    struct v3_vga *v;
    size_t j = 0;

    if (!vm || !buf || size < (size_t)V3_VGA_ROWS * (V3_VGA_COLS + 1) + 1)
        return V3_EINVAL;
    v = vm->vga;
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
    unsigned pos;

    if (!vm || !row || !col)
        return V3_EINVAL;
    if (!vm->vga)
        return V3_ENOENT;
    pos = ((unsigned)vm->vga->crtc[0x0e] << 8) | vm->vga->crtc[0x0f];
    *row = pos / V3_VGA_COLS;
    *col = pos % V3_VGA_COLS;
    return V3_OK;
}

uint64_t v3_vga_cells_changed(struct v3_vm *vm)
{
    return (vm && vm->vga) ? vm->vga->changed : 0;
}

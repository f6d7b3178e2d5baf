#!/usr/bin/env bash
# Extracts the uncompressed vmlinux (ELF) from a bzImage, for the PVH entry.
# The compressed payload is located through the setup header
# (payload_offset at 0x248 and payload_length at 0x24C, relative to the
# protected-mode code at (setup_sects + 1) * 512) and recognised by its
# magic: xz (FD 37 7A 58 5A 00), zstd (28 B5 2F FD), gzip (1F 8B 08), lzma
# (5D 00 00). The result must be an ELF with the Xen PVH entry note
# (XEN_ELFNOTE_PHYS32_ENTRY), checked with readelf -n.
#
#   scripts/extract-vmlinux.sh BZIMAGE OUT
# Idempotent: an existing OUT newer than BZIMAGE is kept.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BZIMAGE OUT" >&2; exit 2; }
in=$1 out=$2
if [ -s "$out" ] && [ "$out" -nt "$in" ]; then
    echo "$out"
    exit 0
fi
u8()  { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
[ "$(od -An -c -j 514 -N4 "$in" | tr -d ' ')" = "HdrS" ] || { echo "extract-vmlinux: $in is not a bzImage" >&2; exit 1; }
sects=$(u8 "$in" 497); [ "$sects" -eq 0 ] && sects=4
pm=$(( (sects + 1) * 512 ))
off=$(( pm + $(u32 "$in" $((0x248))) ))
len=$(u32 "$in" $((0x24C)))
magic=$(od -An -tx1 -j "$off" -N6 "$in" | tr -d ' ')
case $magic in
    fd377a585a00*) dec="xz -dc" ;;
    28b52ffd*)     dec="zstd -dcq" ;;
    1f8b08*)       dec="gzip -dc" ;;
    5d0000*)       dec="xz -dc --format=lzma" ;;
    *) echo "extract-vmlinux: unknown payload magic $magic at $off" >&2; exit 1 ;;
esac
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# The payload may carry trailing bytes (the decompressed size): decoders then complain, so check the ELF instead.
tail -c +$((off + 1)) "$in" | head -c "$len" | $dec > "$tmp" 2>/dev/null || true
[ "$(od -An -c -N4 "$tmp" | tr -d ' ')" = "177ELF" ] || { echo "extract-vmlinux: payload did not decompress to an ELF" >&2; exit 1; }
readelf -n "$tmp" 2>/dev/null | grep -q "Xen.*0x00000012\|PHYS32_ENTRY\|Unknown note type: (0x00000012)" ||
    { echo "extract-vmlinux: vmlinux has no Xen PVH entry note (type 18)" >&2; exit 1; }
mv "$tmp" "$out"
trap - EXIT
echo "$out"

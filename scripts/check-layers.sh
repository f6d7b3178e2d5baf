#!/usr/bin/env bash
# Proves that no #include in the core points up the layer list of
# docs/ARCHITECTURE.md.  Bottom up, the directories of src/:
#   host; mem; paging; arch + emu (the architectural system level and the
#   instruction semantics, one layer); cpu (the software CPU back end);
#   vm (VM, device model, machine assembly); devices.
# A file may include headers of its own layer and of the layers below it
# (src/internal/ holds shared internal headers of the VM object and is
# exempt, as are the public headers include/v3/).
set -euo pipefail
cd "$(dirname "$0")/.."
rank() {
    case $1 in
    host) echo 0 ;; mem) echo 1 ;; paging) echo 2 ;; arch|emu) echo 3 ;; cpu) echo 4 ;;
    vm) echo 5 ;; devices) echo 6 ;; *) echo -1 ;;
    esac
}
bad=0
while IFS= read -r line; do
    file=${line%%:*}
    inc=$(printf '%s\n' "$line" | sed -n 's/.*#include "\([a-z]*\)\/.*/\1/p')
    from=$(printf '%s\n' "$file" | cut -d/ -f2)
    [ -n "$inc" ] || continue
    rf=$(rank "$from")
    ri=$(rank "$inc")
    [ "$rf" -ge 0 ] && [ "$ri" -ge 0 ] || continue
    if [ "$ri" -gt "$rf" ]; then
        echo "check-layers: $file includes $inc/ (a layer above $from/): ${line#*:}" >&2
        bad=$((bad + 1))
    fi
done < <(grep -rn '#include "' src --include='*.c' --include='*.h')
if [ "$bad" -ne 0 ]; then
    echo "check-layers: FAIL: $bad upward includes" >&2
    exit 1
fi
echo "check-layers: OK (no #include points up the layer list)"

#!/usr/bin/env python3
"""Boot time of Debian 12's kernel: v3vm's software CPU against QEMU 7.2 TCG.

Both boot the same kernel (PVH vmlinux and the bzImage), the same initramfs
(an /init that prints one marker line and powers off), the same command line,
256 MiB and one vCPU.  Each round runs every configuration once, interleaved,
so a change of host load hits all of them alike.  Reported per configuration:
median seconds to the /init marker and to the end of the process (power-off),
the process's CPU time (user + system: steadier than wall time on a loaded host),
and guest instructions (v3vm --stats; QEMU has no counter in Debian's build:
no TCG plugins are shipped, so its column is empty).

    bench/linux/boot-vs-qemu.py V3VM [--rounds N] [--only pvh|bzimage]

Needs scripts/fetch-linux.sh to have run (the kernel cache).
"""
import argparse, os, re, statistics, subprocess, sys, tempfile, time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("V3_LINUX_CACHE", os.path.expanduser("~/.cache/v3vmm/linux"))
APPEND = "console=ttyS0 noapic nolapic"
INIT = """#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo "V3B init $(/bin/busybox cut -d' ' -f1 /proc/uptime)"
/bin/busybox poweroff -f
"""


def run(cmd, timeout):
    """Runs cmd; returns (seconds to the marker, seconds to exit, stderr, exit status)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    t_init = None
    for line in p.stdout:
        if t_init is None and b"V3B init" in line:
            t_init = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace")
    _, st, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(st)
    return t_init, time.monotonic() - t0, err, p.returncode, ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("v3vm")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", choices=["pvh", "bzimage"])
    ap.add_argument("--no-realtime", action="store_true", help="skip v3vm -clock realtime")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(CACHE, "bzImage")):
        print("no kernel in %s: run scripts/fetch-linux.sh" % CACHE)
        return 77
    vmlinux = os.path.join(CACHE, "vmlinux")
    if not os.path.exists(vmlinux):
        subprocess.check_call([os.path.join(SRC, "scripts/extract-vmlinux.sh"),
                               os.path.join(CACHE, "bzImage"), vmlinux])
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "init"), "w") as f:
        f.write(INIT)
    initrd = os.path.join(tmp, "initrd.gz")
    subprocess.check_call([os.path.join(SRC, "scripts/mkinitramfs.sh"), initrd,
                           os.path.join(tmp, "init"), os.path.join(CACHE, "busybox")],
                          stdout=subprocess.DEVNULL)
    entries = {"pvh": vmlinux, "bzimage": os.path.join(CACHE, "bzImage")}
    configs = []
    for entry, k in entries.items():
        if a.only and entry != a.only:
            continue
        common = ["-m", "256M", "-kernel", k, "-initrd", initrd, "-append", APPEND]
        if not a.no_realtime:
            configs.append(("v3vm realtime", entry, [a.v3vm, "-q", "--stats"] + common))
        configs.append(("v3vm virtual", entry, [a.v3vm, "-q", "--stats", "-clock", "virtual"] + common))
        configs.append(("QEMU TCG", entry,
                        ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-machine", "pc",
                         "-smp", "1", "-nodefaults", "-no-reboot", "-display", "none",
                         "-serial", "stdio"] + common))
    res = {(c[0], c[1]): [] for c in configs}
    for r in range(a.rounds):
        for name, entry, cmd in configs:
            t_init, t_end, err, rc, cpu = run(cmd, 1800)
            m = re.search(r"statistics: (\d+) instructions", err)
            insns = int(m.group(1)) if m else None
            res[(name, entry)].append((t_init, t_end, insns, rc, cpu))
            print("round %d %-14s %-8s init %s s, end %.1f s, cpu %.1f s, insns %s, status %d" %
                  (r + 1, name, entry, "%.1f" % t_init if t_init else "-", t_end, cpu, insns, rc),
                  file=sys.stderr, flush=True)
    print("| entry | VMM | to /init (s) | to power-off (s) | CPU time (s) | guest instructions | exit |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name, entry, _ in configs:
        rows = res[(name, entry)]
        ti = [x[0] for x in rows if x[0] is not None]
        te = [x[1] for x in rows]
        ins = [x[2] for x in rows if x[2]]
        cpu = [x[4] for x in rows]
        print("| %s | %s | %s | %.1f | %.1f | %s | %s |" % (
            entry, name, "%.1f" % statistics.median(ti) if ti else "-", statistics.median(te),
            statistics.median(cpu),
            "%.2fG" % (statistics.median(ins) / 1e9) if ins else "n/a",
            ",".join(str(x[3]) for x in rows)))
    print("\n(median of %d interleaved rounds; times are wall-clock on a shared host)" % a.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

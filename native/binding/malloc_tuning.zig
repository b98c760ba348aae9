//! glibc malloc tuning, once per process, when the addon is first loaded.
//!
//! dataReceived gets a Buffer of its own for every read (docs/architecture.md), so a 100 KiB echo
//! allocates and frees 100 KiB per request. With glibc's defaults the freed chunk at the top of the
//! heap is often trimmed back to the kernel (M_TRIM_THRESHOLD, 128 KiB) and the next Buffer faults
//! in fresh pages: measured here, that mode costs 25 minor faults per 100 KiB request and drops the
//! echo from ~15k to ~2k req/s (server CPU ~65 -> ~500 µs per request), in about half of the runs,
//! depending on the heap's layout. Trimming only past 64 MiB of free top keeps those pages; an
//! mmap threshold of 4 MiB keeps reads (at most 256 KiB per batch) on the heap, since setting any
//! threshold turns glibc's dynamic adjustment off. This is process-wide: ZLOOP_MALLOC_TUNING=0
//! leaves malloc as it is.
const std = @import("std");
const builtin = @import("builtin");

const M_TRIM_THRESHOLD: c_int = -1;
const M_MMAP_THRESHOLD: c_int = -3;
const trim_threshold_bytes: c_int = 64 * 1024 * 1024;
const mmap_threshold_bytes: c_int = 4 * 1024 * 1024;

extern "c" fn mallopt(param: c_int, value: c_int) c_int;

/// Process-wide by nature (malloc is): one atomic flag, not per-environment state.
var tuned = std.atomic.Value(bool).init(false);

pub fn tuneOnce() void {
    if (builtin.os.tag != .linux or builtin.abi != .gnu) return;
    if (tuned.swap(true, .acq_rel)) return;
    if (std.posix.getenv("ZLOOP_MALLOC_TUNING")) |value| {
        if (std.mem.eql(u8, value, "0")) return;
    }
    _ = mallopt(M_MMAP_THRESHOLD, mmap_threshold_bytes);
    _ = mallopt(M_TRIM_THRESHOLD, trim_threshold_bytes);
}

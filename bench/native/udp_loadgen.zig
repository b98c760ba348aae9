//! UDP echo load generator for bench/udp.mjs: one connected UDP socket keeps IN_FLIGHT datagrams
//! of SIZE bytes in flight against an echo server; every reply sends the next datagram. A
//! datagram the kernel drops shrinks the flight, so a 50 ms silence refills it (counted as
//! `refills`). Prints one JSON line: requests and rps over the measured window, the server's CPU
//! time (utime+stime of --pid from /proc, read at the window edges) and this process's.
//!
//! Usage: udp-loadgen HOST PORT IN_FLIGHT SIZE SECONDS --warmup S --pid PID
const std = @import("std");
const posix = std.posix;

pub fn main() !void {
    var arena_state = std.heap.ArenaAllocator.init(std.heap.page_allocator);
    defer arena_state.deinit();
    const args = try std.process.argsAlloc(arena_state.allocator());
    if (args.len < 6) return error.Usage;
    const address = try std.net.Address.parseIp(args[1], try std.fmt.parseInt(u16, args[2], 10));
    const in_flight = try std.fmt.parseInt(usize, args[3], 10);
    const size = try std.fmt.parseInt(usize, args[4], 10);
    const seconds = try std.fmt.parseFloat(f64, args[5]);
    var warmup: f64 = 0.5;
    var pid: ?[]const u8 = null;
    var index: usize = 6;
    while (index + 1 < args.len) : (index += 2) {
        if (std.mem.eql(u8, args[index], "--warmup")) warmup = try std.fmt.parseFloat(f64, args[index + 1]);
        if (std.mem.eql(u8, args[index], "--pid")) pid = args[index + 1];
    }

    const fd = try posix.socket(address.any.family, posix.SOCK.DGRAM | posix.SOCK.CLOEXEC, 0);
    defer posix.close(fd);
    try posix.connect(fd, &address.any, address.getOsSockLen());
    const timeout = posix.timeval{ .sec = 0, .usec = 50_000 };
    try posix.setsockopt(fd, posix.SOL.SOCKET, posix.SO.RCVTIMEO, std.mem.asBytes(&timeout));

    const payload = try std.heap.page_allocator.alloc(u8, size);
    @memset(payload, 'x');
    var buffer: [65536]u8 = undefined;
    for (0..in_flight) |_| _ = try posix.send(fd, payload, 0);

    var timer = try std.time.Timer.start();
    const warmup_ns: u64 = @intFromFloat(warmup * 1e9);
    const end_ns: u64 = warmup_ns + @as(u64, @intFromFloat(seconds * 1e9));
    var measuring = false;
    var requests: u64 = 0;
    var refills: u64 = 0;
    var server_start: u64 = 0;
    var client_start: u64 = 0;
    var window_start: u64 = 0;
    var window_ns: u64 = 0;
    var server_cpu: u64 = 0;
    var client_cpu: u64 = 0;
    while (true) {
        const now = timer.read();
        if (!measuring and now >= warmup_ns) {
            measuring = true;
            server_start = serverCpuUs(pid);
            client_start = ownCpuUs();
            window_start = now;
        }
        if (now >= end_ns) {
            window_ns = now - window_start;
            server_cpu = serverCpuUs(pid) - server_start;
            client_cpu = ownCpuUs() - client_start;
            break;
        }
        const received = posix.recv(fd, &buffer, 0) catch |err| switch (err) {
            error.WouldBlock => {
                // Silence: datagrams were lost; put the whole flight back.
                for (0..in_flight) |_| _ = posix.send(fd, payload, 0) catch {};
                refills += 1;
                continue;
            },
            error.ConnectionRefused => return error.ServerNotListening,
            else => return err,
        };
        std.debug.assert(received == size);
        if (measuring) requests += 1;
        _ = posix.send(fd, payload, 0) catch {};
    }
    const window_s = @as(f64, @floatFromInt(window_ns)) / 1e9;
    const out = std.io.getStdOut().writer();
    try out.print(
        "{{\"requests\":{d},\"seconds\":{d:.3},\"rps\":{d:.0},\"server_cpu_us\":{d},\"client_cpu_us\":{d},\"refills\":{d}}}\n",
        .{ requests, window_s, @as(f64, @floatFromInt(requests)) / window_s, server_cpu, client_cpu, refills },
    );
}

fn ownCpuUs() u64 {
    const usage = posix.getrusage(posix.rusage.SELF);
    const user: u64 = @intCast(usage.utime.sec * 1_000_000 + usage.utime.usec);
    const system: u64 = @intCast(usage.stime.sec * 1_000_000 + usage.stime.usec);
    return user + system;
}

/// utime + stime of a process from /proc/PID/stat, in µs (clock ticks of 100 Hz).
fn serverCpuUs(pid: ?[]const u8) u64 {
    const id = pid orelse return 0;
    var path_buffer: [64]u8 = undefined;
    const path = std.fmt.bufPrint(&path_buffer, "/proc/{s}/stat", .{id}) catch return 0;
    var stat_buffer: [1024]u8 = undefined;
    const file = std.fs.openFileAbsolute(path, .{}) catch return 0;
    defer file.close();
    const length = file.readAll(&stat_buffer) catch return 0;
    const text = stat_buffer[0..length];
    // Fields after the command name, which ends with the last ')'.
    const close = std.mem.lastIndexOfScalar(u8, text, ')') orelse return 0;
    var fields = std.mem.tokenizeScalar(u8, text[close + 2 ..], ' ');
    var field: usize = 3; // the first token after ')' is field 3 (state)
    var total: u64 = 0;
    while (fields.next()) |token| : (field += 1) {
        if (field == 14 or field == 15) total += std.fmt.parseInt(u64, token, 10) catch 0;
        if (field == 15) break;
    }
    return total * 10_000; // USER_HZ is 100 on Linux
}

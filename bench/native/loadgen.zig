//! Echo load generator. Usage:
//!
//!   zloop-loadgen HOST PORT CONNECTIONS SIZE SECONDS [--warmup SECONDS] [--pid SERVER_PID]...
//!
//! Opens CONNECTIONS TCP connections to a loopback echo server and keeps each in ping-pong: send
//! SIZE bytes, wait until all SIZE bytes came back, send again. After the warm-up it measures for
//! SECONDS, then prints one JSON line and exits:
//!
//!   {"requests":N,"seconds":S,"rps":R,"p50_us":A,"p99_us":B,"server_cpu_us":C|null,...}
//!
//! `server_cpu_us` is the user+system CPU time the process SERVER_PID used during the measured
//! window (from /proc/PID/stat, so it covers all of its threads; with several --pid, the sum over
//! those processes, e.g. a Node `cluster` primary and its workers), read here at the exact window
//! edges rather than by the caller around the whole run. `client_cpu_us` is this process's own
//! CPU time over the same window: near SECONDS * 1e6 means the client, not the server, was the
//! bottleneck.
//!
//! One epoll thread drives every connection: the benchmark pins this process to a CPU of its own,
//! and one thread keeps the client's cost per request small and predictable.
const std = @import("std");
const common = @import("common.zig");
const linux = std.os.linux;
const posix = std.posix;

const connections_max = 4096;
const size_max = 16 * 1024 * 1024;
const seconds_max = 3600;
const events_max = 256;
const read_chunk_max = 256 * 1024;
/// One bucket per microsecond up to one second; slower round trips land in the last bucket.
const histogram_buckets = 1_000_000;
/// epoll_wait timeout, so the window edges are noticed even if every connection is stalled.
const poll_timeout_ms = 5;

const Connection = struct {
    fd: posix.fd_t,
    /// Position in the connection table, which is also the socket's epoll data.
    index: u32,
    sent: usize = 0,
    received: usize = 0,
    started_ns: u64 = 0,
    /// Whether EPOLLOUT is registered: only while a send is partial.
    writing: bool = false,
};

const Options = struct {
    address: std.net.Address,
    connections: u32,
    size: usize,
    duration_ns: u64,
    warmup_ns: u64 = 0,
    /// The server's processes (--pid may repeat: a multi-process server such as Node `cluster`
    /// is its primary plus its workers); server_cpu_us is their sum.
    server_pids: [server_pids_max]posix.pid_t = undefined,
    server_pid_count: usize = 0,
};

const server_pids_max = 16;

pub fn main() !void {
    var arena_state = std.heap.ArenaAllocator.init(std.heap.page_allocator);
    defer arena_state.deinit();
    const arena = arena_state.allocator();

    const options = parseOptions(try std.process.argsAlloc(arena));

    // The message is a fixed pattern, so a read can be spot-checked against the offset it covers.
    const pattern = try arena.alloc(u8, options.size);
    for (pattern, 0..) |*byte, index| byte.* = @truncate(index *% 131 +% 7);
    const scratch = try arena.alloc(u8, @min(options.size, read_chunk_max));
    const histogram = try arena.alloc(u32, histogram_buckets);
    @memset(histogram, 0);

    const epoll_fd = try posix.epoll_create1(linux.EPOLL.CLOEXEC);
    const connections = try arena.alloc(Connection, options.connections);
    for (connections, 0..) |*connection, index| {
        connection.* = .{ .fd = connectOne(options.address), .index = @intCast(index) };
        var event = linux.epoll_event{ .events = linux.EPOLL.IN, .data = .{ .u64 = index } };
        try posix.epoll_ctl(epoll_fd, linux.EPOLL.CTL_ADD, connection.fd, &event);
    }

    const run_start_ns = now();
    const window_start_ns = run_start_ns + options.warmup_ns;
    var window_end_ns = window_start_ns + options.duration_ns;
    var measuring = false;
    var measured_start_ns: u64 = 0;
    var cpu_start_us: ?u64 = null;
    var client_cpu_start_us: u64 = 0;
    var requests: u64 = 0;

    for (connections) |*connection| startRequest(connection, pattern, epoll_fd, run_start_ns);

    var events: [events_max]linux.epoll_event = undefined;
    var loop_now_ns = run_start_ns;
    while (true) {
        if (!measuring and loop_now_ns >= window_start_ns) {
            // Round trips that finished during the warm-up do not count; those in flight now do.
            measuring = true;
            requests = 0;
            @memset(histogram, 0);
            if (options.server_pid_count > 0) cpu_start_us = readServerCpuUs(&options);
            client_cpu_start_us = selfCpuUs();
            measured_start_ns = now();
            window_end_ns = measured_start_ns + options.duration_ns;
        }
        if (measuring and loop_now_ns >= window_end_ns) break;

        const count = posix.epoll_wait(epoll_fd, &events, poll_timeout_ms);
        for (events[0..count]) |event| {
            const connection = &connections[@intCast(event.data.u64)];
            if (event.events & linux.EPOLL.OUT != 0 and connection.sent < options.size) {
                trySend(connection, pattern, epoll_fd);
            }
            if (event.events & (linux.EPOLL.IN | linux.EPOLL.ERR | linux.EPOLL.HUP) == 0) continue;
            if (!receiveOnce(connection, pattern, scratch)) continue;
            // The whole message came back: one round trip.
            const done_ns = now();
            if (measuring) {
                requests += 1;
                const latency_us = (done_ns - connection.started_ns) / std.time.ns_per_us;
                histogram[@min(latency_us, histogram_buckets - 1)] += 1;
            }
            startRequest(connection, pattern, epoll_fd, done_ns);
        }
        loop_now_ns = now();
    }

    const measured_end_ns = now();
    const cpu_end_us: ?u64 = if (options.server_pid_count > 0) readServerCpuUs(&options) else null;
    const client_cpu_us = selfCpuUs() - client_cpu_start_us;
    for (connections) |connection| posix.close(connection.fd);

    const seconds = @as(f64, @floatFromInt(measured_end_ns - measured_start_ns)) / std.time.ns_per_s;
    const stdout = std.io.getStdOut().writer();
    try stdout.print(
        "{{\"requests\":{d},\"seconds\":{d:.4},\"rps\":{d:.1},\"p50_us\":{d},\"p99_us\":{d},\"connections\":{d},\"size\":{d},\"client_cpu_us\":{d},\"server_cpu_us\":",
        .{
            requests,
            seconds,
            @as(f64, @floatFromInt(requests)) / seconds,
            percentile(histogram, requests, 50),
            percentile(histogram, requests, 99),
            options.connections,
            options.size,
            client_cpu_us,
        },
    );
    if (cpu_start_us != null and cpu_end_us != null) {
        try stdout.print("{d}}}\n", .{cpu_end_us.? - cpu_start_us.?});
    } else {
        try stdout.print("null}}\n", .{});
    }
}

fn parseOptions(args: []const [:0]u8) Options {
    const usage = "usage: zloop-loadgen HOST PORT CONNECTIONS SIZE SECONDS [--warmup SECONDS] [--pid SERVER_PID]...";
    if (args.len < 6) common.fatal(usage, .{});
    var options = Options{
        .address = common.parseLoopback(args[1], args[2]),
        .connections = common.parseArg(u32, "CONNECTIONS", args[3], 1, connections_max),
        .size = common.parseArg(usize, "SIZE", args[4], 1, size_max),
        .duration_ns = common.parseSeconds("SECONDS", args[5], seconds_max),
    };
    if (options.duration_ns == 0) common.fatal("SECONDS must be more than 0", .{});
    if (options.address.getPort() == 0) common.fatal("PORT must not be 0", .{});
    var index: usize = 6;
    while (index < args.len) : (index += 2) {
        if (index + 1 >= args.len) common.fatal(usage, .{});
        const flag = args[index];
        const value = args[index + 1];
        if (std.mem.eql(u8, flag, "--warmup")) {
            options.warmup_ns = common.parseSeconds("--warmup", value, seconds_max);
        } else if (std.mem.eql(u8, flag, "--pid")) {
            if (options.server_pid_count == server_pids_max) common.fatal("at most {d} --pid options", .{server_pids_max});
            options.server_pids[options.server_pid_count] = common.parseArg(posix.pid_t, "--pid", value, 1, std.math.maxInt(posix.pid_t));
            options.server_pid_count += 1;
        } else {
            common.fatal("unknown option '{s}'; " ++ usage, .{flag});
        }
    }
    return options;
}

/// Connects one blocking socket (simplest, and the handshake is not measured), then makes it
/// non-blocking for the ping-pong.
fn connectOne(address: std.net.Address) posix.fd_t {
    const fd = posix.socket(posix.AF.INET, posix.SOCK.STREAM | posix.SOCK.CLOEXEC, 0) catch |err|
        common.fatal("socket: {s}", .{@errorName(err)});
    posix.connect(fd, &address.any, address.getOsSockLen()) catch |err|
        common.fatal("connect to port {d}: {s}", .{ address.getPort(), @errorName(err) });
    posix.setsockopt(fd, posix.IPPROTO.TCP, posix.TCP.NODELAY, &std.mem.toBytes(@as(c_int, 1))) catch |err|
        common.fatal("setsockopt TCP_NODELAY: {s}", .{@errorName(err)});
    const flags = posix.fcntl(fd, posix.F.GETFL, 0) catch |err| common.fatal("fcntl: {s}", .{@errorName(err)});
    _ = posix.fcntl(fd, posix.F.SETFL, flags | @as(u32, @bitCast(posix.O{ .NONBLOCK = true }))) catch |err|
        common.fatal("fcntl: {s}", .{@errorName(err)});
    return fd;
}

fn startRequest(connection: *Connection, pattern: []const u8, epoll_fd: posix.fd_t, now_ns: u64) void {
    std.debug.assert(connection.sent == connection.received);
    connection.sent = 0;
    connection.received = 0;
    connection.started_ns = now_ns;
    trySend(connection, pattern, epoll_fd);
}

/// Sends what is left of the message until done or EAGAIN; EPOLLOUT is registered only while a
/// send is partial, so the common case costs no epoll_ctl.
fn trySend(connection: *Connection, pattern: []const u8, epoll_fd: posix.fd_t) void {
    while (connection.sent < pattern.len) {
        const rest = pattern[connection.sent..];
        const rc = linux.sendto(connection.fd, rest.ptr, rest.len, linux.MSG.NOSIGNAL, null, 0);
        switch (posix.errno(rc)) {
            .SUCCESS => connection.sent += rc,
            .INTR => continue,
            .AGAIN => {
                if (!connection.writing) setWriting(connection, epoll_fd, true);
                return;
            },
            else => |err| common.fatal("send: {s}", .{@tagName(err)}),
        }
    }
    if (connection.writing) setWriting(connection, epoll_fd, false);
}

fn setWriting(connection: *Connection, epoll_fd: posix.fd_t, writing: bool) void {
    connection.writing = writing;
    const events: u32 = if (writing) linux.EPOLL.IN | linux.EPOLL.OUT else linux.EPOLL.IN;
    var event = linux.epoll_event{ .events = events, .data = .{ .u64 = connection.index } };
    posix.epoll_ctl(epoll_fd, linux.EPOLL.CTL_MOD, connection.fd, &event) catch |err|
        common.fatal("epoll_ctl: {s}", .{@errorName(err)});
}

/// Reads once (level-triggered epoll reports the socket again if bytes are left) and returns
/// whether the whole message has now come back.
fn receiveOnce(connection: *Connection, pattern: []const u8, scratch: []u8) bool {
    const want = @min(pattern.len - connection.received, scratch.len);
    if (want == 0) common.fatal("the server sent bytes that were never sent to it", .{});
    const rc = linux.recvfrom(connection.fd, scratch.ptr, want, 0, null, null);
    switch (posix.errno(rc)) {
        .SUCCESS => {},
        .AGAIN, .INTR => return false,
        else => |err| common.fatal("recv: {s}", .{@tagName(err)}),
    }
    if (rc == 0) common.fatal("the server closed a connection", .{});
    if (connection.received + rc > connection.sent) common.fatal("the server echoed bytes that were never sent", .{});
    // Spot-check the first and last byte of each read against the pattern at that offset.
    if (scratch[0] != pattern[connection.received] or scratch[rc - 1] != pattern[connection.received + rc - 1]) {
        common.fatal("echoed bytes differ from the bytes sent at offset {d}", .{connection.received});
    }
    connection.received += rc;
    return connection.received == pattern.len;
}

fn percentile(histogram: []const u32, total: u64, percent: u64) u64 {
    if (total == 0) return 0;
    const rank = (total * percent + 99) / 100; // The smallest value at or above `percent` of samples.
    var seen: u64 = 0;
    for (histogram, 0..) |count, bucket| {
        seen += count;
        if (seen >= rank) return bucket;
    }
    unreachable;
}

fn now() u64 {
    var ts: posix.timespec = undefined;
    posix.clock_gettime(posix.CLOCK.MONOTONIC, &ts) catch unreachable;
    return @as(u64, @intCast(ts.sec)) * std.time.ns_per_s + @as(u64, @intCast(ts.nsec));
}

/// User plus system CPU time of this process, in microseconds.
fn selfCpuUs() u64 {
    const usage = posix.getrusage(linux.rusage.SELF);
    const seconds: u64 = @intCast(usage.utime.sec + usage.stime.sec);
    const micros: u64 = @intCast(usage.utime.usec + usage.stime.usec);
    return seconds * std.time.us_per_s + micros;
}

/// User plus system CPU time of every server process, in microseconds.
fn readServerCpuUs(options: *const Options) u64 {
    std.debug.assert(options.server_pid_count > 0);
    std.debug.assert(options.server_pid_count <= server_pids_max);
    var total_us: u64 = 0;
    for (options.server_pids[0..options.server_pid_count]) |pid| total_us += readCpuUs(pid);
    return total_us;
}

/// User plus system CPU time of every thread of `pid`, in microseconds.
fn readCpuUs(pid: posix.pid_t) u64 {
    var path_buffer: [64]u8 = undefined;
    const path = std.fmt.bufPrint(&path_buffer, "/proc/{d}/stat", .{pid}) catch unreachable;
    var stat_buffer: [4096]u8 = undefined;
    const file = std.fs.openFileAbsolute(path, .{}) catch |err| common.fatal("open {s}: {s}", .{ path, @errorName(err) });
    defer file.close();
    const length = file.readAll(&stat_buffer) catch |err| common.fatal("read {s}: {s}", .{ path, @errorName(err) });
    const stat = stat_buffer[0..length];
    // The command name (field 2) may hold spaces and parentheses, so fields are counted after
    // the last ')': state is field 3, utime field 14, stime field 15.
    const name_end = std.mem.lastIndexOfScalar(u8, stat, ')') orelse common.fatal("unexpected {s}", .{path});
    var fields = std.mem.tokenizeScalar(u8, stat[name_end + 1 ..], ' ');
    var field_number: usize = 3;
    var ticks: u64 = 0;
    while (fields.next()) |field| : (field_number += 1) {
        if (field_number == 14 or field_number == 15) {
            ticks += std.fmt.parseInt(u64, field, 10) catch common.fatal("unexpected {s}", .{path});
        }
        if (field_number == 15) break;
    }
    if (field_number != 15) common.fatal("unexpected {s}", .{path});
    const ticks_per_s = linux.getauxval(std.elf.AT_CLKTCK);
    std.debug.assert(ticks_per_s > 0);
    return ticks * std.time.us_per_s / ticks_per_s;
}

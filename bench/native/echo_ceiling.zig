//! The ceiling for the echo benchmark: a minimal single-threaded, non-blocking epoll echo server
//! with nothing between the kernel and the bytes. Usage: `echo-ceiling HOST PORT` (PORT 0 picks a
//! free one); prints the bound port on stdout once it accepts, then serves until killed.
//!
//! Per request it costs what an echo must: one read and one write, plus a share of an epoll_wait.
//! We read once per readiness report rather than until EAGAIN, because the extra read that only
//! returns EAGAIN is a syscall per request that a ping-pong peer never needs; level-triggered
//! epoll reports the socket again if bytes are left. When a write is partial we stop reading that
//! socket and wait for EPOLLOUT, so one connection never holds more than one buffer of bytes.
const std = @import("std");
const common = @import("common.zig");
const linux = std.os.linux;
const posix = std.posix;

const connections_max = 4096;
const events_max = 256;
/// As much as zloop's reactor reads from one socket per batch (stream.zig read_bytes_per_batch)
/// and uvloop per read: a 100 KiB message is one read, not two readiness reports.
const buffer_size = 256 * 1024;

/// One accepted socket. `pending` holds what a partial write left over; it is allocated when the
/// connection is accepted, never on the hot path.
const Connection = struct {
    fd: posix.fd_t,
    pending: []u8,
    pending_start: usize = 0,
    pending_end: usize = 0,
};

pub fn main() !void {
    var arena_state = std.heap.ArenaAllocator.init(std.heap.page_allocator);
    defer arena_state.deinit();
    const arena = arena_state.allocator();

    const args = try std.process.argsAlloc(arena);
    if (args.len != 3) common.fatal("usage: echo-ceiling HOST PORT", .{});
    const address = common.parseLoopback(args[1], args[2]);

    const listener = try posix.socket(posix.AF.INET, posix.SOCK.STREAM | posix.SOCK.NONBLOCK | posix.SOCK.CLOEXEC, 0);
    try posix.setsockopt(listener, posix.SOL.SOCKET, posix.SO.REUSEADDR, &std.mem.toBytes(@as(c_int, 1)));
    try posix.bind(listener, &address.any, address.getOsSockLen());
    try posix.listen(listener, 1024);
    var bound: std.net.Address = address;
    var bound_len: posix.socklen_t = address.getOsSockLen();
    try posix.getsockname(listener, &bound.any, &bound_len);

    const epoll_fd = try posix.epoll_create1(linux.EPOLL.CLOEXEC);
    var listen_event = linux.epoll_event{ .events = linux.EPOLL.IN, .data = .{ .u64 = listener_tag } };
    try posix.epoll_ctl(epoll_fd, linux.EPOLL.CTL_ADD, listener, &listen_event);

    // Connection slots are indexed by fd; an fd past the table is refused rather than grown.
    const slots = try arena.alloc(?*Connection, connections_max);
    @memset(slots, null);
    const read_buffer = try arena.alloc(u8, buffer_size);

    try std.io.getStdOut().writer().print("{d}\n", .{bound.getPort()});

    // ECHO_CEILING_NESTED=1 gives the ceiling zloop's shape of wakeup: the blocking wait is on an
    // outer epoll (as libuv's) holding this epoll's fd, and each wakeup then polls this one with
    // timeout 0 (as the reactor does). It measures what the nesting itself costs per request.
    const nested = std.posix.getenv("ECHO_CEILING_NESTED") != null;
    const outer_fd = try posix.epoll_create1(linux.EPOLL.CLOEXEC);
    var inner_event = linux.epoll_event{ .events = linux.EPOLL.IN, .data = .{ .u64 = 0 } };
    try posix.epoll_ctl(outer_fd, linux.EPOLL.CTL_ADD, epoll_fd, &inner_event);
    var outer_events: [1]linux.epoll_event = undefined;

    var events: [events_max]linux.epoll_event = undefined;
    while (true) {
        if (nested) _ = posix.epoll_wait(outer_fd, &outer_events, -1);
        const count = posix.epoll_wait(epoll_fd, &events, if (nested) 0 else -1);
        for (events[0..count]) |event| {
            if (event.data.u64 == listener_tag) {
                acceptAll(listener, epoll_fd, slots);
                continue;
            }
            const fd: posix.fd_t = @intCast(event.data.u64);
            const connection = slots[@intCast(fd)] orelse continue; // Closed earlier in this batch.
            std.debug.assert(connection.fd == fd);
            if (connection.pending_end > connection.pending_start) {
                if (event.events & (linux.EPOLL.OUT | linux.EPOLL.ERR | linux.EPOLL.HUP) != 0) {
                    flushPending(connection, epoll_fd, slots);
                }
            } else if (event.events & (linux.EPOLL.IN | linux.EPOLL.ERR | linux.EPOLL.HUP) != 0) {
                echoOnce(connection, read_buffer, epoll_fd, slots);
            }
        }
    }
}

/// epoll data of the listener; connections use their fd, which is never this large.
const listener_tag: u64 = std.math.maxInt(u64);

fn acceptAll(listener: posix.fd_t, epoll_fd: posix.fd_t, slots: []?*Connection) void {
    // Bounded by the listen backlog: accept until the kernel's queue is empty.
    while (true) {
        const rc = linux.accept4(listener, null, null, linux.SOCK.NONBLOCK | linux.SOCK.CLOEXEC);
        switch (posix.errno(rc)) {
            .SUCCESS => {},
            .AGAIN => return,
            .INTR, .CONNABORTED => continue,
            else => |err| common.fatal("accept4: {s}", .{@tagName(err)}),
        }
        const fd: posix.fd_t = @intCast(rc);
        if (fd >= slots.len) {
            posix.close(fd);
            continue;
        }
        posix.setsockopt(fd, posix.IPPROTO.TCP, posix.TCP.NODELAY, &std.mem.toBytes(@as(c_int, 1))) catch {};
        const connection = std.heap.page_allocator.create(Connection) catch common.fatal("out of memory", .{});
        const pending = std.heap.page_allocator.alloc(u8, buffer_size) catch common.fatal("out of memory", .{});
        connection.* = .{ .fd = fd, .pending = pending };
        slots[@intCast(fd)] = connection;
        var event = linux.epoll_event{ .events = linux.EPOLL.IN, .data = .{ .u64 = @intCast(fd) } };
        posix.epoll_ctl(epoll_fd, linux.EPOLL.CTL_ADD, fd, &event) catch |err| common.fatal("epoll_ctl: {s}", .{@errorName(err)});
    }
}

fn echoOnce(connection: *Connection, buffer: []u8, epoll_fd: posix.fd_t, slots: []?*Connection) void {
    const read_rc = linux.recvfrom(connection.fd, buffer.ptr, buffer.len, 0, null, null);
    switch (posix.errno(read_rc)) {
        .SUCCESS => {},
        .AGAIN, .INTR => return,
        else => return close(connection, slots),
    }
    const received = read_rc;
    if (received == 0) return close(connection, slots);

    var written: usize = 0;
    while (written < received) {
        const write_rc = linux.sendto(connection.fd, buffer[written..].ptr, received - written, linux.MSG.NOSIGNAL, null, 0);
        switch (posix.errno(write_rc)) {
            .SUCCESS => written += write_rc,
            .INTR => continue,
            .AGAIN => break,
            else => return close(connection, slots),
        }
    }
    if (written == received) return;

    // Keep the rest and switch the socket from reading to writing until it is flushed.
    const rest = buffer[written..received];
    @memcpy(connection.pending[0..rest.len], rest);
    connection.pending_start = 0;
    connection.pending_end = rest.len;
    var event = linux.epoll_event{ .events = linux.EPOLL.OUT, .data = .{ .u64 = @intCast(connection.fd) } };
    posix.epoll_ctl(epoll_fd, linux.EPOLL.CTL_MOD, connection.fd, &event) catch |err| common.fatal("epoll_ctl: {s}", .{@errorName(err)});
}

fn flushPending(connection: *Connection, epoll_fd: posix.fd_t, slots: []?*Connection) void {
    while (connection.pending_start < connection.pending_end) {
        const bytes = connection.pending[connection.pending_start..connection.pending_end];
        const rc = linux.sendto(connection.fd, bytes.ptr, bytes.len, linux.MSG.NOSIGNAL, null, 0);
        switch (posix.errno(rc)) {
            .SUCCESS => connection.pending_start += rc,
            .INTR => continue,
            .AGAIN => return,
            else => return close(connection, slots),
        }
    }
    connection.pending_start = 0;
    connection.pending_end = 0;
    var event = linux.epoll_event{ .events = linux.EPOLL.IN, .data = .{ .u64 = @intCast(connection.fd) } };
    posix.epoll_ctl(epoll_fd, linux.EPOLL.CTL_MOD, connection.fd, &event) catch |err| common.fatal("epoll_ctl: {s}", .{@errorName(err)});
}

fn close(connection: *Connection, slots: []?*Connection) void {
    // Closing the only descriptor of the socket also removes it from the epoll set.
    slots[@intCast(connection.fd)] = null;
    posix.close(connection.fd);
    std.heap.page_allocator.free(connection.pending);
    std.heap.page_allocator.destroy(connection);
}

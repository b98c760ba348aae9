//! Stream sockets (TCP, Unix) in the reactor: listening and accepting, connecting, reading into
//! the receive buffer, writing at once and queueing the rest, flushing on writable, half-close
//! and the graceful close. The slot table, the record writer and the interest bookkeeping are the
//! reactor's (reactor.zig); sendfile is sendfile.zig.
const std = @import("std");
const posix = std.posix;
const sockets = @import("sockets.zig");
const reactor_mod = @import("reactor.zig");
const Reactor = reactor_mod.Reactor;
const Socket = reactor_mod.Socket;
const RecordWriter = reactor_mod.RecordWriter;
const Phase = reactor_mod.Phase;
const ListenOptions = reactor_mod.ListenOptions;
const sendfile_mod = @import("sendfile.zig");

/// Connections accepted from one listener per batch, so one busy listener cannot starve others.
const accepts_per_batch = 128;
/// Bytes read from one socket per batch, for the same fairness.
const read_bytes_per_batch = 256 * 1024;
/// A socket is not read when less than this is left in the receive buffer; the next batch gets it.
const read_room_min = 2048;

pub fn listen(self: *Reactor, address: std.net.Address, options: ListenOptions) sockets.Result(i32) {
    const fd = switch (sockets.listen(address, options.backlog, .{
        .reuse_address = options.reuse_address,
        .reuse_port = options.reuse_port,
        .ipv6_only = options.ipv6_only,
    })) {
        .ok => |fd| fd,
        .err => |err| return .{ .err = err },
    };
    const is_unix = address.any.family == posix.AF.UNIX;
    return self.adopt(fd, .{
        .kind = .listener,
        .reading = options.accepting,
        .accept_nodelay = options.nodelay and !is_unix,
        .accept_keepalive = options.keepalive,
    });
}

pub fn connect(self: *Reactor, address: std.net.Address, local: ?std.net.Address) sockets.Result(i32) {
    const fd = switch (sockets.connect(address, local)) {
        .ok => |fd| fd,
        .err => |err| return .{ .err = err },
    };
    return self.adopt(fd, .{ .kind = .connecting, .reading = true });
}

/// Sends `bytes` now if nothing is queued, and queues what the kernel did not take.
/// Returns the bytes queued after the call.
pub fn write(self: *Reactor, fd: i32, bytes: []const u8) sockets.Result(usize) {
    const socket = self.lookup(fd) orelse return .{ .err = .BADF };
    if (socket.write_failed) return .{ .err = .PIPE };
    var rest = bytes;
    if (socket.kind == .datagram) return .{ .err = .INVAL };
    if (socket.queued() == 0 and socket.kind == .stream and socket.sendfile == null) {
        while (rest.len > 0) {
            switch (sockets.send(fd, rest)) {
                .ok => |sent| {
                    rest = rest[sent..];
                    self.counters.bytes_out += sent;
                },
                .err => |err| switch (err) {
                    .AGAIN => break,
                    else => return .{ .err = err },
                },
            }
        }
    }
    if (rest.len > 0) {
        self.compactQueue(socket);
        socket.queue.appendSlice(self.allocator, rest) catch return .{ .err = .NOMEM };
        if (self.updateInterest(fd, socket)) |err| return .{ .err = err };
    }
    return .{ .ok = socket.queued() };
}

/// Half-closes the socket once every queued byte is sent.
pub fn shutdownWrite(self: *Reactor, fd: i32) ?posix.E {
    const socket = self.lookup(fd) orelse return .BADF;
    if (socket.queued() > 0 or socket.sendfile != null or socket.kind == .connecting) {
        socket.shutdown_after_flush = true;
        return null;
    }
    return sockets.shutdownWrite(fd);
}

/// Closes a stream socket whose queue is empty without a reset: the write side is shut down
/// (the peer reads everything, then EOF), and what the peer still sends is read and dropped
/// until its EOF, when the fd is closed. Closing at once with unread bytes in the receive
/// queue, or with the peer still sending, makes the kernel answer with a reset, and a reset
/// can destroy bytes the peer has not read yet. JS bounds the wait (closeLingering).
pub fn closeGracefully(self: *Reactor, fd: i32) void {
    const socket = self.lookup(fd) orelse return;
    std.debug.assert(socket.kind == .stream);
    std.debug.assert(socket.queued() == 0);
    if (socket.read_eof or socket.write_failed or sockets.shutdownWrite(fd) != null) {
        self.closeSocket(fd);
        return;
    }
    socket.kind = .lingering;
    socket.reading = true;
    if (self.updateInterest(fd, socket) != null) self.closeSocket(fd);
}

/// Ends a lingering close now (its time is up); a no-op for any other socket at `fd`.
pub fn closeLingering(self: *Reactor, fd: i32) void {
    const socket = self.lookup(fd) orelse return;
    if (socket.kind == .lingering) self.closeSocket(fd);
}

pub fn discardUntilEof(self: *Reactor, fd: i32) void {
    var scratch: [16 * 1024]u8 = undefined;
    var budget: usize = read_bytes_per_batch;
    while (budget > 0) {
        switch (sockets.recv(fd, &scratch)) {
            .ok => |count| {
                if (count == 0) break; // the peer's EOF
                budget -|= count;
            },
            .err => |err| {
                if (err == .AGAIN) return;
                break;
            },
        }
    } else return; // budget spent: the rest next batch
    self.closeSocket(fd);
}

pub fn acceptAll(self: *Reactor, listen_fd: i32, listener: *Socket, writer: *RecordWriter) void {
    var accepted: usize = 0;
    while (accepted < accepts_per_batch and writer.room() >= 2 and listener.reading) {
        const fd = switch (sockets.accept(listen_fd)) {
            .ok => |fd| fd,
            .err => |err| switch (sockets.acceptFailure(err)) {
                .drained => return,
                .next => {
                    // Each failed connection counts toward the batch: the loop stays bounded.
                    accepted += 1;
                    continue;
                },
                .resources, .other => {
                    writer.push(.failed, listen_fd, @intCast(@intFromEnum(err)), @intFromEnum(Phase.accept));
                    return;
                },
            },
        };
        if (listener.accept_nodelay) sockets.setNoDelay(fd);
        if (listener.accept_keepalive) sockets.setKeepAlive(fd);
        switch (self.adopt(fd, .{ .kind = .stream, .reading = true })) {
            .ok => {
                self.counters.accepted += 1;
                writer.push(.accepted, listen_fd, fd, 0);
            },
            // adopt() has closed the fd already.
            .err => |err| writer.push(.failed, listen_fd, @intCast(@intFromEnum(err)), @intFromEnum(Phase.accept)),
        }
        accepted += 1;
    }
}

pub fn finishConnect(self: *Reactor, fd: i32, socket: *Socket, writer: *RecordWriter) void {
    const err = sockets.takeError(fd);
    if (err != .SUCCESS) {
        // JS closes the socket and may try the next address.
        socket.reading = false;
        _ = self.poller.setInterest(fd, .none, socket.interest);
        socket.interest = .none;
        writer.push(.connected, fd, @intCast(@intFromEnum(err)), 0);
        return;
    }
    socket.kind = .stream;
    if (self.updateInterest(fd, socket)) |update_err| {
        writer.push(.connected, fd, @intCast(@intFromEnum(update_err)), 0);
        return;
    }
    writer.push(.connected, fd, 0, 0);
    if (socket.queued() > 0) flush(self, fd, socket, writer);
}

pub fn readSome(self: *Reactor, fd: i32, socket: *Socket, buffer: []u8, start: usize, writer: *RecordWriter) usize {
    var used = start;
    var budget: usize = read_bytes_per_batch;
    while (writer.room() >= 2 and budget > 0) {
        const room = buffer.len - used;
        if (room < read_room_min) break; // the next batch reads the rest
        const wanted = @min(room, budget);
        switch (sockets.recv(fd, buffer[used..][0..wanted])) {
            .ok => |count| {
                if (count == 0) {
                    socket.read_eof = true;
                    _ = self.updateInterest(fd, socket);
                    writer.push(.eof, fd, 0, 0);
                    break;
                }
                writer.pushData(fd, used, count);
                self.counters.bytes_in += count;
                used += count;
                budget -= count;
                // A short read means the kernel buffer is empty: skip the EAGAIN round trip.
                if (count < wanted) break;
            },
            .err => |err| {
                if (err == .AGAIN) break;
                socket.read_eof = true;
                _ = self.updateInterest(fd, socket);
                writer.push(.failed, fd, @intCast(@intFromEnum(err)), @intFromEnum(Phase.read));
                break;
            },
        }
    }
    return used;
}

pub fn flush(self: *Reactor, fd: i32, socket: *Socket, writer: *RecordWriter) void {
    if (socket.sendfile) |_| {
        if (sendfile_mod.sendSome(self, fd, socket)) |err| {
            socket.sendfile = null;
            socket.write_failed = true;
            socket.queue.clearRetainingCapacity();
            socket.head = 0;
            _ = self.updateInterest(fd, socket);
            writer.push(.failed, fd, @intCast(@intFromEnum(err)), @intFromEnum(Phase.sendfile));
            return;
        }
        const state = socket.sendfile.?;
        if (!state.finished) return; // still waiting for room; interest stays writable
        socket.sendfile = null;
        const chunk: u64 = 1 << 31;
        writer.push(.sendfile_done, fd, @intCast(state.sent / chunk), @intCast(state.sent % chunk));
        // collect() left room for two records per event: the `written` below fits.
        std.debug.assert(writer.room() >= 1);
    }
    while (socket.queued() > 0) {
        switch (sockets.send(fd, socket.queue.items[socket.head..])) {
            .ok => |sent| {
                socket.head += sent;
                self.counters.bytes_out += sent;
            },
            .err => |err| {
                if (err == .AGAIN) break;
                socket.write_failed = true;
                socket.queue.clearRetainingCapacity();
                socket.head = 0;
                _ = self.updateInterest(fd, socket);
                writer.push(.failed, fd, @intCast(@intFromEnum(err)), @intFromEnum(Phase.write));
                return;
            },
        }
    }
    if (socket.queued() == 0) {
        socket.queue.clearRetainingCapacity();
        socket.head = 0;
        // Memory is bounded by the largest backlog; give a big one back once it drained.
        if (socket.queue.capacity > 1024 * 1024) socket.queue.clearAndFree(self.allocator);
        if (socket.shutdown_after_flush) {
            socket.shutdown_after_flush = false;
            _ = sockets.shutdownWrite(fd);
        }
    }
    _ = self.updateInterest(fd, socket);
    writer.push(.written, fd, @intCast(@min(socket.queued(), std.math.maxInt(i32))), 0);
}

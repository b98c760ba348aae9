//! UDP sockets in the reactor: opening one, sending (at once, or queued whole when the kernel
//! refuses for now), reading batches of datagrams (recvmmsg on Linux) into the receive buffer
//! with the sender's address in front of each, and flushing the queue when writable. The slot
//! table, the record writer and the interest bookkeeping are the reactor's (reactor.zig).
const std = @import("std");
const posix = std.posix;
const sockets = @import("sockets.zig");
const reactor_mod = @import("reactor.zig");
const Reactor = reactor_mod.Reactor;
const Socket = reactor_mod.Socket;
const RecordWriter = reactor_mod.RecordWriter;
const Phase = reactor_mod.Phase;

/// Datagrams read from one socket per batch (the records bound it too).
const datagrams_per_batch = 256;
/// recvmmsg slots per call: each needs room for a whole datagram, so the buffer bounds it too.
const datagrams_per_call = 32;
/// The largest UDP payload (IPv6 jumbograms aside), so recvmmsg never truncates one.
const datagram_payload_max = 65536;
const datagram_slot_bytes = sockets.datagram_address_bytes + datagram_payload_max;
/// A queued datagram: u32 payload length, u32 address length, the address, the payload.
const datagram_entry_header = 8;

/// A UDP socket of `family`, bound and connected as asked, reading from the start.
pub fn open(
    self: *Reactor,
    family: u32,
    local: ?std.net.Address,
    remote: ?std.net.Address,
    options: sockets.DatagramOptions,
) sockets.Result(i32) {
    const fd = switch (sockets.datagram(family, local, remote, options)) {
        .ok => |fd| fd,
        .err => |err| return .{ .err = err },
    };
    return self.adopt(fd, .{ .kind = .datagram, .reading = true });
}

/// Sends one datagram now if nothing is queued, else queues it whole (datagrams are never
/// split). `address` null: the connected peer. Returns the bytes queued after the call; a
/// refusal other than EAGAIN/ENOBUFS is the caller's to report, and the datagram is dropped.
pub fn send(self: *Reactor, fd: i32, bytes: []const u8, address: ?std.net.Address) sockets.Result(usize) {
    const socket = self.lookup(fd) orelse return .{ .err = .BADF };
    if (socket.kind != .datagram) return .{ .err = .INVAL };
    if (bytes.len > std.math.maxInt(u32)) return .{ .err = .MSGSIZE };
    const name: ?*const posix.sockaddr = if (address) |*value| &value.any else null;
    const name_len: posix.socklen_t = if (address) |*value| sockets.sockLen(value) else 0;
    if (socket.queued() == 0) {
        switch (sockets.sendTo(fd, bytes, name, name_len)) {
            .ok => |sent| {
                self.counters.bytes_out += sent;
                return .{ .ok = 0 };
            },
            .err => |err| switch (err) {
                .AGAIN, .NOBUFS => {},
                else => return .{ .err = err },
            },
        }
    }
    self.compactQueue(socket);
    var entry_header: [datagram_entry_header]u8 = undefined;
    std.mem.writeInt(u32, entry_header[0..4], @intCast(bytes.len), .little);
    std.mem.writeInt(u32, entry_header[4..8], name_len, .little);
    const name_bytes: []const u8 = if (name) |pointer| @as([*]const u8, @ptrCast(pointer))[0..name_len] else &.{};
    socket.queue.ensureUnusedCapacity(self.allocator, entry_header.len + name_bytes.len + bytes.len) catch return .{ .err = .NOMEM };
    socket.queue.appendSliceAssumeCapacity(&entry_header);
    socket.queue.appendSliceAssumeCapacity(name_bytes);
    socket.queue.appendSliceAssumeCapacity(bytes);
    if (self.updateInterest(fd, socket)) |err| return .{ .err = err };
    return .{ .ok = socket.queued() };
}

/// Reads datagrams until EAGAIN or a budget; each lands as (address, payload) at `start`
/// onwards and becomes one record.
pub fn readSome(self: *Reactor, fd: i32, socket: *Socket, buffer: []u8, start: usize, writer: *RecordWriter) usize {
    var used = start;
    var budget: usize = datagrams_per_batch;
    while (budget > 0 and writer.room() >= 2 and socket.reading) {
        const room = buffer.len - used;
        const slots = @min(datagrams_per_call, room / datagram_slot_bytes, writer.room() - 1, budget);
        if (slots == 0) break; // the next batch reads the rest
        const outcome = if (sockets.is_linux)
            receiveBatch(fd, buffer, used, slots, writer)
        else
            receiveOne(fd, buffer, used, writer);
        switch (outcome) {
            .ok => |batch| {
                used = batch.used;
                self.counters.bytes_in += batch.bytes;
                budget -= batch.count;
                if (batch.count < slots) break; // the kernel has no more
            },
            .err => |err| {
                if (err == .AGAIN) break;
                // ECONNREFUSED and friends: reported, not fatal; the socket keeps reading.
                writer.push(.failed, fd, @intCast(@intFromEnum(err)), @intFromEnum(Phase.read));
                break;
            },
        }
    }
    return used;
}

const Received = struct { used: usize, count: usize, bytes: usize };

/// recvmmsg into `slots` whole-datagram slots, then packs them behind each other so the
/// unused tail of each slot is not lost to the rest of the batch.
fn receiveBatch(fd: i32, buffer: []u8, start: usize, slots: usize, writer: *RecordWriter) sockets.Result(Received) {
    const linux = std.os.linux;
    std.debug.assert(slots > 0 and slots <= datagrams_per_call);
    var names: [datagrams_per_call]posix.sockaddr.storage = undefined;
    var vectors: [datagrams_per_call]posix.iovec = undefined;
    var messages: [datagrams_per_call]linux.mmsghdr = undefined;
    for (0..slots) |index| {
        const payload = buffer[start + index * datagram_slot_bytes + sockets.datagram_address_bytes ..][0..datagram_payload_max];
        vectors[index] = .{ .base = payload.ptr, .len = payload.len };
        messages[index] = .{
            .hdr = .{
                .name = @ptrCast(&names[index]),
                .namelen = @sizeOf(posix.sockaddr.storage),
                .iov = @ptrCast(&vectors[index]),
                .iovlen = 1,
                .control = null,
                .controllen = 0,
                .flags = 0,
            },
            .len = 0,
        };
    }
    const count = switch (sockets.recvMany(fd, messages[0..slots])) {
        .ok => |count| count,
        .err => |err| return .{ .err = err },
    };
    var used = start;
    var bytes: usize = 0;
    for (0..count) |index| {
        const length: usize = messages[index].len;
        const source = start + index * datagram_slot_bytes + sockets.datagram_address_bytes;
        sockets.encodeAddress(&names[index], buffer[used..][0..sockets.datagram_address_bytes]);
        const payload_at = used + sockets.datagram_address_bytes;
        if (payload_at != source) std.mem.copyForwards(u8, buffer[payload_at..][0..length], buffer[source..][0..length]);
        writer.push(.datagram, fd, @intCast(used), @intCast(length));
        used = payload_at + length;
        bytes += length;
    }
    return .{ .ok = .{ .used = used, .count = count, .bytes = bytes } };
}

fn receiveOne(fd: i32, buffer: []u8, start: usize, writer: *RecordWriter) sockets.Result(Received) {
    var name: posix.sockaddr.storage = undefined;
    const payload = buffer[start + sockets.datagram_address_bytes ..][0..datagram_payload_max];
    const length = switch (sockets.recvFrom(fd, payload, &name)) {
        .ok => |length| length,
        .err => |err| return .{ .err = err },
    };
    sockets.encodeAddress(&name, buffer[start..][0..sockets.datagram_address_bytes]);
    writer.push(.datagram, fd, @intCast(start), @intCast(length));
    return .{ .ok = .{ .used = start + sockets.datagram_address_bytes + length, .count = 1, .bytes = length } };
}

/// Sends queued datagrams in order until EAGAIN. One the kernel refuses for another reason
/// is dropped and reported (one failed record per batch at most), and the rest go on.
pub fn flush(self: *Reactor, fd: i32, socket: *Socket, writer: *RecordWriter) void {
    var reported = false;
    while (socket.queued() > 0) {
        const entry = socket.queue.items[socket.head..];
        std.debug.assert(entry.len >= datagram_entry_header);
        const length = std.mem.readInt(u32, entry[0..4], .little);
        const name_len = std.mem.readInt(u32, entry[4..8], .little);
        const entry_len = datagram_entry_header + name_len + length;
        std.debug.assert(entry.len >= entry_len);
        // The queue is bytes, so the address is copied out to an aligned sockaddr.
        var name: posix.sockaddr.storage = undefined;
        @memcpy(std.mem.asBytes(&name)[0..name_len], entry[datagram_entry_header..][0..name_len]);
        const payload = entry[datagram_entry_header + name_len ..][0..length];
        switch (sockets.sendTo(fd, payload, if (name_len == 0) null else @ptrCast(&name), name_len)) {
            .ok => |sent| self.counters.bytes_out += sent,
            .err => |err| switch (err) {
                .AGAIN, .NOBUFS => break,
                else => {
                    if (reported or writer.room() < 2) break;
                    reported = true;
                    writer.push(.failed, fd, @intCast(@intFromEnum(err)), @intFromEnum(Phase.write));
                },
            },
        }
        socket.head += entry_len;
    }
    if (socket.queued() == 0) {
        socket.queue.clearRetainingCapacity();
        socket.head = 0;
        if (socket.queue.capacity > 1024 * 1024) socket.queue.clearAndFree(self.allocator);
    }
    _ = self.updateInterest(fd, socket);
    writer.push(.written, fd, @intCast(@min(socket.queued(), std.math.maxInt(i32))), 0);
}

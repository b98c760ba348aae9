//! The reactor's tests over real sockets on loopback (and a pipe): records, timers, accept and
//! connect, queued writes, detach/adopt, UDP, sendfile, graceful close.
const std = @import("std");
const posix = std.posix;
const sockets = @import("sockets.zig");
const reactor_mod = @import("reactor.zig");
const Reactor = reactor_mod.Reactor;
const RecordKind = reactor_mod.RecordKind;
const header = reactor_mod.header;
const record_ints = reactor_mod.record_ints;
const ReadyFlags = reactor_mod.ReadyFlags;
const Phase = reactor_mod.Phase;

const testing = std.testing;

fn collectUntil(reactor: *Reactor, shared: []i32, buffer: []u8, kind: RecordKind) !usize {
    for (0..200) |_| {
        const count = reactor.collect(shared, buffer);
        for (0..count) |index| {
            if (shared[header.ints + index * record_ints] == @intFromEnum(kind)) return index;
        }
        std.time.sleep(1_000_000);
    }
    return error.RecordNeverArrived;
}

/// A listener on an ephemeral loopback port, a client connected to it, and the server side as
/// the `accepted` record reported it (at `index` in `shared`).
const LoopbackPair = struct { listener: i32, client: i32, server: i32, index: usize };

fn loopbackPair(reactor: *Reactor, shared: []i32, buffer: []u8) !LoopbackPair {
    const listener = reactor.listen(try std.net.Address.parseIp("127.0.0.1", 0), .{ .reuse_address = true }).ok;
    const port = sockets.addressOf(listener, .local).?.getPort();
    const client = reactor.connect(try std.net.Address.parseIp("127.0.0.1", port), null).ok;
    const index = try collectUntil(reactor, shared, buffer, .accepted);
    try testing.expectEqual(listener, shared[header.ints + index * record_ints + 1]);
    return .{ .listener = listener, .client = client, .server = shared[header.ints + index * record_ints + 2], .index = index };
}

test "reactor: a readable pipe becomes one fd_ready record" {
    var reactor = try Reactor.init(testing.allocator);
    defer reactor.deinit();
    const pipe = try posix.pipe2(.{ .CLOEXEC = true, .NONBLOCK = true });
    defer posix.close(pipe[0]);
    defer posix.close(pipe[1]);
    var shared = [_]i32{0} ** (header.ints + record_ints * 8);
    var buffer: [4096]u8 = undefined;

    try testing.expectEqual(@as(u32, 0), reactor.poller.setInterest(pipe[0], .{ .readable = true }, .none));
    _ = try posix.write(pipe[1], "hello");
    try testing.expectEqual(@as(usize, 1), reactor.collect(&shared, &buffer));
    try testing.expectEqualSlices(i32, &.{ 1, pipe[0], ReadyFlags.readable, 0 }, shared[header.ints..][0..4]);
}

test "reactor: an expired timer is flagged in the header once" {
    var reactor = try Reactor.init(testing.allocator);
    defer reactor.deinit();
    var shared = [_]i32{0} ** (header.ints + record_ints * 2);
    var buffer: [4096]u8 = undefined;
    reactor.poller.armTimer(1);
    std.time.sleep(1_000_000);
    try testing.expectEqual(@as(usize, 0), reactor.collect(&shared, &buffer));
    try testing.expectEqual(@as(i32, 1), shared[header.timer_expired]);
}

test "reactor: accept, connect, echo bytes, eof, and close over loopback TCP" {
    var reactor = try Reactor.init(testing.allocator);
    defer reactor.deinit();
    var shared = [_]i32{0} ** (header.ints + record_ints * 16);
    var buffer: [8192]u8 = undefined;

    const pair = try loopbackPair(&reactor, &shared, &buffer);
    const listener = pair.listener;
    const client = pair.client;
    const server = pair.server;
    var index = pair.index;

    try testing.expectEqual(@as(usize, 0), reactor.write(client, "ping").ok);
    index = try collectUntil(&reactor, &shared, &buffer, .data);
    const record = shared[header.ints + index * record_ints ..][0..record_ints];
    try testing.expectEqual(server, record[1]);
    try testing.expectEqualStrings("ping", buffer[@intCast(record[2])..][0..@intCast(record[3])]);

    try testing.expect(reactor.shutdownWrite(client) == null);
    index = try collectUntil(&reactor, &shared, &buffer, .eof);
    try testing.expectEqual(server, shared[header.ints + index * record_ints + 1]);

    reactor.closeSocket(server);
    reactor.closeSocket(client);
    reactor.closeSocket(listener);
    try testing.expectEqual(@as(u32, 0), reactor.sockets_open);
}

test "reactor: a connect to a closed port settles with ECONNREFUSED" {
    var reactor = try Reactor.init(testing.allocator);
    defer reactor.deinit();
    var shared = [_]i32{0} ** (header.ints + record_ints * 4);
    var buffer: [4096]u8 = undefined;
    const listener = reactor.listen(try std.net.Address.parseIp("127.0.0.1", 0), .{}).ok;
    const port = sockets.addressOf(listener, .local).?.getPort();
    reactor.closeSocket(listener);

    switch (reactor.connect(try std.net.Address.parseIp("127.0.0.1", port), null)) {
        .err => |err| try testing.expectEqual(posix.E.CONNREFUSED, err),
        .ok => |fd| {
            const index = try collectUntil(&reactor, &shared, &buffer, .connected);
            try testing.expectEqual(fd, shared[header.ints + index * record_ints + 1]);
            try testing.expectEqual(@as(i32, @intFromEnum(posix.E.CONNREFUSED)), shared[header.ints + index * record_ints + 2]);
            reactor.closeSocket(fd);
        },
    }
}

test "reactor: writes the kernel refuses are queued, then flushed in order when the peer reads" {
    var reactor = try Reactor.init(testing.allocator);
    defer reactor.deinit();
    var shared = [_]i32{0} ** (header.ints + record_ints * 16);
    var buffer: [64 * 1024]u8 = undefined;

    const pair = try loopbackPair(&reactor, &shared, &buffer);
    const client = pair.client;
    const server = pair.server;
    // Stop the server side reading so the client's writes back up.
    try testing.expect(reactor.setReading(server, false) == null);

    const chunk = try testing.allocator.alloc(u8, 1024 * 1024);
    defer testing.allocator.free(chunk);
    for (chunk, 0..) |*byte, position| byte.* = @truncate(position % 251);
    var queued: usize = 0;
    for (0..8) |_| queued = reactor.write(client, chunk).ok;
    try testing.expect(queued > 0);

    try testing.expect(reactor.setReading(server, true) == null);
    var received: usize = 0;
    var expected_byte: usize = 0;
    var rounds: usize = 0;
    while (received < 8 * chunk.len and rounds < 100_000) : (rounds += 1) {
        const count = reactor.collect(&shared, &buffer);
        for (0..count) |record_index| {
            const record = shared[header.ints + record_index * record_ints ..][0..record_ints];
            if (record[0] != @intFromEnum(RecordKind.data)) continue;
            for (buffer[@intCast(record[2])..][0..@intCast(record[3])]) |byte| {
                try testing.expectEqual(@as(u8, @truncate(expected_byte % 251)), byte);
                expected_byte = (expected_byte + 1) % chunk.len;
            }
            received += @intCast(record[3]);
        }
    }
    try testing.expectEqual(8 * chunk.len, received);
    try testing.expectEqual(@as(usize, 0), reactor.queuedBytes(client));
}

test "reactor: a socket detached from one reactor is adopted by another and keeps working" {
    var first = try Reactor.init(testing.allocator);
    defer first.deinit();
    var second = try Reactor.init(testing.allocator);
    defer second.deinit();
    var shared = [_]i32{0} ** (header.ints + record_ints * 16);
    var buffer: [8192]u8 = undefined;

    const pair = try loopbackPair(&first, &shared, &buffer);
    const client = pair.client;
    const server = pair.server;
    var index = pair.index;
    try testing.expectEqual(@as(u64, 1), first.counters.accepted);

    try testing.expect(first.detachSocket(server) == null);
    try testing.expectEqual(server, second.adoptStream(server).ok);
    try testing.expectEqual(@as(usize, 0), first.write(client, "moved").ok);
    index = try collectUntil(&second, &shared, &buffer, .data);
    const record = shared[header.ints + index * record_ints ..][0..record_ints];
    try testing.expectEqualStrings("moved", buffer[@intCast(record[2])..][0..@intCast(record[3])]);
    try testing.expectEqual(@as(u64, 5), second.counters.bytes_in);
    try testing.expectEqual(@as(u64, 5), first.counters.bytes_out);
}

test "reactor: datagrams both ways between two UDP sockets, with the sender's address" {
    var reactor = try Reactor.init(testing.allocator);
    defer reactor.deinit();
    var shared = [_]i32{0} ** (header.ints + record_ints * 16);
    const buffer = try testing.allocator.alloc(u8, 1024 * 1024);
    defer testing.allocator.free(buffer);

    const any = try std.net.Address.parseIp("127.0.0.1", 0);
    const first = reactor.openDatagram(posix.AF.INET, any, null, .{}).ok;
    const second = reactor.openDatagram(posix.AF.INET, any, null, .{ .broadcast = true }).ok;
    try testing.expect(sockets.flagIsSet(second, posix.SOL.SOCKET, posix.SO.BROADCAST));
    try testing.expect(!sockets.flagIsSet(first, posix.SOL.SOCKET, posix.SO.BROADCAST));
    const first_address = sockets.addressOf(first, .local).?;
    const second_address = sockets.addressOf(second, .local).?;

    for ([_][]const u8{ "one", "two", "three" }) |text| {
        try testing.expectEqual(@as(usize, 0), reactor.sendDatagram(first, text, second_address).ok);
    }
    // Three datagrams, three records, each its own message boundary.
    var seen: usize = 0;
    for (0..200) |_| {
        const count = reactor.collect(&shared, buffer);
        for (0..count) |index| {
            const record = shared[header.ints + index * record_ints ..][0..record_ints];
            if (record[0] != @intFromEnum(RecordKind.datagram)) continue;
            try testing.expectEqual(second, record[1]);
            const at: usize = @intCast(record[2]);
            try testing.expectEqual(@as(u8, 4), buffer[at]);
            try testing.expectEqual(first_address.getPort(), std.mem.readInt(u16, buffer[at + 2 ..][0..2], .big));
            try testing.expectEqualSlices(u8, &.{ 127, 0, 0, 1 }, buffer[at + 4 ..][0..4]);
            const payload = buffer[at + sockets.datagram_address_bytes ..][0..@intCast(record[3])];
            try testing.expectEqualStrings(([_][]const u8{ "one", "two", "three" })[seen], payload);
            seen += 1;
        }
        if (seen == 3) break;
        std.time.sleep(1_000_000);
    }
    try testing.expectEqual(@as(usize, 3), seen);

    try testing.expectEqual(@as(usize, 0), reactor.sendDatagram(second, "back", first_address).ok);
    const index = try collectUntil(&reactor, &shared, buffer, .datagram);
    const record = shared[header.ints + index * record_ints ..][0..record_ints];
    try testing.expectEqual(first, record[1]);
    try testing.expectEqualStrings("back", buffer[@as(usize, @intCast(record[2])) + sockets.datagram_address_bytes ..][0..4]);
    // A stream write to a datagram socket is refused.
    try testing.expectEqual(posix.E.INVAL, reactor.write(first, "x").err);
}

test "reactor: a connected UDP socket hears ECONNREFUSED from a closed port and keeps working" {
    var reactor = try Reactor.init(testing.allocator);
    defer reactor.deinit();
    var shared = [_]i32{0} ** (header.ints + record_ints * 16);
    const buffer = try testing.allocator.alloc(u8, 1024 * 1024);
    defer testing.allocator.free(buffer);
    const any = try std.net.Address.parseIp("127.0.0.1", 0);
    const closed = reactor.openDatagram(posix.AF.INET, any, null, .{}).ok;
    const closed_address = sockets.addressOf(closed, .local).?;
    reactor.closeSocket(closed);

    const client = reactor.openDatagram(posix.AF.INET, null, closed_address, .{}).ok;
    try testing.expectEqual(@as(usize, 0), reactor.sendDatagram(client, "anyone?", null).ok);
    const index = try collectUntil(&reactor, &shared, buffer, .failed);
    const record = shared[header.ints + index * record_ints ..][0..record_ints];
    try testing.expectEqual(client, record[1]);
    try testing.expectEqual(@as(i32, @intFromEnum(posix.E.CONNREFUSED)), record[2]);
    try testing.expectEqual(@as(u32, 1), reactor.sockets_open);
}

test "reactor: sendfile sends a file larger than the socket buffer whole, then queued writes" {
    var reactor = try Reactor.init(testing.allocator);
    defer reactor.deinit();
    var shared = [_]i32{0} ** (header.ints + record_ints * 16);
    const buffer = try testing.allocator.alloc(u8, 1024 * 1024);
    defer testing.allocator.free(buffer);

    var directory = testing.tmpDir(.{});
    defer directory.cleanup();
    const size = 4 * 1024 * 1024;
    const content = try testing.allocator.alloc(u8, size);
    defer testing.allocator.free(content);
    for (content, 0..) |*byte, position| byte.* = @truncate(position * 7 % 253);
    try directory.dir.writeFile(.{ .sub_path = "payload", .data = content });
    const file = try directory.dir.openFile("payload", .{});
    defer file.close();

    const listener = reactor.listen(try std.net.Address.parseIp("127.0.0.1", 0), .{ .reuse_address = true }).ok;
    const port = sockets.addressOf(listener, .local).?.getPort();
    const client = reactor.connect(try std.net.Address.parseIp("127.0.0.1", port), null).ok;
    var server: i32 = -1;
    var connected = false;
    for (0..200) |_| {
        const records = reactor.collect(&shared, buffer);
        for (0..records) |record_index| {
            const record = shared[header.ints + record_index * record_ints ..][0..record_ints];
            if (record[0] == @intFromEnum(RecordKind.accepted)) server = record[2];
            if (record[0] == @intFromEnum(RecordKind.connected)) connected = true;
        }
        if (server >= 0 and connected) break;
        std.time.sleep(1_000_000);
    }
    try testing.expect(server >= 0 and connected);

    // From offset 3, all but the last 5 bytes; a write made meanwhile arrives after them.
    const offset = 3;
    const count = size - offset - 5;
    try testing.expect(reactor.sendfile(client, file.handle, offset, count) == null);
    try testing.expectEqual(posix.E.BUSY, reactor.sendfile(client, file.handle, 0, 1).?);
    _ = reactor.write(client, "tail").ok;

    const received = try testing.allocator.alloc(u8, count + 4);
    defer testing.allocator.free(received);
    var got: usize = 0;
    var done_sent: ?u64 = null;
    var rounds: usize = 0;
    while ((got < received.len or done_sent == null) and rounds < 100_000) : (rounds += 1) {
        const records = reactor.collect(&shared, buffer);
        for (0..records) |record_index| {
            const record = shared[header.ints + record_index * record_ints ..][0..record_ints];
            if (record[0] == @intFromEnum(RecordKind.sendfile_done)) {
                try testing.expectEqual(client, record[1]);
                done_sent = @as(u64, @intCast(record[2])) * (1 << 31) + @as(u64, @intCast(record[3]));
            }
            if (record[0] != @intFromEnum(RecordKind.data)) continue;
            try testing.expectEqual(server, record[1]);
            const length: usize = @intCast(record[3]);
            try testing.expect(got + length <= received.len);
            @memcpy(received[got..][0..length], buffer[@intCast(record[2])..][0..length]);
            got += length;
        }
    }
    try testing.expectEqual(@as(?u64, count), done_sent);
    try testing.expectEqualSlices(u8, content[offset..][0..count], received[0..count]);
    try testing.expectEqualStrings("tail", received[count..]);
}

test "reactor: a graceful close with the peer still sending: the peer reads every byte, then EOF, no reset" {
    var reactor = try Reactor.init(testing.allocator);
    defer reactor.deinit();
    var shared = [_]i32{0} ** (header.ints + record_ints * 16);
    var buffer: [8192]u8 = undefined;

    const listener = reactor.listen(try std.net.Address.parseIp("127.0.0.1", 0), .{ .reuse_address = true, .accepting = true }).ok;
    defer reactor.closeSocket(listener);
    const port = sockets.addressOf(listener, .local).?.getPort();
    // The peer is a plain blocking socket, outside the reactor.
    const peer = try posix.socket(posix.AF.INET, posix.SOCK.STREAM, 0);
    defer posix.close(peer);
    try posix.connect(peer, &(try std.net.Address.parseIp("127.0.0.1", port)).any, @sizeOf(posix.sockaddr.in));
    const index = try collectUntil(&reactor, &shared, &buffer, .accepted);
    const server = shared[header.ints + index * record_ints + 2];

    // The peer has sent bytes the server never reads; the server writes, then closes.
    _ = try posix.write(peer, "unread by the server");
    try testing.expectEqual(@as(usize, 0), reactor.write(server, "last words").ok);
    reactor.closeGracefully(server);
    try testing.expectEqual(@as(u32, 2), reactor.sockets_open); // the listener, and the lingering socket

    var received: [64]u8 = undefined;
    var length: usize = 0;
    while (true) {
        const count = try posix.read(peer, received[length..]);
        if (count == 0) break; // EOF, not ECONNRESET
        length += count;
    }
    try testing.expectEqualStrings("last words", received[0..length]);
    // The peer's close ends the lingering one.
    try posix.shutdown(peer, .both);
    for (0..200) |_| {
        _ = reactor.collect(&shared, &buffer);
        if (reactor.sockets_open == 1) break;
        std.time.sleep(std.time.ns_per_ms);
    }
    try testing.expectEqual(@as(u32, 1), reactor.sockets_open);
}

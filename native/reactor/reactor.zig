//! A reactor is what one EventLoop owns natively: a poller plus the encoding of its readiness
//! reports into the fixed-size records that JS reads out of a shared Int32Array.
const std = @import("std");
const poller_mod = @import("poller.zig");

pub const Poller = poller_mod.Poller;
pub const Interest = poller_mod.Interest;
pub const Event = poller_mod.Event;

/// The shared Int32Array starts with a header that both sides read and write on the loop's
/// thread; records follow it. Keep these numbers in sync with src/reactor.ts.
pub const header = struct {
    /// 1 while the native dispatch loop runs (JS then flags work instead of writing the eventfd).
    pub const in_dispatch = 0;
    /// Set by JS when its ready queue has callbacks, read by Zig after each batch.
    pub const work_pending = 1;
    /// Set by Zig when the timer deadline passed, so JS re-arms it even if nothing was due.
    pub const timer_expired = 2;
    pub const ints = 4;
};

pub const record_ints = 4;

pub const RecordKind = enum(i32) {
    /// An fd registered with addReader/addWriter is ready: fd, flags.
    fd_ready = 1,
};

pub const ReadyFlags = struct {
    pub const readable: i32 = 1;
    pub const writable: i32 = 2;
    pub const hangup: i32 = 4;
};

pub const Reactor = struct {
    poller: Poller,

    pub fn init() !Reactor {
        return .{ .poller = try Poller.init() };
    }

    pub fn deinit(self: *Reactor) void {
        self.poller.deinit();
    }

    /// Polls without waiting and writes one record per ready fd after the header of `shared`,
    /// flagging a timer expiry in the header. Returns how many records were written.
    pub fn collect(self: *Reactor, shared: []i32) usize {
        std.debug.assert(shared.len >= header.ints);
        const records = shared[header.ints..];
        std.debug.assert(records.len % record_ints == 0);
        var events: [poller_mod.events_max]Event = undefined;
        const capacity = @min(events.len, records.len / record_ints);
        const count = self.poller.poll(events[0..capacity], 0);
        for (events[0..count], 0..) |event, index| {
            const record = records[index * record_ints ..][0..record_ints];
            var flags: i32 = 0;
            if (event.readable) flags |= ReadyFlags.readable;
            if (event.writable) flags |= ReadyFlags.writable;
            if (event.hangup) flags |= ReadyFlags.hangup;
            record.* = .{ @intFromEnum(RecordKind.fd_ready), event.fd, flags, 0 };
        }
        if (self.poller.timer_expired) {
            self.poller.timer_expired = false;
            shared[header.timer_expired] = 1;
        }
        return count;
    }
};

test "reactor: a readable pipe becomes one fd_ready record" {
    var reactor = try Reactor.init();
    defer reactor.deinit();
    const pipe = try std.posix.pipe2(.{ .CLOEXEC = true, .NONBLOCK = true });
    defer std.posix.close(pipe[0]);
    defer std.posix.close(pipe[1]);
    var shared = [_]i32{0} ** (header.ints + record_ints * 8);

    try std.testing.expectEqual(@as(u32, 0), reactor.poller.setInterest(pipe[0], .{ .readable = true }, .none));
    _ = try std.posix.write(pipe[1], "hello");
    try std.testing.expectEqual(@as(usize, 1), reactor.collect(&shared));
    try std.testing.expectEqualSlices(i32, &.{ 1, pipe[0], ReadyFlags.readable, 0 }, shared[header.ints..][0..4]);
}

test "reactor: a closed write end reports hangup to the reader" {
    var reactor = try Reactor.init();
    defer reactor.deinit();
    const pipe = try std.posix.pipe2(.{ .CLOEXEC = true, .NONBLOCK = true });
    defer std.posix.close(pipe[0]);
    var shared = [_]i32{0} ** (header.ints + record_ints * 8);

    try std.testing.expectEqual(@as(u32, 0), reactor.poller.setInterest(pipe[0], .{ .readable = true }, .none));
    std.posix.close(pipe[1]);
    try std.testing.expectEqual(@as(usize, 1), reactor.collect(&shared));
    try std.testing.expect(shared[header.ints + 2] & ReadyFlags.hangup != 0);
}

test "reactor: records never overflow the space they are given" {
    var reactor = try Reactor.init();
    defer reactor.deinit();
    var pipes: [4][2]i32 = undefined;
    for (&pipes) |*pipe| {
        pipe.* = try std.posix.pipe2(.{ .CLOEXEC = true, .NONBLOCK = true });
        try std.testing.expectEqual(@as(u32, 0), reactor.poller.setInterest(pipe[1], .{ .writable = true }, .none));
    }
    defer for (pipes) |pipe| {
        std.posix.close(pipe[0]);
        std.posix.close(pipe[1]);
    };
    var shared = [_]i32{0} ** (header.ints + record_ints * 2);
    try std.testing.expectEqual(@as(usize, 2), reactor.collect(&shared));
    try std.testing.expectEqual(@as(usize, 2), reactor.collect(&shared));
}

test "reactor: an expired timer is flagged in the header once" {
    var reactor = try Reactor.init();
    defer reactor.deinit();
    var shared = [_]i32{0} ** (header.ints + record_ints);
    reactor.poller.armTimer(1);
    std.time.sleep(1_000_000);
    try std.testing.expectEqual(@as(usize, 0), reactor.collect(&shared));
    try std.testing.expectEqual(@as(i32, 1), shared[header.timer_expired]);
}

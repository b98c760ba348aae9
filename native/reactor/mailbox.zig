//! A multi-producer, single-consumer message queue in shared memory (a SharedArrayBuffer that
//! every thread maps), for cross-thread callSoonThreadsafe. Producers on any thread append
//! length-prefixed messages under a spinlock; the owning loop drains them all at once. The
//! producer that turns the queue from empty to non-empty writes the owner's eventfd, so an idle
//! loop wakes with one syscall per burst, not per message.
//!
//! Layout: a 64-byte header of u32 words, then the ring of message bytes.
const std = @import("std");
const builtin = @import("builtin");

pub const header_bytes = 64;

const Word = enum(usize) {
    lock = 0,
    /// 0: not attached, 1: open, 2: closed (the owner is gone; pushes fail).
    state = 1,
    /// The owner's wakeup fd (an eventfd on Linux), valid while state is open.
    wake_fd = 2,
    /// Byte offsets into the ring; head == tail means empty.
    head = 3,
    tail = 4,
    /// Messages pushed since creation, for diagnostics and tests.
    pushed = 5,
};

pub const State = enum(u32) { detached = 0, open = 1, closed = 2 };

/// A message's length word, then its bytes, padded to 4. A length of `wrap` means "continue at
/// offset 0": the rest of the ring was too short for the next message.
const wrap: u32 = 0xffff_ffff;

pub const PushResult = enum { pushed, pushed_and_woke, full, closed, too_large };

pub const Mailbox = struct {
    memory: []align(4) u8,

    pub fn init(memory: []align(4) u8) Mailbox {
        std.debug.assert(memory.len > header_bytes + 16);
        std.debug.assert(memory.len % 4 == 0);
        return .{ .memory = memory };
    }

    fn word(self: Mailbox, which: Word) *u32 {
        const words: [*]u32 = @ptrCast(self.memory.ptr);
        return &words[@intFromEnum(which)];
    }

    fn ring(self: Mailbox) []u8 {
        return self.memory[header_bytes..];
    }

    fn lock(self: Mailbox) void {
        const flag = self.word(.lock);
        var spins: u32 = 0;
        while (@cmpxchgWeak(u32, flag, 0, 1, .acquire, .monotonic) != null) {
            spins += 1;
            // Critical sections are a memcpy long; yield rather than burn a core if the holder
            // was descheduled.
            if (spins % 64 == 0) std.Thread.yield() catch {} else std.atomic.spinLoopHint();
        }
    }

    fn unlock(self: Mailbox) void {
        @atomicStore(u32, self.word(.lock), 0, .release);
    }

    /// Marks the mailbox as owned by a loop whose wakeup fd is `wake_fd`.
    pub fn attach(self: Mailbox, wake_fd: i32) void {
        self.lock();
        defer self.unlock();
        self.word(.wake_fd).* = @bitCast(wake_fd);
        @atomicStore(u32, self.word(.state), @intFromEnum(State.open), .release);
    }

    /// Called by the owner before its wakeup fd is closed: after this no producer writes the fd,
    /// because producers only write it while holding the lock and seeing `open`.
    pub fn close(self: Mailbox) void {
        self.lock();
        defer self.unlock();
        @atomicStore(u32, self.word(.state), @intFromEnum(State.closed), .release);
        self.word(.head).* = 0;
        self.word(.tail).* = 0;
    }

    pub fn state(self: Mailbox) State {
        return @enumFromInt(@atomicLoad(u32, self.word(.state), .acquire));
    }

    pub fn isEmpty(self: Mailbox) bool {
        return @atomicLoad(u32, self.word(.head), .acquire) == @atomicLoad(u32, self.word(.tail), .acquire);
    }

    /// Appends one message. `wake` is called (under the lock) with the owner's fd when the
    /// queue was empty before this push.
    /// The largest message a ring of `ring_len` bytes takes. An empty ring always has room for
    /// it: appendLocked rewinds an empty ring to offset 0 first.
    pub fn payloadMax(ring_len: usize) usize {
        return (ring_len - 12) & ~@as(usize, 3);
    }

    pub fn push(self: Mailbox, payload: []const u8, wake: *const fn (fd: i32) void) PushResult {
        if (payload.len > payloadMax(self.ring().len)) return .too_large;
        self.lock();
        defer self.unlock();
        if (self.state() != .open) return .closed;
        const was_empty = self.isEmpty();
        if (!self.appendLocked(payload)) return .full;
        if (was_empty) {
            wake(@bitCast(self.word(.wake_fd).*));
            return .pushed_and_woke;
        }
        return .pushed;
    }

    pub const BatchResult = struct {
        /// Bytes of `batch` taken, always whole messages.
        consumed: usize,
        closed: bool = false,
        too_large: bool = false,
    };

    /// Appends the messages of `batch`, laid out as (u32 native-endian length, bytes)*, under one
    /// lock and with at most one wakeup: the cross-thread rule of crossing once per batch, not
    /// per call. Stops at the first message that does not fit.
    pub fn pushMany(self: Mailbox, batch: []const u8, wake: *const fn (fd: i32) void) BatchResult {
        self.lock();
        defer self.unlock();
        if (self.state() != .open) return .{ .consumed = 0, .closed = true };
        const was_empty = self.isEmpty();
        var offset: usize = 0;
        while (offset + 4 <= batch.len) {
            const length = readWord(batch, offset);
            if (offset + 4 + length > batch.len) break;
            if (length > payloadMax(self.ring().len)) return .{ .consumed = offset, .too_large = true };
            if (!self.appendLocked(batch[offset + 4 ..][0..length])) break;
            offset += 4 + length;
        }
        if (was_empty and offset > 0) wake(@bitCast(self.word(.wake_fd).*));
        return .{ .consumed = offset };
    }

    /// Writes one message at the tail; false if the ring has no room. The lock is held.
    fn appendLocked(self: Mailbox, payload: []const u8) bool {
        const ring_bytes = self.ring();
        const needed = 4 + alignUp(payload.len);
        std.debug.assert(payload.len <= payloadMax(ring_bytes.len));
        var head = self.word(.head).*;
        var tail = self.word(.tail).*;
        self.assertOffsets(head, tail);
        if (head == tail and tail != 0) {
            // Empty: start again at 0, so a message of up to payloadMax always fits an empty ring.
            // The consumer reads head and tail only under this lock.
            head = 0;
            tail = 0;
            @atomicStore(u32, self.word(.head), 0, .release);
            @atomicStore(u32, self.word(.tail), 0, .release);
        }
        // One slot stays free so that head == tail always means empty.
        const contiguous = ring_bytes.len - tail;
        if (contiguous < needed + 4) {
            // Not enough room before the end: wrap, if the start has room.
            if (head <= needed + 4 or head > tail) return false;
            writeWord(ring_bytes, tail, wrap);
            tail = 0;
        } else if (head > tail and head - tail <= needed + 4) {
            return false;
        }
        writeWord(ring_bytes, tail, @intCast(payload.len));
        @memcpy(ring_bytes[tail + 4 ..][0..payload.len], payload);
        tail += @intCast(needed);
        if (tail == ring_bytes.len) tail = 0;
        @atomicStore(u32, self.word(.tail), tail, .release);
        self.word(.pushed).* +%= 1;
        return true;
    }

    /// Copies every queued message, in order, into `out` as (u32 length, bytes) records without
    /// padding, and empties the queue. Returns the bytes written; stops early (leaving the rest
    /// queued) if `out` is full.
    pub fn drain(self: Mailbox, out: []u8) usize {
        const ring_bytes = self.ring();
        self.lock();
        defer self.unlock();
        var head = self.word(.head).*;
        const tail = self.word(.tail).*;
        var written: usize = 0;
        while (head != tail) {
            const length = readWord(ring_bytes, head);
            if (length == wrap) {
                head = 0;
                continue;
            }
            if (written + 4 + length > out.len) break;
            std.mem.writeInt(u32, out[written..][0..4], length, .little);
            @memcpy(out[written + 4 ..][0..length], ring_bytes[head + 4 ..][0..length]);
            written += 4 + length;
            head += @intCast(4 + alignUp(length));
            if (head == ring_bytes.len) head = 0;
        }
        if (head == tail) {
            // Emptied: rewind, so the next producer starts at offset 0 (see appendLocked).
            head = 0;
            @atomicStore(u32, self.word(.tail), 0, .release);
        }
        @atomicStore(u32, self.word(.head), head, .release);
        self.assertOffsets(head, tail);
        return written;
    }

    /// The ring's invariants, checked under the lock: both offsets inside the ring, on a word.
    fn assertOffsets(self: Mailbox, head: u32, tail: u32) void {
        const ring_len = self.ring().len;
        std.debug.assert(head < ring_len);
        std.debug.assert(tail < ring_len);
        std.debug.assert(head % 4 == 0);
        std.debug.assert(tail % 4 == 0);
    }
};

fn alignUp(length: usize) usize {
    return (length + 3) & ~@as(usize, 3);
}

fn writeWord(bytes: []u8, offset: usize, value: u32) void {
    std.mem.writeInt(u32, bytes[offset..][0..4], value, builtin.cpu.arch.endian());
}

fn readWord(bytes: []const u8, offset: usize) u32 {
    return std.mem.readInt(u32, bytes[offset..][0..4], builtin.cpu.arch.endian());
}

// ---- tests ----------------------------------------------------------------------------------

const testing = std.testing;
var test_wakes: std.atomic.Value(u32) = std.atomic.Value(u32).init(0);

fn countWake(fd: i32) void {
    _ = fd;
    _ = test_wakes.fetchAdd(1, .monotonic);
}

test "mailbox: messages come out in order, and only the first push of a burst wakes" {
    var memory: [header_bytes + 256]u8 align(4) = [_]u8{0} ** (header_bytes + 256);
    const mailbox = Mailbox.init(&memory);
    try testing.expectEqual(PushResult.closed, mailbox.push("early", countWake));
    mailbox.attach(7);
    test_wakes.store(0, .monotonic);
    try testing.expectEqual(PushResult.pushed_and_woke, mailbox.push("one", countWake));
    try testing.expectEqual(PushResult.pushed, mailbox.push("three", countWake));
    try testing.expectEqual(@as(u32, 1), test_wakes.load(.monotonic));

    var out: [64]u8 = undefined;
    const length = mailbox.drain(&out);
    try testing.expectEqual(@as(usize, 4 + 3 + 4 + 5), length);
    try testing.expectEqualStrings("one", out[4..7]);
    try testing.expectEqualStrings("three", out[11..16]);
    try testing.expect(mailbox.isEmpty());
    try testing.expectEqual(PushResult.pushed_and_woke, mailbox.push("again", countWake));
}

test "mailbox: a full ring refuses, wraps around after a drain, and a closed one refuses" {
    var memory: [header_bytes + 64]u8 align(4) = [_]u8{0} ** (header_bytes + 64);
    const mailbox = Mailbox.init(&memory);
    mailbox.attach(3);
    var pushed: usize = 0;
    while (mailbox.push("0123456789", countWake) != .full) pushed += 1;
    try testing.expect(pushed >= 3);
    var out: [256]u8 = undefined;
    try testing.expectEqual(pushed * 14, mailbox.drain(&out));
    for (0..10) |_| {
        try testing.expect(mailbox.push("0123456789", countWake) != .full);
        try testing.expectEqual(@as(usize, 14), mailbox.drain(&out));
        try testing.expectEqualStrings("0123456789", out[4..14]);
    }
    try testing.expectEqual(PushResult.too_large, mailbox.push("x" ** 80, countWake));
    mailbox.close();
    try testing.expectEqual(PushResult.closed, mailbox.push("late", countWake));
}

test "mailbox: producers on four threads, each in FIFO order, nothing lost" {
    const ring_size = 4096;
    var memory: [header_bytes + ring_size]u8 align(4) = [_]u8{0} ** (header_bytes + ring_size);
    const mailbox = Mailbox.init(&memory);
    mailbox.attach(1);
    const per_producer = 20_000;
    const Producer = struct {
        fn run(box: Mailbox, id: u8) void {
            var sequence: u32 = 0;
            while (sequence < per_producer) {
                var message: [5]u8 = undefined;
                message[0] = id;
                std.mem.writeInt(u32, message[1..5], sequence, .little);
                switch (box.push(&message, countWake)) {
                    .pushed, .pushed_and_woke => sequence += 1,
                    .full => std.Thread.yield() catch {},
                    else => unreachable,
                }
            }
        }
    };
    var threads: [4]std.Thread = undefined;
    for (&threads, 0..) |*thread, id| thread.* = try std.Thread.spawn(.{}, Producer.run, .{ mailbox, @as(u8, @intCast(id)) });
    var next = [_]u32{0} ** 4;
    var received: usize = 0;
    var out: [8192]u8 = undefined;
    while (received < 4 * per_producer) {
        const length = mailbox.drain(&out);
        var offset: usize = 0;
        while (offset < length) {
            const size = std.mem.readInt(u32, out[offset..][0..4], .little);
            try testing.expectEqual(@as(u32, 5), size);
            const id = out[offset + 4];
            const sequence = std.mem.readInt(u32, out[offset + 5 ..][0..4], .little);
            try testing.expectEqual(next[id], sequence);
            next[id] += 1;
            received += 1;
            offset += 4 + size;
        }
    }
    for (threads) |thread| thread.join();
    try testing.expect(mailbox.isEmpty());
}

test "mailbox: pushMany takes whole messages in order, stops when full, wakes once" {
    var memory: [header_bytes + 48]u8 align(4) = [_]u8{0} ** (header_bytes + 48);
    const mailbox = Mailbox.init(&memory);
    mailbox.attach(5);
    test_wakes.store(0, .monotonic);
    var batch: [64]u8 = undefined;
    var length: usize = 0;
    for ([_][]const u8{ "alpha", "beta", "gamma", "delta", "epsilon" }) |word| {
        writeWord(&batch, length, @intCast(word.len));
        @memcpy(batch[length + 4 ..][0..word.len], word);
        length += 4 + word.len;
    }
    const first = mailbox.pushMany(batch[0..length], countWake);
    try testing.expect(first.consumed > 0 and first.consumed < length);
    try testing.expectEqual(@as(u32, 1), test_wakes.load(.monotonic));
    var out: [128]u8 = undefined;
    const drained = mailbox.drain(&out);
    try testing.expectEqualStrings("alpha", out[4..9]);
    const second = mailbox.pushMany(batch[first.consumed..length], countWake);
    try testing.expectEqual(length - first.consumed, second.consumed);
    try testing.expect(drained > 0);
    mailbox.close();
    try testing.expect(mailbox.pushMany(batch[0..length], countWake).closed);
}

test "mailbox: a message of more than half the ring gets in once the ring is empty, wherever it stood" {
    var memory: [header_bytes + 256]u8 align(4) = [_]u8{0} ** (header_bytes + 256);
    const mailbox = Mailbox.init(&memory);
    mailbox.attach(9);
    const large = "L" ** 200;
    var out: [256]u8 = undefined;
    for (0..5) |_| {
        // A first message leaves the offsets near the middle, then the ring empties.
        try testing.expect(mailbox.push("s" ** 100, countWake) != .full);
        try testing.expectEqual(@as(usize, 4 + 100), mailbox.drain(&out));
        try testing.expect(mailbox.push(large, countWake) != .full);
        try testing.expectEqual(@as(usize, 4 + 200), mailbox.drain(&out));
        try testing.expectEqualStrings(large, out[4..204]);
    }
    const largest = "M" ** Mailbox.payloadMax(256);
    try testing.expect(mailbox.push("x", countWake) != .full);
    _ = mailbox.drain(&out);
    try testing.expect(mailbox.push(largest, countWake) != .full);
    try testing.expectEqual(PushResult.too_large, mailbox.push(largest ++ "1234", countWake));
}

//! The readiness poller behind every zloop reactor: one epoll instance on Linux, one kqueue on
//! macOS, chosen at compile time. Both backends expose the same public functions; the check
//! below fails the build if one of them is missing, so the kqueue backend cannot silently rot.
const std = @import("std");
const builtin = @import("builtin");

/// What a caller wants to hear about an fd. An empty interest means "not registered".
pub const Interest = packed struct(u8) {
    readable: bool = false,
    writable: bool = false,
    _padding: u6 = 0,

    pub const none: Interest = .{};

    pub fn isEmpty(self: Interest) bool {
        return !self.readable and !self.writable;
    }

    pub fn fromMask(mask: u32) Interest {
        return .{ .readable = mask & 1 != 0, .writable = mask & 2 != 0 };
    }
};

/// One readiness report for a registered fd. The wakeup and the timer are drained inside the
/// backend and never reported: JS looks at its ready queue and timer heap on every batch anyway.
pub const Event = struct {
    fd: i32,
    readable: bool,
    writable: bool,
    /// The peer hung up or the fd is in an error state; readers and writers both get to look.
    hangup: bool,
};

pub const Poller = switch (builtin.os.tag) {
    .linux => @import("epoll.zig").Poller,
    .macos, .ios, .tvos, .watchos, .visionos, .freebsd, .netbsd, .openbsd, .dragonfly => @import("kqueue.zig").Poller,
    else => @compileError("zloop supports Linux (epoll) and the BSDs/macOS (kqueue)"),
};

// The interface both backends implement. Keeping the list here, not in prose, means a backend
// that drops or renames one of these fails to compile on every platform's CI step.
comptime {
    const required = .{ "init", "deinit", "pollFd", "wake", "wakeTarget", "wakeByTarget", "armTimer", "setInterest", "poll" };
    for (required) |name| {
        if (!@hasDecl(Poller, name)) @compileError("poller backend lacks " ++ name);
    }
    if (!@hasField(Poller, "timer_expired")) @compileError("poller backend lacks timer_expired");
}

/// Events reported by one `poll` call at most. Readiness is level-triggered, so whatever does
/// not fit is reported again by the next call; the bound keeps one batch's work predictable.
pub const events_max = 256;

test "poller: wake makes the poll fd readable once, and poll drains it" {
    var poller = try Poller.init();
    defer poller.deinit();
    var events: [events_max]Event = undefined;

    try std.testing.expect(!try pollFdReadable(poller.pollFd()));
    poller.wake();
    poller.wake();
    try std.testing.expect(try pollFdReadable(poller.pollFd()));
    try std.testing.expectEqual(@as(usize, 0), poller.poll(&events, 0));
    try std.testing.expect(!try pollFdReadable(poller.pollFd()));
}

test "poller: an armed timer fires, a disarmed one does not" {
    var poller = try Poller.init();
    defer poller.deinit();
    var events: [events_max]Event = undefined;

    poller.armTimer(1_000_000); // 1 ms
    try std.testing.expectEqual(@as(usize, 0), poller.poll(&events, 100));
    try std.testing.expect(poller.timer_expired);
    try std.testing.expect(!try pollFdReadable(poller.pollFd()));

    poller.armTimer(5_000_000);
    poller.armTimer(null);
    std.time.sleep(10_000_000);
    try std.testing.expect(!try pollFdReadable(poller.pollFd()));
}

test "poller: reports a readable pipe, then a writable one, then nothing once removed" {
    var poller = try Poller.init();
    defer poller.deinit();
    var events: [events_max]Event = undefined;
    const pipe = try std.posix.pipe2(.{ .CLOEXEC = true, .NONBLOCK = true });
    defer std.posix.close(pipe[0]);
    defer std.posix.close(pipe[1]);

    try std.testing.expectEqual(@as(u32, 0), poller.setInterest(pipe[0], .{ .readable = true }, .none));
    try std.testing.expectEqual(@as(usize, 0), poller.poll(&events, 0));
    _ = try std.posix.write(pipe[1], "x");
    try std.testing.expectEqual(@as(usize, 1), poller.poll(&events, 0));
    try std.testing.expectEqual(pipe[0], events[0].fd);
    try std.testing.expect(events[0].readable);
    try std.testing.expect(!events[0].writable);

    try std.testing.expectEqual(@as(u32, 0), poller.setInterest(pipe[1], .{ .writable = true }, .none));
    try std.testing.expectEqual(@as(u32, 0), poller.setInterest(pipe[0], .none, .{ .readable = true }));
    try std.testing.expectEqual(@as(usize, 1), poller.poll(&events, 0));
    try std.testing.expectEqual(pipe[1], events[0].fd);
    try std.testing.expect(events[0].writable);

    try std.testing.expectEqual(@as(u32, 0), poller.setInterest(pipe[1], .none, .{ .writable = true }));
    try std.testing.expectEqual(@as(usize, 0), poller.poll(&events, 0));
}

test "poller: a bad fd is refused with its errno" {
    var poller = try Poller.init();
    defer poller.deinit();
    const errno = poller.setInterest(1_000_000, .{ .readable = true }, .none);
    try std.testing.expectEqual(@as(u32, @intFromEnum(std.posix.E.BADF)), errno);
}

fn pollFdReadable(fd: i32) !bool {
    var fds = [_]std.posix.pollfd{.{ .fd = fd, .events = std.posix.POLL.IN, .revents = 0 }};
    return try std.posix.poll(&fds, 0) == 1;
}

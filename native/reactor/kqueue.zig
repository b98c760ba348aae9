//! macOS/BSD backend: one kqueue holding an EVFILT_USER event for wakeups, one EVFILT_TIMER for
//! the earliest deadline, and EVFILT_READ/EVFILT_WRITE filters for the fds JS registered. The
//! kqueue fd is what libuv watches, exactly as the epoll fd is on Linux.
const std = @import("std");
const posix = std.posix;
const c = std.c;
const poller = @import("poller.zig");

const Interest = poller.Interest;
const Event = poller.Event;

const wakeup_ident: usize = 1;
const timer_ident: usize = 2;

pub const Poller = struct {
    kqueue_fd: i32,
    /// Set by `poll` when the timer fired; the caller clears it.
    timer_expired: bool = false,

    pub fn init() !Poller {
        const kqueue_fd = try posix.kqueue();
        errdefer posix.close(kqueue_fd);
        const self = Poller{ .kqueue_fd = kqueue_fd };
        // EV_CLEAR makes the user event auto-reset once reported, like reading an eventfd.
        const changes = [_]c.Kevent{change(wakeup_ident, c.EVFILT.USER, c.EV.ADD | c.EV.CLEAR, 0, 0)};
        _ = try posix.kevent(kqueue_fd, &changes, &.{}, null);
        return self;
    }

    pub fn deinit(self: *Poller) void {
        posix.close(self.kqueue_fd);
        self.* = undefined;
    }

    pub fn pollFd(self: *const Poller) i32 {
        return self.kqueue_fd;
    }

    pub fn wake(self: *Poller) void {
        const changes = [_]c.Kevent{change(wakeup_ident, c.EVFILT.USER, 0, c.NOTE.TRIGGER, 0)};
        _ = posix.kevent(self.kqueue_fd, &changes, &.{}, null) catch {};
    }

    /// kqueue has no separate wakeup fd: other threads trigger the user event on the kqueue.
    pub fn wakeTarget(self: *const Poller) i32 {
        return self.kqueue_fd;
    }

    pub fn wakeByTarget(fd: i32) void {
        const changes = [_]c.Kevent{change(wakeup_ident, c.EVFILT.USER, 0, c.NOTE.TRIGGER, 0)};
        _ = posix.kevent(fd, &changes, &.{}, null) catch {};
    }

    pub fn armTimer(self: *Poller, delay_ns: ?u64) void {
        const changes = if (delay_ns) |ns|
            [_]c.Kevent{change(timer_ident, c.EVFILT.TIMER, c.EV.ADD | c.EV.ONESHOT, c.NOTE.NSECONDS, @intCast(@max(ns, 1)))}
        else
            [_]c.Kevent{change(timer_ident, c.EVFILT.TIMER, c.EV.DELETE, 0, 0)};
        // Deleting a timer that already fired (ONESHOT) reports ENOENT, which is the state we want.
        _ = posix.kevent(self.kqueue_fd, &changes, &.{}, null) catch {};
    }

    pub fn setInterest(self: *Poller, fd: i32, next: Interest, previous: Interest) u32 {
        var changes: [2]c.Kevent = undefined;
        var count: usize = 0;
        const ident: usize = @intCast(fd);
        if (next.readable != previous.readable) {
            changes[count] = change(ident, c.EVFILT.READ, if (next.readable) c.EV.ADD else c.EV.DELETE, 0, 0);
            count += 1;
        }
        if (next.writable != previous.writable) {
            changes[count] = change(ident, c.EVFILT.WRITE, if (next.writable) c.EV.ADD else c.EV.DELETE, 0, 0);
            count += 1;
        }
        if (count == 0) return 0;
        const rc = c.kevent(self.kqueue_fd, &changes, @intCast(count), &changes, 0, null);
        return @intFromEnum(posix.errno(rc));
    }

    pub fn poll(self: *Poller, events: []Event, timeout_ms: i32) usize {
        var raw: [poller.events_max]c.Kevent = undefined;
        const wanted = @min(events.len, raw.len);
        const timeout = posix.timespec{
            .sec = @divTrunc(timeout_ms, 1000),
            .nsec = @rem(timeout_ms, 1000) * std.time.ns_per_ms,
        };
        const ready = posix.kevent(self.kqueue_fd, &.{}, raw[0..wanted], &timeout) catch 0;
        var count: usize = 0;
        for (raw[0..ready]) |item| {
            if (item.filter == c.EVFILT.TIMER) self.timer_expired = true;
            if (item.filter == c.EVFILT.USER or item.filter == c.EVFILT.TIMER) continue;
            // kqueue reports read and write readiness of one fd as two events; JS merges them.
            events[count] = .{
                .fd = @intCast(item.ident),
                .readable = item.filter == c.EVFILT.READ,
                .writable = item.filter == c.EVFILT.WRITE,
                .hangup = item.flags & (c.EV.EOF | c.EV.ERROR) != 0,
            };
            count += 1;
        }
        return count;
    }
};

fn change(ident: usize, filter: i16, flags: u16, fflags: u32, data: isize) c.Kevent {
    return .{ .ident = ident, .filter = filter, .flags = flags, .fflags = fflags, .data = data, .udata = 0 };
}

//! Linux backend: one epoll instance holding an eventfd for wakeups, a timerfd for the single
//! earliest timer deadline, and the fds that JS registered. The epoll fd itself is what Node's
//! libuv loop watches, so one readable epoll fd means "this reactor has something to do".
const std = @import("std");
const linux = std.os.linux;
const posix = std.posix;
const poller = @import("poller.zig");

const Interest = poller.Interest;
const Event = poller.Event;

/// epoll_event.data carries the fd in its low 32 bits and a tag in the high ones, so the two
/// internal fds are recognised without a lookup.
const Tag = enum(u32) { user = 0, wakeup = 1, timer = 2 };

pub const Poller = struct {
    epoll_fd: i32,
    wakeup_fd: i32,
    timer_fd: i32,
    /// Set by `poll` when it drained an expiry of the timer; the caller clears it.
    timer_expired: bool = false,

    pub fn init() !Poller {
        const epoll_fd = try posix.epoll_create1(linux.EPOLL.CLOEXEC);
        errdefer posix.close(epoll_fd);
        const wakeup_fd = try posix.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
        errdefer posix.close(wakeup_fd);
        const timer_fd = try posix.timerfd_create(.MONOTONIC, .{ .CLOEXEC = true, .NONBLOCK = true });
        errdefer posix.close(timer_fd);

        var self = Poller{ .epoll_fd = epoll_fd, .wakeup_fd = wakeup_fd, .timer_fd = timer_fd };
        try self.addInternal(wakeup_fd, .wakeup);
        try self.addInternal(timer_fd, .timer);
        return self;
    }

    pub fn deinit(self: *Poller) void {
        posix.close(self.timer_fd);
        posix.close(self.wakeup_fd);
        posix.close(self.epoll_fd);
        self.* = undefined;
    }

    /// The fd to hand to an outer loop (libuv): readable whenever `poll` has work.
    pub fn pollFd(self: *const Poller) i32 {
        return self.epoll_fd;
    }

    /// Makes the next `poll` return promptly. Safe from any thread: it is one eventfd write.
    pub fn wake(self: *Poller) void {
        const one: u64 = 1;
        // EAGAIN means the counter is saturated, which is as awake as it gets.
        _ = linux.write(self.wakeup_fd, std.mem.asBytes(&one), @sizeOf(u64));
    }

    /// The fd another thread passes to `wakeTarget` to wake this poller.
    pub fn wakeTarget(self: *const Poller) i32 {
        return self.wakeup_fd;
    }

    /// Wakes the poller whose `wakeTarget()` is `fd`, from any thread.
    pub fn wakeByTarget(fd: i32) void {
        const one: u64 = 1;
        _ = linux.write(fd, std.mem.asBytes(&one), @sizeOf(u64));
    }

    /// Arms the one timer to fire `delay_ns` from now, or disarms it with null.
    pub fn armTimer(self: *Poller, delay_ns: ?u64) void {
        var spec = std.mem.zeroes(linux.itimerspec);
        if (delay_ns) |ns| {
            // A zero it_value disarms a timerfd, so "already due" becomes the shortest delay.
            const due_ns = @max(ns, 1);
            spec.it_value.sec = @intCast(due_ns / std.time.ns_per_s);
            spec.it_value.nsec = @intCast(due_ns % std.time.ns_per_s);
        }
        const rc = linux.timerfd_settime(self.timer_fd, .{}, &spec, null);
        std.debug.assert(linux.E.init(rc) == .SUCCESS);
    }

    /// Changes what is watched on `fd` from `previous` to `next`; returns 0 or the errno.
    pub fn setInterest(self: *Poller, fd: i32, next: Interest, previous: Interest) u32 {
        if (next.isEmpty() and previous.isEmpty()) return 0;
        const op: u32 = if (previous.isEmpty())
            linux.EPOLL.CTL_ADD
        else if (next.isEmpty())
            linux.EPOLL.CTL_DEL
        else
            linux.EPOLL.CTL_MOD;
        var event = linux.epoll_event{
            .events = epollMask(next),
            .data = .{ .u64 = pack(.user, fd) },
        };
        const rc = linux.epoll_ctl(self.epoll_fd, op, fd, &event);
        return @intFromEnum(linux.E.init(rc));
    }

    /// Collects up to `events.len` readiness reports, waiting at most `timeout_ms` (0: do not wait).
    /// The wakeup eventfd and the timerfd are drained here, so a level-triggered outer poll on
    /// `pollFd` stops reporting once their news has been delivered.
    pub fn poll(self: *Poller, events: []Event, timeout_ms: i32) usize {
        var raw: [poller.events_max]linux.epoll_event = undefined;
        const wanted = @min(events.len, raw.len);
        const rc = linux.epoll_wait(self.epoll_fd, &raw, @intCast(wanted), timeout_ms);
        const ready: usize = switch (linux.E.init(rc)) {
            .SUCCESS => rc,
            .INTR => 0,
            else => |e| std.debug.panic("epoll_wait failed: {s}", .{@tagName(e)}),
        };
        var count: usize = 0;
        for (raw[0..ready]) |item| {
            const tag: Tag = @enumFromInt(@as(u32, @truncate(item.data.u64 >> 32)));
            const fd: i32 = @bitCast(@as(u32, @truncate(item.data.u64)));
            switch (tag) {
                .wakeup => drainCounter(fd),
                .timer => {
                    drainCounter(fd);
                    self.timer_expired = true;
                },
                .user => {
                    events[count] = .{
                        .fd = fd,
                        .readable = item.events & linux.EPOLL.IN != 0,
                        .writable = item.events & linux.EPOLL.OUT != 0,
                        .hangup = item.events & (linux.EPOLL.ERR | linux.EPOLL.HUP) != 0,
                    };
                    count += 1;
                },
            }
        }
        return count;
    }

    fn addInternal(self: *Poller, fd: i32, tag: Tag) !void {
        var event = linux.epoll_event{ .events = linux.EPOLL.IN, .data = .{ .u64 = pack(tag, fd) } };
        try posix.epoll_ctl(self.epoll_fd, linux.EPOLL.CTL_ADD, fd, &event);
    }
};

fn pack(tag: Tag, fd: i32) u64 {
    return (@as(u64, @intFromEnum(tag)) << 32) | @as(u32, @bitCast(fd));
}

fn epollMask(interest: Interest) u32 {
    var mask: u32 = 0;
    if (interest.readable) mask |= linux.EPOLL.IN;
    if (interest.writable) mask |= linux.EPOLL.OUT;
    return mask;
}

/// eventfd and timerfd both hold a u64 counter that one read resets.
fn drainCounter(fd: i32) void {
    var counter: u64 = 0;
    _ = linux.read(fd, std.mem.asBytes(&counter), @sizeOf(u64));
}

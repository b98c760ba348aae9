//! The N-API adapter between a JS EventLoop and its Zig reactor: the registration of every export,
//! and the socket, datagram, fd and mailbox exports. Each extracts its arguments and makes one call
//! into the reactor. The bound reactor's lifetime (create, dispatch, close) is bound_reactor.zig.
const std = @import("std");
const reactor_lib = @import("reactor");
const napi = @import("napi.zig");
const uv = @import("uv.zig");
const bound = @import("bound_reactor.zig");
const malloc_tuning = @import("malloc_tuning.zig");

const c = napi.c;
const Reactor = reactor_lib.reactor.Reactor;
const sockets = reactor_lib.sockets;
const Mailbox = reactor_lib.mailbox.Mailbox;
const Poller = reactor_lib.poller.Poller;
const Interest = reactor_lib.poller.Interest;
const header = reactor_lib.reactor.header;
const allocator = std.heap.c_allocator;

/// setInterest(reactor, fd, nextMask, previousMask): masks are 1 readable | 2 writable.
fn setInterest(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(4, env, info);
    const self = try bound.openReactor(env, argv[0]);
    const fd = try napi.int32(env, argv[1], "fd");
    const next = Interest.fromMask(@bitCast(try napi.int32(env, argv[2], "nextMask")));
    const previous = Interest.fromMask(@bitCast(try napi.int32(env, argv[3], "previousMask")));
    const errno = self.reactor.poller.setInterest(fd, next, previous);
    if (errno != 0) return napi.throwErrno(env, errno, "epoll_ctl");
    return napi.undefinedValue(env);
}

// ---- sockets: these return an fd or byte count, or a negative errno, and JS builds the error
// (it knows the address and the syscall's meaning for the message Node would print).

const ListenFlags = struct {
    const reuse_address = 1;
    const reuse_port = 2;
    const ipv6_only = 4;
    const keepalive = 8;
    const accepting = 16;
    const nodelay = 32;
};

/// listen(reactor, host, port, backlog, flags): fd or -errno
fn listen(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(5, env, info);
    const self = try bound.openReactor(env, argv[0]);
    var host_buffer: [128]u8 = undefined;
    const host = try napi.string(env, argv[1], &host_buffer, "host");
    const port = try napi.int32(env, argv[2], "port");
    const address = std.net.Address.parseIp(host, @intCast(port & 0xffff)) catch return errnoValue(env, .INVAL);
    return listenOn(env, self, address, argv[3], argv[4]);
}

/// listenUnix(reactor, path, backlog, flags): fd or -errno
fn listenUnix(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(4, env, info);
    const self = try bound.openReactor(env, argv[0]);
    var path_buffer: [256]u8 = undefined;
    const path = try napi.string(env, argv[1], &path_buffer, "path");
    const address = std.net.Address.initUnix(path) catch return errnoValue(env, .NAMETOOLONG);
    return listenOn(env, self, address, argv[2], argv[3]);
}

fn listenOn(env: napi.Env, self: *bound.BoundReactor, address: std.net.Address, backlog_value: napi.Value, flags_value: napi.Value) !napi.Value {
    const backlog = try napi.int32(env, backlog_value, "backlog");
    const flags = try napi.int32(env, flags_value, "flags");
    const result = self.reactor.listen(address, .{
        .backlog = @intCast(std.math.clamp(backlog, 0, std.math.maxInt(u31))),
        .reuse_address = flags & ListenFlags.reuse_address != 0,
        .reuse_port = flags & ListenFlags.reuse_port != 0,
        .ipv6_only = flags & ListenFlags.ipv6_only != 0,
        .keepalive = flags & ListenFlags.keepalive != 0,
        .accepting = flags & ListenFlags.accepting != 0,
        .nodelay = flags & ListenFlags.nodelay != 0,
    });
    return resultValue(env, i32, result);
}

/// connect(reactor, host, port, localHost | null, localPort): fd or -errno
fn connect(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(5, env, info);
    const self = try bound.openReactor(env, argv[0]);
    var host_buffer: [128]u8 = undefined;
    const host = try napi.string(env, argv[1], &host_buffer, "host");
    const port = try napi.int32(env, argv[2], "port");
    const address = std.net.Address.parseIp(host, @intCast(port & 0xffff)) catch return errnoValue(env, .INVAL);
    var local: ?std.net.Address = null;
    var value_type: c.napi_valuetype = undefined;
    try napi.check(env, c.napi_typeof(env, argv[3], &value_type));
    if (value_type == c.napi_string) {
        var local_buffer: [128]u8 = undefined;
        const local_host = try napi.string(env, argv[3], &local_buffer, "localHost");
        const local_port = try napi.int32(env, argv[4], "localPort");
        local = std.net.Address.parseIp(local_host, @intCast(local_port & 0xffff)) catch return errnoValue(env, .INVAL);
    }
    return resultValue(env, i32, self.reactor.connect(address, local));
}

/// connectUnix(reactor, path): fd or -errno
fn connectUnix(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try bound.openReactor(env, argv[0]);
    var path_buffer: [256]u8 = undefined;
    const path = try napi.string(env, argv[1], &path_buffer, "path");
    const address = std.net.Address.initUnix(path) catch return errnoValue(env, .NAMETOOLONG);
    return resultValue(env, i32, self.reactor.connect(address, null));
}

/// write(reactor, fd, bytes: Uint8Array): bytes still queued, or -errno
fn write(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(3, env, info);
    const self = try bound.openReactor(env, argv[0]);
    const fd = try napi.int32(env, argv[1], "fd");
    const data = try napi.bytes(env, argv[2], "data");
    return resultValue(env, usize, self.reactor.write(fd, data));
}

/// writeString(reactor, fd, string, length): as write() with the string's UTF-8 bytes, encoded
/// straight into native memory in one pass (no JS Buffer, no separate length pass); `length` is
/// the string's JS length, which bounds its UTF-8 size at 3 bytes a unit. Returns the bytes
/// encoded (queuedBytes() then says what is still queued), or -errno.
fn writeString(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(4, env, info);
    const self = try bound.openReactor(env, argv[0]);
    const fd = try napi.int32(env, argv[1], "fd");
    const units = try napi.int32(env, argv[3], "length");
    if (units < 0) return napi.throwType(env, "length must be >= 0");
    const capacity = 3 * @as(usize, @intCast(units)) + 1; // + the NUL napi always writes
    const state = self.env_state;
    // The scratch grows to the largest string written on this thread, up to 1 MiB; a larger
    // string gets memory of its own for this one write.
    const scratch_max = 1 << 20;
    var owned: []u8 = &.{};
    defer bound.allocator.free(owned);
    var buffer = state.string_scratch;
    if (buffer.len < capacity) {
        const grown = bound.allocator.alloc(u8, capacity) catch return errnoValue(env, .NOMEM);
        if (capacity <= scratch_max) {
            bound.allocator.free(state.string_scratch);
            state.string_scratch = grown;
        } else {
            owned = grown;
        }
        buffer = grown;
    }
    var written: usize = 0;
    if (c.napi_get_value_string_utf8(env, argv[2], buffer.ptr, buffer.len, &written) != c.napi_ok) return napi.throwType(env, "data must be a string");
    return switch (self.reactor.write(fd, buffer[0..written])) {
        .ok => napi.number(env, @floatFromInt(written)),
        .err => |err| errnoValue(env, err),
    };
}

/// shutdownWrite(reactor, fd): 0 or -errno; waits for queued bytes to be sent first.
fn shutdownWrite(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try bound.openReactor(env, argv[0]);
    const fd = try napi.int32(env, argv[1], "fd");
    return optionalErrnoValue(env, self.reactor.shutdownWrite(fd));
}

/// setReading(reactor, fd, reading): 0 or -errno (for a listener: accepting).
fn setReading(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(3, env, info);
    const self = try bound.openReactor(env, argv[0]);
    const fd = try napi.int32(env, argv[1], "fd");
    var reading = false;
    try napi.check(env, c.napi_get_value_bool(env, argv[2], &reading));
    const state = self.env_state;
    if (state.fail_next_set_reading != 0) {
        const errno: std.posix.E = @enumFromInt(state.fail_next_set_reading);
        state.fail_next_set_reading = 0;
        return errnoValue(env, errno);
    }
    return optionalErrnoValue(env, self.reactor.setReading(fd, reading));
}

/// The close exports, (reactor, fd) -> undefined: a close cannot be retried, and the reactor
/// forgets the fd either way (docs/architecture.md, the error convention).
///   closeSocket: closes now, dropping anything still queued.
///   closeGracefully: shuts the write side, reads and drops until the peer's EOF, then closes
///     (the queue must be empty).
///   closeLingering: ends a graceful close still waiting for the peer's EOF.
fn closeExport(comptime close: fn (*Reactor, i32) void) fn (napi.Env, c.napi_callback_info) napi.Thrown!napi.Value {
    return struct {
        fn call(env: napi.Env, info: c.napi_callback_info) napi.Thrown!napi.Value {
            const argv = try napi.args(2, env, info);
            const self = try bound.openReactor(env, argv[0]);
            close(&self.reactor, try napi.int32(env, argv[1], "fd"));
            return napi.undefinedValue(env);
        }
    }.call;
}

/// socketAddress(fd, peer): "host:port", "[v6]:port", a Unix path, or null.
fn socketAddress(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const fd = try napi.int32(env, argv[0], "fd");
    var peer = false;
    try napi.check(env, c.napi_get_value_bool(env, argv[1], &peer));
    const address = sockets.addressOf(fd, if (peer) .peer else .local) orelse {
        var null_value: napi.Value = null;
        _ = c.napi_get_null(env, &null_value);
        return null_value;
    };
    var text_buffer: [160]u8 = undefined;
    const text = if (address.any.family == std.posix.AF.UNIX)
        sockets.unixPath(&address)
    else
        std.fmt.bufPrint(&text_buffer, "{}", .{address}) catch "";
    var result: napi.Value = null;
    try napi.check(env, c.napi_create_string_utf8(env, text.ptr, text.len, &result));
    return result;
}

/// detachSocket(reactor, fd): 0 or -errno; the fd stays open for another loop to adopt.
fn detachSocket(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try bound.openReactor(env, argv[0]);
    return optionalErrnoValue(env, self.reactor.detachSocket(try napi.int32(env, argv[1], "fd")));
}

/// queuedBytes(reactor, fd): bytes the reactor still holds for the socket (0 if none or unknown).
fn queuedBytes(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try bound.openReactor(env, argv[0]);
    return napi.number(env, @floatFromInt(self.reactor.queuedBytes(try napi.int32(env, argv[1], "fd"))));
}

/// closeFd(fd): close(2) on an fd no reactor holds (a hand-off's original); 0 or -errno.
fn closeFd(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(1, env, info);
    // Like the other close exports, nothing is returned: Linux and macOS release the fd even
    // when close(2) reports EINTR or EIO, so there is nothing a caller could retry.
    _ = std.c.close(try napi.int32(env, argv[0], "fd"));
    return napi.undefinedValue(env);
}

/// duplicateFd(fd): a new fd for the same socket, or -errno.
fn duplicateFd(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(1, env, info);
    return resultValue(env, i32, sockets.duplicate(try napi.int32(env, argv[0], "fd")));
}

/// adoptSocket(reactor, fd): fd or -errno; the socket is read by this reactor from now on.
fn adoptSocket(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try bound.openReactor(env, argv[0]);
    return resultValue(env, i32, self.reactor.adoptStream(try napi.int32(env, argv[1], "fd")));
}

/// reactorCounters(reactor): [accepted, bytesIn, bytesOut] since the reactor was made.
fn reactorCounters(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const self = try bound.openReactor(env, (try napi.args(1, env, info))[0]);
    var array: napi.Value = null;
    try napi.check(env, c.napi_create_array_with_length(env, 3, &array));
    const values = [_]u64{ self.reactor.counters.accepted, self.reactor.counters.bytes_in, self.reactor.counters.bytes_out };
    for (values, 0..) |value, index| {
        try napi.check(env, c.napi_set_element(env, array, @intCast(index), try napi.number(env, @floatFromInt(value))));
    }
    return array;
}

// ---- UDP and sendfile ------------------------------------------------------------------------

const DatagramFlags = struct {
    const reuse_address = 1;
    const reuse_port = 2;
    const broadcast = 4;
};

/// An IP address from (host, port) arguments, or null when host is null/undefined; `invalid`
/// is set when host is a string that is not an IP address (JS resolves names first).
fn optionalAddress(env: napi.Env, host_value: napi.Value, port_value: napi.Value, comptime name: []const u8, invalid: *bool) napi.Thrown!?std.net.Address {
    var value_type: c.napi_valuetype = undefined;
    try napi.check(env, c.napi_typeof(env, host_value, &value_type));
    if (value_type != c.napi_string) return null;
    var host_buffer: [128]u8 = undefined;
    const host = try napi.string(env, host_value, &host_buffer, name);
    const port = try napi.int32(env, port_value, name ++ " port");
    return std.net.Address.parseIp(host, @intCast(port & 0xffff)) catch {
        invalid.* = true;
        return null;
    };
}

/// openDatagram(reactor, family (4|6), localHost | null, localPort, remoteHost | null, remotePort, flags): fd or -errno
fn openDatagram(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(7, env, info);
    const self = try bound.openReactor(env, argv[0]);
    const family: u32 = if (try napi.int32(env, argv[1], "family") == 6) std.posix.AF.INET6 else std.posix.AF.INET;
    var invalid = false;
    const local = try optionalAddress(env, argv[2], argv[3], "localHost", &invalid);
    const remote = try optionalAddress(env, argv[4], argv[5], "remoteHost", &invalid);
    if (invalid) return errnoValue(env, .INVAL);
    const flags = try napi.int32(env, argv[6], "flags");
    return resultValue(env, i32, self.reactor.openDatagram(family, local, remote, .{
        .reuse_address = flags & DatagramFlags.reuse_address != 0,
        .reuse_port = flags & DatagramFlags.reuse_port != 0,
        .broadcast = flags & DatagramFlags.broadcast != 0,
    }));
}

/// sendDatagram(reactor, fd, data, host | null, port): bytes still queued, or -errno
fn sendDatagram(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(5, env, info);
    const self = try bound.openReactor(env, argv[0]);
    const fd = try napi.int32(env, argv[1], "fd");
    const data = try napi.bytes(env, argv[2], "data");
    var invalid = false;
    const address = try optionalAddress(env, argv[3], argv[4], "host", &invalid);
    if (invalid) return errnoValue(env, .INVAL);
    return resultValue(env, usize, self.reactor.sendDatagram(fd, data, address));
}

/// socketFlag(fd, name): 1 if SO_BROADCAST (1), SO_REUSEPORT (2), TCP_NODELAY (3) or SO_KEEPALIVE (4) is on, else 0.
fn socketFlag(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const fd = try napi.int32(env, argv[0], "fd");
    const level: i32, const option: u32 = switch (try napi.int32(env, argv[1], "name")) {
        1 => .{ std.posix.SOL.SOCKET, std.posix.SO.BROADCAST },
        2 => .{ std.posix.SOL.SOCKET, std.posix.SO.REUSEPORT },
        3 => .{ std.posix.IPPROTO.TCP, 1 }, // TCP_NODELAY, the same number on Linux and the BSDs
        4 => .{ std.posix.SOL.SOCKET, std.posix.SO.KEEPALIVE },
        else => return napi.throwType(env, "name must be 1 (SO_BROADCAST), 2 (SO_REUSEPORT), 3 (TCP_NODELAY) or 4 (SO_KEEPALIVE)"),
    };
    return napi.number(env, if (sockets.flagIsSet(fd, level, option)) 1 else 0);
}

/// setStreamOption(fd, name, value): name 1 TCP_NODELAY (value 0/1); name 2 SO_KEEPALIVE (value
/// < 0 off, 0 on, > 0 on with that many idle seconds before the first probe); name 3 SO_LINGER
/// with a zero timeout, so that closing resets (value ignored). 0 or -errno.
fn setStreamOption(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(3, env, info);
    const fd = try napi.int32(env, argv[0], "fd");
    const value = try napi.int32(env, argv[2], "value");
    return switch (try napi.int32(env, argv[1], "name")) {
        1 => optionalErrnoValue(env, sockets.setNoDelayTo(fd, value != 0)),
        2 => optionalErrnoValue(env, sockets.setKeepAliveTo(fd, value >= 0, @intCast(@max(0, @min(value, 32767))))),
        3 => optionalErrnoValue(env, sockets.setResetOnClose(fd)),
        else => napi.throwType(env, "name must be 1 (TCP_NODELAY), 2 (SO_KEEPALIVE) or 3 (SO_LINGER 0)"),
    };
}

/// sendfile(reactor, fd, fileFd, offset, count): 0 (a sendfile_done or failed record follows) or -errno
fn sendfile(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(5, env, info);
    const self = try bound.openReactor(env, argv[0]);
    const fd = try napi.int32(env, argv[1], "fd");
    const file_fd = try napi.int32(env, argv[2], "fileFd");
    const offset = try napi.double(env, argv[3], "offset");
    const count = try napi.double(env, argv[4], "count");
    const limit: f64 = 9007199254740991; // Number.MAX_SAFE_INTEGER
    if (!(offset >= 0 and offset <= limit) or !(count >= 0 and count <= limit)) return errnoValue(env, .INVAL);
    return optionalErrnoValue(env, self.reactor.sendfile(fd, file_fd, @intFromFloat(offset), @intFromFloat(count)));
}

/// socketsOpen(reactor): sockets the reactor owns (for leak checks).
fn socketsOpen(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const self = try bound.openReactor(env, (try napi.args(1, env, info))[0]);
    return napi.number(env, @floatFromInt(self.reactor.sockets_open));
}

/// setBlocking(fd, blocking): 0 or -errno. Sets or clears O_NONBLOCK, as Python's
/// os.set_blocking: pipe transports read and write fds that Node has no API to make non-blocking.
fn setBlocking(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const fd = try napi.int32(env, argv[0], "fd");
    var blocking = false;
    try napi.check(env, c.napi_get_value_bool(env, argv[1], &blocking));
    const posix = std.posix;
    // The raw call, not std.posix.fcntl: that one treats EBADF as unreachable, and a bad fd from JS must be an error.
    const get_result = posix.system.fcntl(fd, posix.F.GETFL, @as(usize, 0));
    switch (posix.errno(get_result)) {
        .SUCCESS => {},
        else => |err| return errnoValue(env, err),
    }
    const nonblock: usize = @as(u32, @bitCast(posix.O{ .NONBLOCK = true }));
    const flags: usize = @intCast(get_result);
    const next = if (blocking) flags & ~nonblock else flags | nonblock;
    if (next == flags) return napi.number(env, 0);
    switch (posix.errno(posix.system.fcntl(fd, posix.F.SETFL, next))) {
        .SUCCESS => return napi.number(env, 0),
        else => |err| return errnoValue(env, err),
    }
}

fn resultValue(env: napi.Env, comptime T: type, result: sockets.Result(T)) !napi.Value {
    return switch (result) {
        .ok => |value| napi.number(env, @floatFromInt(value)),
        .err => |err| errnoValue(env, err),
    };
}

fn optionalErrnoValue(env: napi.Env, err: ?std.posix.E) !napi.Value {
    return if (err) |e| errnoValue(env, e) else napi.number(env, 0);
}

fn errnoValue(env: napi.Env, err: std.posix.E) !napi.Value {
    return napi.number(env, -@as(f64, @floatFromInt(@intFromEnum(err))));
}

// ---- the cross-thread mailbox: its memory is a SharedArrayBuffer every thread can view ----

fn mailboxArg(env: napi.Env, value: napi.Value) !Mailbox {
    const memory = try napi.bytes(env, value, "mailbox");
    if (memory.len <= reactor_lib.mailbox.header_bytes + 16 or memory.len % 4 != 0 or @intFromPtr(memory.ptr) % 4 != 0) {
        return napi.throwType(env, "mailbox must be a 4-byte aligned view of a SharedArrayBuffer");
    }
    return Mailbox.init(@alignCast(memory));
}

/// mailboxAttach(reactor, mailbox): pushes from now on wake this reactor.
fn mailboxAttach(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try bound.openReactor(env, argv[0]);
    const mailbox = try mailboxArg(env, argv[1]);
    if (self.mailbox != null) return napi.throwType(env, "this reactor already has a mailbox");
    // Keeps the shared memory mapped until the reactor has closed the mailbox.
    try napi.check(env, c.napi_create_reference(env, argv[1], 1, &self.mailbox_ref));
    self.mailbox = mailbox;
    mailbox.attach(self.reactor.poller.wakeTarget());
    return napi.undefinedValue(env);
}

/// mailboxClose(mailbox): pushes fail from now on; call before the owner's reactor closes.
fn mailboxClose(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const mailbox = try mailboxArg(env, (try napi.args(1, env, info))[0]);
    mailbox.close();
    return napi.undefinedValue(env);
}

/// mailboxPush(mailbox, payload, length): pushes payload[0..length]. Returns 1 pushed and woke
/// the owner, 0 pushed, -1 full, -2 closed, -3 too large. The length lets JS reuse one scratch
/// buffer without making a view per call.
fn mailboxPush(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(3, env, info);
    const mailbox = try mailboxArg(env, argv[0]);
    const bytes = try napi.bytes(env, argv[1], "payload");
    const length = try napi.int32(env, argv[2], "length");
    if (length < 0 or length > bytes.len) return napi.throwType(env, "length must be within the payload");
    const payload = bytes[0..@intCast(length)];
    const code: f64 = switch (mailbox.push(payload, Poller.wakeByTarget)) {
        .pushed_and_woke => 1,
        .pushed => 0,
        .full => -1,
        .closed => -2,
        .too_large => -3,
    };
    return napi.number(env, code);
}

/// mailboxPushMany(mailbox, batch, length): pushes the (u32 length, bytes) messages of
/// batch[0..length] with one lock. Returns the bytes taken (whole messages), -2 if closed, -3 if
/// one message can never fit.
fn mailboxPushMany(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(3, env, info);
    const mailbox = try mailboxArg(env, argv[0]);
    const bytes = try napi.bytes(env, argv[1], "batch");
    const length = try napi.int32(env, argv[2], "length");
    if (length < 0 or length > bytes.len) return napi.throwType(env, "length must be within the batch");
    const result = mailbox.pushMany(bytes[0..@intCast(length)], Poller.wakeByTarget);
    if (result.closed) return napi.number(env, -2);
    if (result.too_large and result.consumed == 0) return napi.number(env, -3);
    return napi.number(env, @floatFromInt(result.consumed));
}

/// mailboxDrain(mailbox, out): copies queued messages into out as (u32 LE length, bytes); returns bytes used.
fn mailboxDrain(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const mailbox = try mailboxArg(env, argv[0]);
    const out = try napi.bytes(env, argv[1], "out");
    return napi.number(env, @floatFromInt(mailbox.drain(out)));
}

/// Wraps a Zig function that may fail with a thrown JS exception into an N-API callback.
fn export_(comptime function: fn (napi.Env, c.napi_callback_info) napi.Thrown!napi.Value) c.napi_callback {
    return struct {
        fn call(env: napi.Env, info: c.napi_callback_info) callconv(.C) napi.Value {
            return function(env, info) catch null;
        }
    }.call;
}

export fn napi_register_module_v1(env: napi.Env, exports: napi.Value) napi.Value {
    register(env, exports) catch return null;
    return exports;
}

fn register(env: napi.Env, exports: napi.Value) !void {
    malloc_tuning.tuneOnce();
    var loop: ?*c.struct_uv_loop_s = null;
    try napi.check(env, c.napi_get_uv_event_loop(env, &loop));
    const state = allocator.create(bound.EnvState) catch return napi.throwType(env, "zloop: out of memory");
    state.* = .{ .uv_loop = @ptrCast(loop.?) };
    try napi.check(env, c.napi_set_instance_data(env, state, bound.freeEnvState, null));

    const functions = .{
        .{ "create", export_(bound.create) },
        .{ "start", export_(bound.start) },
        .{ "stop", export_(bound.stop) },
        .{ "close", export_(bound.close) },
        .{ "wake", export_(bound.wake) },
        .{ "armTimer", export_(bound.armTimer) },
        .{ "keepAlive", export_(bound.keepAlive) },
        .{ "setInterest", export_(setInterest) },
        .{ "reactorsOpen", export_(bound.reactorsOpen) },
        .{ "listen", export_(listen) },
        .{ "listenUnix", export_(listenUnix) },
        .{ "testFailNextCreate", export_(bound.testFailNextCreate) },
        .{ "testFailNextSetReading", export_(bound.testFailNextSetReading) },
        .{ "setReceiveBuffer", export_(bound.setReceiveBuffer) },
        .{ "connect", export_(connect) },
        .{ "connectUnix", export_(connectUnix) },
        .{ "write", export_(write) },
        .{ "writeString", export_(writeString) },
        .{ "shutdownWrite", export_(shutdownWrite) },
        .{ "setReading", export_(setReading) },
        .{ "closeSocket", export_(closeExport(Reactor.closeSocket)) },
        .{ "closeGracefully", export_(closeExport(Reactor.closeGracefully)) },
        .{ "closeLingering", export_(closeExport(Reactor.closeLingering)) },
        .{ "socketAddress", export_(socketAddress) },
        .{ "socketsOpen", export_(socketsOpen) },
        .{ "openDatagram", export_(openDatagram) },
        .{ "sendDatagram", export_(sendDatagram) },
        .{ "socketFlag", export_(socketFlag) },
        .{ "setStreamOption", export_(setStreamOption) },
        .{ "sendfile", export_(sendfile) },
        .{ "detachSocket", export_(detachSocket) },
        .{ "adoptSocket", export_(adoptSocket) },
        .{ "duplicateFd", export_(duplicateFd) },
        .{ "closeFd", export_(closeFd) },
        .{ "queuedBytes", export_(queuedBytes) },
        .{ "reactorCounters", export_(reactorCounters) },
        .{ "mailboxAttach", export_(mailboxAttach) },
        .{ "mailboxClose", export_(mailboxClose) },
        .{ "mailboxPush", export_(mailboxPush) },
        .{ "mailboxPushMany", export_(mailboxPushMany) },
        .{ "mailboxDrain", export_(mailboxDrain) },
        .{ "setBlocking", export_(setBlocking) },
    };
    inline for (functions) |entry| {
        var function: napi.Value = null;
        try napi.check(env, c.napi_create_function(env, entry[0], entry[0].len, entry[1], null, &function));
        try napi.check(env, c.napi_set_named_property(env, exports, entry[0], function));
    }
}

//! The N-API adapter between a JS EventLoop and its Zig reactor. Each exported function extracts
//! its arguments and makes one call into the reactor; the only logic here is lifetime: the
//! reactor's uv_poll_t must be closed before its environment (a worker thread, say) goes away.
const std = @import("std");
const reactor_lib = @import("reactor");
const napi = @import("napi.zig");
const uv = @import("uv.zig");

const c = napi.c;
const Reactor = reactor_lib.reactor.Reactor;
const sockets = reactor_lib.sockets;
const Mailbox = reactor_lib.mailbox.Mailbox;
const Poller = reactor_lib.poller.Poller;
const Interest = reactor_lib.poller.Interest;
const header = reactor_lib.reactor.header;
const allocator = std.heap.c_allocator;

/// Native iterations (poll, then one JS batch) in a row before control goes back to libuv, so
/// Node's own timers and I/O keep running while zloop has a long chain of ready callbacks.
const iterations_max = 64;

/// Per-environment state: every worker thread that loads the addon gets its own.
const EnvState = struct {
    uv_loop: *uv.Loop,
    /// Reactors whose uv handle is not yet closed; tests read it to prove nothing leaks.
    reactors_open: u32 = 0,
    /// Set by testFailNextCreate(): the next create() fails once its uv handle exists, so a
    /// test can walk the error path that must release every fd exactly once.
    fail_next_create: bool = false,
};

const BoundReactor = struct {
    env: napi.Env,
    env_state: *EnvState,
    reactor: Reactor,
    poll_handle: *uv.PollHandle,
    /// The JS batch function and the shared Int32Array stay alive until the uv handle is closed.
    callback_ref: c.napi_ref,
    shared_ref: c.napi_ref,
    shared: []i32,
    receive_ref: c.napi_ref,
    receive_buffer: []u8,
    cleanup_hook: c.napi_async_cleanup_hook_handle = null,
    /// The mailbox other threads push calls into, if JS attached one (loop.ref()); closed with
    /// the reactor however it closes, so producers get "closed" instead of writing a dead fd.
    mailbox: ?Mailbox = null,
    mailbox_ref: c.napi_ref = null,
    state: enum { idle, polling, closing } = .idle,
    dispatching: bool = false,
    /// The struct is freed when both owners are done: the JS external (finalizer) and libuv
    /// (close callback). Either can finish first.
    owned_by_js: bool = true,
    owned_by_uv: bool = true,

    fn fromHandle(handle: *uv.PollHandle) *BoundReactor {
        return @ptrCast(@alignCast(uv.getData(handle)));
    }

    fn startPolling(self: *BoundReactor) c_int {
        std.debug.assert(self.state != .closing);
        if (self.state == .polling) return 0;
        const rc = uv.uv_poll_start(self.poll_handle, uv.readable, onPollReady);
        if (rc == 0) {
            self.state = .polling;
            self.holdJsObjects(true);
        }
        return rc;
    }

    fn stopPolling(self: *BoundReactor) void {
        if (self.state != .polling) return;
        _ = uv.uv_poll_stop(self.poll_handle);
        self.state = .idle;
        self.holdJsObjects(false);
    }

    /// The references to the batch function and the shared memory are strong only while
    /// polling, when a batch may call into JS. An idle loop that JS drops can then be collected,
    /// and its finalizer closes the fds (the EventLoop holds these objects itself meanwhile).
    fn holdJsObjects(self: *BoundReactor, strong: bool) void {
        for ([_]c.napi_ref{ self.callback_ref, self.shared_ref, self.receive_ref }) |ref| {
            if (ref == null) continue;
            var count: u32 = 0;
            _ = if (strong) c.napi_reference_ref(self.env, ref, &count) else c.napi_reference_unref(self.env, ref, &count);
        }
    }

    /// Starts closing; the fds and references are released in `onClosed`, after libuv lets go.
    fn beginClose(self: *BoundReactor) void {
        if (self.state == .closing) return;
        // Before the wakeup fd can close: producers then see "closed" under the mailbox lock.
        if (self.mailbox) |mailbox| mailbox.close();
        self.stopPolling();
        self.state = .closing;
        uv.uv_close(self.poll_handle, onClosed);
    }

    /// One wakeup from libuv: drain readiness, hand each batch to JS, and repeat while JS still
    /// has ready callbacks, so promise continuations run between iterations as asyncio's do.
    fn dispatch(self: *BoundReactor) void {
        std.debug.assert(!self.dispatching); // the reactor is never re-entered
        self.dispatching = true;
        defer self.dispatching = false;

        var scope: c.napi_handle_scope = null;
        if (c.napi_open_handle_scope(self.env, &scope) != c.napi_ok) return;
        defer _ = c.napi_close_handle_scope(self.env, scope);

        const control = self.shared[0..header.ints];
        control[header.in_dispatch] = 1;
        defer control[header.in_dispatch] = 0;

        var iterations: u32 = 0;
        while (true) {
            control[header.work_pending] = 0;
            const count = self.reactor.collect(self.shared, self.receive_buffer);
            if (!self.callBatch(count)) {
                // The environment is going away (worker termination): deliver nothing more.
                self.stopPolling();
                return;
            }
            if (self.state != .polling) return;
            if (control[header.work_pending] == 0) return;
            iterations += 1;
            if (iterations == iterations_max) {
                // Yield to libuv; the eventfd brings us straight back after its other work.
                self.reactor.poller.wake();
                return;
            }
        }
    }

    /// Calls the JS batch function once. Returns false when the environment cannot run JS.
    fn callBatch(self: *BoundReactor, count: usize) bool {
        const env = self.env;
        var callback: napi.Value = null;
        var receiver: napi.Value = null;
        var argv: [1]napi.Value = .{null};
        var result: napi.Value = null;
        if (c.napi_get_reference_value(env, self.callback_ref, &callback) != c.napi_ok or callback == null) return false;
        if (c.napi_get_global(env, &receiver) != c.napi_ok) return false;
        if (c.napi_create_uint32(env, @intCast(count), &argv[0]) != c.napi_ok) return false;
        const status = c.napi_make_callback(env, null, receiver, callback, 1, &argv, &result);
        if (status == c.napi_ok) return true;
        var pending = false;
        _ = c.napi_is_exception_pending(env, &pending);
        if (!pending) return false;
        // The JS dispatcher catches user errors itself, so this is a zloop bug: report it as
        // Node reports any uncaught exception rather than swallowing it.
        var exception: napi.Value = null;
        _ = c.napi_get_and_clear_last_exception(env, &exception);
        _ = c.napi_fatal_exception(env, exception);
        return true;
    }

    fn releaseIfUnowned(self: *BoundReactor) void {
        if (self.owned_by_js or self.owned_by_uv) return;
        allocator.destroy(self);
    }
};

fn onPollReady(handle: *uv.PollHandle, status: c_int, events: c_int) callconv(.C) void {
    _ = status;
    _ = events;
    BoundReactor.fromHandle(handle).dispatch();
}

fn onClosed(handle: *uv.PollHandle) callconv(.C) void {
    const self = BoundReactor.fromHandle(handle);
    self.reactor.deinit();
    _ = c.napi_delete_reference(self.env, self.callback_ref);
    _ = c.napi_delete_reference(self.env, self.shared_ref);
    _ = c.napi_delete_reference(self.env, self.receive_ref);
    if (self.mailbox_ref != null) _ = c.napi_delete_reference(self.env, self.mailbox_ref);
    self.env_state.reactors_open -= 1;
    allocator.free(@as([*]align(16) u8, @ptrCast(@alignCast(handle)))[0..uv.uv_handle_size(uv.handle_type_poll)]);
    // Removing the hook last tells a terminating environment that our cleanup is complete.
    if (self.cleanup_hook) |hook| _ = c.napi_remove_async_cleanup_hook(hook);
    self.owned_by_uv = false;
    self.releaseIfUnowned();
}

fn onEnvironmentCleanup(hook: c.napi_async_cleanup_hook_handle, data: ?*anyopaque) callconv(.C) void {
    const self: *BoundReactor = @ptrCast(@alignCast(data.?));
    std.debug.assert(self.cleanup_hook == hook);
    self.beginClose();
}

fn onExternalFinalized(env: napi.Env, data: ?*anyopaque, hint: ?*anyopaque) callconv(.C) void {
    _ = env;
    _ = hint;
    const self: *BoundReactor = @ptrCast(@alignCast(data.?));
    self.owned_by_js = false;
    // A loop dropped without close(): its handle is already stopped or is stopped here.
    self.beginClose();
    self.releaseIfUnowned();
}

/// create(shared: Int32Array, receiveBuffer: Uint8Array, onBatch: (count) => void): external.
/// The caller keeps all three alive for as long as it keeps the external.
fn create(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(3, env, info);
    const env_state = try envState(env);

    var array_type: c.napi_typedarray_type = undefined;
    var length: usize = 0;
    var data: ?*anyopaque = null;
    if (c.napi_get_typedarray_info(env, argv[0], &array_type, &length, &data, null, null) != c.napi_ok or
        array_type != c.napi_int32_array or length < header.ints)
    {
        return napi.throwType(env, "shared must be an Int32Array");
    }
    const receive_buffer = try napi.bytes(env, argv[1], "receiveBuffer");
    var value_type: c.napi_valuetype = undefined;
    try napi.check(env, c.napi_typeof(env, argv[2], &value_type));
    if (value_type != c.napi_function) return napi.throwType(env, "onBatch must be a function");

    var reactor = Reactor.init(allocator) catch |err| return switch (err) {
        error.ProcessFdQuotaExceeded => napi.throwErrno(env, @intFromEnum(std.posix.E.MFILE), "epoll_create1"),
        error.SystemFdQuotaExceeded => napi.throwErrno(env, @intFromEnum(std.posix.E.NFILE), "epoll_create1"),
        else => napi.throwErrno(env, @intFromEnum(std.posix.E.NOMEM), "epoll_create1"),
    };
    // The reactor's fds have one owner at a time: this local until it moves into `self`, then
    // `self`, whose close path (beginClose -> onClosed) releases them. Two owners would close
    // the same numbers twice, the second time perhaps another thread's new fds.
    var reactor_moved = false;
    errdefer if (!reactor_moved) reactor.deinit();

    const handle_bytes = allocator.alignedAlloc(u8, 16, uv.uv_handle_size(uv.handle_type_poll)) catch {
        return napi.throwErrno(env, @intFromEnum(std.posix.E.NOMEM), "uv_poll_init");
    };
    const poll_handle: *uv.PollHandle = @ptrCast(handle_bytes.ptr);
    const self = allocator.create(BoundReactor) catch {
        allocator.free(handle_bytes);
        return napi.throwErrno(env, @intFromEnum(std.posix.E.NOMEM), "uv_poll_init");
    };
    self.* = .{
        .env = env,
        .env_state = env_state,
        .reactor = reactor,
        .poll_handle = poll_handle,
        .callback_ref = null,
        .shared_ref = null,
        .shared = @as([*]i32, @ptrCast(@alignCast(data.?)))[0..length],
        .receive_ref = null,
        .receive_buffer = receive_buffer,
    };
    reactor_moved = true;
    const rc = uv.uv_poll_init(env_state.uv_loop, poll_handle, self.reactor.poller.pollFd());
    if (rc != 0) {
        self.reactor.deinit();
        allocator.destroy(self);
        allocator.free(handle_bytes);
        return napi.throwErrno(env, @intCast(-rc), "uv_poll_init");
    }
    uv.setData(poll_handle, self);
    env_state.reactors_open += 1;
    // From here on, every failure path goes through beginClose so libuv releases the handle
    // and onClosed closes the reactor's fds, once.
    errdefer {
        self.owned_by_js = false;
        self.beginClose();
    }
    if (env_state.fail_next_create) {
        env_state.fail_next_create = false;
        return napi.throwErrno(env, @intFromEnum(std.posix.E.NOMEM), "create (testFailNextCreate)");
    }
    // Weak until polling starts (see holdJsObjects).
    try napi.check(env, c.napi_create_reference(env, argv[2], 0, &self.callback_ref));
    try napi.check(env, c.napi_create_reference(env, argv[0], 0, &self.shared_ref));
    try napi.check(env, c.napi_create_reference(env, argv[1], 0, &self.receive_ref));
    try napi.check(env, c.napi_add_async_cleanup_hook(env, onEnvironmentCleanup, self, &self.cleanup_hook));

    var result: napi.Value = null;
    try napi.check(env, c.napi_create_external(env, self, onExternalFinalized, null, &result));
    return result;
}

/// testFailNextCreate(): the next create() on this thread fails after its uv handle exists.
fn testFailNextCreate(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    _ = try napi.args(0, env, info);
    (try envState(env)).fail_next_create = true;
    return napi.undefinedValue(env);
}

/// start(reactor): watch the reactor's fd from libuv (this keeps the process alive).
fn start(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const self = try openReactor(env, (try napi.args(1, env, info))[0]);
    const rc = self.startPolling();
    if (rc != 0) return napi.throwErrno(env, @intCast(-rc), "uv_poll_start");
    return napi.undefinedValue(env);
}

/// stop(reactor): stop watching; a stopped reactor holds nothing that keeps the process alive.
fn stop(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const self = try openReactor(env, (try napi.args(1, env, info))[0]);
    self.stopPolling();
    return napi.undefinedValue(env);
}

/// close(reactor): idempotent; fds are closed once libuv has released the poll handle.
fn close(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const self = try napi.external(env, (try napi.args(1, env, info))[0], BoundReactor);
    self.beginClose();
    return napi.undefinedValue(env);
}

/// wake(reactor): make the reactor's next libuv turn dispatch a batch.
fn wake(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const self = try openReactor(env, (try napi.args(1, env, info))[0]);
    self.reactor.poller.wake();
    return napi.undefinedValue(env);
}

/// armTimer(reactor, delayMs): fire once after delayMs milliseconds; a negative delay disarms.
fn armTimer(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try openReactor(env, argv[0]);
    const delay_ms = try napi.double(env, argv[1], "delayMs");
    if (delay_ms < 0 or std.math.isNan(delay_ms)) {
        self.reactor.poller.armTimer(null);
    } else {
        const delay_ns = @min(delay_ms * std.time.ns_per_ms, @as(f64, std.math.maxInt(i64)));
        self.reactor.poller.armTimer(@intFromFloat(@ceil(delay_ns)));
    }
    return napi.undefinedValue(env);
}

/// setInterest(reactor, fd, nextMask, previousMask): masks are 1 readable | 2 writable.
fn setInterest(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(4, env, info);
    const self = try openReactor(env, argv[0]);
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
    const self = try openReactor(env, argv[0]);
    var host_buffer: [128]u8 = undefined;
    const host = try napi.string(env, argv[1], &host_buffer, "host");
    const port = try napi.int32(env, argv[2], "port");
    const address = std.net.Address.parseIp(host, @intCast(port & 0xffff)) catch return errnoValue(env, .INVAL);
    return listenOn(env, self, address, argv[3], argv[4]);
}

/// listenUnix(reactor, path, backlog, flags): fd or -errno
fn listenUnix(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(4, env, info);
    const self = try openReactor(env, argv[0]);
    var path_buffer: [256]u8 = undefined;
    const path = try napi.string(env, argv[1], &path_buffer, "path");
    const address = std.net.Address.initUnix(path) catch return errnoValue(env, .NAMETOOLONG);
    return listenOn(env, self, address, argv[2], argv[3]);
}

fn listenOn(env: napi.Env, self: *BoundReactor, address: std.net.Address, backlog_value: napi.Value, flags_value: napi.Value) !napi.Value {
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
    const self = try openReactor(env, argv[0]);
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
    const self = try openReactor(env, argv[0]);
    var path_buffer: [256]u8 = undefined;
    const path = try napi.string(env, argv[1], &path_buffer, "path");
    const address = std.net.Address.initUnix(path) catch return errnoValue(env, .NAMETOOLONG);
    return resultValue(env, i32, self.reactor.connect(address, null));
}

/// write(reactor, fd, bytes: Uint8Array): bytes still queued, or -errno
fn write(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(3, env, info);
    const self = try openReactor(env, argv[0]);
    const fd = try napi.int32(env, argv[1], "fd");
    const data = try napi.bytes(env, argv[2], "data");
    return resultValue(env, usize, self.reactor.write(fd, data));
}

/// shutdownWrite(reactor, fd): 0 or -errno; waits for queued bytes to be sent first.
fn shutdownWrite(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try openReactor(env, argv[0]);
    const fd = try napi.int32(env, argv[1], "fd");
    return optionalErrnoValue(env, self.reactor.shutdownWrite(fd));
}

/// setReading(reactor, fd, reading): 0 or -errno (for a listener: accepting).
fn setReading(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(3, env, info);
    const self = try openReactor(env, argv[0]);
    const fd = try napi.int32(env, argv[1], "fd");
    var reading = false;
    try napi.check(env, c.napi_get_value_bool(env, argv[2], &reading));
    return optionalErrnoValue(env, self.reactor.setReading(fd, reading));
}

/// closeGracefully(reactor, fd): shuts the write side, reads and drops until the peer's EOF,
/// then closes (reactor.closeGracefully); the queue must be empty.
fn closeGracefully(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try openReactor(env, argv[0]);
    self.reactor.closeGracefully(try napi.int32(env, argv[1], "fd"));
    return napi.undefinedValue(env);
}

/// closeLingering(reactor, fd): ends a graceful close still waiting for the peer's EOF.
fn closeLingering(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try openReactor(env, argv[0]);
    self.reactor.closeLingering(try napi.int32(env, argv[1], "fd"));
    return napi.undefinedValue(env);
}

/// closeSocket(reactor, fd): closes now, dropping anything still queued.
fn closeSocket(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try openReactor(env, argv[0]);
    self.reactor.closeSocket(try napi.int32(env, argv[1], "fd"));
    return napi.undefinedValue(env);
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
    const self = try openReactor(env, argv[0]);
    return optionalErrnoValue(env, self.reactor.detachSocket(try napi.int32(env, argv[1], "fd")));
}

/// queuedBytes(reactor, fd): bytes the reactor still holds for the socket (0 if none or unknown).
fn queuedBytes(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try openReactor(env, argv[0]);
    return napi.number(env, @floatFromInt(self.reactor.queuedBytes(try napi.int32(env, argv[1], "fd"))));
}

/// closeFd(fd): close(2) on an fd no reactor holds (a hand-off's original); 0 or -errno.
fn closeFd(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(1, env, info);
    const rc = std.c.close(try napi.int32(env, argv[0], "fd"));
    return if (rc < 0) errnoValue(env, std.posix.errno(rc)) else napi.number(env, 0);
}

/// duplicateFd(fd): a new fd for the same socket, or -errno.
fn duplicateFd(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(1, env, info);
    return resultValue(env, i32, sockets.duplicate(try napi.int32(env, argv[0], "fd")));
}

/// adoptSocket(reactor, fd): fd or -errno; the socket is read by this reactor from now on.
fn adoptSocket(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try openReactor(env, argv[0]);
    return resultValue(env, i32, self.reactor.adoptStream(try napi.int32(env, argv[1], "fd")));
}

/// reactorCounters(reactor): [accepted, bytesIn, bytesOut] since the reactor was made.
fn reactorCounters(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const self = try openReactor(env, (try napi.args(1, env, info))[0]);
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
    const self = try openReactor(env, argv[0]);
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
    const self = try openReactor(env, argv[0]);
    const fd = try napi.int32(env, argv[1], "fd");
    const data = try napi.bytes(env, argv[2], "data");
    var invalid = false;
    const address = try optionalAddress(env, argv[3], argv[4], "host", &invalid);
    if (invalid) return errnoValue(env, .INVAL);
    return resultValue(env, usize, self.reactor.sendDatagram(fd, data, address));
}

/// socketFlag(fd, name): 1 if SO_BROADCAST (name 1) or SO_REUSEPORT (name 2) is on, else 0.
fn socketFlag(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const fd = try napi.int32(env, argv[0], "fd");
    const option: u32 = switch (try napi.int32(env, argv[1], "name")) {
        1 => std.posix.SO.BROADCAST,
        2 => std.posix.SO.REUSEPORT,
        else => return napi.throwType(env, "name must be 1 (SO_BROADCAST) or 2 (SO_REUSEPORT)"),
    };
    return napi.number(env, if (sockets.flagIsSet(fd, std.posix.SOL.SOCKET, option)) 1 else 0);
}

/// sendfile(reactor, fd, fileFd, offset, count): 0 (a sendfile_done or failed record follows) or -errno
fn sendfile(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(5, env, info);
    const self = try openReactor(env, argv[0]);
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
    const self = try openReactor(env, (try napi.args(1, env, info))[0]);
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
    const self = try openReactor(env, argv[0]);
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

/// reactorsOpen(): how many reactors of this environment still hold fds (for leak checks).
fn reactorsOpen(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    _ = info;
    return napi.number(env, @floatFromInt((try envState(env)).reactors_open));
}

fn openReactor(env: napi.Env, value: napi.Value) !*BoundReactor {
    const self = try napi.external(env, value, BoundReactor);
    if (self.state == .closing) {
        _ = c.napi_throw_error(env, "ERR_ZLOOP_CLOSED", "Event loop is closed");
        return error.Thrown;
    }
    return self;
}

fn envState(env: napi.Env) !*EnvState {
    var data: ?*anyopaque = null;
    try napi.check(env, c.napi_get_instance_data(env, &data));
    return @ptrCast(@alignCast(data.?));
}

fn freeEnvState(env: napi.Env, data: ?*anyopaque, hint: ?*anyopaque) callconv(.C) void {
    _ = env;
    _ = hint;
    allocator.destroy(@as(*EnvState, @ptrCast(@alignCast(data.?))));
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
    var loop: ?*c.struct_uv_loop_s = null;
    try napi.check(env, c.napi_get_uv_event_loop(env, &loop));
    const state = allocator.create(EnvState) catch return napi.throwType(env, "zloop: out of memory");
    state.* = .{ .uv_loop = @ptrCast(loop.?) };
    try napi.check(env, c.napi_set_instance_data(env, state, freeEnvState, null));

    const functions = .{
        .{ "create", export_(create) },
        .{ "start", export_(start) },
        .{ "stop", export_(stop) },
        .{ "close", export_(close) },
        .{ "wake", export_(wake) },
        .{ "armTimer", export_(armTimer) },
        .{ "setInterest", export_(setInterest) },
        .{ "reactorsOpen", export_(reactorsOpen) },
        .{ "listen", export_(listen) },
        .{ "listenUnix", export_(listenUnix) },
        .{ "testFailNextCreate", export_(testFailNextCreate) },
        .{ "connect", export_(connect) },
        .{ "connectUnix", export_(connectUnix) },
        .{ "write", export_(write) },
        .{ "shutdownWrite", export_(shutdownWrite) },
        .{ "setReading", export_(setReading) },
        .{ "closeSocket", export_(closeSocket) },
        .{ "closeGracefully", export_(closeGracefully) },
        .{ "closeLingering", export_(closeLingering) },
        .{ "socketAddress", export_(socketAddress) },
        .{ "socketsOpen", export_(socketsOpen) },
        .{ "openDatagram", export_(openDatagram) },
        .{ "sendDatagram", export_(sendDatagram) },
        .{ "socketFlag", export_(socketFlag) },
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

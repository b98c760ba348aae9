//! A JS EventLoop's reactor as the binding holds it: the BoundReactor (the reactor, its uv_poll_t
//! on Node's loop, the JS objects it shares memory with), from create() through the batches it
//! dispatches to its close, which must finish before its environment (a worker thread, say) goes
//! away. main.zig registers these exports beside the socket and mailbox ones.
const std = @import("std");
const reactor_lib = @import("reactor");
const napi = @import("napi.zig");
const uv = @import("uv.zig");

const c = napi.c;
const Reactor = reactor_lib.reactor.Reactor;
const Mailbox = reactor_lib.mailbox.Mailbox;
const header = reactor_lib.reactor.header;
pub const allocator = std.heap.c_allocator;

/// Native iterations (poll, then one JS batch) in a row before control goes back to libuv, so
/// Node's own timers and I/O keep running while zloop has a long chain of ready callbacks.
const iterations_max = 64;

/// Within one dispatch, an iteration polls the kernel (collect: epoll_wait with no timeout, plus
/// the reads it reports) only if this long has passed since the last poll. A chain of callbacks
/// (each scheduling the next) would otherwise pay a syscall per iteration for nothing; I/O that
/// arrives meanwhile is seen at most this much later, as if the kernel had delivered it later,
/// so asyncio's order within an iteration (ready callbacks, then due timers) is unchanged.
const poll_interval_ns = 50 * std.time.ns_per_us;

/// Per-environment state: every worker thread that loads the addon gets its own.
pub const EnvState = struct {
    uv_loop: *uv.Loop,
    /// Reactors whose uv handle is not yet closed; tests read it to prove nothing leaks.
    reactors_open: u32 = 0,
    /// Set by testFailNextCreate(): the next create() fails once its uv handle exists, so a
    /// test can walk the error path that must release every fd exactly once.
    fail_next_create: bool = false,
    /// Set by testFailNextSetReading(errno): the next setReading() returns -errno without
    /// touching epoll, so tests can reach the JS handling of a watch that cannot be changed.
    fail_next_set_reading: u16 = 0,
    /// writeString() encodes a JS string here before the reactor sends it (or queues a copy of
    /// what is left); it grows to the largest string written on this thread.
    string_scratch: []u8 = &.{},
};

/// The monotonic clock in ns (clock_gettime through the vDSO: no syscall on Linux).
fn monotonicNs() u64 {
    var now: std.posix.timespec = undefined;
    std.posix.clock_gettime(std.posix.CLOCK.MONOTONIC, &now) catch return 0;
    return @as(u64, @intCast(now.sec)) * std.time.ns_per_s + @as(u64, @intCast(now.nsec));
}

pub const BoundReactor = struct {
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
    /// The async context every batch runs in (napi_async_init): Node documents a null context
    /// as "incorrect operation of async hooks", which AsyncLocalStorage (currentTask) relies on.
    async_context: c.napi_async_context = null,
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
        var last_poll = monotonicNs();
        var polled_now = true;
        while (true) {
            control[header.work_pending] = 0;
            const count = if (polled_now) self.reactor.collect(self.shared, self.receive_buffer) else 0;
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
            const now = monotonicNs();
            polled_now = now -% last_poll >= poll_interval_ns;
            if (polled_now) last_poll = now;
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
        const status = c.napi_make_callback(env, self.async_context, receiver, callback, 1, &argv, &result);
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
    if (self.async_context != null) _ = c.napi_async_destroy(self.env, self.async_context);
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
pub fn create(env: napi.Env, info: c.napi_callback_info) !napi.Value {
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
    var resource_name: napi.Value = null;
    try napi.check(env, c.napi_create_string_utf8(env, "zloop.reactor", 13, &resource_name));
    try napi.check(env, c.napi_async_init(env, null, resource_name, &self.async_context));

    var result: napi.Value = null;
    try napi.check(env, c.napi_create_external(env, self, onExternalFinalized, null, &result));
    return result;
}

/// testFailNextCreate(): the next create() on this thread fails after its uv handle exists.
pub fn testFailNextCreate(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    _ = try napi.args(0, env, info);
    (try envState(env)).fail_next_create = true;
    return napi.undefinedValue(env);
}

/// testFailNextSetReading(errno): the next setReading() on this thread returns -errno.
pub fn testFailNextSetReading(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(1, env, info);
    const errno = try napi.int32(env, argv[0], "errno");
    if (errno <= 0 or errno > std.math.maxInt(u16)) return napi.throwType(env, "errno must be a positive errno number");
    (try envState(env)).fail_next_set_reading = @intCast(errno);
    return napi.undefinedValue(env);
}

/// setReceiveBuffer(reactor, buffer): the reactor reads into `buffer` from the next collect on
/// (JS hands views of the old one to protocols, so it replaces a full buffer, never reuses it).
pub fn setReceiveBuffer(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try openReactor(env, argv[0]);
    const bytes = try napi.bytes(env, argv[1], "receiveBuffer");
    if (bytes.len == 0) return napi.throwType(env, "receiveBuffer must not be empty");
    var ref: c.napi_ref = null;
    // As strong as the other references: strong while polling (holdJsObjects).
    try napi.check(env, c.napi_create_reference(env, argv[1], if (self.state == .polling) 1 else 0, &ref));
    _ = c.napi_delete_reference(env, self.receive_ref);
    self.receive_ref = ref;
    self.receive_buffer = bytes;
    return napi.undefinedValue(env);
}

/// start(reactor): watch the reactor's fd from libuv (this keeps the process alive).
pub fn start(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const self = try openReactor(env, (try napi.args(1, env, info))[0]);
    const rc = self.startPolling();
    if (rc != 0) return napi.throwErrno(env, @intCast(-rc), "uv_poll_start");
    return napi.undefinedValue(env);
}

/// stop(reactor): stop watching; a stopped reactor holds nothing that keeps the process alive.
pub fn stop(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const self = try openReactor(env, (try napi.args(1, env, info))[0]);
    self.stopPolling();
    return napi.undefinedValue(env);
}

/// keepAlive(reactor, keep): whether the polling reactor keeps the process (the thread's libuv
/// loop) alive. On by default; an unref'd reactor still dispatches while something else runs.
pub fn keepAlive(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const argv = try napi.args(2, env, info);
    const self = try openReactor(env, argv[0]);
    var keep = false;
    try napi.check(env, c.napi_get_value_bool(env, argv[1], &keep));
    if (keep) uv.uv_ref(self.poll_handle) else uv.uv_unref(self.poll_handle);
    return napi.undefinedValue(env);
}

/// close(reactor): idempotent; fds are closed once libuv has released the poll handle.
pub fn close(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const self = try napi.external(env, (try napi.args(1, env, info))[0], BoundReactor);
    self.beginClose();
    return napi.undefinedValue(env);
}

/// wake(reactor): make the reactor's next libuv turn dispatch a batch.
pub fn wake(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    const self = try openReactor(env, (try napi.args(1, env, info))[0]);
    self.reactor.poller.wake();
    return napi.undefinedValue(env);
}

/// armTimer(reactor, delayMs): fire once after delayMs milliseconds; a negative delay disarms.
pub fn armTimer(env: napi.Env, info: c.napi_callback_info) !napi.Value {
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

/// reactorsOpen(): how many reactors of this environment still hold fds (for leak checks).
pub fn reactorsOpen(env: napi.Env, info: c.napi_callback_info) !napi.Value {
    _ = info;
    return napi.number(env, @floatFromInt((try envState(env)).reactors_open));
}

pub fn openReactor(env: napi.Env, value: napi.Value) !*BoundReactor {
    const self = try napi.external(env, value, BoundReactor);
    if (self.state == .closing) {
        _ = c.napi_throw_error(env, "ERR_ZLOOP_CLOSED", "Event loop is closed");
        return error.Thrown;
    }
    return self;
}

pub fn envState(env: napi.Env) !*EnvState {
    var data: ?*anyopaque = null;
    try napi.check(env, c.napi_get_instance_data(env, &data));
    return @ptrCast(@alignCast(data.?));
}

pub fn freeEnvState(env: napi.Env, data: ?*anyopaque, hint: ?*anyopaque) callconv(.C) void {
    _ = env;
    _ = hint;
    const state: *EnvState = @ptrCast(@alignCast(data.?));
    allocator.free(state.string_scratch);
    allocator.destroy(state);
}

//! The seven libuv functions the binding needs, declared by hand: node-api-headers does not ship
//! uv.h, and these signatures have been stable since libuv 1.0. Node exports the symbols.
pub const Loop = opaque {};
/// A uv_poll_t. Its size comes from uv_handle_size at run time, so the layout never matters here
/// except for the first field, `void* data`, which every libuv handle starts with.
pub const PollHandle = opaque {};

pub const handle_type_poll: c_int = 8; // UV_POLL in uv_handle_type
pub const readable: c_int = 1; // UV_READABLE

pub const PollCallback = *const fn (*PollHandle, status: c_int, events: c_int) callconv(.C) void;
pub const CloseCallback = *const fn (*PollHandle) callconv(.C) void;

pub extern fn uv_handle_size(handle_type: c_int) usize;
pub extern fn uv_poll_init(loop: *Loop, handle: *PollHandle, fd: c_int) c_int;
pub extern fn uv_poll_start(handle: *PollHandle, events: c_int, callback: PollCallback) c_int;
pub extern fn uv_poll_stop(handle: *PollHandle) c_int;
pub extern fn uv_close(handle: *PollHandle, callback: ?CloseCallback) void;
/// A ref'd active handle keeps uv_run going (the process alive); an unref'd one does not.
pub extern fn uv_ref(handle: *PollHandle) void;
pub extern fn uv_unref(handle: *PollHandle) void;

pub fn setData(handle: *PollHandle, data: *anyopaque) void {
    const slot: **anyopaque = @ptrCast(@alignCast(handle));
    slot.* = data;
}

pub fn getData(handle: *PollHandle) *anyopaque {
    const slot: **anyopaque = @ptrCast(@alignCast(handle));
    return slot.*;
}

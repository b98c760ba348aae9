//! Small helpers over raw N-API: the C import, argument extraction, and errors in Node's shape.
const std = @import("std");

pub const c = @cImport({
    @cDefine("NAPI_VERSION", "9");
    @cInclude("node_api.h");
});

pub const Env = c.napi_env;
pub const Value = c.napi_value;

/// Raised inside the binding after a JS exception has been set; the caller returns null.
pub const Thrown = error{Thrown};

pub fn check(env: Env, status: c.napi_status) Thrown!void {
    if (status == c.napi_ok) return;
    var pending = false;
    _ = c.napi_is_exception_pending(env, &pending);
    if (!pending) _ = c.napi_throw_error(env, "ERR_ZLOOP_NAPI", "N-API call failed");
    return error.Thrown;
}

pub fn throwType(env: Env, message: [:0]const u8) Thrown {
    _ = c.napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message.ptr);
    return error.Thrown;
}

pub fn args(comptime count: usize, env: Env, info: c.napi_callback_info) Thrown![count]Value {
    var argv: [count]Value = undefined;
    var argc: usize = count;
    try check(env, c.napi_get_cb_info(env, info, &argc, &argv, null, null));
    if (argc < count) return throwType(env, "zloop native: too few arguments");
    return argv;
}

pub fn int32(env: Env, value: Value, comptime name: []const u8) Thrown!i32 {
    var result: i32 = 0;
    if (c.napi_get_value_int32(env, value, &result) != c.napi_ok) return throwType(env, name ++ " must be a number");
    return result;
}

pub fn double(env: Env, value: Value, comptime name: []const u8) Thrown!f64 {
    var result: f64 = 0;
    if (c.napi_get_value_double(env, value, &result) != c.napi_ok) return throwType(env, name ++ " must be a number");
    return result;
}

pub fn external(env: Env, value: Value, comptime T: type) Thrown!*T {
    var data: ?*anyopaque = null;
    if (c.napi_get_value_external(env, value, &data) != c.napi_ok or data == null) {
        return throwType(env, "zloop native: expected a reactor handle");
    }
    return @ptrCast(@alignCast(data.?));
}

/// The bytes of any TypedArray or DataView (a Buffer included), without copying.
pub fn bytes(env: Env, value: Value, comptime name: []const u8) Thrown![]u8 {
    var is_typed_array = false;
    _ = c.napi_is_typedarray(env, value, &is_typed_array);
    if (is_typed_array) {
        var array_type: c.napi_typedarray_type = undefined;
        var length: usize = 0;
        var data: ?*anyopaque = null;
        try check(env, c.napi_get_typedarray_info(env, value, &array_type, &length, &data, null, null));
        const element_size: usize = switch (array_type) {
            c.napi_int8_array, c.napi_uint8_array, c.napi_uint8_clamped_array => 1,
            c.napi_int16_array, c.napi_uint16_array => 2,
            c.napi_int32_array, c.napi_uint32_array, c.napi_float32_array => 4,
            else => 8,
        };
        if (length == 0) return &.{};
        return @as([*]u8, @ptrCast(data.?))[0 .. length * element_size];
    }
    var is_data_view = false;
    _ = c.napi_is_dataview(env, value, &is_data_view);
    if (is_data_view) {
        var length: usize = 0;
        var data: ?*anyopaque = null;
        try check(env, c.napi_get_dataview_info(env, value, &length, &data, null, null));
        if (length == 0) return &.{};
        return @as([*]u8, @ptrCast(data.?))[0..length];
    }
    return throwType(env, name ++ " must be a Uint8Array");
}

/// A JS string copied into `buffer` (UTF-8); too long a string is a TypeError.
pub fn string(env: Env, value: Value, buffer: []u8, comptime name: []const u8) Thrown![]const u8 {
    var length: usize = 0;
    if (c.napi_get_value_string_utf8(env, value, buffer.ptr, buffer.len, &length) != c.napi_ok) {
        return throwType(env, name ++ " must be a string");
    }
    if (length + 1 >= buffer.len) return throwType(env, name ++ " is too long");
    return buffer[0..length];
}

pub fn number(env: Env, value: f64) Thrown!Value {
    var result: Value = null;
    try check(env, c.napi_create_double(env, value, &result));
    return result;
}

pub fn undefinedValue(env: Env) Value {
    var result: Value = null;
    _ = c.napi_get_undefined(env, &result);
    return result;
}

/// Throws an Error shaped like Node's system errors: message "syscall ECODE", with `code`,
/// negative `errno` (as libuv reports it) and `syscall` properties.
pub fn throwErrno(env: Env, errno: u32, comptime syscall: []const u8) Thrown {
    const name = @tagName(@as(std.posix.E, @enumFromInt(errno)));
    var code_buffer: [32]u8 = undefined;
    const code = std.fmt.bufPrintZ(&code_buffer, "E{s}", .{name}) catch "EUNKNOWN";
    var message_buffer: [96]u8 = undefined;
    const message = std.fmt.bufPrintZ(&message_buffer, syscall ++ " {s}", .{code}) catch syscall;

    var error_value: Value = null;
    var code_value: Value = null;
    var message_value: Value = null;
    _ = c.napi_create_string_utf8(env, code.ptr, code.len, &code_value);
    _ = c.napi_create_string_utf8(env, message.ptr, message.len, &message_value);
    _ = c.napi_create_error(env, code_value, message_value, &error_value);
    setProperty(env, error_value, "errno", number(env, -@as(f64, @floatFromInt(errno))) catch null);
    var syscall_value: Value = null;
    _ = c.napi_create_string_utf8(env, syscall.ptr, syscall.len, &syscall_value);
    setProperty(env, error_value, "syscall", syscall_value);
    _ = c.napi_throw(env, error_value);
    return error.Thrown;
}

fn setProperty(env: Env, object: Value, comptime name: [:0]const u8, value: Value) void {
    if (value == null) return;
    _ = c.napi_set_named_property(env, object, name.ptr, value);
}

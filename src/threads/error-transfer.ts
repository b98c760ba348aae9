// Errors that cross threads keep their shape. comlink's own 'throw' handler carries only name,
// message and stack, so EADDRINUSE from a shard arrived without code, errno, syscall, address
// and port, and a TypeError as a plain Error. This handler carries the class (the built-in error
// classes by name), message, stack, Node's system fields, any other own primitive property, and
// `cause`, and is installed on both ends: the supervisor and every shard.
import { transferHandlers, type TransferHandler } from 'comlink';

const BUILT_IN_CLASSES: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** Read whether own and enumerable or not (Node defines some of them as getters). */
const SYSTEM_FIELDS = ['code', 'errno', 'syscall', 'address', 'port', 'path', 'dest'] as const;

/** How deep a chain of causes is carried; deeper ones are cut, not looped on. */
const CAUSE_DEPTH_MAX = 8;

export type SerializedError = {
  className: string;
  name: string;
  message: string;
  stack: string | undefined;
  fields: Record<string, string | number | boolean | null>;
  cause?: SerializedError | { value: unknown };
};

export function serializeError(error: Error, depth = 0): SerializedError {
  const fields: SerializedError['fields'] = {};
  const copy = (key: string, value: unknown): void => {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) fields[key] = value as string | number | boolean | null;
  };
  for (const key of Object.keys(error)) copy(key, (error as unknown as Record<string, unknown>)[key]);
  for (const key of SYSTEM_FIELDS) if (key in error) copy(key, (error as unknown as Record<string, unknown>)[key]);
  delete fields.name;
  delete fields.message;
  delete fields.stack;
  const serialized: SerializedError = {
    className: builtInClassOf(error),
    name: error.name,
    message: error.message,
    stack: error.stack,
    fields,
  };
  if ('cause' in error && depth < CAUSE_DEPTH_MAX) {
    const cause = error.cause;
    serialized.cause = cause instanceof Error ? serializeError(cause, depth + 1) : { value: cloneable(cause) };
  }
  return serialized;
}

export function deserializeError(serialized: SerializedError): Error {
  const ErrorClass = BUILT_IN_CLASSES[serialized.className] ?? Error;
  const error = new ErrorClass(serialized.message);
  if (error.name !== serialized.name) {
    Object.defineProperty(error, 'name', { value: serialized.name, writable: true, configurable: true, enumerable: false });
  }
  Object.defineProperty(error, 'stack', { value: serialized.stack, writable: true, configurable: true, enumerable: false });
  Object.assign(error, serialized.fields);
  if (serialized.cause !== undefined) {
    const cause = 'className' in serialized.cause ? deserializeError(serialized.cause) : serialized.cause.value;
    Object.defineProperty(error, 'cause', { value: cause, writable: true, configurable: true, enumerable: false });
  }
  return error;
}

/** The nearest built-in class in the error's prototype chain (a subclass travels as its base). */
function builtInClassOf(error: Error): string {
  for (let proto = Object.getPrototypeOf(error); proto !== null; proto = Object.getPrototypeOf(proto)) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name;
    if (name !== undefined && BUILT_IN_CLASSES[name] === proto.constructor) return name;
  }
  return 'Error';
}

function cloneable(value: unknown): unknown {
  try {
    return structuredClone(value);
  } catch {
    return String(value);
  }
}

type Thrown = { value: unknown };
type SerializedThrow = { isError: true; value: SerializedError } | { isError: false; value: unknown };

let installed = false;

/** Replaces comlink's 'throw' handler in this thread (idempotent). */
export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  const original = transferHandlers.get('throw')!;
  const handler: TransferHandler<Thrown, SerializedThrow> = {
    canHandle: (value: unknown): value is Thrown => original.canHandle(value),
    serialize({ value }) {
      const serialized: SerializedThrow = value instanceof Error ? { isError: true, value: serializeError(value) } : { isError: false, value };
      return [serialized, []];
    },
    deserialize(serialized) {
      throw serialized.isError ? deserializeError(serialized.value) : serialized.value;
    },
  };
  transferHandlers.set('throw', handler as TransferHandler<unknown, unknown>);
}

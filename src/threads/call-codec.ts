// The wire format of a cross-thread call: [name, args] in a compact form that is several times
// cheaper than v8.serialize for the common arguments (numbers, strings, booleans, null,
// undefined); any other argument is structured-cloned with v8.serialize inside the message.
// Names repeat, so both directions cache them.
//
//   u16 name length, name (UTF-8), u8 argument count, then per argument a tag and its bytes.
import { deserialize, serialize } from 'node:v8';
import { argRangeError } from '../core/validate.js';

const enum Tag {
  Undefined = 0,
  Null = 1,
  False = 2,
  True = 3,
  Int32 = 4,
  Float64 = 5,
  String = 6,
  Cloned = 7,
}

const MAX_ARGS = 255;

/** Names seen this many times are cached in encoded form; callers use a handful of names. */
const NAME_CACHE_MAX = 1024;

/**
 * Appends encoded calls to one growing buffer, each as (u32 little-endian length, message): the
 * layout the native mailbox's pushMany takes. Bytes [start, length) are waiting to be sent.
 */
export class CallWriter {
  buffer = Buffer.allocUnsafeSlow(64 * 1024);
  start = 0;
  length = 0;
  readonly #names = new Map<string, Buffer>();

  /** Appends one call; a call that encodes to more than `maxBytes` is refused and leaves no trace. */
  append(name: string, args: unknown[], maxBytes = Infinity): void {
    if (args.length > MAX_ARGS) throw argRangeError(`a cross-thread call takes at most ${MAX_ARGS} arguments`);
    const encodedName = this.#encodedName(name);
    if (this.start > this.buffer.length / 2) this.#compact();
    const begin = this.length;
    this.#reserve(begin + 7 + encodedName.length);
    const buffer = this.buffer;
    buffer.writeUInt16LE(encodedName.length, begin + 4);
    // Names are short: a byte loop beats Buffer#copy's call overhead.
    for (let index = 0; index < encodedName.length; index++) buffer[begin + 6 + index] = encodedName[index]!;
    let offset = begin + 6 + encodedName.length;
    buffer[offset++] = args.length;
    for (let index = 0; index < args.length; index++) offset = this.#encodeArg(args[index], offset);
    // Checked after encoding, before `length` moves: the partial call is simply not kept.
    if (offset - begin - 4 > maxBytes) {
      throw Object.assign(new RangeError(`a cross-thread call may encode to at most ${maxBytes} bytes; this one takes ${offset - begin - 4}`), {
        code: 'ERR_OUT_OF_RANGE',
      });
    }
    this.buffer.writeUInt32LE(offset - begin - 4, begin);
    this.length = offset;
  }

  /** Marks `bytes` more as sent; the buffer is rewound once everything was. */
  consumed(bytes: number): void {
    this.start += bytes;
    if (this.start === this.length) {
      this.start = 0;
      this.length = 0;
    }
  }

  get pending(): number {
    return this.length - this.start;
  }

  #encodedName(name: string): Buffer {
    let encoded = this.#names.get(name);
    if (encoded === undefined) {
      encoded = Buffer.from(name, 'utf8');
      if (encoded.length > 0xffff) throw argRangeError('name is too long');
      if (this.#names.size < NAME_CACHE_MAX) this.#names.set(name, encoded);
    }
    return encoded;
  }

  #encodeArg(arg: unknown, offset: number): number {
    switch (typeof arg) {
      case 'number':
        if ((arg | 0) === arg && !Object.is(arg, -0)) {
          this.#reserve(offset + 5);
          this.buffer[offset] = Tag.Int32;
          this.buffer.writeInt32LE(arg, offset + 1);
          return offset + 5;
        }
        this.#reserve(offset + 9);
        this.buffer[offset] = Tag.Float64;
        this.buffer.writeDoubleLE(arg, offset + 1);
        return offset + 9;
      case 'string': {
        this.#reserve(offset + 5 + 3 * arg.length);
        this.buffer[offset] = Tag.String;
        const length = this.buffer.write(arg, offset + 5, 'utf8');
        this.buffer.writeUInt32LE(length, offset + 1);
        return offset + 5 + length;
      }
      case 'boolean':
        this.#reserve(offset + 1);
        this.buffer[offset] = arg ? Tag.True : Tag.False;
        return offset + 1;
      case 'undefined':
        this.#reserve(offset + 1);
        this.buffer[offset] = Tag.Undefined;
        return offset + 1;
      default: {
        if (arg === null) {
          this.#reserve(offset + 1);
          this.buffer[offset] = Tag.Null;
          return offset + 1;
        }
        const cloned = serialize(arg);
        this.#reserve(offset + 5 + cloned.length);
        this.buffer[offset] = Tag.Cloned;
        this.buffer.writeUInt32LE(cloned.length, offset + 1);
        cloned.copy(this.buffer, offset + 5);
        return offset + 5 + cloned.length;
      }
    }
  }

  /** Grows the buffer to hold `bytes` bytes (offsets into it stay valid). */
  #reserve(bytes: number): void {
    if (bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(bytes, 2 * this.buffer.length));
    this.buffer.copy(grown); // all of it: the call being appended lies past `length`
    this.buffer = grown;
  }

  /** Moves the unsent bytes to the front; only between appends, when no offset is held. */
  #compact(): void {
    this.buffer.copy(this.buffer, 0, this.start, this.length);
    this.length -= this.start;
    this.start = 0;
  }
}

/** Decoded names by their bytes' hash, so a repeated name costs a compare, not a UTF-8 decode. */
const decodedNames = new Map<number, { bytes: Buffer; name: string }>();

function decodeName(bytes: Buffer, start: number, length: number): string {
  let hash = length;
  for (let index = 0; index < length; index++) hash = (Math.imul(hash, 31) + bytes[start + index]!) | 0;
  const cached = decodedNames.get(hash);
  if (cached !== undefined && cached.bytes.length === length) {
    let same = true;
    for (let index = 0; index < length && same; index++) same = cached.bytes[index] === bytes[start + index];
    if (same) return cached.name;
  }
  const name = bytes.toString('utf8', start, start + length);
  if (decodedNames.size < NAME_CACHE_MAX) decodedNames.set(hash, { bytes: Buffer.from(bytes.subarray(start, start + length)), name });
  return name;
}

/** Decodes one call from `bytes[start, end)`. */
export function decodeCall(bytes: Buffer, start: number, end: number): [name: string, args: unknown[]] {
  const nameLength = bytes.readUInt16LE(start);
  let offset = start + 2;
  const name = decodeName(bytes, offset, nameLength);
  offset += nameLength;
  const count = bytes[offset++]!;
  const args = new Array<unknown>(count);
  for (let index = 0; index < count; index++) {
    const tag = bytes[offset++]!;
    switch (tag) {
      case Tag.Undefined:
        args[index] = undefined;
        break;
      case Tag.Null:
        args[index] = null;
        break;
      case Tag.False:
        args[index] = false;
        break;
      case Tag.True:
        args[index] = true;
        break;
      case Tag.Int32:
        args[index] = bytes.readInt32LE(offset);
        offset += 4;
        break;
      case Tag.Float64:
        args[index] = bytes.readDoubleLE(offset);
        offset += 8;
        break;
      case Tag.String: {
        const length = bytes.readUInt32LE(offset);
        args[index] = bytes.toString('utf8', offset + 4, offset + 4 + length);
        offset += 4 + length;
        break;
      }
      case Tag.Cloned: {
        const length = bytes.readUInt32LE(offset);
        args[index] = deserialize(bytes.subarray(offset + 4, offset + 4 + length));
        offset += 4 + length;
        break;
      }
      default:
        throw new Error(`corrupt cross-thread call: tag ${tag}`);
    }
  }
  if (offset !== end) throw new Error('corrupt cross-thread call: length mismatch');
  return [name, args];
}

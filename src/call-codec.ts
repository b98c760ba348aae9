// The wire format of a cross-thread call: [name, args] in a compact form that is several times
// cheaper than v8.serialize for the common arguments (numbers, strings, booleans, null,
// undefined); any other argument is structured-cloned with v8.serialize inside the message.
//
//   u16 name length, name (UTF-8), u8 argument count, then per argument a tag and its bytes.
import { deserialize, serialize } from 'node:v8';

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
 * Encodes into one reused scratch buffer: encode() returns the length, and the bytes are
 * `scratch[0, length)` until the next encode. No per-call view or name encoding is allocated.
 */
export class CallEncoder {
  scratch = Buffer.allocUnsafeSlow(64 * 1024);
  readonly #names = new Map<string, Buffer>();

  encode(name: string, args: unknown[]): number {
    if (args.length > MAX_ARGS) throw new RangeError(`a cross-thread call takes at most ${MAX_ARGS} arguments`);
    const encodedName = this.#encodedName(name);
    this.#reserve(3 + encodedName.length);
    const scratch = this.scratch;
    scratch.writeUInt16LE(encodedName.length, 0);
    encodedName.copy(scratch, 2);
    let offset = 2 + encodedName.length;
    scratch[offset++] = args.length;
    for (let index = 0; index < args.length; index++) offset = this.#encodeArg(args[index], offset);
    return offset;
  }

  #encodedName(name: string): Buffer {
    let encoded = this.#names.get(name);
    if (encoded === undefined) {
      encoded = Buffer.from(name, 'utf8');
      if (encoded.length > 0xffff) throw new RangeError('name is too long');
      if (this.#names.size < NAME_CACHE_MAX) this.#names.set(name, encoded);
    }
    return encoded;
  }

  #encodeArg(arg: unknown, offset: number): number {
    switch (typeof arg) {
      case 'number':
        if ((arg | 0) === arg && !Object.is(arg, -0)) {
          this.#reserve(offset + 5);
          this.scratch[offset] = Tag.Int32;
          this.scratch.writeInt32LE(arg, offset + 1);
          return offset + 5;
        }
        this.#reserve(offset + 9);
        this.scratch[offset] = Tag.Float64;
        this.scratch.writeDoubleLE(arg, offset + 1);
        return offset + 9;
      case 'string': {
        this.#reserve(offset + 5 + 3 * arg.length);
        this.scratch[offset] = Tag.String;
        const length = this.scratch.write(arg, offset + 5, 'utf8');
        this.scratch.writeUInt32LE(length, offset + 1);
        return offset + 5 + length;
      }
      case 'boolean':
        this.#reserve(offset + 1);
        this.scratch[offset] = arg ? Tag.True : Tag.False;
        return offset + 1;
      case 'undefined':
        this.#reserve(offset + 1);
        this.scratch[offset] = Tag.Undefined;
        return offset + 1;
      default: {
        if (arg === null) {
          this.#reserve(offset + 1);
          this.scratch[offset] = Tag.Null;
          return offset + 1;
        }
        const cloned = serialize(arg);
        this.#reserve(offset + 5 + cloned.length);
        this.scratch[offset] = Tag.Cloned;
        this.scratch.writeUInt32LE(cloned.length, offset + 1);
        cloned.copy(this.scratch, offset + 5);
        return offset + 5 + cloned.length;
      }
    }
  }

  #reserve(bytes: number): void {
    if (bytes <= this.scratch.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(bytes, 2 * this.scratch.length));
    this.scratch.copy(grown);
    this.scratch = grown;
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

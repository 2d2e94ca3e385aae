// Byte and text encodings of the accountd protocol (protocol/SPEC.md §0):
// strict base64, hex, big-endian integers, and a JSON parser that refuses
// what JSON.parse silently accepts (repeated member names).

import { ProtocolError } from './errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 bytes of a string. */
export function utf8(s) {
  return encoder.encode(s);
}

/** The string of UTF-8 bytes; invalid UTF-8 throws. */
export function fromUTF8(b) {
  return decoder.decode(b);
}

/** Concatenates byte arrays. */
export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** n as 4 big-endian bytes. */
export function u32be(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** Lower-case hex of bytes. */
export function toHex(b) {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** Bytes of a hex string. */
export function fromHex(s) {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new TypeError('invalid hex');
  const b = new Uint8Array(s.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return b;
}

/** Standard base64 with padding. */
export function toBase64(b) {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes base64 exactly as SPEC.md §0 allows: the standard alphabet, `=`
 * padding, no line breaks or spaces, and zero bits after the last byte (so
 * that every byte string has one encoding). Anything else returns null.
 */
export function fromBase64(s) {
  if (typeof s !== 'string' || !B64.test(s)) return null;
  const bin = atob(s);
  const b = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
  if (toBase64(b) !== s) return null; // non-zero trailing bits
  return b;
}

/** Unpadded standard base64, as fingerprints use. */
export function toBase64Raw(b) {
  return toBase64(b).replace(/=+$/, '');
}

/** Constant-time equality of two byte arrays of public length. */
export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/**
 * Symbol under which a parsed object lists its members whose number was
 * not written as plain digits (SPEC.md §0: integers have no fraction,
 * exponent or sign).
 */
export const NOT_PLAIN = Symbol('accountd.notPlainInteger');

/**
 * Parses one JSON document (RFC 8259) and refuses a repeated member name
 * in any object, which JSON.parse would silently resolve to the last one.
 * Throws SyntaxError with an offset, never echoing the input.
 */
export function parseJSON(text) {
  let i = 0;
  const n = text.length;
  const fail = (what) => {
    throw new SyntaxError(`${what} at offset ${i}`);
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const str = () => {
    const start = i++;
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail('control character in string');
      i += c === 0x5c ? 2 : 1;
    }
    i++;
    try {
      return JSON.parse(text.slice(start, i));
    } catch {
      i = start;
      return fail('invalid string');
    }
  };
  const NUM = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
  const value = (depth) => {
    if (depth > 64) fail('nesting too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = {};
      const seen = new Set();
      let notPlain = null;
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected member name');
        const key = str();
        if (seen.has(key)) {
          throw new SyntaxError(`duplicate member ${JSON.stringify(key.slice(0, 32))}`);
        }
        seen.add(key);
        ws();
        if (text[i] !== ':') fail('expected colon');
        i++;
        ws();
        const isNum = /[-0-9]/.test(text[i] ?? '');
        const at = i;
        const v = value(depth + 1);
        if (isNum && !/^[0-9]+$/.test(text.slice(at, i))) (notPlain ??= new Set()).add(key);
        Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          break;
        }
        fail('expected , or }');
      }
      if (notPlain) Object.defineProperty(obj, NOT_PLAIN, { value: notPlain });
      return obj;
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail('expected , or ]');
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    NUM.lastIndex = i;
    const m = NUM.exec(text);
    if (m) {
      i += m[0].length;
      return Number(m[0]);
    }
    return fail('invalid JSON');
  };
  const v = value(0);
  ws();
  if (i !== n) fail('trailing data');
  return v;
}

/** Whether v is a plain (non-array, non-null) object. */
export function isObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks that obj.key is an integer written as plain digits within
 * [min, max]; absent or null gives undefined.
 */
export function plainInteger(obj, key, min, max) {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || obj[NOT_PLAIN]?.has(key) || !Number.isSafeInteger(v) || v < min || v > max) return NaN;
  return v;
}

/**
 * Parses a handshake frame: a JSON object of exactly the allowed member
 * names (each at most once), the expected type, base64 members decoded.
 * A kind ending in "?" ("b64?", "int?") is an optional member, undefined
 * when absent.
 * Any problem throws ProtocolError('malformed').
 */
export function parseFrame(text, type, members, maxBytes) {
  if (typeof text !== 'string') throw new ProtocolError('malformed', `${type}: not a text frame`);
  if (utf8(text).length > maxBytes) throw new ProtocolError('malformed', `${type}: frame too large`);
  let obj;
  try {
    obj = parseJSON(text);
  } catch (e) {
    throw new ProtocolError('malformed', `${type}: ${e.message}`);
  }
  if (!isObject(obj)) throw new ProtocolError('malformed', `${type}: not an object`);
  for (const k of Object.keys(obj)) {
    if (!(k in members)) throw new ProtocolError('malformed', `${type}: unknown member ${JSON.stringify(k.slice(0, 32))}`);
  }
  if (obj.type !== type) throw new ProtocolError('malformed', `expected a ${type} frame`);
  const out = {};
  for (const [k, kind] of Object.entries(members)) {
    const v = obj[k];
    if (kind.endsWith('?')) {
      // Optional: undefined when absent or null, otherwise checked as
      // the kind (an empty string or a zero is present).
      if (v === undefined || v === null) {
        out[k] = undefined;
        continue;
      }
      if (kind === 'int?') {
        const x = plainInteger(obj, k, 0, Number.MAX_SAFE_INTEGER);
        if (Number.isNaN(x)) throw new ProtocolError('malformed', `${type}: ${k} must be an integer`);
        out[k] = x;
      } else {
        const b = fromBase64(v);
        if (b === null) throw new ProtocolError('malformed', `${type}: ${k} must be base64`);
        out[k] = b;
      }
      continue;
    }
    if (kind === 'int') {
      // Absent and null mean the zero value, as in the Go implementation.
      const x = plainInteger(obj, k, 0, Number.MAX_SAFE_INTEGER) ?? 0;
      if (Number.isNaN(x)) throw new ProtocolError('malformed', `${type}: ${k} must be an integer`);
      out[k] = x;
    } else if (kind === 'b64') {
      const b = v === undefined || v === null ? new Uint8Array(0) : fromBase64(v);
      if (b === null) throw new ProtocolError('malformed', `${type}: ${k} must be base64`);
      out[k] = b;
    } else {
      out[k] = v;
    }
  }
  return out;
}

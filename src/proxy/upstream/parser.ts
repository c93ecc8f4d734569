// Incremental HTTP/1.1 response parser: status line and fields, then the body framed by
// Content-Length, chunked coding or connection close. Strict on purpose — an upstream that frames a
// response ambiguously (CL+TE, bad lengths, bare LF, obs-fold) is refused rather than guessed at, since a
// misread boundary on a reused connection would hand one response's bytes to the next request.
//
// Input buffers are not copied: body chunks are views (subarray) into them, and an incomplete head is
// kept by reference. Callers must hand in buffers they will not modify afterwards (Bun's socket `data`
// callback gives a fresh Buffer per read, so that holds).

import { ParseError } from "./errors.ts";

/** How the body of a response is delimited. */
export const FRAMING_NONE = 0;
export const FRAMING_LENGTH = 1;
export const FRAMING_CHUNKED = 2;
export const FRAMING_CLOSE = 3;
export type Framing = typeof FRAMING_NONE | typeof FRAMING_LENGTH | typeof FRAMING_CHUNKED | typeof FRAMING_CLOSE;

export interface ParserLimits {
  /** Status line + fields + the blank line, per head (interim heads count separately). */
  maxHeaderBytes: number;
  maxHeaderCount: number;
  /** One chunk-size line including extensions. */
  maxChunkLineBytes: number;
  /** All trailer fields of one message. */
  maxTrailerBytes: number;
}

export const DEFAULT_LIMITS: Readonly<ParserLimits> = {
  maxHeaderBytes: 32 * 1024,
  maxHeaderCount: 256,
  maxChunkLineBytes: 4096,
  maxTrailerBytes: 16 * 1024,
};

export interface ResponseHead {
  status: number;
  reason: string;
  /** Flat [name, value, name, value, …] in arrival order, names as received; repeated fields stay separate. Transfer-Encoding is left out (the parser removed that coding). */
  fields: string[];
  /** The server lets us send another request on this connection afterwards. */
  keepAlive: boolean;
  framing: Framing;
  /** Body length for FRAMING_LENGTH, else -1. */
  contentLength: number;
}

export interface ResponseSink {
  /** The final (non-1xx) head; called once per response. */
  onHead(head: ResponseHead): void;
  /** A piece of the decoded body: a view into the input buffer. */
  onBody(chunk: Buffer): void;
}

const S_HEAD = 0;
const S_LENGTH = 1;
const S_CHUNK_SIZE = 2;
const S_CHUNK_BWS = 3;
const S_CHUNK_EXT = 4;
const S_CHUNK_SIZE_LF = 5;
const S_CHUNK_DATA = 6;
const S_CHUNK_DATA_CR = 7;
const S_CHUNK_DATA_LF = 8;
const S_TRAILER_START = 9;
const S_TRAILER_LINE = 10;
const S_TRAILER_LINE_LF = 11;
const S_TRAILER_END_LF = 12;
const S_CLOSE = 13;
const S_DONE = 14;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const SEMI = 0x3b;
const CRLFCRLF = Buffer.from("\r\n\r\n");
/** 2^44: far above any real chunk, and size*16+digit stays exact in a double. */
const MAX_CHUNK = 2 ** 44;
/** 15 decimal digits stay exact in a double. */
const MAX_CL_DIGITS = 15;

/** Hex digit value per byte, -1 otherwise. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[0x41 + i] = 10 + i;
  HEX[0x61 + i] = 10 + i;
}

/** RFC 9110 tchar, for field names. */
const TCHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  TCHAR[c] = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(ch) ? 1 : 0;
}

export class ResponseParser {
  private state = S_HEAD;
  /** Bytes of a head that has not ended yet (one buffer; concatenated as reads arrive). */
  private partial: Buffer | null = null;
  private remaining = 0;
  private lineBytes = 0;
  private digits = 0;
  private trailerBytes = 0;
  private expectBody = true;
  private sink: ResponseSink | null = null;
  /** Any byte of the current response (interim heads included) has arrived. */
  started = false;

  constructor(private readonly limits: Readonly<ParserLimits> = DEFAULT_LIMITS) {}

  /** Prepares for the response to a new request. `expectBody` is false for HEAD. */
  reset(sink: ResponseSink, expectBody: boolean): void {
    this.state = S_HEAD;
    this.partial = null;
    this.remaining = 0;
    this.lineBytes = 0;
    this.digits = 0;
    this.trailerBytes = 0;
    this.expectBody = expectBody;
    this.sink = sink;
    this.started = false;
  }

  /** The whole response, body included, has been parsed. */
  get done(): boolean {
    return this.state === S_DONE;
  }

  /** The final head has been parsed (the body may still be arriving). */
  get headDone(): boolean {
    return this.state !== S_HEAD;
  }

  /** The body runs until the connection closes. */
  get closeDelimited(): boolean {
    return this.state === S_CLOSE;
  }

  /**
   * Feeds bytes; returns how many belong to this response. Fewer than `buf.length` only when the
   * response ended inside `buf` (anything after it is not ours). Throws ParseError on a violation.
   */
  execute(buf: Buffer): number {
    const len = buf.length;
    if (len > 0) this.started = true;
    let off = 0;
    while (off < len) {
      switch (this.state) {
        case S_HEAD: {
          const next = this.head(buf, off);
          if (next < 0) return len;
          off = next;
          break;
        }
        case S_LENGTH:
        case S_CHUNK_DATA: {
          const avail = len - off;
          const take = avail < this.remaining ? avail : this.remaining;
          const chunk = buf.subarray(off, off + take);
          off += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = this.state === S_LENGTH ? S_DONE : S_CHUNK_DATA_CR;
          this.sink!.onBody(chunk);
          break;
        }
        case S_CLOSE: {
          this.sink!.onBody(off === 0 ? buf : buf.subarray(off));
          return len;
        }
        case S_CHUNK_SIZE: {
          while (off < len) {
            const c = buf[off++]!;
            if (++this.lineBytes > this.limits.maxChunkLineBytes) throw new ParseError("chunk_line_too_long");
            const d = HEX[c]!;
            if (d >= 0) {
              if (this.remaining >= MAX_CHUNK) throw new ParseError("chunk_too_large");
              this.remaining = this.remaining * 16 + d;
              this.digits++;
              continue;
            }
            if (this.digits === 0) throw new ParseError("bad_chunk", "chunk size expected");
            if (c === CR) this.state = S_CHUNK_SIZE_LF;
            else if (c === SEMI) this.state = S_CHUNK_EXT;
            else if (c === SP || c === HT) this.state = S_CHUNK_BWS;
            else throw new ParseError("bad_chunk", `byte 0x${c.toString(16)} in chunk size`);
            break;
          }
          break;
        }
        case S_CHUNK_BWS: {
          // Whitespace after the size is only allowed before an extension.
          while (off < len) {
            const c = buf[off++]!;
            if (++this.lineBytes > this.limits.maxChunkLineBytes) throw new ParseError("chunk_line_too_long");
            if (c === SP || c === HT) continue;
            if (c === SEMI) {
              this.state = S_CHUNK_EXT;
              break;
            }
            throw new ParseError("bad_chunk", "whitespace after chunk size");
          }
          break;
        }
        case S_CHUNK_EXT: {
          // Extensions are ignored, but must not hide line breaks or control bytes.
          while (off < len) {
            const c = buf[off++]!;
            if (++this.lineBytes > this.limits.maxChunkLineBytes) throw new ParseError("chunk_line_too_long");
            if (c === CR) {
              this.state = S_CHUNK_SIZE_LF;
              break;
            }
            if ((c < SP && c !== HT) || c === 0x7f) throw new ParseError("bad_chunk", "control byte in chunk extension");
          }
          break;
        }
        case S_CHUNK_SIZE_LF: {
          if (buf[off++] !== LF) throw new ParseError("bad_chunk", "CR without LF after chunk size");
          this.lineBytes = 0;
          this.digits = 0;
          this.state = this.remaining === 0 ? S_TRAILER_START : S_CHUNK_DATA;
          break;
        }
        case S_CHUNK_DATA_CR: {
          if (buf[off++] !== CR) throw new ParseError("bad_chunk", "chunk data longer than its size");
          this.state = S_CHUNK_DATA_LF;
          break;
        }
        case S_CHUNK_DATA_LF: {
          if (buf[off++] !== LF) throw new ParseError("bad_chunk", "CR without LF after chunk data");
          this.state = S_CHUNK_SIZE;
          break;
        }
        case S_TRAILER_START: {
          const c = buf[off++]!;
          this.trailer();
          if (c === CR) this.state = S_TRAILER_END_LF;
          else if (c === LF || c === SP || c === HT) throw new ParseError("bad_trailer");
          else this.state = S_TRAILER_LINE;
          break;
        }
        case S_TRAILER_LINE: {
          while (off < len) {
            const c = buf[off++]!;
            this.trailer();
            if (c === CR) {
              this.state = S_TRAILER_LINE_LF;
              break;
            }
            if (c === LF || c === 0) throw new ParseError("bad_trailer");
          }
          break;
        }
        case S_TRAILER_LINE_LF: {
          this.trailer();
          if (buf[off++] !== LF) throw new ParseError("bad_trailer", "CR without LF");
          this.state = S_TRAILER_START;
          break;
        }
        case S_TRAILER_END_LF: {
          if (buf[off++] !== LF) throw new ParseError("bad_trailer", "CR without LF");
          this.state = S_DONE;
          return off;
        }
        case S_DONE:
          return off;
      }
      if (this.state === S_DONE) return off;
    }
    return off;
  }

  /**
   * The connection reached EOF. Completes a close-delimited body; throws ParseError otherwise:
   * "closed" when nothing of the response arrived, "truncated" when it stopped part-way.
   */
  finish(): void {
    if (this.state === S_CLOSE || this.state === S_DONE) {
      this.state = S_DONE;
      return;
    }
    throw new ParseError(this.started ? "truncated" : "closed");
  }

  private trailer(): void {
    if (++this.trailerBytes > this.limits.maxTrailerBytes) throw new ParseError("trailer_too_large");
  }

  /** Looks for the end of a head from `off`; returns the offset after it, or -1 when more bytes are needed. */
  private head(buf: Buffer, off: number): number {
    let data = buf;
    let start = off;
    let from = off;
    let prev = 0;
    if (this.partial !== null) {
      prev = this.partial.length;
      data = Buffer.concat([this.partial, off === 0 ? buf : buf.subarray(off)]);
      start = 0;
      from = prev > 3 ? prev - 3 : 0;
    }
    const end = data.indexOf(CRLFCRLF, from);
    const max = this.limits.maxHeaderBytes;
    if (end < 0) {
      if (data.length - start > max) throw new ParseError("header_too_large");
      this.partial = start === 0 ? data : data.subarray(start);
      return -1;
    }
    if (end + 4 - start > max) throw new ParseError("header_too_large");
    this.partial = null;
    // An interim (1xx) head leaves the state at S_HEAD: the caller goes on with the next head.
    this.parseHead(data, start, end + 2);
    // Offset in `buf` right after this head.
    return data === buf ? end + 4 : end + 4 - prev + off;
  }

  /** Parses one complete head (status line through the CRLF of the last field); true if it was interim (1xx). */
  private parseHead(data: Buffer, start: number, end: number): boolean {
    // ASCII is the norm; a field with obs-text (bytes ≥ 0x80) is re-read as Latin-1 so bytes map 1:1.
    let s = data.toString("utf8", start, end);
    if (s.length !== end - start || !isAscii(s)) s = data.toString("latin1", start, end);

    // Status line: HTTP/1.x SP 3DIGIT [SP reason]
    let eol = s.indexOf("\r\n");
    if (eol < 12 || !s.startsWith("HTTP/1.")) throw new ParseError("bad_status_line");
    const minor = s.charCodeAt(7) - 0x30;
    if ((minor !== 0 && minor !== 1) || s.charCodeAt(8) !== SP) throw new ParseError("bad_status_line");
    const d0 = s.charCodeAt(9) - 0x30;
    const d1 = s.charCodeAt(10) - 0x30;
    const d2 = s.charCodeAt(11) - 0x30;
    if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) throw new ParseError("bad_status_line");
    const status = d0 * 100 + d1 * 10 + d2;
    let reason = "";
    if (eol > 12) {
      if (s.charCodeAt(12) !== SP) throw new ParseError("bad_status_line");
      for (let i = 13; i < eol; i++) {
        const c = s.charCodeAt(i);
        if ((c < SP && c !== HT) || c === 0x7f) throw new ParseError("bad_status_line", "control byte in reason");
      }
      reason = s.slice(13, eol);
    }
    if (status === 101) throw new ParseError("upgrade_unsupported");
    if (status >= 600) throw new ParseError("bad_status_line", `status ${status}`);

    const fields: string[] = [];
    let count = 0;
    let contentLength = -1;
    let te: string | null = null;
    let connClose = false;
    let connKeepAlive = false;
    let pos = eol + 2;
    const limit = this.limits.maxHeaderCount;
    while (pos < s.length) {
      eol = s.indexOf("\r\n", pos);
      const colon = s.indexOf(":", pos);
      if (colon <= pos || colon > eol) throw new ParseError("bad_header", colon === pos ? "empty field name" : "no colon");
      for (let i = pos; i < colon; i++) {
        const c = s.charCodeAt(i);
        if (c >= 128 || TCHAR[c] === 0) throw new ParseError("bad_header", "invalid field name");
      }
      let vs = colon + 1;
      let ve = eol;
      while (vs < ve && (s.charCodeAt(vs) === SP || s.charCodeAt(vs) === HT)) vs++;
      while (ve > vs && (s.charCodeAt(ve - 1) === SP || s.charCodeAt(ve - 1) === HT)) ve--;
      for (let i = vs; i < ve; i++) {
        const c = s.charCodeAt(i);
        if ((c < SP && c !== HT) || c === 0x7f) throw new ParseError("bad_header", "control byte in field value");
      }
      if (++count > limit) throw new ParseError("too_many_headers");
      const name = s.slice(pos, colon);
      const value = s.slice(vs, ve);
      pos = eol + 2;
      switch (name.length) {
        case 10:
          if (name.toLowerCase() === "connection") {
            const v = value.toLowerCase();
            if (v === "close") connClose = true;
            else if (v === "keep-alive") connKeepAlive = true;
            else if (v.includes(",")) {
              for (const tok of v.split(",")) {
                const t = tok.trim();
                if (t === "close") connClose = true;
                else if (t === "keep-alive") connKeepAlive = true;
              }
            }
          }
          break;
        case 14:
          if (name.toLowerCase() === "content-length") {
            const n = parseContentLength(value);
            if (contentLength >= 0 && n !== contentLength) throw new ParseError("bad_content_length", "conflicting values");
            contentLength = n;
          }
          break;
        case 17:
          if (name.toLowerCase() === "transfer-encoding") {
            te = te === null ? value : `${te}, ${value}`;
            continue; // the coding is removed here, so the field goes too
          }
          break;
      }
      fields.push(name, value);
    }

    if (status < 200) return true; // 100, 102, 103…: skip, the real head follows

    if (te !== null && contentLength >= 0) throw new ParseError("cl_and_te");
    let framing: Framing;
    let keepAlive = minor === 1 ? !connClose : connKeepAlive && !connClose;
    if (!this.expectBody || status === 204 || status === 304) {
      framing = FRAMING_NONE;
      if (te !== null && !isChunked(te)) throw new ParseError("bad_transfer_encoding", te);
      contentLength = -1;
    } else if (te !== null) {
      if (!isChunked(te)) throw new ParseError("bad_transfer_encoding", te);
      framing = FRAMING_CHUNKED;
    } else if (contentLength >= 0) {
      framing = contentLength === 0 ? FRAMING_NONE : FRAMING_LENGTH;
    } else {
      framing = FRAMING_CLOSE;
      keepAlive = false;
    }

    switch (framing) {
      case FRAMING_NONE:
        this.state = S_DONE;
        break;
      case FRAMING_LENGTH:
        this.state = S_LENGTH;
        this.remaining = contentLength;
        break;
      case FRAMING_CHUNKED:
        this.state = S_CHUNK_SIZE;
        this.remaining = 0;
        break;
      case FRAMING_CLOSE:
        this.state = S_CLOSE;
        break;
    }
    this.sink!.onHead({ status, reason, fields, keepAlive, framing, contentLength: framing === FRAMING_LENGTH ? contentLength : -1 });
    return false;
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7e) return false;
  return true;
}

/** 1*DIGIT, or a list of identical 1*DIGIT values (RFC 9110 §8.6); anything else is refused. */
function parseContentLength(v: string): number {
  if (v.includes(",")) {
    let n = -1;
    for (const part of v.split(",")) {
      const m = parseDigits(part.trim());
      if (n >= 0 && m !== n) throw new ParseError("bad_content_length", "conflicting values");
      n = m;
    }
    return n;
  }
  return parseDigits(v);
}

function parseDigits(v: string): number {
  if (v.length === 0 || v.length > MAX_CL_DIGITS) throw new ParseError("bad_content_length", JSON.stringify(v.slice(0, 40)));
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) throw new ParseError("bad_content_length", JSON.stringify(v.slice(0, 40)));
    n = n * 10 + d;
  }
  return n;
}

/** Exactly the chunked coding (any case): other transfer codings are not decoded, so they are refused. */
function isChunked(te: string): boolean {
  return te.length === 7 ? te.toLowerCase() === "chunked" : te.trim().toLowerCase() === "chunked";
}

/**
 * A weights file read front to back, a piece at a time, from wherever it lives: a URL (fetched,
 * streamed as it arrives), a path (Node), an ArrayBuffer or typed array, or a Blob/File. Nothing
 * reads the whole file into memory unless it is already there. Browser-safe: the file system is
 * imported only for a path, which only Node has.
 */
export type WeightsSource = string | URL | ArrayBuffer | ArrayBufferView | Blob;

export interface ByteStream {
  /** What it reads from, for messages. */
  readonly label: string;
  /** Total bytes, when known before reading (a fetch without Content-Length does not know). */
  readonly size: number | undefined;
  /** The next `n` bytes; fewer only when the stream ends first. The result is valid until the next read. */
  read(n: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Reading the source failed: not found, HTTP error, permission. */
export class SourceError extends Error {
  override readonly name = 'SourceError';
}

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

export async function openByteStream(source: WeightsSource): Promise<ByteStream> {
  if (source instanceof ArrayBuffer) return memoryStream(new Uint8Array(source), 'an ArrayBuffer');
  if (ArrayBuffer.isView(source)) return memoryStream(new Uint8Array(source.buffer, source.byteOffset, source.byteLength), 'a typed array');
  if (typeof Blob !== 'undefined' && source instanceof Blob) return blobStream(source);
  const url = toUrl(source as string | URL);
  if (url.protocol === 'file:') {
    if (!isNode) throw new SourceError(`cannot read ${url.href}: a page reads files through fetch (a URL it is served from) or a File`);
    return fileStream(url);
  }
  return fetchStream(url);
}

/** A string is a URL when it has a scheme; otherwise a path in Node, and relative to the page in a browser. */
function toUrl(source: string | URL): URL {
  if (source instanceof URL) return source;
  if (/^[a-z][a-z0-9+.-]*:/i.test(source) && !/^[a-z]:[\\/]/i.test(source)) return new URL(source);
  if (isNode) return pathToUrl(source);
  return new URL(source, (globalThis as { location?: { href: string } }).location?.href);
}

function pathToUrl(path: string): URL {
  const cwd = process.cwd().replace(/\\/g, '/');
  const absolute = path.startsWith('/') || /^[a-z]:[\\/]/i.test(path) ? path.replace(/\\/g, '/') : `${cwd}/${path}`;
  const url = new URL('file://');
  url.pathname = absolute.startsWith('/') ? absolute : `/${absolute}`;
  return url;
}

function memoryStream(bytes: Uint8Array, label: string): ByteStream {
  let at = 0;
  return {
    label,
    size: bytes.length,
    read: async (n) => bytes.subarray(at, (at = Math.min(bytes.length, at + n))),
    close: async () => undefined,
  };
}

function blobStream(blob: Blob): ByteStream {
  let at = 0;
  return {
    label: 'name' in blob && typeof blob.name === 'string' ? `file '${blob.name}'` : 'a Blob',
    size: blob.size,
    async read(n) {
      const end = Math.min(blob.size, at + n);
      const piece = new Uint8Array(await blob.slice(at, end).arrayBuffer());
      at = end;
      return piece;
    },
    close: async () => undefined,
  };
}

async function fileStream(url: URL): Promise<ByteStream> {
  const { open } = await import('node:fs/promises');
  const { fileURLToPath } = await import('node:url');
  const path = fileURLToPath(url);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw new SourceError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const { size } = await handle.stat();
  let at = 0;
  return {
    label: path,
    size,
    async read(n) {
      const buffer = new Uint8Array(Math.max(0, Math.min(n, size - at)));
      let filled = 0;
      while (filled < buffer.length) {
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, at + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      at += filled;
      return buffer.subarray(0, filled);
    },
    close: () => handle.close(),
  };
}

async function fetchStream(url: URL): Promise<ByteStream> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new SourceError(`cannot fetch ${url.href}: ${(e as Error).message}`);
  }
  if (!response.ok) throw new SourceError(`cannot fetch ${url.href}: HTTP ${response.status} ${response.statusText}`.trimEnd());
  if (!response.body) throw new SourceError(`cannot fetch ${url.href}: the response has no body`);
  // A compressed response's Content-Length counts the compressed bytes.
  const length = response.headers.get('content-encoding') ? null : response.headers.get('content-length');
  return chunkStream(response.body.getReader(), url.href, length === null ? undefined : Number(length));
}

/** Pieces of exactly the requested size from a stream of arbitrarily sized chunks. */
function chunkStream(reader: ReadableStreamDefaultReader<Uint8Array>, label: string, size: number | undefined): ByteStream {
  let pending: Uint8Array = new Uint8Array(0);
  let done = false;
  return {
    label,
    size,
    async read(n) {
      if (pending.length >= n || done) {
        const piece = pending.subarray(0, n);
        pending = pending.subarray(piece.length);
        return piece;
      }
      const out = new Uint8Array(n);
      out.set(pending);
      let filled = pending.length;
      pending = new Uint8Array(0);
      while (filled < n) {
        const next = await reader.read();
        if (next.done) {
          done = true;
          break;
        }
        const take = Math.min(n - filled, next.value.length);
        out.set(next.value.subarray(0, take), filled);
        filled += take;
        pending = next.value.subarray(take);
      }
      return out.subarray(0, filled);
    },
    close: () => reader.cancel(),
  };
}

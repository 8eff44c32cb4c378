import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { root } from '../helpers.js';

export interface PublishedDiagnostics {
  uri: string;
  version?: number;
  diagnostics: { range: unknown; severity: number; code: string; source: string; message: string }[];
}

/** An LSP client speaking JSON-RPC over stdio to a language server child process. */
export class LspClient {
  private readonly child: ChildProcess;
  readonly connection: MessageConnection;
  private readonly published: PublishedDiagnostics[] = [];
  private waiters: (() => void)[] = [];

  /** `node`: the Node binary that runs the server (this process's by default). */
  constructor(script = join(root, 'bin', 'moec-lsp.js'), node = process.execPath) {
    this.child = spawn(node, [script, '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.connection = createMessageConnection(new StreamMessageReader(this.child.stdout!), new StreamMessageWriter(this.child.stdin!));
    this.connection.onNotification('textDocument/publishDiagnostics', (p: PublishedDiagnostics) => {
      this.published.push(p);
      for (const w of this.waiters.splice(0)) w();
    });
    this.connection.listen();
  }

  async initialize(): Promise<{ capabilities: Record<string, unknown> }> {
    const result = await this.connection.sendRequest<{ capabilities: Record<string, unknown> }>('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
    await this.connection.sendNotification('initialized', {});
    return result;
  }

  request<T>(method: string, params: unknown): Promise<T> {
    return this.connection.sendRequest<T>(method, params);
  }

  notify(method: string, params: unknown): Promise<void> {
    return this.connection.sendNotification(method, params);
  }

  /** The next diagnostics published for `uri` after `count` earlier ones. */
  async diagnostics(uri: string, count = 0): Promise<PublishedDiagnostics> {
    for (;;) {
      const mine = this.published.filter((p) => p.uri === uri);
      if (mine.length > count) return mine[count]!;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async stop(): Promise<number | null> {
    await this.connection.sendRequest('shutdown');
    await this.connection.sendNotification('exit');
    const code = await new Promise<number | null>((resolve) => this.child.once('exit', resolve));
    this.connection.dispose();
    return code;
  }
}

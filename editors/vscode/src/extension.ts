import { join } from 'node:path';
import type { ExtensionContext } from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';

let client: LanguageClient | undefined;

/** Starts the bundled moec language server (dist/server.js) for .moe documents. */
export async function activate(context: ExtensionContext): Promise<void> {
  const module = context.asAbsolutePath(join('dist', 'server.js'));
  const server: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6009'] } },
  };
  const options: LanguageClientOptions = { documentSelector: [{ scheme: 'file', language: 'moe' }, { scheme: 'untitled', language: 'moe' }] };
  client = new LanguageClient('moec', 'moec language server', server, options);
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}

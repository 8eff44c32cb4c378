/**
 * A progress bar on stderr for long work (reading and writing checkpoints): redrawn in place
 * on a terminal, silent when stderr is a file or a pipe (logs stay clean).
 */
export function progressBar(what: string, stream: NodeJS.WriteStream = process.stderr): (done: number, total: number) => void {
  if (!stream.isTTY) return () => {};
  const width = 30;
  return (done, total) => {
    const filled = total ? Math.round((done / total) * width) : width;
    stream.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} ${what}${done === total ? '\n' : ''}`);
  };
}

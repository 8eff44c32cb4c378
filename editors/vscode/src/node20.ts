/**
 * VS Code 1.91 to 1.100 run extensions on Node 20, which lacks `Object.groupBy` (Node 21);
 * chevrotain, inside the bundled language server, calls it. scripts/package-vscode.ts injects
 * this file at the top of the server bundle; on a newer Node it does nothing.
 * test/vscode-package.test.ts runs the bundled server on Node 20.
 */
const withGroupBy = Object as { groupBy?: unknown };
if (typeof withGroupBy.groupBy !== 'function') {
  withGroupBy.groupBy = <T>(items: Iterable<T>, key: (item: T, index: number) => PropertyKey): Record<PropertyKey, T[]> => {
    const groups: Record<PropertyKey, T[]> = Object.create(null) as Record<PropertyKey, T[]>;
    let index = 0;
    for (const item of items) (groups[key(item, index++)] ??= []).push(item);
    return groups;
  };
}

export {};

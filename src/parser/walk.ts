import type { Expr, Item } from './ast.js';

/** True when the parser had to stand in for part of `e`: its error is already reported. */
export function containsError(e: Expr): boolean {
  switch (e.kind) {
    case 'Error':
      return true;
    case 'Binary':
      return containsError(e.left) || containsError(e.right);
    case 'Unary':
      return containsError(e.operand);
    case 'Chain':
    case 'List':
      return e.items.some(containsError);
    case 'Call':
      return e.args.some((a) => containsError(a.value));
    case 'Record':
      return e.entries.some((b) => containsError(b.value));
    default:
      return false;
  }
}

/** The word an item starts with (`block`, `layers`, `dims`, `router`, ...). */
export function itemKeyword(item: Item): string {
  return item.kind === 'Block' ? 'block' : item.kind === 'Layers' ? 'layers' : item.keyword;
}

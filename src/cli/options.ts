import { Option } from 'commander';
import { collectOverride } from './overrides.js';

/** Options every command that reads a model takes. */
export function modelOptions(): Option[] {
  return [
    new Option('--set <NAME=VALUE>', 'override a dim or constant (repeatable), for example --set hidden=64').argParser(collectOverride).default({}),
    new Option('--model <NAME>', 'the model to use when the file declares several'),
  ];
}

export interface ModelOptions {
  set: Record<string, number>;
  model?: string;
}

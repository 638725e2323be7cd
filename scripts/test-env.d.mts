// Types of scripts/test-env.mjs, for the TypeScript tests that import it.
export type Withholdable = 'postgres' | 'redis' | 'mysql' | 'chromium' | 'bun' | 'deno';
export declare function isCI(env?: Readonly<Record<string, string | undefined>>): boolean;
export declare function withheld(
  what: Withholdable,
  env?: Readonly<Record<string, string | undefined>>,
): boolean;

/** Whether dist/ is missing, unfinished, or older than one of the build's inputs. */
export function isStale(): boolean;
/** Builds dist/ (tsup, build-finish), then writes dist/.build-stamp. Throws when a step fails. */
export function build(): void;
/** Builds when stale, one process at a time (a lock file holding its pid); returns whether it built. */
export function buildIfStale(): boolean;

/** Where the command writes: stdout lines and stderr lines (tests pass their own). */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

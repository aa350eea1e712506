import { fifoUnsupported } from "./fifoDir";

/**
 * A kernel-side tee: stdin to stdout, with a copy of every byte on fd 3, using tee(2) and
 * splice(2), so the bytes are never copied into a user-space buffer (Perl: Debian's pg_dump is a
 * Perl script, so Perl is wherever pg_dump is; Node has no binding for either call). stdin and
 * fd 3 must be pipes (FIFOs here); stdout a pipe or a regular file. Each pipe is enlarged to
 * 1 MiB when the kernel allows, so every call moves up to 1 MiB.
 *
 * Why: the runner reads a dump's bytes to count its rows. Reading them in node and writing them
 * on to zstd cost ~1 s of CPU per GB (two copies through node, 64 KiB at a time, over Unix
 * sockets); on 2 cores that CPU is wall time. With this tee, zstd reads pg_dump's bytes from a
 * pipe as in a shell pipeline and node only reads its copy, in 1 MiB reads (bench/notes.md).
 *
 * tee(2) duplicates what stdin holds into fd 3 without consuming it; splice(2) then moves exactly
 * those bytes to stdout. A failed call, a short write (a reader gone) or a signal ends it
 * non-zero; end of input ends it 0. Syscall numbers are per architecture.
 */
export const TEE_SCRIPT = `
use strict; use Config;
my %nr = (x86_64 => [275, 276], aarch64 => [76, 77]);
my ($arch) = $Config{archname} =~ /^(x86_64|aarch64)/ or die "kernel tee: unsupported architecture $Config{archname}\\n";
my ($SPLICE, $TEE) = @{$nr{$arch}};
open(my $copy, '>&=', 3) or die "kernel tee: fd 3 is not open: $!\\n";
fcntl($_, 1031, 1 << 20) for (\\*STDIN, \\*STDOUT, $copy);
for (;;) {
  my $n = syscall($TEE, 0, 3, 1 << 20, 0);
  die "kernel tee: tee(2): $!\\n" if $n < 0;
  last if $n == 0;
  for (my $left = $n; $left > 0;) {
    my $m = syscall($SPLICE, 0, 0, 1, 0, $left, 1);
    die "kernel tee: splice(2): $!\\n" if $m < 0;
    die "kernel tee: output closed\\n" if $m == 0;
    $left -= $m;
  }
}
`;

/** Why the kernel tee cannot be used here, or undefined when it can. */
export function kernelTeeUnsupported(): string | undefined {
  if (process.platform !== "linux") return `tee(2) and splice(2) are Linux calls (this is ${process.platform})`;
  if (process.arch !== "x64" && process.arch !== "arm64") return `no syscall numbers for ${process.arch}`;
  return fifoUnsupported(["perl"]);
}

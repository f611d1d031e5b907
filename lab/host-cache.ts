/**
 * Where the lab keeps what it builds on the host and must not rebuild on
 * every run (Kubernetes binaries, the kind tools, the gates' Go helpers):
 * outside the repository, so that nothing built is ever committed.
 * `INTEGRITY_LAB_CACHE` moves it.
 */
export const CACHE_ROOT = process.env.INTEGRITY_LAB_CACHE ?? '/var/cache/integrity-lab';

/**
 * What the start gate established about a CRI task at its `runc create`,
 * kept in the gate daemon's memory for the `runc start` that follows:
 * containerd's record of the task as the gate judged it, and the pod CRI's
 * memory says it belongs to. The start would otherwise ask both again, two
 * round trips on every protected pod's start path (docs/benchmarks.md).
 *
 * Taking them from the create is sound, and no weaker than asking again:
 * runc starts a task from what `runc create` set up, not from the record or
 * the bundle, so a record rewritten after the create changes nothing runc
 * does, and the start is judged on what was created; CRI's memory of a
 * container does not change. A task whose create was refused has no entry,
 * and an entry is taken once: a start the daemon did not see created asks
 * containerd and CRI as before.
 */
import type { CriIdentity } from '../cri/identity.ts';
import type { RecordedSpec } from './containerd-records.ts';

export interface CreatedTask {
  /** containerd's record of the task, as read at `runc create`. */
  recorded: RecordedSpec;
  /** The pod CRI's memory placed a workload container in; absent for a sandbox or a container CRI does not have. */
  identity?: CriIdentity;
}

export class CreatedTasks {
  readonly #tasks = new Map<string, CreatedTask>();

  readonly limit: number;

  /** `limit`: creates never started (a failed start, a task deleted first) are forgotten oldest first. */
  constructor(limit = 512) {
    this.limit = limit;
  }

  note(id: string, task: CreatedTask): void {
    this.#tasks.delete(id);
    this.#tasks.set(id, task);
    if (this.#tasks.size > this.limit) this.#tasks.delete(this.#tasks.keys().next().value!);
  }

  /** The task's entry, removed: each create serves one start. */
  take(id: string): CreatedTask | undefined {
    const task = this.#tasks.get(id);
    this.#tasks.delete(id);
    return task;
  }
}

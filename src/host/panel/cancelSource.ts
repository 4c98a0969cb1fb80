import type { CancelSignal } from '../engineApi';

/** A CancellationTokenSource for the engine's `CancelSignal`: fires its listeners once. */
export class CancelSource implements CancelSignal {
  private listeners: (() => void)[] = [];
  private fired = false;

  get cancelled(): boolean {
    return this.fired;
  }

  onCancel(listener: () => void): void {
    if (this.fired) {
      queueMicrotask(listener);
      return;
    }
    this.listeners.push(listener);
  }

  cancel(): void {
    if (this.fired) return;
    this.fired = true;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) {
      try {
        listener();
      } catch {
        // A listener's failure must not stop the others from hearing about the cancel.
      }
    }
  }
}

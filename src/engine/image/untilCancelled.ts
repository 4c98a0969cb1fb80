/** Waiting on work that runs off the JavaScript thread (libvips) and cannot be stopped itself. */

/** Resolves with `work`, or rejects as soon as `checkCancelled` throws (polled every 20 ms); the work's late result is dropped. */
export function untilCancelled<T>(work: Promise<T>, checkCancelled: (() => void) | undefined): Promise<T> {
  if (!checkCancelled) return work;
  return new Promise<T>((resolve, reject) => {
    const timer = setInterval(() => {
      try {
        checkCancelled();
      } catch (error) {
        clearInterval(timer);
        reject(error);
      }
    }, 20);
    work.then(
      (value) => {
        clearInterval(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearInterval(timer);
        reject(error);
      },
    );
  });
}

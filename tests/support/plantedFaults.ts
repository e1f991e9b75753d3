/**
 * Preloaded into a service process by a test (`bun --preload`): on SIGUSR2 it throws from a
 * timer and leaves a promise rejected, as a bug in a driver or a callback would. The messages
 * hold a fake secret the service's log must never show.
 */
export const PLANTED_SECRET = "planted-secret-hunter2";

process.on("SIGUSR2", () => {
  setTimeout(() => {
    throw Object.assign(new TypeError(`a thrown error holding ${PLANTED_SECRET}`), { code: "E_PLANTED" });
  }, 0);
  void Promise.reject(new RangeError(`a rejection holding ${PLANTED_SECRET}`));
});

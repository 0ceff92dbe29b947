/**
 * `@mirai-ts/serializer-arrow/validate`: checks Arrow IPC bytes a peer sent before a reader
 * allocates what their headers claim. Used by this plugin's decoder and by
 * `@mirai-ts/serializer-polars` (Polars payloads are Arrow IPC files); does not load
 * apache-arrow. Failures are `DeserializationError`s from `@mirai-ts/core`.
 */
export { IpcChecker, contiguous, type IpcBytes, type IpcLimits, type CheckedMessage } from './ipc-check.js';
export { checkIpcFile } from './ipc-file-check.js';

// One row's worker thread, made afresh for every round. Every row runs in a V8 isolate of its own,
// like a server process that has one keymint instance: in a shared isolate, the instances of the
// other rows (other adapters, hashers and options) make keymint's call sites polymorphic and slow
// every row down. A fresh isolate per round also puts the JIT's run-to-run variation into the
// median over rounds instead of into every round alike.
// Messages in: { type: 'run', timeMs, warmupMs } and { type: 'close' }. Out: 'ready' (after
// set-up and calibration), 'result' (ns), 'error', 'closed'.
import { parentPort, workerData } from 'node:worker_threads';
import { calibrate, measureOnce } from './measure.mjs';
import { Cleanup, SUBJECTS } from './subjects.mjs';

const cleanup = new Cleanup();
const post = (message) => parentPort.postMessage(message);
const fail = (error) => post({ type: 'error', message: error?.stack ?? String(error) });

let subject;
let batch;
try {
  const descriptor = SUBJECTS.find((s) => s.id === workerData.id);
  subject = await descriptor.make(cleanup, descriptor.env && process.env[descriptor.env]);
  await subject.init?.();
  batch = await calibrate(subject);
  post({ type: 'ready', batch, note: subject.note });
} catch (error) {
  fail(error);
}

parentPort.on('message', async (message) => {
  if (message.type === 'run') {
    try {
      post({ type: 'result', ns: await measureOnce(subject, batch, message) });
    } catch (error) {
      fail(error);
    }
  } else if (message.type === 'close') {
    await cleanup.run();
    post({ type: 'closed' });
  }
});

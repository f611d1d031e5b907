// Fallback client for the gate daemon when no C compiler was available to
// build native/gate-client.c: same wire format, same fail-closed rule.
import { connect } from 'node:net';

const args = process.argv.slice(2);
const refuse = (why) => {
  process.stdout.write(`integrity gate refused: the gate daemon is unreachable (${why})\n`);
  process.exit(1);
};
const socket = connect('/run/integrity-lab/gate.sock');
socket.setTimeout(30_000, () => refuse('timeout'));
socket.on('error', (e) => refuse(e.message));
socket.on('connect', async () => {
  for (const a of args) socket.write(Buffer.concat([Buffer.from(a), Buffer.from([0])]));
  socket.write(Buffer.from([0]));
  if (args[0] === 'pull') for await (const c of process.stdin) socket.write(c);
  socket.end();
});
const chunks = [];
socket.on('data', (c) => chunks.push(c));
socket.on('end', () => {
  const data = Buffer.concat(chunks);
  if (data.length === 0) refuse('no verdict');
  process.stdout.write(data.subarray(1));
  process.exit(data[0]);
});

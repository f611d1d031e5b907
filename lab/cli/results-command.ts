import type { Command } from './command.ts';
export const command: Command = { name: 'results', summary: '', usage: 'usage: integrity-lab results verify ARCHIVE', async run() { return 2; } };

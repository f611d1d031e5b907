// Entry point of the resident gate daemon, bundled into the node.
import { startDaemon } from '../daemon.ts';

startDaemon();

/** A start-gate refusal whose message is the reason given to the CRI caller. */
export class Refusal extends Error {}

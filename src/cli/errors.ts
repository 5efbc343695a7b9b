// Errors that mean "the user's input is wrong": the CLI prints the message as one
// line and exits with status 2, never with a stack trace.
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/**
 * An error caused by the user's input (a bad file, a wrong tensor, a bad flag), as opposed
 * to a compiler bug. The CLI prints its message and exits with status 1; any other
 * exception is an internal error (status 2).
 */
export class UserError extends Error {}

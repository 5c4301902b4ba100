// Errors the user can act on: each names the input, file or field at fault.
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** A bad action input: the message starts with the input's name. */
export class InputError extends UserError {
  constructor(
    readonly input: string,
    message: string,
  ) {
    super(`input '${input}': ${message}`);
    this.name = 'InputError';
  }
}

/** A problem in a manifest: the message names the file and the object. */
export class ManifestError extends UserError {
  constructor(
    readonly where: string,
    message: string,
  ) {
    super(`${where}: ${message}`);
    this.name = 'ManifestError';
  }
}

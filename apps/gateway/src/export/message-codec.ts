import type { ServiceConfig } from '@sivshm/core';

/** The part of a protobuf message type the gateway uses: the service's own wire bytes. */
export interface MessageCodec {
  decode(bytes: Uint8Array): object;
  encode(message: object): { finish(): Uint8Array };
}

/** The protobuf type `name` of the config's .proto files (services.yaml checked it exists). */
export function codecOf(config: ServiceConfig, name: string): MessageCodec {
  return config.protoRoot.lookupType(name);
}

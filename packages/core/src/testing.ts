// `@sivshm/core/testing`: what tests of OTHER packages need to play a VM, a provider or a broken
// peer by hand (a fixed crypto backend, grant signing, raw protobuf and control-frame encoding).
// Not part of the public API (`./index.ts`); apps must not import it.
export { nodeBackend } from './crypto/node-backend.js';
export { signGrant } from './grant/grant-verify.js';
export { encodeProto, decodeProto } from './wire/proto-codec.js';
export { encodeControlFrame } from './control/control-frame.js';
export { encodeControlMessage } from './control/control-message.js';

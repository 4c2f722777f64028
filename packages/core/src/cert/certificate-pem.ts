import { CoreError } from '../errors/core-error.js';
import { decodeCertificate, encodeCertificate, type Certificate } from './certificate.js';

const BEGIN = '-----BEGIN SIVSHM CERTIFICATE-----';
const END = '-----END SIVSHM CERTIFICATE-----';

/** A certificate as text a person can paste: base64 of the protobuf `Certificate` in PEM armour. */
export function certificateToPem(cert: Certificate): string {
  const b64 = Buffer.from(encodeCertificate(cert)).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

/**
 * Reads a certificate from PEM text or from the raw protobuf bytes.
 * Throws `ERR_CERT_INVALID` naming what was wrong with the input.
 */
export function certificateFromFile(data: Uint8Array): Certificate {
  const text = Buffer.from(data).toString('latin1');
  const start = text.indexOf(BEGIN);
  if (start < 0) return decodeCertificate(data);
  const end = text.indexOf(END, start);
  if (end < 0)
    throw new CoreError('ERR_CERT_INVALID', `certificate text has "${BEGIN}" but no "${END}"`);
  const b64 = text.slice(start + BEGIN.length, end).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) {
    throw new CoreError('ERR_CERT_INVALID', 'certificate text is not valid base64');
  }
  return decodeCertificate(Uint8Array.from(Buffer.from(b64, 'base64')));
}

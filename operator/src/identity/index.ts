export * from './authority.ts';
export * from './spiffe.ts';
export * from './token.ts';
export {
  CsrError,
  type CsrErrorCode,
  splitPemCertificates,
  uriSans,
  type VerifiedCsr,
  verifyCsr,
} from './x509.ts';

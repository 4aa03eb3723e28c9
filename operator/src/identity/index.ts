export {
  CsrError,
  type CsrErrorCode,
  splitPemCertificates,
  uriSans,
  type VerifiedCsr,
  verifyCsr,
} from '../../../crds/x509/certificate.ts';
export * from './authority.ts';
export * from './spiffe.ts';
export * from './token.ts';

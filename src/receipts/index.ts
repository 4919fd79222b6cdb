/** Signed receipts: the version-1 document and the keys that sign and verify it. */
export {
  buildReceiptDocument,
  newReceiptId,
  type ReceiptDocument,
  type ReceiptDocumentInput,
  type UnsignedReceiptDocument,
} from './document';
export {
  newSigningKeyMaterial,
  ReceiptKeyConfigError,
  ReceiptKeyring,
  SIGNATURE_PREFIX,
  type ReceiptJwk,
  type ReceiptKeySettings,
  type ReceiptPublicKey,
  type ReceiptVerification,
} from './keyring';

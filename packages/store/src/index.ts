export { defaultOwner, migrateStore, openStore, parseStoreUrl, type StoreLocation, type StoreOptions } from './open.js';
export {
  type AttemptOutcome,
  type AttemptRow,
  type Claim,
  type ClaimOutcome,
  DELIVERY_STATUSES,
  type DeliveryFilter,
  type DeliveryIdentity,
  type DeliveryRow,
  type DeliveryStatus,
  type DeliveryStore,
  type KeptMessage,
  type UndecodableFilter,
  type UndecodableRecord,
  type UndecodableRow,
} from './types.js';

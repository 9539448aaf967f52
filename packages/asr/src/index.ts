// Public API of @facteur/asr, the asynchronous DNS stub resolver (libasr's counterpart).
// Promise-returning calls named after libasr; expected outcomes are values, never throws.

export {
  type AddrInfo,
  type AddrInfoHints,
  type AddrInfoResult,
  type FcrdnsResult,
  fcrdns,
  type GaiError,
  getaddrinfo,
  getnameinfo,
  type NameInfoResult,
} from "./addrinfo.js";
export {
  buildQuery,
  decodeMessage,
  type Edns,
  encodeMessage,
  extendedError,
  type Flags,
  type Message,
  type Question,
  RCODES,
  type ResourceRecord,
  rcodeName,
} from "./codec.js";
export { type ContextOptions, ResolverContext, type Snapshot } from "./context.js";
export type { Result } from "./errors.js";
export { type HostsTable, parseHosts } from "./hosts.js";
export { reverseName } from "./ip.js";
export {
  type DaneResult,
  lookupTlsa,
  type MxDecision,
  type MxHost,
  type MxRoute,
  resolveDane,
  resolveMx,
  resolveMxAddresses,
} from "./mx.js";
export { punycodeDecode, punycodeEncode, toASCII, toUnicode } from "./punycode.js";
export {
  type Chain,
  type ErrsetErrno,
  followChain,
  getrrsetbyname,
  type HErrno,
  type QueryOptions,
  type QueryResult,
  type RRSetResult,
  resQuery,
  resSearch,
} from "./query.js";
export { CLASS_IN, type RecordData, rdataText, TYPES, typeCode, typeName } from "./rdata.js";
export { parseResolvConf, parseServer, type ResolvConf, type Server } from "./resolv-conf.js";
export { type NetErrno, sendQuery } from "./send.js";
export {
  createNodeTransport,
  type ExchangeOutcome,
  type ExchangeRequest,
  type NodeTransportOptions,
  type Transport,
} from "./transport.js";

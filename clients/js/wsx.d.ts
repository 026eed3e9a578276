/**
 * Types for wsx.js, the browser client for `wsx serve`. Event payloads are the server's
 * JSON objects, unchanged (docs/protocol.md); the server may add fields, so every event
 * type here is open to more.
 */

/** A transport, tried in the order of {@link ConnectOptions.transports}. */
export type TransportName = "websocket" | "sse" | "poll";

/** Where the client stands. */
export type State = "connecting" | "open" | "reconnecting" | "closed";

/** An opaque position in a channel's or an inbox's history: never compare or parse it. */
export type Offset = string;

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The server's error codes; a request can also fail with `timeout` or `disconnected`. */
export type ServerErrorCode =
  | "bad_request"
  | "unknown_type"
  | "forbidden"
  | "rate_limited"
  | "too_large"
  | "not_subscribed"
  | "unavailable"
  | "internal";

/** Why a request failed: {@link WsxError.code}. */
export type ErrorCode = ServerErrorCode | "timeout" | "disconnected";

export interface ConnectOptions {
  /** The hub's URL (`http(s)://host:port`, `ws(s)://` also taken), or several, rotated
   *  on failure. Default: the page's origin. */
  server?: string | string[];
  /** The user name, with the hub's development auth (`?user=`). */
  user?: string;
  /** A JWT (`?token=`), or a function giving one, called before every connection attempt. */
  token?: string | (() => string | Promise<string>);
  /** Transports to try, in order. Default `["websocket", "sse", "poll"]`. */
  transports?: TransportName[];
  /** Milliseconds a request may wait, for a connection and for its answer. Default 10000; 0 or Infinity: no limit. */
  requestTimeout?: number;
  /** Milliseconds a transport has to deliver the `welcome` before the next one is tried. Default 5000; 0 or Infinity: no limit. */
  connectTimeout?: number;
  /** Requests that may wait for a connection; past it they reject with `disconnected`. Default 100. */
  queueSize?: number;
  /** Backoff: the first delay's ceiling, in ms, doubled per failed round. Default 500. */
  backoffBase?: number;
  /** Backoff: the largest ceiling, in ms. Each delay is uniform in [0, ceiling). Default 20000. */
  backoffCap?: number;
  /** Largest command, in bytes of JSON; larger ones reject with `too_large` without being
   *  sent. The hub's `max_message_size`. Default 1048576; 0 for no limit. */
  maxMessageSize?: number;
  /** Offsets remembered per channel (and inbox) to drop a duplicate. Default 64. */
  dedupWindow?: number;
  /** The inbox offset to resume from (a `direct`'s or `welcome`'s `offset` stored earlier). */
  inboxSince?: Offset;
}

/** The first event of every session. */
export interface WelcomeEvent {
  type: "welcome";
  user: string;
  session: string;
  /** The user's inbox position. */
  offset: Offset;
  [field: string]: unknown;
}

/** A message published to a subscribed channel. */
export interface MessageEvent<T = Json> {
  type: "message";
  channel: string;
  /** The publishing user; absent for HTTP API publishes. */
  from?: string;
  data: T;
  offset: Offset;
  [field: string]: unknown;
}

/** A message sent to this user's inbox (every tab of the user gets it). */
export interface DirectEvent<T = Json> {
  type: "direct";
  /** The sending user; absent for HTTP API sends. */
  from?: string;
  data: T;
  /** The position in this user's inbox. */
  offset: Offset;
  [field: string]: unknown;
}

/** A user's first connection joined, or their last one left, a channel (`presence_events` channels). */
export interface PresenceEvent {
  type: "presence";
  channel: string;
  event: "join" | "leave";
  user: string;
  [field: string]: unknown;
}

/** Messages after `since` could not be delivered; delivery resumes after `offset`. */
export interface GapEvent {
  type: "gap";
  /** The channel, or `null` for the inbox. */
  channel: string | null;
  since: Offset | null;
  offset: Offset;
  reason: "trimmed" | "expired" | "epoch" | "overflow" | (string & {});
  [field: string]: unknown;
}

/** A server error not tied to a request of this client (e.g. a resubscription refused). */
export interface ErrorEvent {
  type: "error";
  id?: Json;
  code: ServerErrorCode | (string & {});
  message: string;
  [field: string]: unknown;
}

/** A connection that was open ended (the client reconnects by itself). */
export interface DisconnectInfo {
  /** The WebSocket close code (1001 shutdown, 4001 token expired, …); absent for the fallbacks. */
  code?: number;
  reason?: string;
  transport: TransportName;
}

interface AckBase {
  type: "ack";
  /** The request's id (absent on the answer the client makes itself for an unsubscribe). */
  id?: number;
  [field: string]: unknown;
}

export interface SubscribeAck extends AckBase {
  channel: string;
  /** The channel's latest offset. */
  offset: Offset;
  /** Present when the subscription resumed from a `since`. */
  recovering?: true;
}

export interface UnsubscribeAck extends AckBase {
  channel: string;
}

export interface PublishAck extends AckBase {
  /** The message's offset. */
  offset: Offset;
}

export interface SendAck extends AckBase {
  /** Each recipient's inbox offset. */
  offsets: Record<string, Offset>;
}

export interface PresenceAck extends AckBase {
  channel: string;
  /** The users present, sorted. */
  users: string[];
}

/** Each event's payload. */
export interface EventMap {
  message: MessageEvent;
  direct: DirectEvent;
  presence: PresenceEvent;
  gap: GapEvent;
  state: State;
  welcome: WelcomeEvent;
  error: ErrorEvent;
  disconnect: DisconnectInfo;
}

/** The error a request rejects with. */
export declare class WsxError extends Error {
  constructor(code: string, message?: string, event?: ErrorEvent);
  readonly name: "WsxError";
  /** The server's code, or `timeout` / `disconnected`. */
  readonly code: ErrorCode | (string & {});
  /** The server's `error` event, when the server refused. */
  readonly event?: ErrorEvent;
}

/** What the client stands on: the last offset per channel, and the inbox's. */
export interface Offsets {
  inbox: Offset | null;
  channels: Record<string, Offset>;
}

/** A connection to a hub that keeps itself connected. */
export declare class Client {
  constructor(options: ConnectOptions);
  /** Where the client stands now. */
  readonly state: State;
  /** The transport in use now; `null` while not open. */
  readonly transport: TransportName | null;
  /** The session id of the last `welcome`. */
  readonly session: string | null;
  /** The user the server says this is (from the last `welcome`). */
  readonly user: string | null;
  /** The server URL of the last open connection. */
  readonly server: string | null;

  on<K extends keyof EventMap>(event: K, listener: (payload: EventMap[K]) => void): this;
  /** Events of a type this version does not know are emitted under their `type`. */
  on(event: string, listener: (payload: any) => void): this;
  off<K extends keyof EventMap>(event: K, listener: (payload: EventMap[K]) => void): this;
  off(event: string, listener: (payload: any) => void): this;

  /** Subscribes (kept across reconnects, resumed with `since`). `since` resumes from a stored offset. */
  subscribe(channel: string, options?: { since?: Offset }): Promise<SubscribeAck>;
  unsubscribe(channel: string): Promise<UnsubscribeAck>;
  /** `data` is any JSON value (`undefined` is sent as absent, which the server takes as `null`). */
  publish(channel: string, data?: unknown): Promise<PublishAck>;
  /** Sends `data` to the inboxes of `to` (one user or a list). */
  send(to: string | string[], data?: unknown): Promise<SendAck>;
  presence(channel: string): Promise<PresenceAck>;
  /** The offsets to store and hand back as `subscribe(c, {since})` and `inboxSince`. */
  offsets(): Offsets;
  /** Closes for good: waiting requests reject with `disconnected`. */
  close(): void;
}

/** The defaults of {@link ConnectOptions}. */
export declare const DEFAULTS: Readonly<{
  transports: readonly TransportName[];
  requestTimeout: number;
  connectTimeout: number;
  queueSize: number;
  backoffBase: number;
  backoffCap: number;
  maxMessageSize: number;
  dedupWindow: number;
}>;

/** Creates a client; it starts connecting at once. */
export declare function connect(options?: ConnectOptions): Client;

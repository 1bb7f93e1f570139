/**
 * The part of roslib 2.x that src/ros uses. roslib ships its own
 * declarations, but they import with `.ts` extensions and do not resolve
 * under `moduleResolution: NodeNext` (see PLATFORM.md); an ambient module
 * declaration takes precedence over the package's. Keep it to what is
 * used, and keep roslib's types out of the public API.
 */
declare module 'roslib' {
  /** A rosbridge protocol message: a JSON object with an `op`. */
  export interface RosbridgeMessage {
    op: string;
    id?: string;
    [key: string]: unknown;
  }

  export interface ITransport {
    on(event: 'open' | 'close' | 'error', listener: (event: unknown) => void): this;
    on(event: 'message', listener: (message: RosbridgeMessage) => void): this;
    send(message: RosbridgeMessage): void;
    close(): void;
    isOpen(): boolean;
    isClosed(): boolean;
  }

  export type ITransportFactory = (url: string) => Promise<ITransport>;

  /** roslib's default factory: the global WebSocket in a browser, the `ws` package in Node. */
  export const WebSocketTransportFactory: ITransportFactory;

  type Listener = (...args: unknown[]) => void;

  export class Ros {
    constructor(options?: { url?: string; transportFactory?: ITransportFactory });
    readonly isConnected: boolean;
    /** Resolves once the transport exists, before the socket opens: wait for 'connection'. */
    connect(url: string): Promise<void>;
    close(): void;
    authenticate(mac: string, client: string, dest: string, rand: string, t: number, level: string, end: number): void;
    /** Sends now when connected, else queues the message until the next 'connection'. */
    callOnConnection(message: RosbridgeMessage): void;
    on(event: string, listener: Listener): this;
    once(event: string, listener: Listener): this;
    off(event: string, listener?: Listener): this;
    removeAllListeners(event?: string): this;
  }

  export class Topic<T = unknown> {
    constructor(options: {
      ros: Ros;
      name: string;
      messageType: string;
      compression?: string;
      throttle_rate?: number;
      queue_size?: number;
      latch?: boolean;
      queue_length?: number;
      reconnect_on_close?: boolean;
    });
    readonly name: string;
    readonly messageType: string;
    subscribe(callback: (message: T) => void): void;
    unsubscribe(callback?: (message: T) => void): void;
    advertise(): void;
    unadvertise(): void;
    publish(message: T): void;
  }

  export class Service<TRequest = unknown, TResponse = unknown> {
    constructor(options: { ros: Ros; name: string; serviceType: string });
    callService(request: TRequest, callback?: (response: TResponse) => void, failedCallback?: (error: string) => void, timeout?: number): void;
  }
}

// The part of the npm `smpp` package (0.5.x, no published types) that Parley uses: sessions on both
// sides of a bind, PDUs with their fields and TLVs as plain properties, and the status codes.
declare module 'smpp' {
  import { EventEmitter } from 'node:events';
  import { Server as NetServer, Socket } from 'node:net';

  /** A decoded short_message / message_payload: UDH information elements split off, text decoded. */
  export interface DecodedMessage {
    udh?: Buffer[];
    message: string | Buffer;
  }

  export class PDU {
    constructor(command: string | Buffer, options?: Record<string, unknown>);
    command: string;
    command_id: number;
    command_status: number;
    sequence_number: number;
    isResponse(): boolean;
    response(options?: Record<string, unknown>): PDU;
    toBuffer(): Buffer;
    // The library's PDUs carry every field of every command by name, untyped.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    [field: string]: any;
  }

  export type ResponseCallback = (pdu: PDU) => void;

  export class Session extends EventEmitter {
    socket: Socket;
    server?: Server;
    sequence: number;
    send(pdu: PDU, responseCallback?: ResponseCallback, sendCallback?: ResponseCallback): boolean;
    close(callback?: () => void): void;
    destroy(callback?: () => void): void;
    pause(): void;
    resume(): void;
    bind_transceiver(options: Record<string, unknown>, cb?: ResponseCallback): boolean;
    submit_sm(options: Record<string, unknown>, cb?: ResponseCallback, sent?: ResponseCallback): boolean;
    deliver_sm(options: Record<string, unknown>, cb?: ResponseCallback, sent?: ResponseCallback): boolean;
    enquire_link(options?: Record<string, unknown> | ResponseCallback, cb?: ResponseCallback): boolean;
    unbind(options?: Record<string, unknown> | ResponseCallback, cb?: ResponseCallback): boolean;
    generic_nack(options?: Record<string, unknown>): boolean;
  }

  export class Server extends NetServer {
    sessions: Session[];
  }

  export function createServer(
    options: Record<string, unknown>,
    listener?: (session: Session) => void,
  ): Server;
  export function createServer(listener?: (session: Session) => void): Server;
  export function connect(options: {
    host?: string;
    port?: number;
    auto_enquire_link_period?: number;
    [k: string]: unknown;
  }): Session;

  export function addTLV(tag: string, options: { id: number; type: unknown; multiple?: boolean }): void;

  export const types: {
    tlv: {
      int8: unknown;
      int16: unknown;
      int32: unknown;
      cstring: unknown;
      string: unknown;
      buffer: unknown;
    };
  };
  export const errors: Record<string, number>;
  export const encodings: Record<
    string,
    { match(v: string): boolean; encode(v: string): Buffer; decode(v: Buffer): string }
  >;
  export const consts: Record<string, Record<string, number>>;
}

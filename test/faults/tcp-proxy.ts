/**
 * A TCP proxy on 127.0.0.1 in front of a database, for the fault tests: it forwards bytes
 * both ways and, on command, cuts connections, black-holes or delays traffic, refuses new
 * connections, or lets a statement reach the server while its reply is lost.
 */

import { createServer, connect, type Server, type Socket } from "node:net";

export interface DropRepliesOptions {
  /** Drop every reply (server → client bytes) for this long, then cut the connections that lost one. */
  ms?: number;
  /** Drop this many replies, cutting each connection the moment its reply is dropped. @default 1 without ms */
  count?: number;
  /**
   * Only a reply to a request whose recent client → server bytes (latin1, the last 8 KB)
   * match this; a function can pick the current transaction out of them.
   */
  request?: RegExp | ((recent: string) => boolean);
  /** Only a reply whose bytes (latin1) match this. */
  reply?: RegExp;
}

export interface TcpProxy {
  readonly host: "127.0.0.1";
  readonly port: number;
  /** Open client connections. */
  readonly connections: number;
  /** Connections accepted since the start. */
  readonly accepted: number;
  /** Destroys every open connection (both sides); new ones are still accepted. */
  cut(): void;
  /** On: connections are accepted and held, nothing is forwarded either way. Off: what waited flows on. */
  blackhole(on: boolean): void;
  /** Holds every chunk this long before forwarding it (order kept). 0 turns it off. */
  delay(ms: number): void;
  /** On: new connections are closed at once. */
  refuse(on: boolean): void;
  /**
   * Forwards client → server but discards server → client bytes, then cuts the connections
   * that lost a reply: "the statement committed, its reply never came". Resolves with the
   * number of replies dropped once the window has passed or the count is reached.
   */
  dropNextReplies(options: DropRepliesOptions): Promise<number>;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server: Socket;
  /** The latest client → server bytes as latin1, for DropRepliesOptions.request. */
  recent: string;
  lostReply: boolean;
}

interface DropRule {
  remaining: number;
  until: number;
  request?: RegExp | ((recent: string) => boolean);
  reply?: RegExp;
  dropped: number;
  done: (dropped: number) => void;
  timer?: NodeJS.Timeout;
}

const RECENT_CHARS = 8192;

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const targetHost = target.host ?? "127.0.0.1";
  const pairs = new Set<Pair>();
  let accepted = 0;
  let holding = false;
  let refusing = false;
  let delayMs = 0;
  let rule: DropRule | null = null;
  // Per direction, the chunks held back by a delay, in order: a later chunk never overtakes
  // one still held (even when the delay shrank, or the held one's timer runs late).
  const held = new WeakMap<Socket, { due: number; chunk: Buffer }[]>();

  const destroy = (pair: Pair) => {
    pair.client.destroy();
    pair.server.destroy();
    pairs.delete(pair);
  };

  /** Writes the held chunks of `to` that are due, in order, and waits for the next one. */
  const flush = (to: Socket) => {
    const queue = held.get(to);
    if (!queue) return;
    while (queue.length > 0 && queue[0]!.due <= Date.now()) {
      const { chunk } = queue.shift()!;
      if (!to.destroyed) to.write(chunk);
    }
    if (queue.length === 0) held.delete(to);
    else setTimeout(() => flush(to), queue[0]!.due - Date.now());
  };

  const send = (to: Socket, chunk: Buffer) => {
    if (to.destroyed) return;
    const queue = held.get(to);
    if (delayMs <= 0 && !queue) {
      to.write(chunk);
      return;
    }
    const due = Date.now() + delayMs;
    if (queue) {
      queue.push({ due, chunk }); // the head's timer writes it, in turn
      return;
    }
    held.set(to, [{ due, chunk }]);
    setTimeout(() => flush(to), delayMs);
  };

  const finishRule = (r: DropRule) => {
    if (rule !== r) return;
    rule = null;
    if (r.timer) clearTimeout(r.timer);
    for (const pair of [...pairs]) if (pair.lostReply) destroy(pair);
    r.done(r.dropped);
  };

  /** Whether this server → client chunk is a reply the current rule drops. */
  const dropsReply = (pair: Pair, chunk: Buffer): boolean => {
    const r = rule;
    if (!r) return false;
    const request = r.request;
    if (request && !(typeof request === "function" ? request(pair.recent) : request.test(pair.recent))) return false;
    if (r.reply && !r.reply.test(chunk.toString("latin1"))) return false;
    if (Number.isFinite(r.until)) {
      // A window: everything in it is lost; connections are cut when it closes.
      if (!pair.lostReply) r.dropped++;
      pair.lostReply = true;
      return true;
    }
    r.dropped++;
    destroy(pair);
    if (--r.remaining <= 0) finishRule(r);
    return true;
  };

  const server: Server = createServer((client) => {
    accepted++;
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: targetHost, port: target.port });
    const pair: Pair = { client, server: upstream, recent: "", lostReply: false };
    pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    if (holding) {
      client.pause();
      upstream.pause();
    }
    client.on("data", (chunk: Buffer) => {
      pair.recent = (pair.recent + chunk.toString("latin1")).slice(-RECENT_CHARS);
      send(upstream, chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (dropsReply(pair, chunk)) return;
      send(client, chunk);
    });
    // Either side ending or failing ends the pair: the other side sees its connection drop.
    for (const socket of [client, upstream]) {
      socket.on("error", () => destroy(pair));
      socket.on("close", () => destroy(pair));
    }
  });
  server.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("tcp proxy: no port");

  return {
    host: "127.0.0.1",
    port: address.port,
    get connections() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    cut() {
      for (const pair of [...pairs]) destroy(pair);
    },
    blackhole(on) {
      holding = on;
      for (const pair of pairs) {
        for (const socket of [pair.client, pair.server]) {
          if (on) socket.pause();
          else socket.resume();
        }
      }
    },
    delay(ms) {
      delayMs = Math.max(0, ms);
    },
    refuse(on) {
      refusing = on;
    },
    dropNextReplies(options) {
      if (rule) finishRule(rule);
      return new Promise<number>((resolve) => {
        const r: DropRule = {
          remaining: options.count ?? (options.ms === undefined ? 1 : Infinity),
          until: options.ms === undefined ? Infinity : Date.now() + options.ms,
          request: options.request,
          reply: options.reply,
          dropped: 0,
          done: resolve,
        };
        rule = r;
        if (options.ms !== undefined) r.timer = setTimeout(() => finishRule(r), options.ms);
      });
    },
    async close() {
      if (rule) finishRule(rule);
      for (const pair of [...pairs]) destroy(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The fault tests' TCP proxy, against a local echo server that records what reached it. */

import { createServer, connect, type Server, type Socket } from "node:net";
import { once } from "node:events";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

let echo: Server;
let echoPort = 0;
/** Everything the echo server received, across connections. */
let received = "";

beforeAll(async () => {
  echo = createServer((socket) => {
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString();
      socket.write(`echo:${chunk.toString()}`);
    });
  });
  echo.listen(0, "127.0.0.1");
  await once(echo, "listening");
  echoPort = (echo.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((resolve) => echo.close(() => resolve())));

let proxy: TcpProxy;
const clients: Socket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await proxy?.close();
  received = "";
});

async function client(): Promise<Socket & { text: () => string; waitFor: (s: string) => Promise<void> }> {
  const socket = connect({ host: "127.0.0.1", port: proxy.port });
  clients.push(socket);
  let text = "";
  const waiters: Array<() => void> = [];
  socket.on("error", () => {});
  socket.on("data", (chunk: Buffer) => {
    text += chunk.toString();
    for (const w of waiters.splice(0)) w();
  });
  await once(socket, "connect");
  return Object.assign(socket, {
    text: () => text,
    waitFor: async (s: string) => {
      for (let i = 0; i < 100 && !text.includes(s); i++) {
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      if (!text.includes(s)) throw new Error(`no ${JSON.stringify(s)} in ${JSON.stringify(text)}`);
    },
  });
}

const closed = (socket: Socket) => (socket.closed ? Promise.resolve() : once(socket, "close").then(() => {}));
/** Asserting that something does NOT happen needs a wait; it is short and asserts no timing. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

describe("tcp proxy", () => {
  it("forwards both ways", async () => {
    proxy = await startTcpProxy({ port: echoPort });
    const c = await client();
    c.write("hello");
    await c.waitFor("echo:hello");
    expect(proxy.connections).toBe(1);
  });

  it("cut() closes open connections and still accepts new ones", async () => {
    proxy = await startTcpProxy({ port: echoPort });
    const a = await client();
    a.write("a");
    await a.waitFor("echo:a");
    proxy.cut();
    await closed(a);
    const b = await client();
    b.write("b");
    await b.waitFor("echo:b");
  });

  it("blackhole holds traffic both ways, then lets it flow", async () => {
    proxy = await startTcpProxy({ port: echoPort });
    const a = await client();
    proxy.blackhole(true);
    a.write("held");
    const b = await client();
    b.write("new");
    await settle();
    expect(received).toBe("");
    expect(a.text() + b.text()).toBe("");
    expect(a.closed || b.closed).toBe(false);
    proxy.blackhole(false);
    await a.waitFor("echo:held");
    await b.waitFor("echo:new");
  });

  it("delay keeps the order of chunks when the delay shrinks", async () => {
    proxy = await startTcpProxy({ port: echoPort });
    const a = await client();
    proxy.delay(200);
    a.write("1");
    // Separate chunks: the second must reach the proxy after the first is held.
    await settle();
    proxy.delay(0);
    a.write("2");
    await a.waitFor("2");
    expect(received).toBe("12");
  });

  it("refuse closes new connections at once, keeps open ones", async () => {
    proxy = await startTcpProxy({ port: echoPort });
    const open = await client();
    proxy.refuse(true);
    const refused = connect({ host: "127.0.0.1", port: proxy.port });
    refused.on("error", () => {});
    clients.push(refused);
    await closed(refused);
    open.write("still");
    await open.waitFor("echo:still");
    proxy.refuse(false);
    const again = await client();
    again.write("x");
    await again.waitFor("echo:x");
  });

  it("dropNextReplies with a request pattern: the statement arrives, its reply is lost, the connection is cut", async () => {
    proxy = await startTcpProxy({ port: echoPort });
    const other = await client();
    const victim = await client();
    const dropped = proxy.dropNextReplies({ count: 1, request: /commit$/ });
    other.write("select");
    await other.waitFor("echo:select");
    victim.write("update; commit");
    expect(await dropped).toBe(1);
    await closed(victim);
    expect(received).toContain("update; commit");
    expect(victim.text()).toBe("");
    // Only that reply: the rule is spent.
    other.write("more");
    await other.waitFor("echo:more");
  });

  it("dropNextReplies with a reply pattern", async () => {
    proxy = await startTcpProxy({ port: echoPort });
    const a = await client();
    const dropped = proxy.dropNextReplies({ reply: /Queued/ });
    a.write("Idle");
    await a.waitFor("echo:Idle");
    a.write("Queued");
    expect(await dropped).toBe(1);
    await closed(a);
    expect(a.text()).toBe("echo:Idle");
  });

  it("dropNextReplies for a window: every reply in it is lost, those connections cut when it ends", async () => {
    proxy = await startTcpProxy({ port: echoPort });
    const a = await client();
    const idle = await client();
    const dropped = proxy.dropNextReplies({ ms: 300 });
    a.write("x");
    expect(await dropped).toBe(1);
    await closed(a);
    expect(received).toBe("x");
    expect(a.text()).toBe("");
    // A connection that lost nothing is left alone.
    idle.write("y");
    await idle.waitFor("echo:y");
  });
});

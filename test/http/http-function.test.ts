/** The built-in http function against a local node:http server: success, timeout, unexpected status with retries, refused hosts. */

import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TickerQError } from "../../src/index.js";
import { httpFunction } from "../../src/http/index.js";
import { node } from "./http-function-node.js";

interface Hit {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

const hits: Hit[] = [];
const held: (() => void)[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      hits.push({ method: req.method!, path: req.url!, headers: req.headers, body });
      if (req.url === "/ok") res.writeHead(200, { "content-type": "text/plain" }).end(`got ${body}`);
      else if (req.url === "/close") res.writeHead(200, { connection: "close" }).end("closed");
      else if (req.url === "/cut") {
        // The head and part of the body, then the connection is cut.
        res.writeHead(200, { "content-length": "1000" });
        res.write("partial", () => req.socket.destroy());
      } else if (req.url === "/garbage") req.socket.end("this is not HTTP\r\n\r\n");
      else if (req.url === "/down") res.writeHead(503).end("down for maintenance");
      else if (req.url === "/big") res.writeHead(500).end("x".repeat(10_000));
      else if (req.url === "/gone") res.writeHead(404).end("no such thing");
      else if (req.url === "/slow")
        held.push(() => res.end("late")); // answers only when the test ends
      else res.writeHead(400).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const release of held) release();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe("httpFunction", () => {
  it("calls the URL with the method, headers and JSON body; 2xx succeeds and onResponse gets the status and excerpt", async () => {
    const n = await node();
    try {
      const { job, attempts } = await n.run({
        url: `${base}/ok`,
        method: "PUT",
        headers: { "x-call": "me-back" },
        body: { order: 42 },
      });
      expect(["Done", "DueDone"]).toContain(job.status);
      expect(attempts).toHaveLength(1);
      const hit = hits.find((h) => h.headers["x-call"] === "me-back")!;
      expect(hit).toMatchObject({ method: "PUT", path: "/ok", body: '{"order":42}' });
      expect(hit.headers["content-type"]).toBe("application/json");
      expect(n.responses).toEqual([{ status: 200, excerpt: 'got {"order":42}' }]);
    } finally {
      await n.stop();
    }
  });

  it("an unexpected status fails the attempt, retries by the job's policy, and keeps status and body in each attempt", async () => {
    const n = await node();
    try {
      const before = hits.filter((h) => h.path === "/down").length;
      const { job, attempts } = await n.run({ url: `${base}/down` }, { retries: 2, retryIntervals: [0.01] });
      expect(job.status).toBe("Failed");
      expect(hits.filter((h) => h.path === "/down").length - before).toBe(3);
      expect(attempts.map((a) => a.status)).toEqual(["Failed", "Failed", "Failed"]);
      for (const attempt of attempts) {
        expect(attempt.exceptionMessage).toBe(`GET ${base}/down answered 503, expected 2xx: down for maintenance`);
        expect(attempt.exceptionDetails).toContain("Response body (start):\ndown for maintenance");
      }
      expect(n.responses).toEqual([]);
    } finally {
      await n.stop();
    }
  });

  it("keeps a bounded excerpt of a large body", async () => {
    const n = await node({ maxExcerptBytes: 100 });
    try {
      const { attempts } = await n.run({ url: `${base}/big`, method: "POST" });
      const details = attempts[0]!.exceptionDetails!;
      const excerpt = details.slice(details.indexOf("Response body (start):\n") + "Response body (start):\n".length);
      expect(excerpt).toBe("x".repeat(100));
      expect(attempts[0]!.exceptionMessage).toMatch(/answered 500, expected 2xx: x{100}$/);
    } finally {
      await n.stop();
    }
  });

  it("expectStatus names what counts as success", async () => {
    const n = await node();
    try {
      const { job } = await n.run({ url: `${base}/gone`, method: "DELETE", expectStatus: [404, 410] });
      expect(["Done", "DueDone"]).toContain(job.status);
      expect(n.responses).toEqual([{ status: 404, excerpt: "no such thing" }]);
    } finally {
      await n.stop();
    }
  });

  it("a call that does not answer within timeoutMs fails the attempt with the timeout named", async () => {
    const n = await node();
    try {
      const { job, attempts } = await n.run({ url: `${base}/slow`, timeoutMs: 200 });
      expect(job.status).toBe("Failed");
      expect(attempts[0]!.exceptionMessage).toBe(`GET ${base}/slow did not answer within 200 ms`);
    } finally {
      await n.stop();
    }
  });

  it("refuses, at add(), a host outside allowHosts and a bad request, naming the field and the value", async () => {
    const n = await node();
    try {
      const add = (request: unknown) => n.tq.timeTickers.add({ function: "http", request: request as never });
      const refused = await add({ url: "http://metadata.google.internal/computeMetadata/v1/" }).catch((e) => e);
      expect(refused).toBeInstanceOf(TickerQError);
      expect(refused).toMatchObject({ code: "INVALID_REQUEST", field: "request" });
      expect(refused.message).toContain(
        'request.url: host "metadata.google.internal" is not in allowHosts ("127.0.0.1")',
      );
      await expect(add({ url: "ftp://127.0.0.1/x" })).rejects.toThrow(
        /request\.url: must be an absolute http: or https: URL; got "ftp:\/\/127\.0\.0\.1\/x"/,
      );
      await expect(add({ url: `${base}/ok`, method: "FETCH" })).rejects.toThrow(
        /request\.method: must be one of .*; got "FETCH"/,
      );
      await expect(add({ url: `${base}/ok`, timeoutMs: 0 })).rejects.toThrow(
        /request\.timeoutMs: must be an integer from 1 to 300000; got 0/,
      );
      await expect(add({ url: `${base}/ok`, expectStatus: 99 })).rejects.toThrow(/request\.expectStatus: .*got 99/);
      expect((await n.tq.timeTickers.list()).items).toEqual([]);
    } finally {
      await n.stop();
    }
  });

  it("refuses at run time a name that resolves to a loopback address, and metadata addresses, unless allowAddresses lets them through", async () => {
    const n = await node({
      allowHosts: ["localhost", "169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254"],
      allowAddresses: [],
    });
    try {
      const before = hits.length;
      const port = new URL(base).port;
      const local = await n.run({ url: `http://localhost:${port}/ok` });
      expect(local.job.status).toBe("Failed");
      expect(local.attempts[0]!.exceptionMessage).toMatch(
        /^host "localhost" resolves to (127\.0\.0\.1|::1), a private, loopback or link-local address/,
      );
      for (const url of [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
      ]) {
        const { job, attempts } = await n.run({ url });
        expect(job.status).toBe("Failed");
        expect(attempts[0]!.exceptionMessage).toMatch(/resolves to .*, a private, loopback or link-local address/);
      }
      expect(hits.length).toBe(before);
    } finally {
      await n.stop();
    }
  });

  it("checks the very addresses a call connects to: one lookup per call, refused when a name turns private (DNS rebinding)", async () => {
    // The name answers a loopback address the function allows, then one it does not. Checked
    // before the call and resolved again by it, the second answer went unchecked. (The server
    // closes each connection, so the second call connects anew rather than reusing the first's.)
    const answers = ["127.0.0.1", "10.0.0.1"];
    const asked: string[] = [];
    const n = await node({
      allowHosts: ["billing.test"],
      lookup: async (hostname) => {
        asked.push(hostname);
        return [{ address: answers[Math.min(asked.length, answers.length) - 1]!, family: 4 }];
      },
    });
    try {
      const url = `http://billing.test:${new URL(base).port}/close`;
      const before = hits.length;
      const first = await n.run({ url });
      expect(["Done", "DueDone"]).toContain(first.job.status);
      expect(hits.at(-1)!.headers.host).toBe(`billing.test:${new URL(base).port}`);
      const second = await n.run({ url });
      expect(second.job.status).toBe("Failed");
      expect(second.attempts[0]!.exceptionMessage).toMatch(
        /^host "billing\.test" resolves to 10\.0\.0\.1, a private, loopback or link-local address/,
      );
      expect(asked).toEqual(["billing.test", "billing.test"]);
      expect(hits.length).toBe(before + 1);
    } finally {
      await n.stop();
    }
  });

  it("fails only the call when the lookup option throws or answers nothing", async () => {
    for (const lookup of [
      () => {
        throw new Error("registry down");
      },
      async () => [],
    ]) {
      const n = await node({ allowHosts: ["billing.test"], lookup });
      try {
        const { job, attempts } = await n.run({ url: `http://billing.test:${new URL(base).port}/ok` });
        expect(job.status).toBe("Failed");
        expect(attempts[0]!.exceptionMessage).toMatch(/failed: (registry down|no address for billing\.test)$/);
      } finally {
        await n.stop();
      }
    }
  });

  it("ends the attempt when the server cuts the body or answers what is not HTTP", async () => {
    const n = await node();
    try {
      const cut = await n.run({ url: `${base}/cut` });
      // The status arrived: the call counts, with what of the body could be read.
      expect(["Done", "DueDone"]).toContain(cut.job.status);
      expect(n.responses.at(-1)!.status).toBe(200);
      const garbage = await n.run({ url: `${base}/garbage` });
      expect(garbage.job.status).toBe("Failed");
      expect(garbage.attempts[0]!.exceptionMessage).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/garbage failed: /);
    } finally {
      await n.stop();
    }
  });

  it("refuses bad options, naming the field and the value", () => {
    expect(() => httpFunction({ allowHosts: ["*"], lookup: "8.8.8.8" as never })).toThrow(/lookup/);
    expect(() => httpFunction({ allowHosts: [] })).toThrow(/allowHosts/);
    expect(() => httpFunction({ allowHosts: ["a b"] })).toThrow(/allowHosts\[0\]/);
    expect(() => httpFunction({ allowHosts: ["*"], allowAddresses: ["10.0.0.0/33"] })).toThrow(
      /allowAddresses\[0\].*10\.0\.0\.0\/33/,
    );
    expect(() => httpFunction({ allowHosts: ["*"], timeoutMs: -1 })).toThrow(/timeoutMs.*-1/);
  });
});

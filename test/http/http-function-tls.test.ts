/**
 * The http function over HTTPS, against a local node:https server with a certificate for
 * billing.test from a test CA (test/http/fixtures; valid until 2126): the checked lookup and
 * the certificate's name both hold on this path too.
 */

import { readFileSync } from "node:fs";
import { createServer, globalAgent, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HttpFunctionOptions } from "../../src/http/index.js";
import { node } from "./http-function-node.js";

const fixture = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url));

let server: Server;
let port: number;
/** TLS handshakes the server completed, and the requests it answered (by SNI name). */
let handshakes = 0;
const served: string[] = [];

beforeAll(async () => {
  // The CA is this file's own: trusted by the agent the http function calls through, as
  // NODE_EXTRA_CA_CERTS would make it for an application.
  globalAgent.options.ca = fixture("tls-ca.pem");
  server = createServer({ key: fixture("tls-billing.test.key"), cert: fixture("tls-billing.test.pem") }, (req, res) => {
    served.push(`${(req.socket as { servername?: string }).servername} ${req.url}`);
    res.writeHead(200, { connection: "close" }).end("ok");
  });
  server.on("secureConnection", () => handshakes++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  delete globalAgent.options.ca;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A lookup that answers `address` for every name, and records what it was asked. */
function answering(address: string, asked: string[]): HttpFunctionOptions["lookup"] {
  return async (hostname) => {
    asked.push(hostname);
    return [{ address, family: 4 }];
  };
}

describe("http function over HTTPS", () => {
  it("calls a name through the checked lookup and verifies the certificate against that name", async () => {
    const asked: string[] = [];
    const n = await node({ allowHosts: ["*.test"], lookup: answering("127.0.0.1", asked) });
    try {
      const { job } = await n.run({ url: `https://billing.test:${port}/pay` });
      expect(["Done", "DueDone"]).toContain(job.status);
      // The server saw the name in the handshake (SNI), and the lookup was the function's.
      expect(served.at(-1)).toBe("billing.test /pay");
      expect(asked).toEqual(["billing.test"]);
    } finally {
      await n.stop();
    }
  });

  it("fails the attempt when the certificate is not for the name called", async () => {
    const n = await node({ allowHosts: ["*.test"], lookup: answering("127.0.0.1", []) });
    const before = served.length;
    try {
      const { job, attempts } = await n.run({ url: `https://payroll.test:${port}/pay` });
      expect(job.status).toBe("Failed");
      expect(attempts[0]!.exceptionMessage).toMatch(/^GET https:\/\/payroll\.test:\d+\/pay failed: .*payroll\.test/);
      expect(served.length).toBe(before);
    } finally {
      await n.stop();
    }
  });

  it("refuses a name that resolves to a private address before any handshake (DNS rebinding, HTTPS)", async () => {
    const asked: string[] = [];
    const n = await node({ allowHosts: ["*.test"], lookup: answering("10.0.0.1", asked) });
    const before = handshakes;
    try {
      const { job, attempts } = await n.run({ url: `https://billing.test:${port}/pay` });
      expect(job.status).toBe("Failed");
      expect(attempts[0]!.exceptionMessage).toMatch(
        /^host "billing\.test" resolves to 10\.0\.0\.1, a private, loopback or link-local address/,
      );
      expect(asked).toEqual(["billing.test"]);
      expect(handshakes).toBe(before);
    } finally {
      await n.stop();
    }
  });
});

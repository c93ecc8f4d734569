// The status page in a real browser: Debian's headless Chromium driven by playwright-core (which
// downloads no browser of its own). A node with two backends; the page must show both and the
// member, then show a stopped backend as down without a reload, with nothing loaded from elsewhere
// and nothing refused by the page's Content-Security-Policy.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { FAST_GOSSIP, startNode } from "../helpers/node.ts";
import { requirePrerequisite } from "../helpers/prereq.ts";

// The few browser globals used by the functions that run inside the page (they are serialised and
// run there); the project compiles without the DOM lib, so they are declared here, for this file only.
interface PageElement {
  textContent: string | null;
  dataset: Record<string, string | undefined>;
}
declare const document: {
  querySelectorAll(selector: string): Iterable<PageElement> & { length: number };
  querySelector(selector: string): PageElement | null;
  getElementById(id: string): PageElement | null;
  documentElement: { scrollWidth: number };
  body: PageElement;
};
declare const window: { innerWidth: number };
declare function getComputedStyle(e: PageElement): { display: string; backgroundColor: string };

const CHROMIUM = ["/usr/bin/chromium", Bun.which("chromium"), Bun.which("chromium-browser")].find(
  (p): p is string => typeof p === "string" && existsSync(p),
);

const noChromium = requirePrerequisite(
  "status page in a real browser (test/admin/browser.test.ts)",
  CHROMIUM ? undefined : "Chromium was not found at /usr/bin/chromium or on PATH",
  "apt-get install chromium; .ci/run installs it",
);

// An HTML-looking node name: the page must show it as text, never parse it.
const NODE_NAME = "edge-1<b id=injected>x</b>";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

let dir: string;
let a: BackendHandle;
let b: BackendHandle;
let c: BackendHandle;
let node: Awaited<ReturnType<typeof startNode>>;
let peer: Awaited<ReturnType<typeof startNode>> | undefined;
let ctx: BrowserContext | undefined;
let traffic: Promise<void> | undefined;
let trafficOn = true;

describe.skipIf(noChromium)("status page in Chromium", () => {
  beforeAll(async () => {
    const { chromium } = await import("playwright-core");
    dir = mkdtempSync(join(tmpdir(), "clusterclub-browser-"));
    a = startBackend({ name: "a" });
    b = startBackend({ name: "b" });
    node = await startNode({
      backends: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`],
      name: NODE_NAME,
      health: 'interval = "200ms"\ntimeout = "200ms"\nrise = 1\nfall = 1',
      cluster: FAST_GOSSIP,
    });
    // A second member with one backend, so the page has a cluster to show.
    c = startBackend({ name: "c" });
    peer = await startNode({
      backends: [`127.0.0.1:${c.port}`],
      name: "edge-2",
      cluster: `peers = ["127.0.0.1:${node.cluster!.port}"]\n${FAST_GOSSIP}`,
    });
    // A trickle of requests (a few 5xx among them) so the traffic tiles have numbers to show.
    traffic = (async () => {
      for (let i = 0; trafficOn; i++) {
        await fetch(`${node.url}${i % 10 === 9 ? "/status/500" : `/slow/${i % 4}`}`)
          .then((r) => r.arrayBuffer())
          .catch(() => {});
        await Bun.sleep(40);
      }
    })();
    ctx = await chromium.launchPersistentContext(join(dir, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1100, height: 760 },
      timeout: 30_000,
    });
  }, 45_000);

  afterAll(async () => {
    trafficOn = false;
    await traffic;
    await ctx?.close().catch(() => {});
    await peer?.stop(100);
    await node?.stop(100);
    await a?.stop();
    await b?.stop();
    await c?.stop();
    if (dir) rmSync(join(dir, "profile"), { recursive: true, force: true });
  });

  /** Requests that left the admin origin, and console errors (CSP refusals show up there). */
  function watch(page: Page): { foreign: string[]; errors: string[] } {
    const seen = { foreign: [] as string[], errors: [] as string[] };
    page.on("request", (r) => {
      if (!r.url().startsWith(node.adminUrl + "/") && !r.url().startsWith("data:")) seen.foreign.push(r.url());
    });
    page.on("console", (m) => {
      if (m.type() === "error") seen.errors.push(m.text());
    });
    page.on("pageerror", (e) => seen.errors.push(String(e)));
    return seen;
  }

  const rowStatus = (page: Page, address: string) =>
    page.evaluate((addr) => {
      for (const tr of document.querySelectorAll("#backends tr")) {
        if (tr.textContent?.includes(addr)) return { status: tr.dataset.status, text: tr.textContent };
      }
      return null;
    }, address);

  test(
    "shows members and backends live; a stopped backend turns down without a reload",
    async () => {
      const page = await ctx!.newPage();
      const seen = watch(page);
      const addrA = `127.0.0.1:${a.port}`;
      const addrB = `127.0.0.1:${b.port}`;
      await page.goto(`${node.adminUrl}/`, { waitUntil: "domcontentloaded" });

      // First snapshot rendered: both backends up, the member listed with its weight.
      await page.waitForFunction(
        ([x, y]) => {
          const rows = [...document.querySelectorAll("#backends tr")];
          const up = (addr: string) => rows.some((r) => r.textContent!.includes(addr) && r.dataset.status === "up");
          return up(x!) && up(y!) && document.querySelectorAll("#members tr[data-state=alive]").length === 2;
        },
        [addrA, addrB],
        { timeout: 10_000 },
      );
      expect((await rowStatus(page, addrA))!.text).toContain("up");
      const member = await page.locator("#members tr").first().innerText();
      expect(member).toContain(NODE_NAME); // shown literally, as text
      expect(member).toContain("alive");
      expect(member).toContain("this node");
      expect(member).toContain("2 · 67 %"); // weight = healthy backends, share of 2 + 1
      const other = await page.locator("#members tr").nth(1).innerText();
      expect(other).toContain("edge-2");
      expect(other).toContain("alive");
      expect(other).toContain("1 · 33 %");
      // Pools: the default pool, healthy 2 here and 3 in the cluster, by member.
      const pool = await page.locator("#pools tr").first().innerText();
      expect(pool).toContain("default");
      expect(pool).toContain("2 of 2");
      expect(pool).toMatch(/edge-2 1/);
      // The HTML in the node's name was not parsed.
      expect(await page.evaluate(() => document.getElementById("injected"))).toBeNull();
      expect(await page.locator("#node").textContent()).toBe(NODE_NAME);
      expect(await page.locator("#conn").textContent()).toBe("live");

      // Traffic numbers arrive with the stream.
      await page.waitForFunction(() => /\d/.test(document.getElementById("rps")!.textContent!) && document.getElementById("p50")!.textContent !== "–", null, {
        timeout: 10_000,
      });

      // Stop one backend: the open page must show it down by itself.
      const reloads: string[] = [];
      page.on("framenavigated", (f) => reloads.push(f.url()));
      await b.stop();
      await page.waitForFunction(
        (addr) => [...document.querySelectorAll("#backends tr")].some((r) => r.textContent!.includes(addr) && r.dataset.status === "down"),
        addrB,
        { timeout: 8_000 },
      );
      const down = (await rowStatus(page, addrB))!;
      expect(down.text).toContain("down"); // a text label, not only a colour
      expect(down.text).toMatch(/refused|ECONNREFUSED|connect|timeout/i); // the last error is shown
      expect((await rowStatus(page, addrA))!.status).toBe("up");
      await page.waitForFunction(() => document.getElementById("bsum")!.textContent === "1 of 2 healthy", null, { timeout: 5_000 });
      await page.waitForFunction(() => document.querySelector("#members tr")!.textContent!.includes("1 · 50 %"), null, { timeout: 5_000 });
      expect(reloads).toEqual([]);

      const shot = join(dir, "status-page.png");
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`status page screenshot (desktop): ${shot}`);

      // Phone width: no sideways scrolling, tables become cards.
      await page.setViewportSize({ width: 390, height: 844 });
      await page.waitForTimeout(1200); // a fresh snapshot renders at the new width
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
      expect(await page.evaluate(() => getComputedStyle(document.querySelector("thead")!).display)).toBe("none");
      const phone = join(dir, "status-page-phone.png");
      await page.screenshot({ path: phone, fullPage: true });
      console.log(`status page screenshot (phone):   ${phone}`);

      // Dark scheme: the same page, readable on a dark background.
      await page.emulateMedia({ colorScheme: "dark" });
      await page.setViewportSize({ width: 1100, height: 760 });
      expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).not.toBe("rgb(244, 246, 248)");
      const dark = join(dir, "status-page-dark.png");
      await page.screenshot({ path: dark, fullPage: true });
      console.log(`status page screenshot (dark):    ${dark}`);

      expect(seen.foreign).toEqual([]);
      expect(seen.errors).toEqual([]);
      await page.close();
    },
    40_000,
  );
});

import { test } from "bun:test";
import { RawH2, FRAME, FLAG, hpackBlock } from "./helpers/h2raw.ts";
test("dbg", async () => {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", http2: true, fetch: (req) => new Response("ok " + (req.headers.get("x-a")?.length ?? 0)) });
  const auth = `127.0.0.1:${s.port}`;
  for (const size of [10, 1000, 3000, 5000]) {
    const c = await RawH2.connect(s.port);
    const id = c.stream();
    c.send(FRAME.HEADERS, FLAG.END_STREAM, id, hpackBlock([[":method","GET"],[":scheme","http"],[":authority",auth],[":path","/"]]));
    c.send(FRAME.CONTINUATION, FLAG.END_HEADERS, id, hpackBlock([["x-a", "a".repeat(size)]]));
    await Bun.sleep(200);
    console.log(size, c.frames.map(f => [f.type, f.flags, f.stream]), c.goaway);
    c.close();
  }
  // two continuation frames
  const c = await RawH2.connect(s.port); const id = c.stream();
  c.send(FRAME.HEADERS, FLAG.END_STREAM, id, hpackBlock([[":method","GET"],[":scheme","http"],[":authority",auth],[":path","/"]]));
  c.send(FRAME.CONTINUATION, 0, id, hpackBlock([["x-a", "a"]]));
  c.send(FRAME.CONTINUATION, FLAG.END_HEADERS, id, hpackBlock([["x-b", "b"]]));
  await Bun.sleep(200);
  console.log("2 cont", c.frames.map(f => [f.type, f.flags, f.stream]), c.goaway);
  s.stop(true);
});

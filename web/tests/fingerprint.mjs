// What docs/playground.png shows, as SHA-256 digests kept inside the PNG (a
// tEXt chunk), so that the picture cannot silently fall behind the page:
//
//   - `sources`: the files that decide what the screenshot shows (the page's
//     HTML, script and style sheet, and the example manifest on screen);
//   - `rendered`: the text the page showed when the picture was taken (the
//     example's title, the three boxes, the summary and every verdict card),
//     which also covers what the policy itself says: default settings,
//     verdicts, messages and patches;
//   - `example` and `viewport`: how the browser test takes it.
//
// The browser test (playground.test.mjs) writes the chunk with
// UPDATE_SCREENSHOT=1 and otherwise fails when any digest differs; the
// `sources` part is also checked without a browser by
// release/tests/playground_screenshot.rs (cargo test). Digests of file bytes
// and of text, not pixels: another Chromium or font renders the same picture
// slightly differently, and that is not staleness.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The picture, relative to the repository. */
export const SCREENSHOT = "docs/playground.png";
/** The tEXt keyword (Latin-1, 1 to 79 bytes); release/tests/playground_screenshot.rs reads it too. */
export const KEYWORD = "linkerd-ha-policy playground";
/** Bumped when what is hashed changes, so that old pictures read as stale. */
export const FORMAT = 1;
/** The example on screen (`?example=`) and the file it comes from (web/tools/bundle.mjs). */
export const EXAMPLE = { id: "kube-system", manifest: "examples/kube-system.yaml" };
export const VIEWPORT = { width: 1440, height: 1000 };
/** Files whose every byte may change the picture, relative to the repository. */
export const SOURCES = ["web/index.html", "web/app.js", "web/style.css", EXAMPLE.manifest];
/** How to bring the picture up to date, for failure messages. */
export const REGENERATE =
  "regenerate it with `UPDATE_SCREENSHOT=1 make browser-test` " +
  "(or `make build && UPDATE_SCREENSHOT=1 POLICY_WASM=$PWD/target/wasm32-wasip1/release/linkerd_ha_policy.wasm web/tests/run.sh`), " +
  `look at it, and commit ${SCREENSHOT}`;

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** The fingerprint of the page as it is now, given the text it rendered. */
export function fingerprint(repository, renderedText) {
  return {
    format: FORMAT,
    example: EXAMPLE.id,
    viewport: `${VIEWPORT.width}x${VIEWPORT.height}`,
    sources: Object.fromEntries(SOURCES.map((file) => [file, sha256(readFileSync(join(repository, file)))])),
    rendered: sha256(renderedText),
  };
}

/**
 * What the picture shows, as text: collected in the page (passed to
 * page.evaluate). textContent, not innerText, so that layout does not enter
 * it; whitespace runs are folded. The status line ("Evaluated in 2 ms") is
 * left out: it changes from run to run.
 */
export function collectRenderedText() {
  const fold = (node) => (node ? node.textContent.replace(/\s+/g, " ").trim() : "");
  const select = document.getElementById("example");
  const error = document.getElementById("error");
  return [
    `example: ${fold(select.selectedOptions[0])}`,
    `manifest:\n${document.getElementById("manifest").value}`,
    `settings (${document.getElementById("settings-box").open ? "open" : "closed"}):\n${document.getElementById("settings").value}`,
    `cluster (${document.getElementById("cluster-box").open ? "open" : "closed"}):\n${document.getElementById("cluster").value}`,
    `summary: ${fold(document.getElementById("summary"))}`,
    `error: ${error.hidden ? "" : fold(error)}`,
    ...[...document.querySelectorAll("#objects > li")].map((card) => `card: ${fold(card)}`),
  ].join("\n");
}

/** Which parts of `recorded` differ from `current`, worded for a failure message. */
export function differences(recorded, current) {
  if (!recorded) return [`${SCREENSHOT} carries no fingerprint (no "${KEYWORD}" tEXt chunk)`];
  const found = [];
  for (const key of ["format", "example", "viewport"]) {
    if (recorded[key] !== current[key]) found.push(`${key}: ${JSON.stringify(recorded[key])} in the picture, ${JSON.stringify(current[key])} now`);
  }
  for (const [file, digest] of Object.entries(current.sources)) {
    if (recorded.sources?.[file] !== digest) found.push(`${file} changed since the picture was taken`);
  }
  if (recorded.rendered !== current.rendered) {
    found.push("the page renders different text (example, settings, verdicts or messages) than when the picture was taken");
  }
  return found;
}

// PNG: an 8-byte signature, then chunks of length (4 bytes, big-endian),
// type (4), data, CRC-32 of type and data (4).
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function* chunks(png) {
  if (png.length < SIGNATURE.length || !png.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG file");
  let offset = SIGNATURE.length;
  while (offset + 12 <= png.length) {
    const length = png.readUInt32BE(offset);
    const end = offset + 12 + length;
    if (end > png.length) throw new Error(`truncated PNG chunk at byte ${offset}`);
    yield { type: png.toString("latin1", offset + 4, offset + 8), data: png.subarray(offset + 8, offset + 8 + length), start: offset, end };
    offset = end;
  }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function textChunk(keyword, text) {
  const data = Buffer.concat([Buffer.from(keyword, "latin1"), Buffer.from([0]), Buffer.from(text, "latin1")]);
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write("tEXt", 4, "latin1");
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  return chunk;
}

/** The fingerprint recorded in `png`, or null when it has none. */
export function readFingerprint(png) {
  for (const { type, data } of chunks(png)) {
    if (type !== "tEXt") continue;
    const separator = data.indexOf(0);
    if (separator < 0 || data.toString("latin1", 0, separator) !== KEYWORD) continue;
    return JSON.parse(data.toString("latin1", separator + 1));
  }
  return null;
}

/** `png` with `fingerprint` as its only "linkerd-ha-policy playground" tEXt chunk, right after IHDR. */
export function withFingerprint(png, fingerprint) {
  const parts = [SIGNATURE];
  for (const chunk of chunks(png)) {
    if (chunk.type === "tEXt" && chunk.data.subarray(0, KEYWORD.length + 1).equals(Buffer.from(`${KEYWORD}\0`, "latin1"))) continue;
    parts.push(png.subarray(chunk.start, chunk.end));
    // JSON.stringify escapes nothing outside ASCII here: digests and names.
    if (chunk.type === "IHDR") parts.push(textChunk(KEYWORD, JSON.stringify(fingerprint)));
  }
  return Buffer.concat(parts);
}

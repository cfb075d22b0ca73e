// Bundles entry.mjs into ONE minified IIFE, static/vendor/codemirror/lab-editor.js, exposing
// window.LabEditor, and writes static/vendor/codemirror/LICENSES.txt from what esbuild
// actually put in the bundle (name, version and licence text of each package).
// `make editor` runs `npm ci` and then this; `node build.mjs --check` builds in memory and
// fails if the committed files differ from what the sources and the lock file give.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, "..", "..", "static", "vendor", "codemirror");
const outFile = join(outDir, "lab-editor.js");
const licensesFile = join(outDir, "LICENSES.txt");
const check = process.argv.includes("--check");

// style-mod (CodeMirror's CSS-in-JS) writes its rules into a <style> element when it mounts
// on a document, and the site's Content-Security-Policy (style-src 'self', no
// 'unsafe-inline', no nonce) refuses such an element: the editor would come up unstyled.
// Constructed style sheets (document.adoptedStyleSheets) are not subject to style-src, and
// style-mod already uses them for shadow roots; this makes it use them for documents too.
// The build stops if the line is not found, so an upgrade of style-mod is looked at.
const STYLE_MOD_TEST = "if (!root.head && root.adoptedStyleSheets && win.CSSStyleSheet) {";
const STYLE_MOD_PATCH = "if (root.adoptedStyleSheets && win.CSSStyleSheet) {";
let styleModPatched = 0;
const adoptedSheetsOnDocuments = {
  name: "style-mod-adopted-sheets",
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]style-mod[\\/]src[\\/]style-mod\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      if (!source.includes(STYLE_MOD_TEST)) {
        throw new Error(`${args.path}: the line to patch is gone (${STYLE_MOD_TEST}); ` +
          "check how this style-mod mounts its styles and update build.mjs");
      }
      styleModPatched += 1;
      return { contents: source.replace(STYLE_MOD_TEST, STYLE_MOD_PATCH), loader: "js" };
    });
  },
};

const result = await esbuild.build({
  absWorkingDir: here, // metafile paths are relative to this
  entryPoints: [join(here, "entry.mjs")],
  bundle: true,
  format: "iife",
  minify: true,
  target: ["es2020"],
  platform: "browser",
  legalComments: "none",
  charset: "utf8",
  metafile: true,
  write: false,
  outfile: outFile,
  plugins: [adoptedSheetsOnDocuments],
  banner: {
    js: "/*! lab-editor.js: CodeMirror 6 for the code lab, window.LabEditor. Built from " +
      "frontend/codemirror (make editor). MIT licences: LICENSES.txt beside this file. */",
  },
});
if (styleModPatched !== 1) {
  throw new Error(`style-mod was patched ${styleModPatched} times, expected once`);
}

// The packages whose code is in the bundle, from esbuild's own account of the output (a
// package that was read but tree-shaken away entirely, such as @codemirror/lint, is not).
function packageOf(input) {
  const parts = input.split(/[\\/]/);
  const at = parts.lastIndexOf("node_modules");
  if (at < 0) { return null; }
  const name = parts[at + 1].startsWith("@") ? `${parts[at + 1]}/${parts[at + 2]}` : parts[at + 1];
  return { name, dir: join(here, ...parts.slice(0, at + 1), ...name.split("/")) };
}
const bundled = new Map();
const [output] = Object.values(result.metafile.outputs);
for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
  const pkg = bytesInOutput > 0 ? packageOf(input) : null;
  if (pkg && !bundled.has(pkg.name)) { bundled.set(pkg.name, pkg.dir); }
}

const sections = [...bundled.keys()].sort().map((name) => {
  const dir = bundled.get(name);
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  if (meta.license !== "MIT") {
    throw new Error(`${name} is licensed ${meta.license}, not MIT: review it before bundling`);
  }
  const licenseFile = ["LICENSE", "LICENSE.md", "LICENSE.txt"].map((f) => join(dir, f)).find(existsSync);
  if (!licenseFile) { throw new Error(`${name} ships no LICENSE file`); }
  const text = readFileSync(licenseFile, "utf8").trim();
  return `${name} ${meta.version} (${meta.license})\n${"-".repeat(name.length + meta.version.length + 7)}\n${text}\n`;
});
const licenses =
  "Third-party code in lab-editor.js, bundled by frontend/codemirror/build.mjs.\n" +
  "Each package below is included under the MIT licence; its notice follows.\n\n" +
  sections.join("\n");

const bundle = result.outputFiles[0].text;
const targets = [[outFile, bundle], [licensesFile, licenses]];
if (check) {
  const stale = targets.filter(([file, text]) => !existsSync(file) || readFileSync(file, "utf8") !== text);
  for (const [file] of stale) { console.error(`${relative(process.cwd(), file)} is out of date: run make editor`); }
  process.exit(stale.length ? 1 : 0);
}
mkdirSync(outDir, { recursive: true });
for (const [file, text] of targets) { writeFileSync(file, text); }
const kb = (Buffer.byteLength(bundle) / 1024).toFixed(1);
console.log(`${relative(process.cwd(), outFile)}: ${kb} KiB, ${bundled.size} packages` +
  ` (${[...bundled.keys()].sort().join(", ")})`);

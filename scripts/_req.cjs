const t0 = performance.now();
const mods = process.argv.slice(2);
for (const m of mods) { const t = performance.now(); require(m.startsWith(".") ? require("path").resolve(m) : m); console.log(m, (performance.now() - t).toFixed(0), "ms"); }
console.log("total", (performance.now() - t0).toFixed(0), "since origin", performance.now().toFixed(0));

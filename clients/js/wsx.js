// wsx.js: the browser client for wsx serve (being written; see clients/js/README.md).
export function connect() { throw new Error("wsx.js is not written yet"); }

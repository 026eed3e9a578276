//! Pages the hub serves itself.

/// `GET /`: what this server is and where its endpoints are.
pub(crate) const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>wsx hub</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}code{background:#f2f2f2;padding:0 .2em}</style>
</head>
<body>
<h1>wsx hub</h1>
<p>This is a <a href="https://github.com/wsx-rs/wsx">wsx</a> push server. Its endpoints:</p>
<ul>
<li><code>GET /ws?user=NAME</code> — WebSocket sessions (JSON commands and events)</li>
<li><code>GET /sse</code>, <code>GET /poll</code>, <code>POST /emulation</code> — the same sessions for clients without WebSocket</li>
<li><code>POST /api/publish</code>, <code>POST /api/send</code>, <code>GET /api/presence/CHANNEL</code>, <code>GET /api/history/CHANNEL</code>, <code>POST /api/disconnect</code></li>
<li><code>GET /healthz</code>, <code>GET /metrics</code></li>
</ul>
<p>Try it: <code>wsx connect 'ws://HOST/ws?user=alice'</code>, then type
<code>{"type":"subscribe","channel":"news","id":1}</code>; and from another terminal
<code>curl -d '{"channel":"news","data":"hello"}' http://HOST/api/publish</code>.</p>
</body>
</html>
"#;

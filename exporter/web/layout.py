"""The frame every status page shares: header, styles and the small refresh script.

Works without JavaScript (filters are query parameters); the inline script only enhances it:
filtering as you type and a refresh every few seconds that swaps the page's <main> for a fresh
one (no reload, no flicker). No external resources, so it works air-gapped.
"""

from __future__ import annotations

import html

from exporter import __version__


def page(title: str, main: str, refresh_url: str, head_extra: str = "") -> bytes:
    """A whole page; with a refresh_url its <main> refreshes itself from that URL."""
    script = f"<script>{SCRIPT}</script>" if refresh_url else ""
    text = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style></head>
<body>
<header><a class="brand" href="/">Rocket.Chat exporter</a>
<span class="muted">{html.escape(__version__)}</span>
<nav><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a>
<a href="/ready">/ready</a> <a href="/runbooks">runbooks</a></nav>
{head_extra}</header>
<main id="main" data-refresh="{html.escape(refresh_url)}">{main}</main>
{script}
</body></html>
"""
    # backslashreplace: a string that escaped the parsers' cleaning still cannot fail the page
    return text.encode("utf-8", "backslashreplace")


CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{display:flex;flex-wrap:wrap;gap:.6em 1.2em;align-items:center;padding:.7em 1.2em;
background:#24292f;color:#fff}header a{color:#fff}.brand{font-weight:600;text-decoration:none}
header .muted{color:#bbb}nav a{margin-right:.8em}
main{padding:1em 1.2em;max-width:1600px}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.4em}
form input,form select{font:inherit;padding:.25em .4em}
.summary{list-style:none;display:flex;flex-wrap:wrap;gap:.5em;padding:0;margin:0 0 .4em}
.summary li a{display:block;padding:.35em .7em;border-radius:6px;background:#fff;
border:1px solid #d0d7de;color:inherit;text-decoration:none}
.summary li a:hover{border-color:#0969da}
.scroll{overflow-x:auto}table{border-collapse:collapse;background:#fff;width:100%}
th,td{border-bottom:1px solid #d8dee4;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#eaeef2;font-weight:600}table{font-size:.94em}
td a{color:#0969da}.up,.ok{color:#1a7f37;font-weight:600}.down,.bad{color:#cf222e;font-weight:600}
.pending,.warn{color:#9a6700}.muted{color:#656d76}
tr.row-down td{background:#fff8f8}
.err{color:#cf222e;overflow-wrap:anywhere;display:-webkit-box;-webkit-line-clamp:2;
-webkit-box-orient:vertical;overflow:hidden}
a.alert{display:inline-block;padding:.05em .45em;border-radius:4px;margin:.1em .25em .1em 0;
font-size:.9em;text-decoration:none;font-weight:600}
a.alert.critical{background:#ffebe9;color:#cf222e}a.alert.warning{background:#fff8c5;color:#7d5500}
.summary li a.alert{display:block;margin:0;font-size:1em}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{color:#656d76}dd{margin:0}
@media (max-width:700px){.wide{display:none}main{padding:.6em}th,td{padding:.3em}
.summary{gap:.3em}.summary li a{padding:.2em .45em;font-size:.88em}header{padding:.5em .6em}
table.fleet thead{display:none}table.fleet,table.fleet tbody{display:block}
table.fleet tr{display:block;border-bottom:1px solid #d0d7de;padding:.3em 0}
table.fleet td{display:block;border:0;padding:.1em .3em;overflow-wrap:anywhere}
table.fleet td.wide{display:block}table.fleet td[data-label]::before{content:attr(data-label)
": ";color:#656d76}}
"""

# Filter as you type and refresh every 5 s by swapping <main>; without JavaScript the form
# submits and the page is still complete.
SCRIPT = """
(function(){
var main=document.getElementById('main'),form=document.getElementById('filter'),busy=false,
again=false;
function url(){var u=main.getAttribute('data-refresh');if(!form)return u;
var p=new URLSearchParams(new FormData(form));history.replaceState(null,'','/?'+p);
p.set('fragment','1');return '/?'+p;}
function refresh(){if(busy){again=true;return;}busy=true;fetch(url(),{cache:'no-store'})
.then(function(r){return r.ok?r.text():null}).then(function(t){if(t!==null&&t!==main.innerHTML)
main.innerHTML=t;}).catch(function(){}).then(function(){busy=false;
if(again){again=false;refresh();}});}
if(form){form.addEventListener('input',refresh);form.addEventListener('submit',
function(e){e.preventDefault();refresh();});}
setInterval(refresh,5000);
})();
"""

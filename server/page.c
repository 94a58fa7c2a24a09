/*
 * page.c - the viewer page at / (and /NAME/): the live stream, a
 * snapshot link and the server's state, refreshed every second from
 * /state.  Plain HTML, CSS and JavaScript, all in this file: the page
 * loads nothing from anywhere else.
 *
 * The picture: MJPEG in an <img> at first (it shows at once, and without
 * scripts); when /state says the camera has H.264 and the browser can
 * play it, a <video> takes over once it plays, and the MJPEG stream is
 * closed.  The video is stream.mp4, progressive fragmented MP4, except in
 * Safari and on iOS (Apple's WebKit: every browser there), which play
 * HLS natively but no live MP4 of unknown length, and in browsers
 * without MediaSource: they get hls.m3u8.  (Chromium says "maybe" to
 * HLS since 2025, but its own HLS demuxer does not take this one's
 * fragmented MP4 parts; it gets MP4.)  If the video fails, ends (the
 * capture's H.264 parameters
 * changed) or stops advancing, the page goes back to MJPEG and tries the
 * video again later.  The line under the picture says which one is
 * playing.  A browser holds a few hundred milliseconds of MP4 before it
 * plays; the page seeks to the newest frame when it holds more than
 * that, so the picture stays live.  HLS is left to the browser's own
 * idea of the live edge unless it falls 3 s behind.
 *
 * Links are relative ("stream", "state"), so the page also works behind
 * a reverse proxy that serves us under a path prefix.  The script puts
 * what /state says into the page with textContent only, never as HTML:
 * client keys and addresses come from outside.
 */
#include <string.h>

#include <event2/buffer.h>

#include "server.h"

/* {{TITLE}} and {{BODY}} are replaced; nothing else is special. */
static const char page_html[] =
"<!DOCTYPE html>\n"
"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>{{TITLE}} - shmcam</title>\n"
"<style>\n"
"body{margin:0;background:#15171a;color:#d8dadc;"
"font:14px/1.4 system-ui,sans-serif}\n"
"header{padding:8px 16px;background:#202328;display:flex;gap:16px;"
"align-items:baseline;flex-wrap:wrap}\n"
"header h1{font-size:16px;margin:0}\n"
"a{color:#8cc4ff}\n"
"main{padding:12px 16px;display:flex;gap:16px;flex-wrap:wrap}\n"
".cam{flex:1 1 480px;max-width:1280px}\n"
".cam img,.cam video{display:block;width:100%;background:#000;min-height:120px}\n"
".cam p{margin:6px 0}\n"
".off{color:#ff9b8c}.on{color:#9be29b}\n"
"table{border-collapse:collapse;font-size:12px;margin-top:8px}\n"
"td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #2c3036}\n"
"td:first-child,th:first-child{text-align:left}\n"
"#err{color:#ff9b8c}\n"
"</style>\n"
"</head><body>\n"
"<header><h1>{{TITLE}}</h1><span id=\"srv\"></span>"
"<span id=\"err\"></span></header>\n"
"<main>\n{{BODY}}</main>\n"
"<script>\n"
"'use strict';\n"
"function fmtBytes(n){const u=['B','KiB','MiB','GiB','TiB'];let i=0;"
"while(n>=1024&&i<u.length-1){n/=1024;i++;}"
"return (i?n.toFixed(1):n)+' '+u[i];}\n"
"function fmtSecs(s){if(s==null)return '-';if(s<1)return "
"(s*1000).toFixed(0)+' ms';if(s<120)return s.toFixed(1)+' s';"
"if(s<7200)return (s/60).toFixed(1)+' min';return (s/3600).toFixed(1)+' h';}\n"
"function cell(tr,tag,text){const c=document.createElement(tag);"
"c.textContent=text;tr.appendChild(c);}\n"
"const V={};\n"
"function playing(box,what){box.querySelector('.playing').textContent="
"'playing: '+what;box.dataset.playing=what;}\n"
"function toMjpeg(box,why){const v=box.querySelector('video'),"
"i=box.querySelector('img'),st=V[box.dataset.camera];\n"
" v.removeAttribute('src');v.load();v.hidden=true;i.hidden=false;\n"
" if(!i.getAttribute('src'))i.src=box.dataset.base+'stream';\n"
" playing(box,'MJPEG'+(why?' ('+why+')':''));st.video=false;"
"st.retry=Date.now()+10000;}\n"
"function toVideo(box,hls){const v=box.querySelector('video'),"
"i=box.querySelector('img'),st=V[box.dataset.camera];\n"
" st.video=true;st.hls=hls;st.t=-1;st.still=0;st.since=Date.now();\n"
" v.onplaying=()=>{v.hidden=false;i.hidden=true;i.removeAttribute('src');"
"playing(box,hls?'H.264 (HLS)':'H.264 (MP4)');};\n"
" v.onerror=()=>toMjpeg(box,'video error');\n"
" v.onended=()=>{st.retry=0;toMjpeg(box,'video ended');};\n"
" v.src=box.dataset.base+(hls?'hls.m3u8':'stream.mp4?key=viewer-page');"
"v.play().catch(()=>{});}\n"
"function watchVideo(box){const v=box.querySelector('video'),"
"st=V[box.dataset.camera];if(!st.video)return;\n"
" if(v.hidden){if(Date.now()-st.since>10000)"
"toMjpeg(box,'video did not start');return;}\n"
" if(v.currentTime===st.t){if(++st.still>=5)toMjpeg(box,'video stalled');}"
"else{st.t=v.currentTime;st.still=0;}\n"
" const b=v.buffered,e=b.length?b.end(b.length-1):0;\n"
" if(!st.hls&&e-v.currentTime>0.5)v.currentTime=e-0.1;\n"
" else if(st.hls&&e-v.currentTime>3)v.currentTime=e-1.5;}\n"
"function render(cam){\n"
" const box=document.querySelector('[data-camera=\"'+cam.name+'\"]');\n"
" if(!box)return;\n"
" const st=V[cam.name]||(V[cam.name]={video:false,retry:0});\n"
" const v=box.querySelector('video');\n"
" const h264=cam.h264&&cam.streams&&cam.streams.mp4.available&&"
"!/[?&]mjpeg/.test(location.search);\n"
" const mp4=h264&&v.canPlayType('video/mp4; codecs=\"avc1.42E01E\"')!=='';\n"
" const hls=h264&&v.canPlayType('application/vnd.apple.mpegurl')!==''&&"
"(/^Apple/.test(navigator.vendor||'')||!window.MediaSource);\n"
" if(!st.video&&(mp4||hls)&&Date.now()>=st.retry)toVideo(box,hls);\n"
" else if(!st.video&&!box.dataset.playing)playing(box,'MJPEG');\n"
" watchVideo(box);\n"
" const so=box.querySelector('.status');\n"
" so.textContent=cam.online?'online':'offline'+(cam.why?': '+cam.why:'');\n"
" so.className='status '+(cam.online?'on':'off');\n"
" const r=cam.ring;\n"
" box.querySelector('.info').textContent=cam.width+'x'+cam.height+"
"', source '+(r&&r.fps!=null?r.fps.toFixed(1):'?')+' fps, receiving '+"
"cam.fps.toFixed(1)+' fps; frames in '+cam.frames_in+', sent '+"
"cam.frames_sent+', skipped by clients '+cam.frames_dropped+'; '+"
"fmtBytes(cam.bytes_sent)+' sent'+(r?'; capture pid '+cam.capture_pid+"
"', ring '+r.generation+' '+r.state+(r.source?' ('+r.source+')':''):'')+"
"(cam.h264?'; H.264 '+cam.h264.width+'x'+cam.h264.height+', '+"
"(cam.h264.bitrate/1000).toFixed(0)+' kbit/s, encoding '+"
"(cam.h264.encode_seconds*1000).toFixed(1)+' ms a frame, '+"
"fmtBytes(cam.streams.mp4.bytes_sent)+' sent':'');\n"
" const tb=box.querySelector('tbody');\n"
" tb.textContent='';\n"
" for(const c of cam.clients){const tr=document.createElement('tr');\n"
"  cell(tr,'td',c.address);cell(tr,'td',c.kind);cell(tr,'td',c.key);"
"cell(tr,'td',c.fps==null?'-':c.fps);cell(tr,'td',fmtSecs(c.seconds));"
"cell(tr,'td',c.frames);cell(tr,'td',c.skipped);"
"cell(tr,'td',fmtBytes(c.bytes));cell(tr,'td',fmtBytes(c.queued_bytes));"
"cell(tr,'td',fmtSecs(c.frame_age));tb.appendChild(tr);}\n"
"}\n"
"async function poll(){\n"
" try{const r=await fetch('{{STATE}}',{cache:'no-store'});\n"
"  if(!r.ok)throw new Error('state: HTTP '+r.status);\n"
"  const s=await r.json();\n"
"  document.getElementById('srv').textContent=s.server.software+', up '+"
"fmtSecs(s.server.uptime)+', '+s.server.clients+' stream clients';\n"
"  document.getElementById('err').textContent='';\n"
"  s.cameras.forEach(render);\n"
" }catch(e){document.getElementById('err').textContent=String(e);}\n"
" setTimeout(poll,1000);\n"
"}\n"
"poll();\n"
"</script>\n"
"</body></html>\n";

static const char page_camera[] =
"<section class=\"cam\" data-camera=\"{{NAME}}\" data-base=\"{{BASE}}\">\n"
"<img src=\"{{BASE}}stream\" alt=\"live stream of camera {{NAME}}\">\n"
"<video muted autoplay playsinline hidden></video>\n"
"<p><b>{{NAME}}</b> <span class=\"status\"></span> &middot; "
"<span class=\"playing\"></span> &middot; "
"<a href=\"{{BASE}}stream\">stream</a> &middot; "
"<a href=\"{{BASE}}stream.mp4\">stream.mp4</a> &middot; "
"<a href=\"{{BASE}}hls.m3u8\">hls.m3u8</a> &middot; "
"<a href=\"{{BASE}}snapshot\">snapshot</a> &middot; "
"<a href=\"{{BASE}}state\">state</a></p>\n"
"<p class=\"info\"></p>\n"
"<table><thead><tr><th>client</th><th>kind</th><th>key</th><th>fps cap</th>"
"<th>connected</th><th>frames</th><th>skipped</th><th>sent</th>"
"<th>queued</th><th>frame age</th></tr></thead><tbody></tbody></table>\n"
"</section>\n";

/*
 * Appends tmpl with each {{KEY}} replaced by its value.  The values are
 * camera names ([A-Za-z0-9._-]) and fixed paths: nothing to escape.
 */
static void
page_fill(struct evbuffer *out, const char *tmpl, const char *const *keys,
    const char *const *values, unsigned n)
{
	const char *p = tmpl, *m;
	unsigned i;

	while ((m = strstr(p, "{{")) != NULL) {
		evbuffer_add(out, p, (size_t)(m - p));
		for (i = 0; i < n; i++)
			if (strncmp(m + 2, keys[i], strlen(keys[i])) == 0 &&
			    strncmp(m + 2 + strlen(keys[i]), "}}", 2) == 0)
				break;
		if (i == n) {
			evbuffer_add(out, "{{", 2);
			p = m + 2;
			continue;
		}
		if (values[i] != NULL)
			evbuffer_add(out, values[i], strlen(values[i]));
		p = m + 2 + strlen(keys[i]) + 2;
	}
	evbuffer_add(out, p, strlen(p));
}

void
page_index(struct server *srv, struct camera *cam, struct evbuffer *out)
{
	static const char *const keys[] = { "TITLE", "BODY", "STATE", "NAME",
	    "BASE" };
	struct evbuffer *body = evbuffer_new();
	const char *values[5];
	char base[RING_NAME_MAX + 4];
	struct camera *c;
	const char *bodystr;

	if (body == NULL)
		return;
	/* Relative to the page: "" on a camera's own page, "NAME/" on the
	 * top-level page of several cameras. */
	TAILQ_FOREACH(c, &srv->cameras, c_entry) {
		if (cam != NULL && c != cam)
			continue;
		if (cam == NULL && srv->ncameras > 1)
			snprintf(base, sizeof(base), "%s/", c->c_name);
		else
			base[0] = '\0';
		values[3] = c->c_name;
		values[4] = base;
		page_fill(body, page_camera, keys, values, 5);
	}
	evbuffer_add(body, "", 1);
	bodystr = (const char *)evbuffer_pullup(body, -1);
	values[0] = cam != NULL ? cam->c_name : srv->ncameras == 1 ?
	    TAILQ_FIRST(&srv->cameras)->c_name : "cameras";
	values[1] = bodystr;
	values[2] = "state";
	page_fill(out, page_html, keys, values, 3);
	evbuffer_free(body);
}
